"""`tinykws build`: compile a model to C and build a firmware image for a board.

The image is the portable core (firmware/core: protocol and runtime), the board's port folder,
the compiled graph (tinykws.export.compiler) with the int8 kernels (firmware/kernels) and, when
the model has a feature front end, the C front end (firmware/features) so that the device can
take raw audio. It is built with arm-none-eabi-gcc and newlib-nano in one compiler call, and
refused when it does not fit the board's flash or RAM (the sizes are in the message).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinykws import resources
from tinykws.boards import Board, load_board
from tinykws.errors import TinyKWSError, missing_tool
from tinykws.fsutil import atomic_write_text
from tinykws.modeldir import read_meta

FIRMWARE = resources.firmware_dir()
CORE = FIRMWARE / "core"
KERNELS = FIRMWARE / "kernels"
FEATURES = FIRMWARE / "features"
COMMON_CFLAGS = (
    "-O2",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-std=c99",
    "-ffunction-sections",
    "-fdata-sections",
    "-fno-common",
)
LDFLAGS = ("--specs=nano.specs", "--specs=nosys.specs", "-nostartfiles", "-Wl,--gc-sections")
CC = os.environ.get("TINYKWS_ARM_CC", "arm-none-eabi-gcc")
SIZE = os.environ.get("TINYKWS_ARM_SIZE", "arm-none-eabi-size")


@dataclass
class BuildResult:
    """A built firmware image and its figures (bytes)."""

    board: str
    elf: Path
    flash_bytes: int  # .text + .data initializers (what is programmed)
    ram_bytes: int  # .data + .bss + stack
    arena_bytes: int  # activation arena of the compiled graph
    model_name: str
    model_path: Path
    build_dir: Path
    tflite_bytes: int
    input_size: int
    output_size: int
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    ops: list[str] = field(default_factory=list)
    frontend: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


def resolve_model(model: str | os.PathLike[str]) -> tuple[Path, Path | None]:
    """(tflite path, model directory or None) for a model directory or a bare .tflite.

    The path given, then ./models/<name>, then the shipped models (tinykws.resources.find_model),
    so `--model models/demo` works from any directory.
    """
    p = resources.find_model(model)
    if p.is_dir():
        tfl = p / "model_int8.tflite"
        if not tfl.is_file():
            raise TinyKWSError(f"{p}: not a model directory (no model_int8.tflite in it)")
        return tfl, p
    if p.is_file():
        if p.suffix != ".tflite":
            raise TinyKWSError(f"{p}: expected a model directory or a .tflite file")
        return p, None
    raise TinyKWSError(f"{p}: no such model directory or .tflite file")


def _model_frontend(model_dir: Path | None, frontend: str | None):  # -> FrontEnd | None
    """The feature front end of the model (tinykws.json), or the named one, or None."""
    from tinykws.features import FrontEnd, get_frontend

    if frontend:
        return get_frontend(frontend)
    meta = read_meta(model_dir, required=False) if model_dir is not None else None
    if meta is None:
        return None
    fe = meta.get("frontend")
    return FrontEnd.from_dict(fe) if isinstance(fe, dict) else None


def model_labels(model_dir: Path) -> list[str] | None:
    """Labels in output order from a model directory's tinykws.json (None when absent)."""
    meta = read_meta(model_dir, required=False)
    if meta is None:
        return None
    labels = meta.get("labels")
    return [str(x) for x in labels] if isinstance(labels, list) else None


def _c_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check_tools() -> None:
    for tool in (CC, SIZE):
        if shutil.which(tool) is None:
            raise missing_tool(tool, "sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi")


def _sizes(elf: Path) -> tuple[int, int, int]:
    out = subprocess.run([SIZE, "-B", str(elf)], capture_output=True, text=True, check=True).stdout
    text, data, bss = (int(v) for v in out.splitlines()[1].split()[:3])
    return text, data, bss


