"""Flashing real boards: the Arduino way for the Nano 33 BLE (1200-baud touch, then bossac).

Why this mechanism: the Nano 33 BLE ships with Arduino's bootloader at 0x0-0x10000, which the
IDE drives this way, so a user needs no debug probe. Opening the board's USB serial port at
1200 baud and dropping DTR asks the running sketch to reset into the bootloader, which then
appears as a (possibly new) serial port with the same vendor id; bossac writes the binary to
it (`-U -i -e -w IMAGE.bin -R`, the Arduino core's upload line; the bootloader places it at
0x10000).

bossac: the Arduino fork (what the Arduino IDE installs for this board) is preferred: set
TINYKWS_BOSSAC to it, or it is found under ~/.arduino15. Otherwise the `bossac` on PATH is used
(Debian's `bossa-cli` is upstream BOSSA 1.9.1, made for Atmel SAM chips: if it does not
recognize the nRF52840 bootloader, use the Arduino fork). The Arduino cores themselves cannot
be downloaded on the machines tinykws is built on, so nothing here depends on arduino-cli or
PlatformIO; the Arduino-core path (`--core arduino`), which lets PlatformIO do the touch and run
its own bossac, is tinykws/firmware/pio.py.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tinykws.errors import TinyKWSError

ARDUINO_VID = 0x2341
TOUCH_BAUD = 1200
ARDUINO_BOSSAC_GLOB = "~/.arduino15/packages/arduino/tools/bossac/*/bossac"


def _comports() -> list[Any]:
    from serial.tools import list_ports

    return list(list_ports.comports())


def find_port(vid: int = ARDUINO_VID, comports: Callable[[], list[Any]] = _comports) -> str:
    """The serial port of the one attached board with USB vendor id `vid`."""
    found = [p for p in comports() if getattr(p, "vid", None) == vid]
    if not found:
        others = ", ".join(p.device for p in comports()) or "none"
        raise TinyKWSError(
            f"no board with USB vendor id 0x{vid:04x} (Arduino) found (serial ports: {others}): plug the "
            "Nano 33 BLE into a USB port with a data cable (double-tap its reset button if it still "
            "does not appear), or give PORT=/dev/ttyACM0 (make) / --port (tinykws)"
        )
    if len(found) > 1:
        raise TinyKWSError(
            f"several boards with USB vendor id 0x{vid:04x}: {', '.join(p.device for p in found)}; "
            "choose one with PORT=... (make) / --port (tinykws)"
        )
    return str(found[0].device)


def find_bossac() -> tuple[str, bool]:
    """(path, is_arduino_fork) of bossac, or a TinyKWSError saying what to install."""
    env = os.environ.get("TINYKWS_BOSSAC")
    if env:
        if not (Path(env).is_file() and os.access(env, os.X_OK)):
            raise TinyKWSError(f"TINYKWS_BOSSAC={env}: not an executable file")
        return env, True
    forks = sorted(glob.glob(os.path.expanduser(ARDUINO_BOSSAC_GLOB)))
    if forks:
        return forks[-1], True
    path = shutil.which("bossac")
    if path:
        return path, False
    raise TinyKWSError(
        "bossac: not installed; install it with `sudo apt-get install bossa-cli` (or run `tinykws doctor`), "
        "or point TINYKWS_BOSSAC at the "
        "Arduino fork of bossac (installed by the Arduino IDE with the 'Arduino Mbed OS Nano Boards' "
        "core under ~/.arduino15/packages/arduino/tools/bossac/)"
    )


def touch_1200(port: str, serial_factory: Callable[..., Any] | None = None, settle: float = 0.5) -> None:
    """Open `port` at 1200 baud with DTR low and close it: the board resets into its bootloader."""
    import serial

    factory = serial_factory or serial.Serial
    try:
        ser = factory(port, baudrate=TOUCH_BAUD)
        try:
            ser.dtr = False
        finally:
            ser.close()
    except (OSError, serial.SerialException) as exc:
        raise TinyKWSError(f"{port}: cannot open for the 1200-baud reset: {exc}") from exc
    time.sleep(settle)


def wait_bootloader_port(
    old: str, vid: int = ARDUINO_VID, timeout: float = 5.0, comports: Callable[[], list[Any]] = _comports
) -> str:
    """After the touch the bootloader may enumerate under another name: wait for a port with
    the vendor id (the old name if it comes back, otherwise the new one)."""
    deadline = time.monotonic() + timeout
    while True:
        ports = [str(p.device) for p in comports() if getattr(p, "vid", None) == vid]
        if old in ports:
            return old
        if ports:
            return ports[0]
        if time.monotonic() >= deadline:
            raise TinyKWSError(
                f"{old}: the board did not come back as a bootloader port within {timeout:g} s after "
                "the 1200-baud reset; double-tap its reset button (the LED pulses) and try again"
            )
        time.sleep(0.1)


def flash_bossac(
    elf: str | os.PathLike[str],
    port: str | None = None,
    *,
    vid: int = ARDUINO_VID,
    comports: Callable[[], list[Any]] = _comports,
    serial_factory: Callable[..., Any] | None = None,
    timeout: float = 120.0,
    notice: Callable[[str], None] | None = None,
) -> list[str]:
    """Upload `elf` (converted to .bin) with the 1200-baud touch and bossac; returns the command."""
    from tinykws.toolchain import CC

    say = notice or (lambda _m: None)
    bossac, fork = find_bossac()
    if not fork:
        say(
            f"using {bossac} (upstream BOSSA); if it does not recognize the board, set TINYKWS_BOSSAC "
            "to the Arduino fork of bossac"
        )
    if port is None:
        port = find_port(vid, comports)
    elif not (port.startswith("/dev/") and Path(port).exists()) and "://" not in port and os.name != "nt":
        raise TinyKWSError(f"{port}: no such serial port; plug the board in, or check PORT=...")
    objcopy = CC.replace("gcc", "objcopy")
    binary = Path(elf).with_suffix(".bin")
    try:
        subprocess.run([objcopy, "-O", "binary", str(elf), str(binary)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise TinyKWSError(f"{elf}: cannot convert to a binary with {objcopy}: {exc}") from exc
    touch_1200(port, serial_factory)
    boot_port = wait_bootloader_port(port, vid, comports=comports)
    cmd = [bossac, "-d", f"--port={Path(boot_port).name}", "-U", "-i", "-e", "-w", str(binary), "-R"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise TinyKWSError(f"bossac on {boot_port}: no result within {timeout:g} s") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
        raise TinyKWSError(f"bossac on {boot_port} failed (exit {proc.returncode}):\n{tail}")
    return cmd
