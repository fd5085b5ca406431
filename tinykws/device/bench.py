"""`tinykws bench` and `tinykws bench-table`: run a model on a board over serial and measure it.

On an emulated board the firmware is built, QEMU is started with the UART on a loopback socket,
and every figure about time is in *emulated instructions* (QEMU -icount shift=0), never
milliseconds of a real chip. Energy without a power monitor is an *estimate* from the board
profile's datasheet model, and the JSON says so (`energy_source: "estimate"`).

Accuracy and bit-exactness: each input is loaded with `db load`/`db`, run with `infer 1 0`,
and its raw int8 output is compared with the tflite_micro interpreter's (the oracle).
Timing follows MLPerf Tiny: the mean over 10 inferences after one warm-up (`infer 10 1`).
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinykws import resources
from tinykws.boards import Board, load_board
from tinykws.errors import TinyKWSError
from tinykws.features.files import load_eembc_inputs
from tinykws.progress import notice, progress

PEERS = resources.shared_dir() / "peers"
REF_MODEL = PEERS / "mlperf-tiny-kws" / "kws_ref_model.tflite"
TIMING_N, TIMING_WARMUP = 10, 1


@dataclass
class BenchResult:
    """Everything one bench run measured; `to_json()` is the documented JSON."""

    board: str
    model: str
    emulated: bool
    n: int
    top1: float | None
    bitexact: int
    counter_unit: str  # "instructions" (emulated) or "cycles"
    per_inference: float  # in counter_unit
    us_per_inference: float | None  # real boards only
    arena_bytes: int
    flash_bytes: int
    ram_bytes: int
    energy_uj_per_inference: float
    energy_source: str
    ops: list[tuple[str, int]] = field(default_factory=list)
    tflite_bytes: int = 0
    # Measured energy (monitor) details and always-on power; in the JSON only when asked for
    # (--energy or --rate), so that the documented key set of a plain bench stays exact.
    extra: dict[str, Any] = field(default_factory=dict)
    always_on_uw: float | None = None
    always_on_rate_hz: float | None = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"top1": self.top1, "n": self.n, "bitexact": self.bitexact}
        if self.counter_unit == "instructions":
            d["instructions_per_inference"] = round(self.per_inference, 1)
        else:
            d["cycles_per_inference"] = round(self.per_inference, 1)
            d["us_per_inference"] = self.us_per_inference
        d.update(
            arena_bytes=self.arena_bytes,
            flash_bytes=self.flash_bytes,
            ram_bytes=self.ram_bytes,
            energy_uj_per_inference=round(self.energy_uj_per_inference, 3),
            energy_source=self.energy_source,
        )
        d.update(self.extra)
        return d


def input_seeds(n: int, seed: int = 0) -> list[int]:
    """Per-input xorshift32 seeds (non-zero) derived from one bench seed."""
    return [((seed * 1_000_003 + i) * 2_654_435_761 + 1) & 0xFFFFFFFF or 1 for i in range(n)]


def random_inputs(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Seeded random int8 inputs (bit-exactness does not need labels).

    They are the firmware's `db rand` bytes, so the device generates them itself instead of
    receiving them over the (slow) serial link; the host computes the same bytes for the oracle.
    """
    from tinykws.device.protocol import xorshift_bytes

    rows = [np.frombuffer(xorshift_bytes(s, size), dtype=np.int8) for s in input_seeds(n, seed)]
    return np.stack(rows) if rows else np.zeros((0, size), np.int8)


def _run_one(dev: Any, x: np.ndarray, pipeline: bool, timeout: float, seed: int | None = None) -> list[int]:
    """Load one input (sent with `db`, or generated on the device with `db rand SEED`) and
    infer; after a reset or garbage, resynchronize and retry once (loading and inferring again
    is safe: the result depends only on the input)."""
    from tinykws.device.protocol import DeviceGarbage, DeviceReset

    for attempt in (0, 1):
        try:
            if seed is None:
                dev.load(x.tobytes(), pipeline=pipeline)
            else:  # x is the host's copy of the device's bytes (checked by bit-exactness)
                dev.load_random(seed, x.size)
            return dev.infer(1, 0, timeout=timeout).raw
        except (DeviceReset, DeviceGarbage) as exc:
            if attempt:
                raise
            notice(f"{exc}; retrying this input once")
            dev.resync()
    raise AssertionError("unreachable")


