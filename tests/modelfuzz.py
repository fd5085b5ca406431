"""Seeded mutants of a valid `.tflite`, and a harness that runs `tinykws compile` on each.

Shared by tests/test_model_fuzz.py (seconds) and benchmarks/fuzz_models.py (the long run). The
mutation kinds are those of issue 16: byte flips in the flatbuffer's tables (everything that is
not constant tensor data), truncation, random bytes anywhere, and pure garbage.
"""

from __future__ import annotations

import contextlib
import io
import signal
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

KINDS = ("flip", "truncate", "random", "garbage")


def data_spans(buf: bytes) -> list[tuple[int, int]]:
    """(start, end) of every constant buffer's bytes in a *valid* model (the weights)."""
    import tflite

    m = tflite.Model.GetRootAsModel(buf, 0)
    spans = []
    for i in range(m.BuffersLength()):
        b = m.Buffers(i)
        if b.DataLength():
            start = b._tab.Vector(b._tab.Offset(4))
            spans.append((start, start + b.DataLength()))
    return spans


def table_positions(buf: bytes) -> np.ndarray:
    """Byte positions of the flatbuffer's structure: tables, vtables, vectors' lengths, strings."""
    mask = np.ones(len(buf), bool)
    for a, b in data_spans(buf):
        mask[a:b] = False
    return np.flatnonzero(mask)


def mutants(buf: bytes, n: int, seed: int) -> Iterator[tuple[str, bytes]]:
    """`n` seeded mutants of `buf`, cycling through KINDS; yields (kind, bytes)."""
    rng = np.random.default_rng(seed)
    tables = table_positions(buf)
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        if kind == "flip":
            b = bytearray(buf)
            for pos in rng.choice(tables, size=int(rng.integers(1, 5))):
                how = rng.integers(3)
                if how == 0:
                    b[pos] ^= 1 << int(rng.integers(8))
                elif how == 1:
                    b[pos] = int(rng.integers(256))
                else:
                    b[pos] = (0x00, 0xFF, 0x7F, 0x80)[int(rng.integers(4))]
            yield kind, bytes(b)
        elif kind == "truncate":
            yield kind, buf[: int(rng.integers(0, len(buf)))]
        elif kind == "random":
            b = bytearray(buf)
            k = int(rng.integers(1, 17))
            pos = rng.integers(0, len(buf), size=k)
            for p, v in zip(pos, rng.integers(0, 256, size=k), strict=True):
                b[int(p)] = int(v)
            yield kind, bytes(b)
        else:
            g = bytearray(rng.integers(0, 256, size=int(rng.integers(0, 4096)), dtype=np.uint8).tobytes())
            if len(g) >= 8 and rng.integers(2):  # past the identifier check, into the tables
                g[0:4] = int(rng.integers(8, max(9, len(g)))).to_bytes(4, "little")
                g[4:8] = b"TFL3"
            yield kind, bytes(g)


@dataclass
class Outcome:
    """Counts of one fuzz run; `failures` holds (kind, index, what happened) of each bad case."""

    tried: int = 0
    refused: int = 0
    accepted: int = 0
    by_kind: dict[str, list[int]] = field(default_factory=dict)  # kind -> [tried, refused, accepted]
    failures: list[tuple[str, int, str]] = field(default_factory=list)
    accepted_models: list[tuple[int, bytes]] = field(default_factory=list)


class _Hang(Exception):
    pass


def _alarm(signum, frame):  # noqa: ARG001 - signal handler signature
    raise _Hang()


def run_compile(
    buf: bytes, n: int, seed: int, time_limit: float = 20.0, keep_accepted: int = 0, main=None
) -> Outcome:
    """Run `tinykws compile` (through tinykws.cli.main) on `n` mutants of `buf`.

    A refusal must be exit code 2 with one `tinykws: error: ...` line naming the file; any
    exception, other exit code, multi-line message or run past `time_limit` is a failure.
    """
    if main is None:
        from tinykws.cli import main
    out = Outcome()
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path, dest = Path(tmp) / "mutant.tflite", Path(tmp) / "c"
            for i, (kind, data) in enumerate(mutants(buf, n, seed)):
                path.write_bytes(data)
                counts = out.by_kind.setdefault(kind, [0, 0, 0])
                out.tried += 1
                counts[0] += 1
                err = io.StringIO()
                t0 = time.monotonic()
                signal.setitimer(signal.ITIMER_REAL, time_limit)
                try:
                    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                        rc = main(["compile", str(path), "--out", str(dest)])
                except _Hang:
                    out.failures.append((kind, i, f"hang: no answer within {time_limit} s"))
                    continue
                except BaseException as exc:  # noqa: BLE001 - any escape is what we count
                    tb = traceback.format_exception(exc)
                    out.failures.append(
                        (kind, i, f"traceback: {type(exc).__name__}: {exc} | {tb[-2].strip()}")
                    )
                    continue
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                msg = err.getvalue().strip().splitlines()
                if rc == 0:
                    out.accepted += 1
                    counts[2] += 1
                    if len(out.accepted_models) < keep_accepted:
                        out.accepted_models.append((i, data))
                elif rc == 2 and len(msg) == 1 and msg[0].startswith(f"tinykws: error: {path}"):
                    out.refused += 1
                    counts[1] += 1
                else:
                    out.failures.append(
                        (kind, i, f"exit {rc} after {time.monotonic() - t0:.1f} s: {msg[:3]}")
                    )
    finally:
        signal.signal(signal.SIGALRM, old)
    return out