def compile_sources(
    board: Board,
    model_c_dir: Path,
    build_dir: Path,
    info: dict[str, Any],
    *,
    frontend_header_dir: Path | None = None,
    energy_mode: bool = False,
    extra_sources: list[Path] | None = None,
    kernels: bool = True,
    labels: list[str] | None = None,
) -> tuple[Path, int, int]:
    """Compile core + port + model sources (+ kernels, + features) into build_dir/firmware.elf.

    Returns (elf, flash_bytes, ram_bytes). `model_c_dir` holds tinykws_model.{h,c} (the graph
    compiler's output, or a test fixture with the same interface). `labels` (output order)
    lets the streaming mode print keyword names and skip `_silence_`/`_unknown_`.
    """
    _check_tools()
    build_dir.mkdir(parents=True, exist_ok=True)
    have_features = frontend_header_dir is not None
    build_info = [
        "/* Generated by tinykws build: board and model identity for the firmware core. */",
        "#ifndef TINYKWS_BUILD_INFO_H",
        "#define TINYKWS_BUILD_INFO_H",
        f"#define TINYKWS_BOARD_NAME {_c_string(board.name)}",
        f"#define TINYKWS_CLOCK_HZ {board.clock_hz}u",
        f"#define TINYKWS_DUT_NAME {_c_string('tinykws-' + board.name)}",
        f"#define TINYKWS_INFO_JSON {_c_string(json.dumps(info, separators=(',', ':')))}",
        f"#define TINYKWS_ENERGY_MODE {1 if energy_mode else 0}",
        f"#define TINYKWS_HAVE_FEATURES {1 if have_features else 0}",
        "#define TINYKWS_AUDIO_SAMPLES 16000",
    ]
    if labels:
        safe = [re.sub(r"[^\x21-\x7e]|[,\[\]]", "_", str(lb)) or "_" for lb in labels]
        build_info.append(f"#define TINYKWS_LABELS {{{', '.join(_c_string(lb) for lb in safe)}}}")
    build_info += ["#endif", ""]
    atomic_write_text(build_dir / "tinykws_build_info.h", "\n".join(build_info))
    sources = sorted(CORE.glob("*.c")) + sorted(board.port_dir.glob("*.c")) + sorted(model_c_dir.glob("*.c"))
    includes = [build_dir, CORE, board.port_dir, model_c_dir]
    for d in board.source_dirs:  # shared folders the port needs (the nano33's USB stack)
        sources += sorted(d.glob("*.c"))
        includes.append(d)
    if kernels and KERNELS.is_dir():
        sources += sorted(KERNELS.glob("*.c"))
        includes.append(KERNELS)
    if have_features:
        sources += sorted(FEATURES.glob("*.c"))
        includes += [frontend_header_dir, FEATURES]
    sources += extra_sources or []
    elf = build_dir / "firmware.elf"
    cmd = [CC, *board.cflags, *COMMON_CFLAGS]
    cmd += [f"-D{k}={v}" for k, v in board.defines.items()]
    cmd += [f"-I{p}" for p in includes]
    cmd += ["-include", str(CORE / "tinykws_ophook.h")]
    cmd += [str(s) for s in sources]
    cmd += [
        *LDFLAGS,
        f"-L{board.port_dir}",
        f"-T{board.linker_script}",
        f"-Wl,-Map={build_dir / 'firmware.map'}",
    ]
    cmd += ["-o", str(elf), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        m = re.search(r"region [`'](\w+)' overflowed by (\d+) bytes", proc.stderr)
        if m:
            region = "flash" if m.group(1) == "FLASH" else "RAM"
            raise TinyKWSError(
                f"{board.name}: image does not fit: {region} overflowed by {m.group(2)} bytes "
                f"(board has {board.flash_bytes} bytes flash, {board.ram_bytes} bytes RAM)"
            )
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise TinyKWSError(f"{board.name}: firmware build failed ({CC}):\n{tail}")
    text, data, bss = _sizes(elf)
    return elf, text + data, data + bss


def build_firmware(
    board: str | Board,
    model: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    frontend: str | None = None,
    energy_mode: bool = False,
    audio: bool = True,
    labels: list[str] | None = None,
) -> BuildResult:
    """Compile `model` (model directory or .tflite) to C and build firmware for `board`.

    The image is refused (TinyKWSError with the sizes) when flash or RAM exceed the board's.
    `frontend` names a feature front end for a bare .tflite (model directories carry theirs);
    with one, the image also accepts raw audio (the device computes the features).
    audio=False leaves the front end (and its 32 KB PCM buffer) out, as `bench` does so that
    flash and RAM are those of model plus runtime.
    `labels` (output order) name the classes for the streaming mode; a model directory's
    tinykws.json labels are used when not given.
    """
    from tinykws.export.compiler import compile_model

    b = board if isinstance(board, Board) else load_board(board)
    tflite, model_dir = resolve_model(model)
    name = (model_dir.name if model_dir is not None else tflite.stem) or "model"
    build_dir = Path(out_dir) if out_dir is not None else resources.build_root() / b.name / name
    build_dir.mkdir(parents=True, exist_ok=True)
    res = compile_model(tflite, build_dir / "model", name=re.sub(r"[^A-Za-z0-9_.-]", "_", name))

    fe = _model_frontend(model_dir, frontend) if audio else None
    fe_dir = None
    if fe is not None and (FEATURES / "tinykws_features.c").is_file():
        fe_dir = build_dir / "features"
        fe.write_c_header(fe_dir / "features_config.h")
    info = {
        "board": b.name,
        "cpu": b.cpu,
        "clock_hz": b.clock_hz,
        "emulated": b.emulated,
        "model": name,
        "arena_bytes": res.arena_bytes,
        "input": {
            "shape": list(res.input_shape),
            "scale": res.input_scale,
            "zero_point": res.input_zero_point,
        },
        "output": {
            "shape": list(res.output_shape),
            "scale": res.output_scale,
            "zero_point": res.output_zero_point,
        },
        "frontend": fe.name if fe_dir is not None else None,
        "audio_samples": 16000 if fe_dir is not None else 0,
    }
    if labels is None and model_dir is not None:
        labels = model_labels(model_dir)
    if labels is not None and len(labels) != int(_prod(res.output_shape)):
        raise TinyKWSError(
            f"labels: {len(labels)} given, the model has {int(_prod(res.output_shape))} outputs"
        )
    elf, flash, ram = compile_sources(
        b, build_dir / "model", build_dir, info, frontend_header_dir=fe_dir, energy_mode=energy_mode,
        labels=labels,
    )  # fmt: skip
    result = BuildResult(
        board=b.name,
        elf=elf,
        flash_bytes=flash,
        ram_bytes=ram,
        arena_bytes=res.arena_bytes,
        model_name=name,
        model_path=tflite,
        build_dir=build_dir,
        tflite_bytes=tflite.stat().st_size,
        input_size=int(_prod(res.input_shape)),
        output_size=int(_prod(res.output_shape)),
        input_scale=res.input_scale,
        input_zero_point=res.input_zero_point,
        output_scale=res.output_scale,
        output_zero_point=res.output_zero_point,
        ops=list(res.ops),
        frontend=info["frontend"],
        info=info,
    )
    check_fits(b, flash, ram)
    return result


def check_fits(board: Board, flash: int, ram: int) -> None:
    """Refuse an image bigger than the board's flash or RAM, with the sizes."""
    over = board.oversize(flash, ram)
    if over:
        raise TinyKWSError(f"{board.name}: image does not fit: {', '.join(over)}")


def _prod(shape: tuple[int, ...] | list[int]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _size_report(head: str, flash: int, ram: int, board: Board, flash_note: str, ram_note: str) -> str:
    """Flash and RAM use against the board's limits, one line each, with a note in brackets."""
    rows = (("flash", flash, board.flash_bytes, flash_note), ("RAM  ", ram, board.ram_bytes, ram_note))
    return head + "".join(
        f"\n  {name} {used:>9,} / {limit:,} bytes ({100.0 * used / limit:.1f}%)   [{note}]"
        for name, used, limit, note in rows
    )


def format_sizes(res: BuildResult, board: Board) -> str:
    """Human-readable flash/RAM use against the board's limits."""
    return _size_report(
        str(res.elf),
        res.flash_bytes,
        res.ram_bytes,
        board,
        f".tflite is {res.tflite_bytes:,} bytes",
        f"arena {res.arena_bytes:,} bytes, stack included",
    )


def cli_configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--board", required=True, help="board profile name (boards/<name>.toml)")
    parser.add_argument("--model", required=True, help="model directory or int8 .tflite")
    parser.add_argument(
        "--out", type=Path, default=None, help="build directory (default build/<board>/<model>)"
    )
    parser.add_argument("--frontend", default=None, help="feature front end for a bare .tflite (mlperf|psf)")
    parser.add_argument("--energy-mode", action="store_true", help="energy-mode image (timestamps on GPIO)")
    parser.add_argument(
        "--core",
        choices=("bare", "arduino"),
        default="bare",
        help="bare: the board's own port, built with arm-none-eabi-gcc (default; offline); arduino: the "
        "port on the board's Arduino core, built and uploaded by PlatformIO (boards with an [arduino] "
        "section: nano33; downloads the pinned core once)",
    )


def _arduino_sizes(board: Board, res: BuildResult, elf: Path, flash: int, ram: int) -> str:
    return _size_report(
        f"{elf}  (Arduino core)",
        flash,
        ram,
        board,
        f"bare-metal image {res.flash_bytes:,}",
        f"bare-metal image {res.ram_bytes:,}",
    )


def cli_run(args: argparse.Namespace) -> int:
    board = load_board(args.board)
    if getattr(args, "core", "bare") == "arduino":
        from tinykws.device.pio import arduino_core, build_arduino, find_pio
        from tinykws.progress import notice

        arduino_core(board)  # a board without an Arduino-core build: say so before building
        find_pio()
        res = build_firmware(
            board, args.model, args.out, frontend=args.frontend, energy_mode=args.energy_mode
        )
        elf, flash, ram, _cmds = build_arduino(board, res.build_dir, notice=notice)
        print(_arduino_sizes(board, res, elf, flash, ram))
        return 0
    res = build_firmware(board, args.model, args.out, frontend=args.frontend, energy_mode=args.energy_mode)
    print(format_sizes(res, board))
    return 0


def qemu_command(board: Board, elf: Path) -> str:
    """The QEMU command line that runs `elf` with its UART on the terminal (for a person)."""
    return (
        f"qemu-system-arm -machine {board.qemu_machine} -nographic -icount shift=0 "
        f"-kernel {elf}   (type commands ending with %, e.g. name% ; quit: Ctrl-a x)"
    )


def cli_configure_flash(parser: argparse.ArgumentParser) -> None:
    cli_configure(parser)
    parser.add_argument("--port", default=None, help="serial port of a real board (auto-detected if omitted)")


def cli_run_flash(args: argparse.Namespace) -> int:
    """Build, then program the board. Emulated boards have nothing to program: the emulator
    loads the image when `tinykws bench` (or the printed command) starts it."""
    board = load_board(args.board)
    if getattr(args, "core", "bare") == "arduino":
        return _flash_arduino(board, args)
    res = build_firmware(board, args.model, args.out, frontend=args.frontend, energy_mode=args.energy_mode)
    print(format_sizes(res, board))
    if board.flash_method == "qemu":
        print(f"{board.name} is emulated: nothing to flash. Run it with:\n  {qemu_command(board, res.elf)}")
        return 0
    if board.flash_method == "bossac":
        from tinykws.device.flasher import ARDUINO_VID, flash_bossac
        from tinykws.progress import notice

        vid = int(board.raw.get("flash", {}).get("usb_vid", ARDUINO_VID))
        cmd = flash_bossac(res.elf, args.port, vid=vid, notice=notice)
        print(f"flashed {board.name}: {' '.join(cmd)}")
        return 0
    raise TinyKWSError(
        f"{board.name}: flashing with '{board.flash_method}' is not implemented in this version "
        f"(the image is built: {res.elf})"
    )


def _flash_arduino(board: Board, args: argparse.Namespace) -> int:
    """`flash --core arduino`: the checks that cost nothing first (an Arduino-core build exists
    for the board, PlatformIO is installed, the board is plugged in), then the bare-metal build
    (generates the model's C; refuses a model too big before anything is downloaded), then
    PlatformIO (tinykws.device.pio)."""
    from tinykws.device import flasher
    from tinykws.device.pio import arduino_core, find_pio, flash_arduino, resolve_port
    from tinykws.progress import notice

    arduino_core(board)
    find_pio()
    port = resolve_port(args.port, int(board.raw.get("flash", {}).get("usb_vid", flasher.ARDUINO_VID)))
    res = build_firmware(board, args.model, args.out, frontend=args.frontend, energy_mode=args.energy_mode)
    elf, flash, ram, cmds = flash_arduino(board, res.build_dir, port, notice=notice)
    print(_arduino_sizes(board, res, elf, flash, ram))
    print(f"flashed {board.name} (Arduino core): {' '.join(cmds[-1])}")
    return 0
