"""Feature front-end benchmark: speed, agreement (TF / C vs the numpy reference) and the MLPerf
Tiny reference model's top-1 on the real clips of ../shared/realdev/gsc fed by our front end.

Usage (writes the Markdown table the README quotes; all figures measured on this host):

    .venv/bin/python benchmarks/bench_features.py --out benchmarks/results/features.md

Speed: clips/s of each pipeline on the same fixed batch of 1 s clips (best of --repeat runs),
beside a plain per-clip `python_speech_features.mfcc` loop measured in the same run. The
realdev set is only measured, never used to choose anything.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TINYKWS_NO_PROGRESS", "1")

from tinykws.data.mlperf import MLPERF_LABELS  # noqa: E402
from tinykws.features import FRONTENDS, get_frontend  # noqa: E402
from tinykws.features.signals import mixed_clips  # noqa: E402

SHARED = Path(os.environ.get("TINYKWS_SHARED", ROOT.parent / "shared"))


def build_c(name: str, tmp: Path) -> ctypes.CDLL | None:
    if shutil.which("gcc") is None:
        return None
    cfg = tmp / name
    get_frontend(name).write_c_header(cfg / "features_config.h")
    so = tmp / f"lib_{name}.so"
    src = ROOT / "firmware" / "features" / "tinykws_features.c"
    flags = ["-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC"]
    subprocess.run(["gcc", *flags, f"-I{cfg}", str(src), "-o", str(so), "-lm"], check=True)
    return ctypes.CDLL(str(so))


def c_int8(lib: ctypes.CDLL, pcm: np.ndarray) -> np.ndarray:
    pcm = np.ascontiguousarray(pcm, dtype=np.int16)
    out = np.zeros(490, np.int8)
    lib.tinykws_features_int8(
        pcm.ctypes.data_as(ctypes.c_void_p), len(pcm), out.ctypes.data_as(ctypes.c_void_p)
    )
    return out.reshape(49, 10)


def speed(n: int, repeat: int, libs: dict) -> list[tuple[str, float]]:
    """clips/s per pipeline; repeats are interleaved (round robin) so that load from other
    processes on a shared machine hits every pipeline alike, and the best run counts."""
    import python_speech_features as psf
    import tensorflow as tf

    x = np.concatenate([mixed_clips(seed=s) for s in range(int(np.ceil(n / 36)))])[:n]
    pcm = np.round(x * 32767).astype(np.int16)
    mlp, ps = get_frontend("mlperf"), get_frontend("psf")
    tf_fn = tf.function(mlp.tf_features)
    xt = tf.constant(x)
    tf_fn(xt[:8])

    def psf_loop() -> None:
        for c in x:
            psf.mfcc(c, 16000, winlen=0.03, winstep=0.02, numcep=10, nfft=512)

    def mlperf_loop() -> None:
        for c in x:
            mlp.int8_features(c)

    def c_loop(lib: ctypes.CDLL) -> None:
        for c in pcm:
            c_int8(lib, c)

    jobs = [
        ("python_speech_features.mfcc, plain per-clip loop (baseline)", psf_loop),
        ("mlperf, numpy, batched (int8_features)", lambda: mlp.int8_features(x)),
        ("psf, numpy, batched (int8_features)", lambda: ps.int8_features(x)),
        ("mlperf, numpy, per-clip loop", mlperf_loop),
        ("mlperf, tf.signal (tf_features, training path), batched", lambda: tf_fn(xt).numpy()),
    ]
    for name, lib in libs.items():
        jobs.append(
            (f"{name}, C front end (host gcc -O2 build, via ctypes), per clip", lambda lib=lib: c_loop(lib))
        )
    best = {name: float("inf") for name, _ in jobs}
    for _ in range(repeat):
        for name, fn in jobs:
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    return [(name, n / best[name]) for name, _ in jobs]


def realdev(libs: dict) -> dict:
    """Reference model top-1 with our front end; C and TF agreement on the same real clips."""
    from tinykws.audio import fix_length, load_audio
    from tinykws.models.tflm import TFLMRunner

    gsc = SHARED / "realdev" / "gsc"
    model = SHARED / "peers" / "mlperf-tiny-kws" / "kws_ref_model.tflite"
    if not gsc.exists() or not model.exists():
        return {}
    paths = sorted(p for p in gsc.glob("*/*") if p.is_file())
    audio = np.stack([fix_length(load_audio(p, quiet=True)) for p in paths])
    truth = np.array([MLPERF_LABELS.index(p.parent.name) for p in paths])
    mlp = get_frontend("mlperf")
    q = mlp.int8_features(audio)
    runner = TFLMRunner(model)
    pred = np.array([int(np.argmax(runner.invoke(v))) for v in q])
    res: dict = {"n": len(paths), "top1": float((pred == truth).mean())}
    per = {}
    for i, c in enumerate(MLPERF_LABELS):
        m = truth == i
        per[c] = float((pred[m] == i).mean()) if m.any() else None
    res["per_class_recall"] = per
    tq = mlp.quantize(mlp.tf_features(audio).numpy()).astype(int)
    d = np.abs(tq - q.astype(int))
    res["tf_vs_numpy"] = {"max_lsb": int(d.max()), "identical": float((d == 0).mean())}
    # C front end on the same clips as int16 (the clips are 16-bit recordings)
    pcm = np.round(audio * 32768).clip(-32768, 32767).astype(np.int16)
    for name, lib in libs.items():
        fe = get_frontend(name)
        ref = fe.int8_features(pcm).astype(int)
        got = np.stack([c_int8(lib, c) for c in pcm]).astype(int)
        d = np.abs(got - ref)
        res[f"c_vs_numpy_{name}"] = {"max_lsb": int(d.max()), "identical": float((d == 0).mean())}
    return res


def on_m4() -> dict:
    """Emulated instructions per clip of the C front end on Cortex-M4F (QEMU mps2-an386)."""
    import soundfile as sf

    from tinykws.features import emulator as _features_qemu

    if _features_qemu.available():
        return {}
    wavs = sorted((SHARED / "peers" / "tflm-micro-speech").glob("*.wav"))
    clips = [sf.read(p, dtype="int16")[0] for p in wavs]
    clips += [np.round(x * 32767).astype(np.int16) for x in mixed_clips(seed=8, n_vowel=4, n_noise=2)]
    res = {}
    for name in FRONTENDS:
        fe = get_frontend(name)
        q, instr = _features_qemu.run_on_m4(fe, clips)
        d = np.abs(q.astype(int) - fe.int8_features(np.stack(clips)).astype(int))
        res[name] = {
            "clips": len(clips),
            "instructions_mean": float(instr.mean()),
            "instructions_max": int(instr.max()),
            "max_lsb": int(d.max()),
            "identical": float((d == 0).mean()),
        }
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=360, help="clips in the speed batch (default 360)")
    ap.add_argument("--repeat", type=int, default=5, help="interleaved repeats, best counts")
    ap.add_argument("--out", type=Path, help="write the Markdown results here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        libs = {n: lib for n in FRONTENDS if (lib := build_c(n, Path(tmp))) is not None}
        rows = speed(args.clips, args.repeat, libs)
        rd = realdev(libs)
        m4 = on_m4()
    base = rows[0][1]
    cpu = platform.processor() or platform.machine()
    lines = [
        "# Feature front ends: measured figures",
        "",
        "Command: `.venv/bin/python benchmarks/bench_features.py --out benchmarks/results/features.md`",
        f"Host: {cpu}, {os.cpu_count()} CPU(s) visible, Python {platform.python_version()}, "
        f"numpy {np.__version__}. "
        f"All figures are **measured** on this host (best of {args.repeat}), {args.clips} clips of 1 s.",
        "",
        "## Speed",
        "",
        f"Load average at start: {os.getloadavg()[0]:.2f}. On a shared machine absolute clips/s vary "
        "between runs (up to 2x here); the pipelines run interleaved, so the ratios are the "
        "steadier figure. The C rows time the host build of the firmware code, not a Cortex-M.",
        "",
        "| pipeline | clips/s | vs plain psf loop |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {v:,.0f} | {v / base:.2f}x |" for name, v in rows]
    if rd:
        lines += [
            "",
            "## MLPerf Tiny reference model fed by tinykws's `mlperf` front end",
            "",
            f"Real clips: `../shared/realdev/gsc`, {rd['n']} clips, folders = labels (MLPerf class order), "
            "int8 model run by the `tflite_micro` interpreter. Measured, host. Never tuned on this set.",
            "",
            f"**top-1 = {rd['top1'] * 100:.2f}%** "
            "(target >= 91%; published figure about 92% on the full test set)",
            "",
            "Per-class recall: "
            + ", ".join(f"{k} {v * 100:.0f}%" for k, v in rd["per_class_recall"].items() if v is not None),
            "",
            "## Agreement on the same real clips (int8 values)",
            "",
            "| comparison | max abs difference (LSB) | identical values |",
            "|---|---:|---:|",
            f"| mlperf: tf.signal (`tf_features`) vs numpy reference | {rd['tf_vs_numpy']['max_lsb']} | "
            f"{rd['tf_vs_numpy']['identical'] * 100:.4f}% |",
        ]
        for n in FRONTENDS:
            k = f"c_vs_numpy_{n}"
            if k in rd:
                ident = rd[k]["identical"] * 100
                lines.append(f"| {n}: C front end vs numpy reference | {rd[k]['max_lsb']} | {ident:.4f}% |")
    if m4:
        lines += [
            "",
            "## C front end on an emulated Cortex-M4F",
            "",
            "QEMU mps2-an386, arm-none-eabi-gcc -O2 hard-float (FPv4-SP), `-icount shift=0`, SysTick "
            "at 25 MHz (40 instructions per tick). **Emulated instructions**, not cycles of a real chip.",
            "",
            "| front end | clips | emulated instructions per 1 s clip | max diff vs host (LSB) | identical |",
            "|---|---:|---:|---:|---:|",
        ]
        for n, r in m4.items():
            lines.append(
                f"| {n} | {r['clips']} | {r['instructions_mean'] / 1e6:.3f} M | {r['max_lsb']} | "
                f"{r['identical'] * 100:.3f}% |"
            )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        from tinykws.fsutil import atomic_write_text

        atomic_write_text(args.out, text)
        atomic_write_text(
            args.out.with_suffix(".json"),
            json.dumps({"speed": dict(rows), "realdev": rd, "cortex_m4_qemu": m4}, indent=2),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