def bench(
    board: str | Board,
    model: str | os.PathLike[str],
    *,
    inputs: str | os.PathLike[str] | None = None,
    port: str | None = None,
    n: int = 200,
    seed: int = 0,
    with_ops: bool = False,
    build_dir: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
    energy: str | None = None,
    energy_port: str | None = None,
    rate_hz: float | None = None,
    volts: float | None = None,
    min_window_s: float | None = None,
) -> BenchResult:
    """Build `model` for `board`, run it over serial, and measure it (see module docstring).

    energy='lpm01a'|'ppk2' with `energy_port` measures µJ per inference with that monitor
    (a real board running the energy-mode image, at the profile's energy baud rate; MLPerf
    Tiny's rules, tinykws.device.energy). Without a monitor the energy is the board profile's
    estimate. `rate_hz` adds the always-on average power at that many inferences per second.
    """
    from tinykws.device.qemu import open_board
    from tinykws.firmware.build import build_firmware
    from tinykws.models.tflm import TFLMRunner

    b = board if isinstance(board, Board) else load_board(board)
    if energy is not None:
        if energy not in ("lpm01a", "ppk2", "ppk2-ampere"):
            raise TinyKWSError(f"--energy {energy}: unknown monitor; one of lpm01a, ppk2, ppk2-ampere")
        if energy_port is None:
            raise TinyKWSError(f"--energy {energy}: needs --energy-port (the monitor's serial port)")
        if port is None or b.emulated:
            raise TinyKWSError(
                f"--energy {energy}: measures a real board (--port); {b.name} is emulated: "
                "its energy is the profile's estimate"
            )
    res = build_firmware(b, model, build_dir, audio=False, energy_mode=energy is not None)
    seeds: list[int] | None = None
    if inputs is not None:
        xs, ys = load_eembc_inputs(inputs, res.input_size)
        if n and n < len(xs):
            xs, ys = xs[:n], ys[:n]
    else:
        if n <= 0:
            raise TinyKWSError(f"--n {n}: must be > 0")
        xs, ys = random_inputs(n, res.input_size, seed), None
        seeds = input_seeds(n, seed)
    oracle = TFLMRunner(res.model_path)
    want = oracle.invoke_batch(xs).astype(np.int64)

    got = np.zeros_like(want)
    pipeline = port is None and b.flash_method == "qemu"
    measured = None
    baud = b.energy_baud if energy is not None else None
    with open_board(b, res.elf, port, timeout=timeout, baud=baud) as dev:
        dev.expect_model(res.input_size, res.output_size)
        for i in progress(range(len(xs)), desc=f"bench {res.model_name} on {b.name}", total=len(xs)):
            try:
                got[i] = _run_one(dev, xs[i], pipeline, timeout, None if seeds is None else seeds[i])
            except TinyKWSError as exc:
                # keep what was measured: inputs done and how many matched the oracle
                done = int(np.sum(np.all(got[:i] == want[:i], axis=1)))
                err = type(exc)(f"{exc} [after {i} of {len(xs)} inputs; {done}/{i} bit-exact so far]")
                err.partial = {"model": res.model_name, "board": b.name, "n": len(xs), "done": i,  # type: ignore[attr-defined]
                               "bitexact": done, "complete": False}  # fmt: skip
                raise err from exc
        dev.load(xs[0].tobytes(), pipeline=pipeline)
        timing = dev.infer(TIMING_N, TIMING_WARMUP, timeout=timeout)
        ops = dev.ops(TIMING_N, timeout=timeout) if with_ops else []
        if energy is not None and timing.per_inference is not None:
            measured = _measure_energy(
                dev, b, energy, energy_port, timing.per_inference / b.clock_hz * 1e6, volts, min_window_s
            )
    per = timing.per_inference
    unit = timing.counter_unit or "instructions"
    if per is None:
        raise TinyKWSError(f"{b.name}: the device reported no instruction or cycle count")
    bitexact = int(np.sum(np.all(got == want, axis=1)))
    top1 = float(np.mean(np.argmax(got, axis=1) == ys)) if ys is not None else None
    # Energy: the board's datasheet model, one cycle per instruction on emulated boards, unless
    # a monitor measured it.
    energy_uj = b.energy.uj_per_cycles(per)
    source = "estimate"
    extra: dict[str, Any] = {}
    if measured is not None:
        extra.update(measured.to_json())
        extra.pop("energy_source")
        extra.pop("energy_uj_per_inference")
        if measured.uj_per_inference is not None:
            energy_uj, source = measured.uj_per_inference, f"measured ({measured.monitor})"
    result = BenchResult(
        board=b.name,
        model=res.model_name,
        emulated=unit == "instructions",
        n=len(xs),
        top1=top1,
        bitexact=bitexact,
        counter_unit=unit,
        per_inference=per,
        us_per_inference=None if unit == "instructions" else per / b.clock_hz * 1e6,
        arena_bytes=res.arena_bytes,
        flash_bytes=res.flash_bytes,
        ram_bytes=res.ram_bytes,
        energy_uj_per_inference=energy_uj,
        energy_source=source,
        ops=ops,
        tflite_bytes=res.tflite_bytes,
        extra=extra,
    )
    in_json = rate_hz is not None or measured is not None
    add_always_on(result, b, rate_hz if rate_hz is not None else 1.0, volts, in_json=in_json)
    return result


