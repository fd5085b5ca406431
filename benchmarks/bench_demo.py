"""Run the demo (`make demo`'s job) and record its figures in benchmarks/results/demo.md.

Figures are *measured* on this host: wall-clock time of each stage, training throughput in
clips/s, top-1 of the float and int8 models on held-out synthetic speakers, and top-1 on the
real recordings of ../shared/realdev/gsc (measurement only; never trained on) with the MLPerf
Tiny reference model beside it, fed by tinykws's own `mlperf` front end.

    .venv/bin/python benchmarks/bench_demo.py --out build/bench-demo
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from tinykws.demo import DemoConfig, run_demo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/bench-demo/model"))
    ap.add_argument("--work", type=Path, default=Path("build/bench-demo"))
    ap.add_argument("--results", type=Path, default=Path("benchmarks/results/demo.md"))
    args = ap.parse_args()
    load = os.getloadavg()[0]
    t0 = time.time()
    s = run_demo(DemoConfig(out=args.out, work=args.work))
    meta = json.loads((args.out / "tinykws.json").read_text())
    m = s["synthetic_test"]
    lines = [
        "# Demo: measured figures",
        "",
        "Command: `.venv/bin/python benchmarks/bench_demo.py` (the same job as `make demo`).",
        f"Host: {platform.machine()}, {os.cpu_count()} CPUs, load average {load:.1f} at start; "
        f"run on {time.strftime('%Y-%m-%d', time.gmtime(t0))}. All figures *measured* on this host.",
        "",
        "| stage | seconds |",
        "|---|---:|",
        *(f"| {k} | {v:.0f} |" for k, v in s["seconds"].items()),
        "",
        f"Training throughput: {s['training_clips_per_second']:.0f} clips/s "
        "(augmentation, front end and DS-CNN-S forward/backward, 2 CPU cores).",
        "",
        f"Data: {json.dumps(meta['data']['counts'])}",
        "",
        "| evaluation | float top-1 | int8 top-1 (tflite_micro) | n |",
        "|---|---:|---:|---:|",
        f"| held-out synthetic speakers | {m['float']['top1']:.4f} | {m['int8']['top1']:.4f} | "
        f"{m['int8']['n']} |",
    ]
    if "realdev_gsc" in s:
        r = s["realdev_gsc"]
        lines.append(
            f"| real speech, realdev/gsc: tinykws demo model | {r['tinykws_float']:.4f} | "
            f"{r['tinykws_int8']:.4f} | {r['n']} |"
        )
        if "mlperf_reference_int8" in r:
            lines.append(
                f"| real speech, realdev/gsc: MLPerf Tiny reference (85k real clips) | – | "
                f"{r['mlperf_reference_int8']:.4f} | {r['n']} |"
            )
    lines.append("")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text("\n".join(lines))
    (args.results.with_suffix(".json")).write_text(json.dumps(s, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
