"""Paired comparison of `tinykws fewshot-eval` results: is a new embedding or option better?

Why: one run of the protocol scores 12 keywords per group, and its mean F1 moves by a few
hundredths from one embedding to another of the same recipe. Reading the per-keyword
differences, with their standard error, tells a step from the noise before anything is shipped.

    .venv/bin/python benchmarks/compare_fewshot.py BASE.json OTHER.json [OTHER2.json ...] [--out FILE.md]

Each JSON is a `fewshot-eval --out DIR` result (DIR/fewshot_eval.json); all must come from the
same protocol. Figures are whatever the inputs measured (float, synthetic voices unless realdev).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tinykws.errors import TinyKWSError
from tinykws.training.fewshot_eval import compare_results


def _row(label: str, d: dict) -> str:
    return (
        f"| {label} | {d['n']} | {d['base_mean']:.3f} | {d['other_mean']:.3f} | "
        f"{d['mean']:+.3f} ± {d['se']:.3f} | {d['better']} / {d['worse']} |"
    )


def _frr(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def report(base_path: Path, others: list[Path]) -> str:
    base = json.loads(base_path.read_text(encoding="utf-8"))
    lines = [f"# Few-shot comparison against `{base_path}`", ""]
    for p in others:
        c = compare_results(base, json.loads(p.read_text(encoding="utf-8")))
        lines += [
            f"## `{p}`",
            "",
            "| F1, paired over keywords | n | base | other | difference ± se | better / worse |",
            "|---|---|---|---|---|---|",
        ]
        lines += [_row(g, c["f1"][g]) for g in ("seen", "unseen", "all")]
        lines += [
            _row(f"real speech, {k} shots", c[f"realdev_{k}"])
            for k in ("clips", "tts")
            if f"realdev_{k}" in c
        ]
        lines += [
            "",
            "| streaming FRR | base @ <=1 FA/h | other @ <=1 FA/h | base @ MSWC point | other @ MSWC point |",
            "|---|---|---|---|---|",
        ]
        for g, s in c["stream"].items():
            b, o = s["base"], s["other"]
            cells = [
                b["frr_at_1_fa_per_hour"],
                o["frr_at_1_fa_per_hour"],
                b["frr_at_mswc_fa_rate"],
                o["frr_at_mswc_fa_rate"],
            ]
            lines.append(f"| {g} | " + " | ".join(_frr(x) for x in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", type=Path)
    ap.add_argument("others", type=Path, nargs="+")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    try:
        for p in [args.base, *args.others]:
            if not p.is_file():
                raise TinyKWSError(f"{p}: no such fewshot-eval result")
        text = report(args.base, args.others)
    except (TinyKWSError, ValueError, KeyError) as exc:
        print(f"compare_fewshot: {exc}", file=sys.stderr)
        return 2
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
