"""Cross-synthesizer transfer: how a training recipe carries over to voices it never heard.

Why: the demo must work on real speech, but ../shared/realdev is for measuring only, so training
choices cannot be selected on it. This benchmark is the stand-in used to select them. It holds out
one family of synthesizers, trains on the others, and tests on the held-out voices. That is a
shift of the same kind as synthetic -> real (a new way of making the sound, not only new
speakers of a known voice).

Folds, on the demo corpus (build/bench-demo/corpus, made by `make demo`'s synthesis when absent):
- `espeak`: train on flite + festival speakers, test on espeak-ng speakers (formant synthesis);
- `diphone`: train on espeak-ng speakers, test on flite + festival speakers (diphone/HTS);
- `piper`: train on espeak-ng, flite and festival speakers, test on piper speakers (a neural
  voice: the one a model trained on real speech recognizes best, docs/data.md).
piper speakers, when the corpus has them, train in the espeak and diphone folds.
`--corpus` picks another corpus: the espeak fold's test speakers are the same in two corpora
made with the same seed and speaker count, so synthesizer settings that leave espeak-ng alone
(the WORLD pitch changes of flite, festival and piper voices) can be compared on it.
The held-out family's speakers (at most --test-speakers of them, seeded) make the test split;
the other family's TEST speakers join dev. German and Spanish unknown words are kept as they are.

Each recipe is a JSON object of TrainConfig fields on top of the demo's training config:

    .venv/bin/python benchmarks/bench_transfer.py --name base --set '{}'
    .venv/bin/python benchmarks/bench_transfer.py --name chan --set '{"channel_aug": 0.7}'

Every run appends a line to build/transfer/results.jsonl; `--table` prints them as markdown
(recorded in benchmarks/results/transfer.md). Figures are *measured* top-1 on the held-out
family's test split (float and int8 through tflite_micro).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

FOLDS = {"espeak": {"espeak"}, "diphone": {"flite", "festival"}, "piper": {"piper"}}


def make_fold(corpus: Path, out: Path, held_out: set[str], test_speakers: int, seed: int) -> Path:
    """A corpus view (symlinks + a rewritten en_splits.csv) with `held_out` engines as test."""
    meta = json.loads((corpus / "tinykws_synth.json").read_text())
    engine = {s["id"]: s["voice"]["engine"] for s in meta["speakers"]["en"]}
    held = sorted(sp for sp, e in engine.items() if e in held_out)
    rng = np.random.default_rng(seed)
    test = set(rng.choice(held, min(test_speakers, len(held)), replace=False).tolist())
    out.mkdir(parents=True, exist_ok=True)
    for lang_dir in corpus.iterdir():
        if not lang_dir.is_dir():
            continue
        dst = out / lang_dir.name
        if lang_dir.name != "en":
            if not dst.exists():
                dst.symlink_to(lang_dir.resolve())
            continue
        dst.mkdir(exist_ok=True)
        if not (dst / "clips").exists():
            (dst / "clips").symlink_to((lang_dir / "clips").resolve())
        with open(lang_dir / "en_splits.csv", newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        header, body = rows[0], rows[1:]
        kept = []
        for r in body:
            sp = r[4]
            if engine[sp] in held_out:
                if sp in test:
                    kept.append(["TEST", *r[1:]])
            else:
                kept.append(["DEV" if r[0] == "TEST" else r[0], *r[1:]])
        with open(dst / "en_splits.csv", "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([header, *kept])
    return out


def run(
    corpus: Path, work: Path, name: str, overrides: dict[str, Any], test_speakers: int, folds: list[str]
) -> dict[str, Any]:
    from tinykws.demo import DemoConfig, demo_train_config
    from tinykws.training.train import train

    row: dict[str, Any] = {"name": name, "set": overrides, "folds": {}}
    t0 = time.perf_counter()
    for fold in folds:
        held = FOLDS[fold]
        root = make_fold(corpus, work / fold / "corpus", held, test_speakers, seed=0)
        cfg = demo_train_config(DemoConfig(), root, work / fold / f"model-{name}")
        for k, v in overrides.items():
            if not hasattr(cfg, k):
                raise SystemExit(f"--set: TrainConfig has no field '{k}'")
            setattr(cfg, k, v)
        m = train(cfg).metrics
        unk = m["int8"]["per_class"]["_unknown_"]
        row["folds"][fold] = {
            "float": m["float"]["top1"],
            "int8": m["int8"]["top1"],
            "unknown_precision": unk["precision"],
            "n": m["int8"]["n"],
        }
    row["mean_int8"] = float(np.mean([f["int8"] for f in row["folds"].values()]))
    row["seconds"] = time.perf_counter() - t0
    return row


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one column per fold that any row ran, '–' where a row did not run it."""
    folds = [f for f in FOLDS if any(f in r["folds"] for r in rows)]
    lines = [
        "| recipe | overrides | "
        + " | ".join(f"{f} held out (int8)" for f in folds)
        + " | mean int8 | unknown precision ("
        + " / ".join(f[0] for f in folds)
        + ") |",
        "|---|---|" + "---:|" * (len(folds) + 2),
    ]
    for r in rows:
        got = [r["folds"].get(f) for f in folds]
        acc = " | ".join(f"{g['int8']:.4f}" if g else "–" for g in got)
        prec = " / ".join(f"{g['unknown_precision']:.2f}" if g else "–" for g in got)
        lines.append(f"| {r['name']} | `{json.dumps(r['set'])}` | {acc} | {r['mean_int8']:.4f} | {prec} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path("build/bench-demo/corpus"))
    ap.add_argument("--work", type=Path, default=Path("build/transfer"))
    ap.add_argument("--name", default="base")
    ap.add_argument("--set", default="{}", help="JSON object of TrainConfig overrides")
    ap.add_argument("--test-speakers", type=int, default=120)
    ap.add_argument("--folds", default="espeak,diphone", help="comma-separated from espeak,diphone,piper")
    ap.add_argument("--results", type=Path, help="results file (default: <work>/results.jsonl)")
    ap.add_argument("--table", action="store_true", help="print the recorded runs as markdown")
    args = ap.parse_args()
    results = args.results or args.work / "results.jsonl"
    if args.table:
        rows = [json.loads(x) for x in results.read_text().splitlines() if x.strip()]
        print(table(rows))
        return
    if not (args.corpus / "tinykws_synth.json").exists():
        from tinykws.demo import DemoConfig, synthesize_demo_corpus

        synthesize_demo_corpus(DemoConfig(work=args.corpus.parent))
    os.environ.setdefault("TINYKWS_NO_PROGRESS", "1")
    folds = [f for f in args.folds.split(",") if f]
    unknown = [f for f in folds if f not in FOLDS]
    if unknown:
        raise SystemExit(f"--folds: unknown fold {', '.join(unknown)} (known: {', '.join(FOLDS)})")
    row = run(args.corpus, args.work, args.name, json.loads(args.set), args.test_speakers, folds)
    results.parent.mkdir(parents=True, exist_ok=True)
    with open(results, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
    print(table([row]))


if __name__ == "__main__":
    main()
