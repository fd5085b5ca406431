"""What distillation costs on this machine: teacher outputs with the cache cold and warm.

Why a benchmark of its own: the teacher (a ResNet-50, fixed batch of 1) is the expensive part of
`tinykws distill`, and its cache is what makes a second run cheap. This measures, side by side in
one run on the same clips: the teacher per clip into an empty cache (cold), the same clips read
back (warm), and the student's training throughput for one epoch of the distillation loss. The
full run's own recorded times (its tinykws.json) are listed beside them, with the caveat that
they were taken on a shared machine.

    python benchmarks/bench_distill.py --real ../shared/realtrain/en --n 400 \\
        --embedding models/embed-rt --out benchmarks/results/distill_time.md
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from tinykws.fsutil import atomic_write_text


def main(argv: list[str] | None = None) -> int:
    from tinykws.data.corpus import load_clips, read_corpus
    from tinykws.training.teacher import Teacher, TeacherCache

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--real", type=Path, required=True, help="an MSWC-layout root or language folder")
    p.add_argument("--n", type=int, default=400)
    p.add_argument("--embedding", type=Path, default=None, help="a distilled embedding: its recorded times")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/distill_time.md"))
    args = p.parse_args(argv)
    root = args.real
    corpus = read_corpus(root.parent, languages=[root.name]) if (root / f"{root.name}_splits.csv").is_file() \
        else read_corpus(root)  # fmt: skip
    rng = np.random.default_rng(0)
    clips = [corpus.clips[i] for i in sorted(rng.permutation(len(corpus.clips))[: args.n])]
    audio, _, _ = load_clips(clips)
    teacher = Teacher("efficientword-net")
    with tempfile.TemporaryDirectory() as d:
        cache = TeacherCache(d, teacher)
        t0 = time.perf_counter()
        cache.embed(audio)
        cold = time.perf_counter() - t0
        again = TeacherCache(d, teacher)
        t0 = time.perf_counter()
        again.embed(audio)
        warm = time.perf_counter() - t0
    n = len(audio)
    lines = [
        "# Distillation time on this machine (measured)",
        "",
        f"Command: `python benchmarks/bench_distill.py --real {args.real} --n {args.n}"
        + (f" --embedding {args.embedding}`" if args.embedding else "`"),
        f"{os.cpu_count()} cores; {n} real clips; teacher EfficientWord-Net fp32, onnxruntime, 2 threads.",
        "",
        "| step | seconds | per clip |",
        "|---|---:|---:|",
        f"| teacher outputs, cache cold | {cold:.1f} | {1000 * cold / n:.1f} ms |",
        f"| teacher outputs, cache warm | {warm:.2f} | {1000 * warm / n:.2f} ms |",
        f"| ratio cold / warm | {cold / max(warm, 1e-9):.0f}x | |",
    ]
    if args.embedding:
        meta = json.loads((args.embedding / "tinykws.json").read_text())
        tr = meta["training"]
        pool = meta["data"]["distillation_pool"]
        n_pool = sum(sum(v.values()) for v in pool.values())
        n_train = sum(v["train"] for v in pool.values()) * tr["augmented_copies"]
        lines += [
            "",
            f"The shipped run ({args.embedding}, recorded in its tinykws.json; the machine was shared with "
            "other jobs during it, so these are upper bounds):",
            "",
            "| step | seconds |",
            "|---|---:|",
            f"| teacher outputs for the pool ({n_pool} clips, {tr['teacher_cache']}) | "
            f"{tr['teacher_seconds']} |",
            f"| features of {n_train} augmented training clips | {tr['feature_seconds']} |",
            f"| {tr['epochs']} epochs of the student | {tr['train_seconds']} |",
            f"| projected cold run at this table's per-clip teacher cost | "
            f"{1.0 * n_pool * cold / n + tr['feature_seconds'] + tr['train_seconds']:.0f} |",
        ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
