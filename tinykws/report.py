"""`tinykws report`: one page per board and model, with the MLPerf Tiny reference model beside it.

The page (Markdown + two plots + the figures as JSON) has accuracy, latency, flash and RAM
against the board's limits, energy per inference and always-on power at a few inference
rates. Every figure says where it comes from, because they come from different places:

- a real board with `--port`: cycles and µs *measured* (DWT), energy *measured* with a monitor
  (`--energy`) or *estimated* from the profile;
- an emulated board: *emulated instructions* (QEMU -icount), energy *estimated*;
- a real board without `--port` (none attached): the image is built for the board (flash and
  RAM are exact), the model runs on the emulated board with the same CPU (its "twin", e.g.
  qemu-m4 for the Cortex-M4F nano33), and latency and energy at the board's clock are
  *estimates* assuming one cycle per emulated instruction.
Accuracy is the model directory's evaluation (tinykws.json), top-1 on `--inputs` (on the
device), and, with `--data DIR` (a folder corpus such as ../shared/realdev/gsc), int8 top-1 on
those recordings computed on the host with tflite_micro, whose int8 outputs the device matches
bit for bit (the bit-exact row says how many of them were checked on the device).
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
from tinykws.boards import Board, list_boards, load_board
from tinykws.errors import TinyKWSError
from tinykws.models.modeldir import read_meta
from tinykws.progress import notice

RATES_HZ = (0.25, 1.0, 4.0)


@dataclass
class ModelFigures:
    """One column of the report."""

    model: str
    accuracy: dict[str, Any] = field(default_factory=dict)  # label -> (value, source)
    latency: dict[str, Any] = field(default_factory=dict)
    flash_bytes: int = 0
    ram_bytes: int = 0
    arena_bytes: int = 0
    tflite_bytes: int = 0
    bitexact: str = ""
    energy_uj: float | None = None
    energy_source: str = ""
    always_on_uw: dict[str, float] = field(default_factory=dict)  # rate -> µW
    always_on_source: str = ""
    us_per_inference: float | None = None


def emulated_twin(board: Board) -> Board:
    """The emulated board with the same CPU (and FPU), to run a real board's model on."""
    for name in list_boards():
        b = load_board(name)
        if b.emulated and b.cpu == board.cpu and b.fpu == board.fpu:
            return b
    raise TinyKWSError(f"{board.name}: no emulated board with a {board.cpu} ({board.fpu}) to estimate on")


def _accuracy(
    model: str | os.PathLike[str],
    top1: float | None,
    n: int,
    data: str | os.PathLike[str] | None = None,
    labels: list[str] | None = None,
    frontend: str | None = None,
) -> dict[str, Any]:
    from tinykws.firmware.build import resolve_model

    out: dict[str, Any] = {}
    if data is not None:
        from tinykws.features import get_frontend
        from tinykws.models.tflm import TFLMRunner
        from tinykws.training.evaluate import evaluate

        tfl, _ = resolve_model(model)
        size = int(np.prod(TFLMRunner(tfl).input_shape))
        if frontend is not None and size != int(np.prod(get_frontend(frontend).shape)):
            raise TinyKWSError(
                f"{model}: its input has {size} values, the {frontend} front end gives "
                f"{int(np.prod(get_frontend(frontend).shape))}; --data needs a model on a tinykws front end"
            )
        r = evaluate(Path(model), data=Path(data), labels=labels, frontend=frontend)
        out[f"top-1 int8 on {Path(data).name}"] = (
            float(r["top1"]),
            f"{data}, n={r.get('n', '?')}, host tflite_micro (bit-exact with the device)",
        )
    _, model_dir = resolve_model(model)
    meta = read_meta(model_dir, required=False) if model_dir is not None else None
    if meta is not None:
        metrics = meta.get("metrics") or {}
        split = metrics.get("split", "test")
        for kind in ("float", "int8"):
            m = metrics.get(kind)
            if isinstance(m, dict) and m.get("top1") is not None:
                out[f"top-1 {kind}"] = (
                    float(m["top1"]),
                    f"{split} split of its training corpus, n={m.get('n', '?')} (tinykws.json)",
                )
    if top1 is not None:
        out["top-1 on the board"] = (top1, f"--inputs, n={n}, int8 on the device")
    return out


