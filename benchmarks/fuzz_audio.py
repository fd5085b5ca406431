"""Fuzz the verified audio reader: mutated real clips must be read or refused, never crash.

Usage:
    .venv/bin/python benchmarks/fuzz_audio.py [--n 3000] [--seed 0] [--valid 0]

Why: tests/test_audio_hostile.py holds the hostile kinds someone thought of; this throws
random damage at real files (Opus of ../shared/realtrain, FLAC of ../shared/realdev, WAV made
here) and counts what `tinykws.audio.read_mono` does: read, refused (per kind), or any other
exception (a traceback a user would see). Mutations: byte flips, truncation, a 4-byte field
overwritten with an extreme value, bytes inserted or deleted. `--valid N` also reads N valid
files of each source (0: all) and counts how many are refused (should be none).
Writes benchmarks/results/fuzz_audio.{json,md}.
"""

from __future__ import annotations

import argparse
import io
import json
import struct
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tinykws.audio import BadAudio, read_mono  # noqa: E402

SHARED = ROOT.parent / "shared"


def _sources(rng: np.random.Generator, k: int) -> dict[str, list[Path]]:
    """Up to `k` real files per kind (all of them when k is 0), sorted then sampled with a seed."""
    out = {}
    for name, d, ext in (("opus", "realtrain", "opus"), ("flac", "realdev", "flac")):
        files = sorted((SHARED / d).rglob(f"*.{ext}"))
        if k and len(files) > k:
            files = [files[i] for i in sorted(rng.choice(len(files), k, replace=False))]
        out[name] = files
    return out


def _wavs(tmp: Path, rng: np.random.Generator, n: int) -> list[Path]:
    import soundfile as sf

    out = []
    for i in range(n):
        sr = int(rng.choice([8000, 16000, 44100, 48000]))
        ch = int(rng.integers(1, 3))
        sub = str(rng.choice(["PCM_16", "PCM_24", "FLOAT"]))
        x = (rng.standard_normal((int(sr * rng.uniform(0.2, 2.0)), ch)) * 0.1).astype(np.float32)
        buf = io.BytesIO()
        sf.write(buf, x, sr, format="WAV", subtype=sub)
        p = tmp / f"w{i}.wav"
        p.write_bytes(buf.getvalue())
        out.append(p)
    return out


def mutate(b: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """One random kind of damage. Header bytes (the first 64) are hit as often as the rest."""
    kind = str(rng.choice(["flip", "truncate", "field", "insert", "delete"]))
    a = bytearray(b)
    head = rng.random() < 0.5
    pos = int(rng.integers(0, min(64, len(a)))) if head else int(rng.integers(0, len(a)))
    if kind == "flip":
        for _ in range(int(rng.integers(1, 9))):
            q = int(rng.integers(0, min(64, len(a)))) if head else int(rng.integers(0, len(a)))
            a[q] ^= 1 << int(rng.integers(0, 8))
    elif kind == "truncate":
        a = a[: int(rng.integers(0, len(a)))]
    elif kind == "field":
        v = int(rng.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, int(rng.integers(0, 2**32))]))
        a[pos : pos + 4] = struct.pack("<I", v)
    elif kind == "insert":
        a[pos:pos] = rng.bytes(int(rng.integers(1, 200)))
    else:
        del a[pos : pos + int(rng.integers(1, 200))]
    return bytes(a), kind


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000, help="mutated files in all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--valid", type=int, default=200, help="valid files per source to read (0: all)")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    results: dict[str, object] = {"n": args.n, "seed": args.seed}
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        src = _sources(rng, args.valid)
        src["wav"] = _wavs(tmp, rng, 50)
        if not src["opus"] and not src["flac"]:
            print(f"no real clips under {SHARED}; fuzzing WAV only", file=sys.stderr)
        valid: dict[str, dict[str, int]] = {}
        t0 = time.perf_counter()
        for name, files in src.items():
            c: Counter[str] = Counter()
            for p in files:
                try:
                    read_mono(p)
                    c["read"] += 1
                except BadAudio as exc:
                    c[f"refused: {exc.reason}"] += 1
            valid[name] = dict(c)
        results["valid"] = valid
        results["valid_seconds"] = round(time.perf_counter() - t0, 1)
        pool = [(name, p.read_bytes()) for name, files in src.items() for p in files[:200]]
        outcomes: Counter[str] = Counter()
        per: dict[str, Counter[str]] = {}
        crashes: list[str] = []
        t0 = time.perf_counter()
        for i in range(args.n):
            name, b = pool[int(rng.integers(0, len(pool)))]
            m, kind = mutate(b, rng)
            p = tmp / f"m{i % 8}.{name}"
            p.write_bytes(m)
            try:
                x, _ = read_mono(p)
                out = "read"
                assert np.all(np.isfinite(x))
            except BadAudio as exc:
                out = f"refused: {exc.reason}"
            except Exception as exc:  # noqa: BLE001 - what this benchmark counts
                out = "traceback"
                crashes.append(f"{name} {kind}: {type(exc).__name__}: {exc}")
            outcomes[out] += 1
            per.setdefault(f"{name} {kind}", Counter())[out] += 1
        results["fuzz_seconds"] = round(time.perf_counter() - t0, 1)
    results["outcomes"] = dict(sorted(outcomes.items()))
    results["per_mutation"] = {k: dict(sorted(v.items())) for k, v in sorted(per.items())}
    results["tracebacks"] = crashes[:20]
    out = ROOT / "benchmarks" / "results"
    (out / "fuzz_audio.json").write_text(json.dumps(results, indent=1) + "\n")
    lines = [
        "# Fuzzing the verified audio reader",
        "",
        f"`.venv/bin/python benchmarks/fuzz_audio.py --n {args.n} --seed {args.seed} --valid {args.valid}`",
        "",
        "Valid files read through `tinykws.audio.read_mono` (should all be read):",
        "",
        "| source | outcome |",
        "|---|---|",
        *[f"| {k} | {', '.join(f'{o} {n}' for o, n in v.items())} |" for k, v in valid.items()],
        "",
        f"{args.n} mutated files (byte flips, truncation, a 4-byte field set to an extreme value, "
        "bytes inserted or deleted; half of them in the first 64 bytes):",
        "",
        "| outcome | files |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in sorted(outcomes.items())],
        "",
        f"Tracebacks: {outcomes.get('traceback', 0)}. 'read' means the damage left a valid file "
        "(e.g. flipped sample bits in a WAV, which no reader can tell from audio).",
        "",
        "| source and mutation | outcomes |",
        "|---|---|",
        *[f"| {k} | {', '.join(f'{o} {n}' for o, n in v.items())} |" for k, v in sorted(per.items())],
        "",
    ]
    (out / "fuzz_audio.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 1 if crashes else 0


if __name__ == "__main__":
    raise SystemExit(main())