def add_always_on(r: BenchResult, b: Board, rate_hz: float, volts: float | None, in_json: bool) -> None:
    """Always-on average power at `rate_hz` inferences per second: the inference's energy per
    second plus the profile's sleep current between inferences (µW). On emulated boards the
    time per inference is an estimate (one instruction per cycle at the profile's clock)."""
    from tinykws.device.energy import always_on_uw

    us = r.us_per_inference if r.us_per_inference is not None else r.per_inference / b.clock_hz * 1e6
    v = volts if volts is not None else b.energy.volts
    try:
        p = always_on_uw(r.energy_uj_per_inference, us, rate_hz, b.energy.sleep_ua, v)
    except TinyKWSError as exc:
        notice(str(exc))
        return
    r.always_on_uw, r.always_on_rate_hz = p, rate_hz
    if in_json:
        r.extra.update(
            always_on_uw=round(p, 3),
            always_on_rate_hz=rate_hz,
            always_on_source=("measured energy" if r.energy_source.startswith("measured") else "estimate")
            + f" + sleep current {b.energy.sleep_ua:g} uA from the profile",
        )


def _measure_energy(dev, b: Board, monitor: str, port: str, us: float, volts: float | None, min_window_s):
    """Energy with a monitor; a monitor that fails to open is a clear error, a fault mid-run
    returns the windows already measured, marked incomplete."""
    from tinykws.device.energy import LPM01A, MIN_WINDOW_S, PPK2, measure_energy

    mon = LPM01A(port) if monitor == "lpm01a" else PPK2(port, ampere_meter=monitor == "ppk2-ampere")
    try:
        return measure_energy(
            dev, mon, us, volts=volts if volts is not None else b.energy.volts,
            min_window_s=min_window_s if min_window_s is not None else MIN_WINDOW_S,
        )  # fmt: skip
    finally:
        mon.close()


def format_result(r: BenchResult, board: Board) -> str:
    lines = [f"{r.model} on {r.board} ({'emulated' if r.emulated else 'measured'})"]
    lines.append(f"  inputs            {r.n}")
    lines.append(f"  top-1             {'n/a (no labels)' if r.top1 is None else f'{100 * r.top1:.2f}%'}")
    lines.append(f"  bit-exact         {r.bitexact}/{r.n} with tflite_micro")
    if r.emulated:
        lines.append(f"  per inference     {r.per_inference:,.0f} emulated instructions")
    else:
        lines.append(
            f"  per inference     {r.per_inference:,.0f} cycles, {r.us_per_inference:,.0f} us (measured)"
        )
    lines.append(f"  arena             {r.arena_bytes:,} bytes")
    lines.append(f"  flash / RAM       {r.flash_bytes:,} / {r.ram_bytes:,} bytes")
    if r.energy_source == "estimate":
        lines.append(
            f"  energy            {r.energy_uj_per_inference:,.1f} uJ per inference "
            f"({r.energy_source}: {board.energy.reference_mcu} datasheet"
            f"{', 1 cycle per instruction' if r.emulated else ''})"
        )
    else:
        lines.append(
            f"  energy            {r.energy_uj_per_inference:,.2f} uJ per inference ({r.energy_source}, "
            f"median of {len(r.extra.get('energy_windows_uj', []))} windows of "
            f"{r.extra.get('energy_inferences_per_window')} inferences)"
        )
    if r.extra.get("energy_complete") is False:
        lines.append(f"  energy INCOMPLETE {r.extra.get('energy_error')}")
    if r.always_on_uw is not None:
        lines.append(
            f"  always-on power   {r.always_on_uw:,.1f} uW at {r.always_on_rate_hz:g} inference(s)/s "
            f"({'measured energy' if r.energy_source.startswith('measured') else 'estimate'}"
            f" + sleep {board.energy.sleep_ua:g} uA)"
        )
    for name, v in r.ops:
        lines.append(f"    {name:<20} {v:>12,} {r.counter_unit}")
    return "\n".join(lines)


