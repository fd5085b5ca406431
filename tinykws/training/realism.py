"""How real does a synthetic corpus sound? Ask a keyword model that was trained on real speech.

Why: choices in the synthesizer (engines, accents, perturbations) must not be tuned on the real
recordings kept for measuring (../shared/realdev). A model trained only on real speech — the
MLPerf Tiny reference model, trained on ~85k Speech Commands clips — is an independent judge:
the share of synthetic keywords it recognizes says how close each engine or voice comes to
real speakers, broken down by engine, accent, word and perturbation.

    python -m tinykws.training.realism CORPUS --model kws_ref_model.tflite [--language en]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from tinykws.data.mlperf import MLPERF_LABELS
from tinykws.errors import TinyKWSError


def reference_agreement(
    root: str | Path,
    model: str | Path,
    labels: list[str] | None = None,
    language: str = "en",
    frontend: str = "mlperf",
    split: str | None = None,
) -> dict[str, Any]:
    """Top-1 of an int8 reference model (run by tflite_micro) on a synthetic corpus's keywords.

    Only words that are among `labels` are scored. Returns {"top1", "n", "by": {group: {value:
    [top1, n]}}} where groups are engine, voice (accent for espeak-ng), word, room (dry/reverb)
    and microphone, read from the corpus's tinykws_synth.json when it has one.
    """
    from tinykws.data.corpus import load_clips, read_corpus
    from tinykws.data.synth import MARKER
    from tinykws.features import get_frontend
    from tinykws.models.tflm import TFLMRunner

    labels = list(labels or MLPERF_LABELS)
    root = Path(root)
    corpus = read_corpus(root, languages=[language])
    clips = [c for c in corpus.clips if c.word in labels and (split is None or c.split == split)]
    if not clips:
        raise TinyKWSError(
            f"{root}: no clips of the model's labels ({', '.join(labels)}) in language {language}"
        )
    speakers: dict[str, dict] = {}
    marker = root / MARKER
    if marker.is_file():
        doc = json.loads(marker.read_text(encoding="utf-8"))
        speakers = {s["id"]: s for s in doc.get("speakers", {}).get(language, [])}
    runner = TFLMRunner(Path(model).read_bytes())
    fe = get_frontend(frontend)
    audio, idx, _ = load_clips(clips)
    q = fe.int8_features(audio)
    out = runner.invoke_batch(q.reshape(len(q), *runner.input_shape[1:])).reshape(len(q), -1)
    pred = out.argmax(axis=1)
    groups: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    hits = []
    for i, p in zip(idx, pred, strict=True):
        c = clips[i]
        ok = labels[int(p)] == c.word
        hits.append(ok)
        groups["word"][c.word].append(ok)
        s = speakers.get(c.speaker)
        if s:
            v = s["voice"]
            groups["engine"][v["engine"]].append(ok)
            groups["voice"][v["name"].split("+")[0] if v["engine"] == "espeak" else v["name"]].append(ok)
            groups["room"]["dry" if s.get("rt60") is None else "reverberant"].append(ok)
            groups["microphone"]["coloured" if s.get("microphone") else "flat"].append(ok)
    return {
        "top1": float(np.mean(hits)),
        "n": len(hits),
        "by": {g: {k: [float(np.mean(v)), len(v)] for k, v in sorted(d.items())} for g, d in groups.items()},
    }


def main(argv: list[str] | None = None) -> int:
    prog = "python -m tinykws.training.realism"
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    p.add_argument("corpus")
    p.add_argument("--model", required=True, help="int8 .tflite trained on real speech (MLPerf Tiny KWS)")
    p.add_argument("--language", default="en")
    p.add_argument("--labels", help="comma-separated output labels (default: the MLPerf Tiny order)")
    p.add_argument("--json", help="also write the result here")
    a = p.parse_args(argv)
    try:
        r = reference_agreement(a.corpus, a.model, a.labels.split(",") if a.labels else None, a.language)
    except TinyKWSError as exc:
        print(f"tinykws: error: {exc}", file=sys.stderr)
        return 2
    print(f"reference-model top-1 on synthetic keywords: {r['top1']:.3f} (n={r['n']})")
    for g, d in r["by"].items():
        print(f"  {g}: " + ", ".join(f"{k} {m:.2f}/{n}" for k, (m, n) in d.items()))
    if a.json:
        from tinykws.fsutil import atomic_write_text

        atomic_write_text(a.json, json.dumps(r, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
