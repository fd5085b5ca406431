"""Streaming detection figures: the MLPerf Tiny reference model listening to a long stream made
of real Speech Commands clips (../shared/realdev/gsc: keywords, other words, background noise)
separated by quiet gaps, with the device's smoothing rule.

    .venv/bin/python benchmarks/listen_stream.py [--clips 200] [--device-seconds 20] [--model models/demo]

1. Host (the device's twin: Python front end + tflite_micro + the same smoothing): hit rate
   (a detection with the right label whose window overlaps the keyword) and false alarms per
   hour of stream, for several thresholds at the default hop, averaging and suppression.
2. Device: the first `--device-seconds` of the same stream played into qemu-m4 with
   `tinykws listen`'s path; its detections must equal the host's, its features must be within
   1 LSB at every hop, and its per-hop cost is reported (emulated instructions).
Writes benchmarks/listen_stream_results.{json,md}. realdev is measured, never trained on.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from tinykws.device.bench import PEERS  # noqa: E402
from tinykws.device.listen import MLPERF_LABELS, ListenConfig, detect, pcm16, simulate  # noqa: E402

REALDEV = ROOT.parent / "shared" / "realdev" / "gsc"
REF = PEERS / "mlperf-tiny-kws" / "kws_ref_model.tflite"
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


def make_stream(root: Path, n_clips: int, seed: int) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    """Clips in random order (about 60 % keywords), each followed by 0.3-1.2 s of quiet noise."""
    from tinykws.audio import fix_length, load_audio

    rng = np.random.default_rng(seed)
    files = {d.name: sorted(d.glob("*.*")) for d in sorted(root.iterdir()) if d.is_dir()}
    kws = [w for w in files if not w.startswith("_")]
    pool = [(w, f) for w in kws for f in files[w]]
    others = [(w, f) for w in ("_unknown_", "_silence_") for f in files.get(w, [])]
    n_kw = int(n_clips * 0.6)
    pick = [pool[i] for i in rng.choice(len(pool), n_kw, replace=False)]
    pick += [others[i] for i in rng.choice(len(others), n_clips - n_kw, replace=False)]
    order = rng.permutation(len(pick))
    parts, spans, pos = [rng.normal(0, 20, 8000).astype(np.int16)], [], 8000
    for i in order:
        word, f = pick[i]
        x = pcm16(fix_length(load_audio(f, quiet=True)))
        if not word.startswith("_"):
            spans.append((word, pos * 1000 // 16000, (pos + len(x)) * 1000 // 16000))
        gap = rng.normal(0, 20, int(rng.uniform(0.3, 1.2) * 16000)).astype(np.int16)
        parts += [x, gap]
        pos += len(x) + len(gap)
    return np.concatenate(parts), spans


def score(dets: list, spans: list[tuple[str, int, int]]) -> dict[str, float]:
    """Hits (right label, window overlapping the keyword), misses, false alarms."""
    used = [False] * len(spans)
    hits = fa = 0
    for d in dets:
        match = None
        for j, (w, a, b) in enumerate(spans):
            if not used[j] and w == d.label and a < d.ms <= b + 1000:
                match = j
                break
        if match is None:
            fa += 1
        else:
            used[match] = True
            hits += 1
    return {"keywords": len(spans), "hits": hits, "hit_rate": hits / max(1, len(spans)), "false_alarms": fa}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device-seconds", type=float, default=20.0)
    ap.add_argument(
        "--model", default=None, help="model directory (default: the MLPerf Tiny reference model)"
    )
    ap.add_argument(
        "--out", type=Path, default=None, help="default benchmarks/listen_stream_results[_<model>]"
    )
    args = ap.parse_args()
    global REF
    labels, name = MLPERF_LABELS, "kws_ref_model"
    if args.model:
        from tinykws.firmware.build import model_labels, resolve_model

        REF, mdir = resolve_model(args.model)
        name = mdir.name if mdir else REF.stem
        labels = (model_labels(mdir) if mdir else None) or MLPERF_LABELS
    args.out = args.out or HERE / ("listen_stream_results" + ("" if name == "kws_ref_model" else f"_{name}"))
    if not REALDEV.is_dir() or not REF.is_file():
        print(f"needs {REALDEV} and {REF}")
        return 2
    pcm, spans = make_stream(REALDEV, args.clips, args.seed)
    hours = len(pcm) / 16000 / 3600
    base = ListenConfig()
    t0 = time.time()
    host = simulate(pcm, REF, "mlperf", labels, base)
    host_s = time.time() - t0
    from tinykws.models.tflm import TFLMRunner

    scale, zp = TFLMRunner(REF).output_quant
    ms = [h[0] for h in host.hops]
    sweep = []
    for thr in THRESHOLDS:
        cfg = ListenConfig(base.hop_ms, base.avg_ms, thr, base.suppress_ms)
        r = detect(host.outputs, ms, cfg, labels, scale, zp)
        s = score(r.detections, spans)
        s.update(threshold=thr, false_alarms_per_hour=s["false_alarms"] / hours)
        sweep.append(s)

    # device: the first seconds of the same stream on qemu-m4
    from tinykws.boards import load_board
    from tinykws.device.listen import stream_to_device
    from tinykws.device.qemu import QemuBoard
    from tinykws.firmware.build import build_firmware

    n_dev = int(args.device_seconds * 16000) // (base.hop_ms * 16) * (base.hop_ms * 16)
    board = load_board("qemu-m4")
    res = build_firmware(board, REF, ROOT / "build" / "bench-listen", frontend="mlperf", labels=labels)
    t0 = time.time()
    with QemuBoard(res.elf, board.qemu_machine) as dev:
        got = stream_to_device(dev, pcm[:n_dev], base, labels, verbose=2)
    dev_s = time.time() - t0
    want = simulate(pcm[:n_dev], REF, "mlperf", labels, base)
    max_lsb = max(
        int(np.max(np.abs(a.astype(int) - b.astype(int))))
        for a, b in zip(got.features, want.features, strict=True)
    )
    device = {
        "board": "qemu-m4",
        "audio_s": n_dev / 16000,
        "wall_s": round(dev_s, 2),
        "hops": len(got.hops),
        "detections_device": [(d.label, d.ms, d.score) for d in got.detections],
        "detections_host": [(d.label, d.ms, d.score) for d in want.detections],
        "same_detections": [(d.label, d.ms) for d in got.detections]
        == [(d.label, d.ms) for d in want.detections],
        "features_max_lsb": max_lsb,
        "outputs_bitexact": sum(np.array_equal(a, b) for a, b in zip(got.outputs, want.outputs, strict=True)),
        "hop_cost_emulated_instructions": int(np.median(got.hop_cost)),
    }
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()  # fmt: skip
    except OSError:
        commit = "?"
    out = {
        "date": datetime.date.today().isoformat(),
        "commit": commit,
        "command": "benchmarks/listen_stream.py " + " ".join(sys.argv[1:]),
        "model": f"{name} (int8), mlperf front end",
        "stream": {
            "clips": args.clips,
            "seconds": round(len(pcm) / 16000, 1),
            "keywords": len(spans),
            "source": str(REALDEV),
        },  # fmt: skip
        "config": {"hop_ms": base.hop_ms, "avg_ms": base.avg_ms, "suppress_ms": base.suppress_ms},
        "host_seconds": round(host_s, 1),
        "sweep": sweep,
        "device": device,
    }
    args.out.with_suffix(".json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [
        f"# Streaming detection: {name} on real speech",
        "",
        f"`{out['command']}` (commit {commit}). Stream: {args.clips} real Speech Commands clips "
        f"({len(spans)} keywords, the rest other words and background noise) with quiet gaps, "
        f"{out['stream']['seconds']} s. Hop {base.hop_ms} ms, averaging {base.avg_ms} ms, "
        f"suppression {base.suppress_ms} ms. Host = the device's twin (front end + tflite_micro).",
        "",
        "| threshold | hit rate | false alarms | false alarms per hour |",
        "|---|---|---|---|",
    ]
    for s in sweep:
        lines.append(
            f"| {s['threshold']:.1f} | {100 * s['hit_rate']:.1f}% ({s['hits']}/{s['keywords']}) | "
            f"{s['false_alarms']} | {s['false_alarms_per_hour']:.0f} |"
        )
    lines += [
        "",
        f"Device check on qemu-m4, first {device['audio_s']:.1f} s ({device['hops']} hops, "
        f"{device['wall_s']} s wall): detections identical to the host's: {device['same_detections']} "
        f"({len(device['detections_device'])} detections); features within {device['features_max_lsb']} LSB; "
        f"outputs bit-exact on {device['outputs_bitexact']}/{device['hops']} hops; "
        f"{device['hop_cost_emulated_instructions']:,} emulated instructions per hop.",
        "",
    ]
    args.out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0 if device["same_detections"] and max_lsb <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