def format_table(results: list[BenchResult], board: Board) -> str:
    """Side-by-side table (one column per model), marked emulated/estimate where so."""
    unit = "emulated instructions" if all(r.emulated for r in results) else "cycles"
    rows: list[tuple[str, list[str]]] = [
        ("inputs", [str(r.n) for r in results]),
        ("top-1", ["n/a" if r.top1 is None else f"{100 * r.top1:.2f}%" for r in results]),
        ("bit-exact vs tflite_micro", [f"{r.bitexact}/{r.n}" for r in results]),
        (f"per inference ({unit})", [f"{r.per_inference:,.0f}" for r in results]),
        ("arena bytes", [f"{r.arena_bytes:,}" for r in results]),
        ("flash bytes (.tflite size)", [f"{r.flash_bytes:,} ({r.tflite_bytes:,})" for r in results]),
        ("RAM bytes (stack incl.)", [f"{r.ram_bytes:,}" for r in results]),
        ("energy uJ/inference (estimate)", [f"{r.energy_uj_per_inference:,.1f}" for r in results]),
    ]
    header = ["", *[r.model for r in results]]
    widths = [max(len(header[0]), *(len(k) for k, _ in rows))]
    for j in range(len(results)):
        widths.append(max(len(header[j + 1]), *(len(v[j]) for _, v in rows)))
    out = [
        f"board {board.name} ({board.description}); energy model: {board.energy.reference_mcu}",
        " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
        "-+-".join("-" * w for w in widths),
    ]
    for k, vals in rows:
        out.append(" | ".join(c.ljust(w) for c, w in zip([k, *vals], widths, strict=True)))
    return "\n".join(out)


def _common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--board", required=True, help="board profile name (boards/<name>.toml)")
    parser.add_argument("--model", required=True, help="model directory or int8 .tflite")
    parser.add_argument("--port", default=None, help="serial port of a real board (emulated boards: none)")
    parser.add_argument("--n", type=int, default=200, help="inputs: random, or first N of --inputs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds of silence = error")


def cli_configure_bench(parser: argparse.ArgumentParser) -> None:
    _common_args(parser)
    parser.add_argument("--inputs", default=None, help="EEMBC folder: y_labels.csv + .bin")
    parser.add_argument("--json", type=Path, default=None, help="write the figures as JSON here")
    parser.add_argument("--ops", action="store_true", help="also print the per-op breakdown")
    parser.add_argument(
        "--energy", choices=("lpm01a", "ppk2", "ppk2-ampere"), default=None,
        help="power monitor (ppk2: it powers the board; ppk2-ampere: in series with the board's supply)",
    )  # fmt: skip
    parser.add_argument("--energy-port", default=None, help="serial port of the power monitor")
    parser.add_argument("--rate", type=float, default=None, help="always-on power at this many inferences/s")
    parser.add_argument("--volts", type=float, default=None, help="supply voltage (default: the profile's)")


def cli_run_bench(args: argparse.Namespace) -> int:
    from tinykws.fsutil import atomic_write_text

    board = load_board(args.board)
    try:
        r = bench(
            board, args.model, inputs=args.inputs, port=args.port, n=args.n, seed=args.seed,
            with_ops=args.ops, timeout=args.timeout, energy=args.energy, energy_port=args.energy_port,
            rate_hz=args.rate, volts=args.volts,
        )  # fmt: skip
    except TinyKWSError as exc:
        partial = getattr(exc, "partial", None)
        if args.json and partial is not None:
            atomic_write_text(args.json, json.dumps({**partial, "error": str(exc)}, indent=2) + "\n")
        raise
    print(format_result(r, board))
    if args.json:
        atomic_write_text(args.json, json.dumps(r.to_json(), indent=2) + "\n")
    return 0 if r.bitexact == r.n else 1


def cli_configure_bench_table(parser: argparse.ArgumentParser) -> None:
    _common_args(parser)
    parser.add_argument("--ops", action="store_true", help="also print the per-op breakdown")


def cli_run_bench_table(args: argparse.Namespace) -> int:
    board = load_board(args.board)
    models = [args.model]
    if REF_MODEL.is_file():
        models.append(str(REF_MODEL))
    else:
        notice(f"MLPerf Tiny reference model not found at {REF_MODEL}; benching {args.model} alone")
    results = [
        bench(board, m, port=args.port, n=args.n, seed=args.seed, with_ops=args.ops, timeout=args.timeout)
        for m in models
    ]
    print(format_table(results, board))
    for r in results:
        if r.ops:
            print(f"\nper-op breakdown, {r.model} ({r.counter_unit} per inference):")
            for name, v in r.ops:
                print(f"  {name:<20} {v:>12,}")
    return 0 if all(r.bitexact == r.n for r in results) else 1
