"""How far the accented piper voice is from espeak-ng's voices, as the shipped embedding sees it.

Why: before training on accented neural speakers (`pretrain --accented`) or testing with them
(`fewshot-eval --accented-voices`), check that they are a shift of domain at all. Per language,
word centroids in the embedding come from espeak-ng speakers; accuracy of the nearest centroid
is read on held-out espeak-ng speakers (leave one speaker out) and on accented piper speakers.

    .venv/bin/python benchmarks/bench_voice_domain.py [--languages de,cmn,ja,ru] [--out FILE.md]

Figures are *measured* (float embedding, synthetic voices, 20 words x 20 speakers per corpus,
seed 0); corpora are synthesized under build/voice-domain and reused.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tinykws.data.corpus import load_clips, read_corpus
from tinykws.training.fewshot import DEFAULT_EMBEDDING
from tinykws.training.fewshot_eval import load_embedder
from tinykws.training.pretrain import language_words, synth_corpus


def _unit(e: np.ndarray) -> np.ndarray:
    return e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-9)


def _embedded(embed, root: Path) -> tuple[np.ndarray, list]:
    clips = read_corpus(root).clips
    audio, idx, _ = load_clips(clips)
    return _unit(embed(audio)), [clips[i] for i in idx]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--languages", default="de,cmn,ja,ru")
    ap.add_argument("--work", type=Path, default=Path("build/voice-domain"))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    embed = load_embedder(DEFAULT_EMBEDDING)
    lines = [
        "| language | held-out espeak-ng speakers | accented piper speakers | chance |",
        "|---|---|---|---|",
    ]
    for lang in [x.strip() for x in args.languages.split(",") if x.strip()]:
        words = {lang: language_words(lang, 20)}
        (ref_root,) = synth_corpus(args.work / "espeak", [lang], 20, 20, 0, words=words)
        (acc_root,) = synth_corpus(args.work / "accented", [lang], 20, 20, 0, words=words, accented=1.0)
        ea, ref = _embedded(embed, ref_root)
        eb, acc = _embedded(embed, acc_root)
        vocab = sorted({c.word for c in ref})
        ya = np.array([vocab.index(c.word) for c in ref])
        yb = np.array([vocab.index(c.word) for c in acc])
        spk = np.array([c.speaker for c in ref])
        hits = []
        for s in np.unique(spk):
            m = spk == s
            cen = _unit(np.stack([ea[~m & (ya == w)].mean(0) for w in range(len(vocab))]))
            hits += list((ea[m] @ cen.T).argmax(1) == ya[m])
        cen = _unit(np.stack([ea[ya == w].mean(0) for w in range(len(vocab))]))
        acc_hit = (eb @ cen.T).argmax(1) == yb
        lines.append(
            f"| {lang} | {np.mean(hits):.3f} (n={len(hits)}) | {acc_hit.mean():.3f} (n={len(acc_hit)}) "
            f"| {1 / len(vocab):.3f} |"
        )
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
