"""Time `tinykws fewshot` for one keyword, from clips to int8 model directory (target: <= 60 s).

Two runs, each a fresh `tinykws` process (Python start and TensorFlow import included):
  1. --clips: five 1 s recordings (here: five synthetic speakers of the word, written as wav
     first, standing in for a user's recordings);
  2. --tts: espeak-ng speaks the keyword.
The keyword (German "hallo") is one of the words pretraining never used. Results go to
benchmarks/results/fewshot.{md,json}. All figures *measured* on this host.

    .venv/bin/python benchmarks/bench_fewshot.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path


def _run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    env = {**os.environ, "TINYKWS_NO_PROGRESS": "1"}
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("build/bench-fewshot"))
    ap.add_argument("--keyword", default="hallo")
    ap.add_argument("--language", default="de")
    ap.add_argument("--embedding", default="models/embed-rt")
    ap.add_argument("--results", type=Path, default=Path("benchmarks/results/fewshot"))
    args = ap.parse_args()
    from tinykws.audio import write_wav
    from tinykws.training.fewshot import tts_shots

    args.work.mkdir(parents=True, exist_ok=True)
    shots, _ = tts_shots(args.keyword, args.language, 5, seed=123)
    clips = []
    for i, x in enumerate(shots):
        p = args.work / f"{args.keyword}_{i}.wav"
        write_wav(p, x)
        clips.append(str(p))
    load = os.getloadavg()[0]
    tk = [
        sys.executable,
        "-m",
        "tinykws.cli",
        "fewshot",
        "--keyword",
        args.keyword,
        "--language",
        args.language,
    ]
    common = ["--embedding", args.embedding]
    runs = {
        "clips": _run([*tk, "--clips", *clips, *common, "--out", str(args.work / "m-clips")]),
        "tts": _run([*tk, "--tts", *common, "--out", str(args.work / "m-tts")]),
    }
    meta = json.loads((args.work / "m-clips" / "tinykws.json").read_text())
    res = {
        "measured": True,
        "keyword": args.keyword,
        "language": args.language,
        "seconds": {k: round(v, 1) for k, v in runs.items()},
        "target_seconds": 60,
        "host": f"{platform.machine()}, {os.cpu_count()} CPUs, load average {load:.1f} at start",
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "tflite_bytes": meta["tflite_bytes"],
        "check_set_top1": {
            "float": meta["metrics"]["float"]["top1"],
            "int8": meta["metrics"]["int8"]["top1"],
        },
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.with_suffix(".json").write_text(json.dumps(res, indent=1))
    md = [
        "# Few-shot: time from 5 clips to an int8 model (measured)",
        "",
        "Command: `.venv/bin/python benchmarks/bench_fewshot.py`",
        f"Host: {res['host']}; {res['date']}. Each run is a fresh process (Python start and TensorFlow",
        "import included): shots, unknown-word bank synthesis, augmentation, embedding, head, int8",
        "quantization, tflite_micro check-set evaluation, C export, model directory.",
        "",
        "| positives | seconds | target |",
        "|---|---|---|",
        *[f"| --{k} | {v:.1f} | <= 60 |" for k, v in res["seconds"].items()],
        "",
        f"Keyword '{args.keyword}' ({args.language}), embedding `{args.embedding}`; int8 .tflite "
        f"{res['tflite_bytes']} bytes; check-set top-1 float {res['check_set_top1']['float']:.3f}, "
        f"int8 {res['check_set_top1']['int8']:.3f} (augmented shots and held-out unknown speakers: "
        "a sanity check, not an accuracy figure; see fewshot-eval).",
        "",
    ]
    args.results.with_suffix(".md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
