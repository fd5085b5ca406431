"""`tinykws flash`: build the firmware for a board, then program the board.

Why a stage of its own: building knows the sources, the compiler and the board's sizes;
flashing knows ports, bootloaders and upload tools (bossac, PlatformIO's upload). The build
stage (tinykws.firmware) never imports this one; this one builds through it and then programs.
Emulated boards have nothing to program: the emulator loads the image when `tinykws bench`
(or the printed command) starts it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tinykws.boards import Board, load_board
from tinykws.errors import TinyKWSError
from tinykws.firmware.build import _arduino_sizes, build_firmware, cli_configure, format_sizes
from tinykws.firmware.pio import ENV_NAME, _run, _tail, arduino_core, build_arduino, find_pio


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
    PlatformIO (tinykws.firmware.pio)."""
    from tinykws.device import flasher
    from tinykws.progress import notice

    arduino_core(board)
    find_pio()
    port = resolve_port(args.port, int(board.raw.get("flash", {}).get("usb_vid", flasher.ARDUINO_VID)))
    res = build_firmware(board, args.model, args.out, frontend=args.frontend, energy_mode=args.energy_mode)
    elf, flash, ram, cmds = flash_arduino(board, res.build_dir, port, notice=notice)
    print(_arduino_sizes(board, res, elf, flash, ram))
    print(f"flashed {board.name} (Arduino core): {' '.join(cmds[-1])}")
    return 0


def resolve_port(
    port: str | None, vid: int | None = None, comports: Callable[[], list[Any]] | None = None
) -> str:
    """The board's serial port: `port` when it exists, else the one with USB vendor id `vid`."""
    from tinykws.device import flasher

    if port is None:
        vid = flasher.ARDUINO_VID if vid is None else vid
        return flasher.find_port(vid, comports or flasher._comports)
    if not (port.startswith("/dev/") and Path(port).exists()) and os.name != "nt":
        raise TinyKWSError(f"{port}: no such serial port; plug the board in, or check PORT=...")
    return port


def flash_arduino(
    board: Board,
    build_dir: Path,
    port: str,
    *,
    notice: Callable[[str], None] | None = None,
    timeout: float = 1800.0,
) -> tuple[Path, int, int, list[list[str]]]:
    """Build (build_arduino) and upload through PlatformIO to the board on `port` (resolve_port).
    Returns (elf, flash_bytes, ram_bytes, commands run)."""
    pio = find_pio()
    elf, flash, ram, cmds = build_arduino(board, build_dir, pio=pio, notice=notice, timeout=timeout)
    proj = build_dir / "arduino"
    cmd = [pio, "run", "-d", str(proj), "-e", ENV_NAME, "-t", "upload", "--upload-port", port]
    (notice or (lambda _m: None))(f"PlatformIO: uploading to {port} (1200-baud touch, then bossac)")
    proc = _run(cmd, 300.0)
    cmds.append(cmd)
    if proc.returncode != 0:
        raise TinyKWSError(f"upload to {port} failed (pio run -t upload):\n{_tail(proc, 8)}")
    return elf, flash, ram, cmds