def model_figures(
    board: Board,
    model: str | os.PathLike[str],
    *,
    port: str | None = None,
    inputs: str | None = None,
    n: int = 20,
    energy: str | None = None,
    energy_port: str | None = None,
    build_dir: Path | None = None,
    data: str | None = None,
    labels: list[str] | None = None,
    frontend: str | None = None,
) -> ModelFigures:
    """Bench `model` for the report (on the board, or its emulated twin) and label the figures."""
    from tinykws.device.bench import bench
    from tinykws.device.energy import always_on_uw
    from tinykws.firmware.build import build_firmware

    bd = build_dir or resources.build_root() / "report"
    if board.emulated or port is not None:
        r = bench(board, model, inputs=inputs, port=port, n=n, energy=energy, energy_port=energy_port,
                  build_dir=bd / board.name)  # fmt: skip
        sizes = r
        run_on = board
    else:
        run_on = emulated_twin(board)
        r = bench(run_on, model, inputs=inputs, n=n, build_dir=bd / run_on.name)
        sizes = build_firmware(board, model, bd / board.name, audio=False)
    f = ModelFigures(model=r.model, accuracy=_accuracy(model, r.top1, r.n, data, labels, frontend))
    f.flash_bytes, f.ram_bytes, f.arena_bytes = sizes.flash_bytes, sizes.ram_bytes, sizes.arena_bytes
    f.tflite_bytes = r.tflite_bytes
    f.bitexact = f"{r.bitexact}/{r.n} on {run_on.name}"
    if r.emulated:
        f.latency[f"emulated instructions ({run_on.name})"] = (r.per_inference, "QEMU -icount, mean of 10")
        us = r.per_inference / board.clock_hz * 1e6
        f.latency[f"ms at {board.clock_hz / 1e6:g} MHz"] = (
            us / 1000,
            f"estimate: 1 cycle per emulated instruction at {board.name}'s clock",
        )
        f.energy_uj = board.energy.uj_per_cycles(r.per_inference)
        f.energy_source = f"estimate ({board.energy.reference_mcu} datasheet model, cycles = instructions)"
    else:
        us = float(r.us_per_inference or 0.0)
        f.latency["cycles (DWT)"] = (r.per_inference, "measured, mean of 10")
        f.latency["ms"] = (us / 1000, "measured")
        f.energy_uj = r.energy_uj_per_inference
        f.energy_source = r.energy_source if r.energy_source != "estimate" else (
            f"estimate ({board.energy.reference_mcu} datasheet model, measured cycles)"
        )  # fmt: skip
    f.us_per_inference = us
    for rate in RATES_HZ:
        try:
            f.always_on_uw[f"{rate:g}"] = always_on_uw(
                f.energy_uj, us, rate, board.energy.sleep_ua, board.energy.volts
            )
        except TinyKWSError:
            continue
    src = "measured energy" if f.energy_source.startswith("measured") else "estimated energy"
    f.always_on_source = (
        f"{src} + sleep current {board.energy.sleep_ua:g} uA at {board.energy.volts:g} V (profile)"
    )
    return f


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}" if v < 100 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def render_markdown(board: Board, cols: list[ModelFigures], plots: dict[str, str]) -> str:
    names = [c.model for c in cols]
    head = "| | " + " | ".join(names) + " | source |\n|---|" + "---|" * (len(cols) + 1) + "\n"

    def row(label: str, vals: list[str], source: str) -> str:
        return f"| {label} | " + " | ".join(vals) + f" | {source} |\n"

    md = [f"# {names[0]} on {board.name}\n\n{board.description}. "
          f"{'Emulated board: times are emulated instructions.' if board.emulated else ''}\n\n"]  # fmt: skip
    md.append("## Accuracy\n\n" + head)
    keys = sorted({k for c in cols for k in c.accuracy})
    for k in keys:
        vals = [f"{100 * c.accuracy[k][0]:.2f}%" if k in c.accuracy else "not measured" for c in cols]
        src = "; ".join(sorted({c.accuracy[k][1] for c in cols if k in c.accuracy}))
        md.append(row(k, vals, src))
    if not keys:
        md.append(row("top-1", ["not measured"] * len(cols), "no tinykws.json metrics and no --inputs"))
    md.append(row("bit-exact vs tflite_micro", [c.bitexact for c in cols], "int8 outputs on the device"))
    md.append("\n## Latency\n\n" + head)
    for k in sorted({k for c in cols for k in c.latency}):
        vals = [_fmt(c.latency[k][0]) if k in c.latency else "-" for c in cols]
        md.append(row(k, vals, "; ".join(sorted({c.latency[k][1] for c in cols if k in c.latency}))))
    md.append("\n## Memory\n\n" + head)
    lim = f"limits: flash {board.flash_bytes:,}, RAM {board.ram_bytes:,} bytes"
    fl, rl = board.flash_bytes, board.ram_bytes
    pct = [(c.flash_bytes, 100 * c.flash_bytes / fl, c.ram_bytes, 100 * c.ram_bytes / rl) for c in cols]
    md.append(
        row(
            "flash bytes", [f"{f:,} ({p:.1f}%)" for f, p, _, _ in pct], f"image built for {board.name}; {lim}"
        )
    )
    md.append(
        row(
            "RAM bytes (stack incl.)",
            [f"{r:,} ({p:.1f}%)" for _, _, r, p in pct],
            f"image built for {board.name}",
        )
    )
    md.append(row("arena bytes", [f"{c.arena_bytes:,}" for c in cols], "static activation arena"))
    md.append(row(".tflite bytes", [f"{c.tflite_bytes:,}" for c in cols], "model file"))
    md.append("\n## Energy and always-on power\n\n" + head)
    md.append(
        row(
            "uJ per inference",
            [_fmt(c.energy_uj) for c in cols],
            "; ".join(sorted({c.energy_source for c in cols})),
        )
    )
    for rate in RATES_HZ:
        k = f"{rate:g}"
        vals = [_fmt(c.always_on_uw[k]) if k in c.always_on_uw else "does not fit" for c in cols]
        md.append(row(f"always-on uW at {k} inference/s", vals, cols[0].always_on_source))
    md.append("\n")
    for title, path in plots.items():
        md.append(f"![{title}]({path})\n\n")
    return "".join(md)


def _plots(out: Path, board: Board, cols: list[ModelFigures]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [c.model for c in cols]
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax, key, limit in (
        (axes[0], "flash_bytes", board.flash_bytes),
        (axes[1], "ram_bytes", board.ram_bytes),
    ):
        used = [getattr(c, key) for c in cols]
        bars = ax.bar(names, [100 * u / limit for u in used], color=["tab:blue", "tab:gray"][: len(cols)])
        for bar, u in zip(bars, used, strict=True):
            ax.annotate(f"{u / 1024:,.1f} KiB", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=7)  # fmt: skip
        ax.set_ylim(0, 100)
        ax.set_ylabel(f"% of {board.name}'s {limit / 1024:,.0f} KiB")
        ax.set_title("flash" if key == "flash_bytes" else "RAM (stack incl.)")
        ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    fig.savefig(out / "memory.png", dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 3))
    for c in cols:
        rates = [float(k) for k in c.always_on_uw]
        ax.plot(rates, list(c.always_on_uw.values()), marker="o", label=c.model)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("inferences per second")
    ax.set_ylabel("average power (uW)")
    kind = "measured" if cols[0].energy_source.startswith("measured") else "estimate"
    ax.set_title(f"always-on power on {board.name} ({kind})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "power.png", dpi=100)
    plt.close(fig)
    return {"flash and RAM against the board's limits": "memory.png", "always-on power": "power.png"}


def report(
    board: str | Board,
    model: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    reference: str | os.PathLike[str] | None = "default",
    port: str | None = None,
    inputs: str | None = None,
    n: int = 20,
    energy: str | None = None,
    energy_port: str | None = None,
    data: str | None = None,
    labels: list[str] | None = None,
    frontend: str | None = None,
) -> Path:
    """Write report.md, memory.png, power.png and report.json for `model` on `board`."""
    from tinykws.device.bench import REF_MODEL
    from tinykws.firmware.build import resolve_model
    from tinykws.fsutil import atomic_write_text

    b = board if isinstance(board, Board) else load_board(board)
    tfl, mdir = resolve_model(model)
    name = mdir.name if mdir is not None else tfl.stem
    out_dir = Path(out) if out is not None else resources.build_root() / "reports" / b.name / name
    out_dir.mkdir(parents=True, exist_ok=True)
    ref = REF_MODEL if reference == "default" else reference
    models: list[str | os.PathLike[str]] = [model]
    if ref is not None and Path(ref).is_file() and Path(ref).resolve() != tfl.resolve():
        models.append(ref)
    elif ref is not None and not Path(ref).is_file():
        notice(f"MLPerf Tiny reference model not found at {ref}; reporting {name} alone")
    from tinykws.device.listen import MLPERF_LABELS

    cols = []
    for i, m in enumerate(models):
        lab, fe = (labels, frontend) if i == 0 else (MLPERF_LABELS, "mlperf")  # 2nd: the reference
        cols.append(model_figures(b, m, port=port, inputs=inputs if i == 0 else None, n=n, energy=energy,
                                  energy_port=energy_port, build_dir=out_dir / "build", data=data, labels=lab,
                                  frontend=fe))  # fmt: skip
    plots = _plots(out_dir, b, cols)
    atomic_write_text(out_dir / "report.md", render_markdown(b, cols, plots))
    data = {"board": b.name, "models": [c.__dict__ for c in cols]}
    atomic_write_text(out_dir / "report.json", json.dumps(data, indent=2, default=str) + "\n")
    return out_dir / "report.md"


def cli_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--board", required=True, help="board profile name (boards/<name>.toml)")
    p.add_argument("--model", required=True, help="model directory or int8 .tflite")
    p.add_argument("--out", default=None, help="folder for report.md and plots (default build/reports/...)")
    p.add_argument("--port", default=None, help="serial port of a real board (else emulated or estimated)")
    p.add_argument("--inputs", default=None, help="EEMBC folder (y_labels.csv + .bin) for top-1 on the board")
    p.add_argument("--n", type=int, default=20, help="inputs for the bit-exactness check")
    p.add_argument("--energy", choices=("lpm01a", "ppk2", "ppk2-ampere"), default=None, help="power monitor")
    p.add_argument("--energy-port", default=None, help="serial port of the power monitor")
    p.add_argument("--no-reference", action="store_true", help="leave out the MLPerf Tiny reference model")
    p.add_argument(
        "--data", default=None, help="folder corpus for int8 top-1 of both models (e.g. realdev/gsc)"
    )
    p.add_argument("--labels", default=None, help="labels of a bare .tflite: a,b,c | file | mlperf")
    p.add_argument("--frontend", default=None, help="feature front end of a bare .tflite (mlperf|psf)")


def cli_run(args: argparse.Namespace) -> int:
    from tinykws.device.listen import resolve_labels

    path = report(
        args.board, args.model, args.out, reference=None if args.no_reference else "default", port=args.port,
        inputs=args.inputs, n=args.n, energy=args.energy, energy_port=args.energy_port, data=args.data,
        labels=resolve_labels(args.labels), frontend=args.frontend,
    )  # fmt: skip
    print(path.read_text(encoding="utf-8"))
    print(f"written: {path}")
    return 0
