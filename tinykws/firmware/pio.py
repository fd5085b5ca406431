"""The Arduino-core path for the Nano 33 BLE: the portable core on the Arduino mbed core, built
and uploaded by PlatformIO (`tinykws flash --board nano33 --core arduino`,
`make flash BOARD=nano33 CORE=arduino`).

Why PlatformIO and not arduino-cli: PlatformIO is one `pip install` into the project's virtual
environment (PyPI), pins the platform and each package exactly in `platformio.ini`, and its
upload for this board is the board's own mechanism (the 1200-baud touch, then the Arduino fork
of bossac it downloads with the core). arduino-cli would be a second download outside pip, and
its core index needs the same network access.

What happens, in order, so that each failure is found as early and as cheaply as possible:
1. the board's profile has an `[arduino]` section with every version pinned (`arduino_core`);
2. PlatformIO is found (`TINYKWS_PIO`, the project's .venv, PATH), else a message says what to
   install (`find_pio`);
3. (flash) the board's port is found by USB vendor id 0x2341 unless given
   (`tinykws.device.flash.resolve_port`);
4. the bare-metal image is built (`build_firmware`, seconds, Debian's toolchain): it generates
   the model's C, the feature front end's header and `tinykws_build_info.h`, which the Arduino
   image reuses unchanged, and it refuses a model too big for the board before anything is
   downloaded;
5. a PlatformIO project is written under `<build dir>/arduino` (`write_project`);
6. `pio pkg install` fetches the pinned platform and packages (a failure here is a download
   failure: no network, or a version the registry no longer has);
7. `pio run` builds; the ELF's flash and RAM are checked against the board again (now with the
   core's own share), before anything is uploaded;
8. (flash, tinykws.device.flash) `pio run -t upload --upload-port PORT`: PlatformIO's upload
   for this board does the 1200-baud touch and runs the core's bossac.

None of this could be run on the machines tinykws is developed on (no network beyond package
registries, no board); tests/test_nano33_arduino.py drives it with a stand-in `pio`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tinykws import resources
from tinykws.boards import ROOT, Board, check_fits
from tinykws.errors import TinyKWSError
from tinykws.toolchain import CORE, FEATURES, KERNELS
from tinykws.toolchain import elf_sizes as _sizes

PIO_SPEC = "platformio>=6.1.19,<6.2"  # what the Makefile installs (keep the two in step)
VENV_BIN = Path(sys.prefix) / "bin"  # the running interpreter's environment (the project's .venv)
ENV_NAME = "nano33ble"  # the PlatformIO environment in the generated platformio.ini


@dataclass(frozen=True)
class ArduinoCore:
    """A board profile's `[arduino]` section: the port folder and the pinned PlatformIO specs."""

    port_dir: Path
    pio_board: str
    platform: str
    packages: tuple[str, ...]

    def pinned(self) -> str:
        return ", ".join((self.platform, *self.packages))


def arduino_core(board: Board) -> ArduinoCore:
    """The `[arduino]` section of `board`'s profile, validated (every version exact)."""
    sec = board.raw.get("arduino")
    where = board.path
    if not isinstance(sec, dict):
        raise TinyKWSError(
            f"{board.name}: no Arduino-core build for this board (no [arduino] section in {where}); "
            "use --core bare"
        )
    try:
        port_dir = resources.resolve_source_path(str(sec["port"]), board.path)
        pio_board = str(sec["pio_board"])
        platform = str(sec["platform"])
        packages = tuple(str(p) for p in sec.get("packages", []))
    except KeyError as exc:
        raise TinyKWSError(f"{where}: [arduino] needs '{exc.args[0]}'") from exc
    if not port_dir.is_dir():
        raise TinyKWSError(f"{where}: arduino.port folder does not exist: {port_dir}")
    for spec in (platform, *packages):
        if not _is_exact(spec):
            raise TinyKWSError(f"{where}: '{spec}' is not pinned to one version (owner/name @ X.Y.Z)")
    return ArduinoCore(port_dir, pio_board, platform, packages)


def _is_exact(spec: str) -> bool:
    name, sep, version = (s.strip() for s in spec.partition("@"))
    parts = version.split(".")
    return bool(sep and "/" in name and len(parts) == 3 and all(p.isdigit() for p in parts))


def find_pio() -> str:
    """The PlatformIO CLI: TINYKWS_PIO, else the project environment's, else the one on PATH."""
    env = os.environ.get("TINYKWS_PIO")
    if env:
        if not (Path(env).is_file() and os.access(env, os.X_OK)):
            raise TinyKWSError(f"TINYKWS_PIO={env}: not an executable file")
        return env
    for cand in (VENV_BIN / "pio", VENV_BIN / "platformio"):
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    path = shutil.which("pio") or shutil.which("platformio")
    if path:
        return path
    raise TinyKWSError(
        f"PlatformIO (pio) not found: run `make flash BOARD=nano33 CORE=arduino` (it installs "
        f"'{PIO_SPEC}' into .venv with pip), or `.venv/bin/pip install '{PIO_SPEC}'` (see `tinykws doctor`)"
    )


def _sources(core: ArduinoCore, build_dir: Path) -> list[Path]:
    """Our sources of the Arduino image: the core (its runner through the port's core_entry.c),
    the port, the kernels, the front end when the bare build has one, and the model."""
    srcs = sorted(core.port_dir.glob("*.c")) + sorted(core.port_dir.glob("*.cpp"))
    srcs += [p for p in sorted(CORE.glob("*.c")) if p.name != "tinykws_runner.c"]  # core_entry.c has it
    srcs += sorted(KERNELS.glob("*.c"))
    if (build_dir / "features").is_dir():
        srcs += sorted(FEATURES.glob("*.c"))
    srcs += sorted((build_dir / "model").glob("*.c"))
    return srcs


def write_project(board: Board, build_dir: Path) -> Path:
    """Write the PlatformIO project for `board` next to a bare-metal build in `build_dir` (its
    generated model C and headers are reused), under build_dir/arduino. Returns the project dir.

    src/ holds one generated file per source, each `#include`-ing the real file by its absolute
    path, so that PlatformIO compiles our sources where they are, with our flags (-Wall -Wextra,
    -Werror for C via the port's werror_c.py, -O2 as the bare-metal build), and never the core's
    own sources with them."""
    core = arduino_core(board)
    proj = build_dir / "arduino"
    src = proj / "src"
    if src.is_dir():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    ophook = CORE / "tinykws_ophook.h"
    model_dir = build_dir / "model"
    for path in _sources(core, build_dir):
        rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else Path(path.parent.name) / path.name
        name = "__".join(rel.parts)
        lines = ["/* Generated by tinykws (tinykws/firmware/pio.py): compiles the file named below. */"]
        if path.parent == model_dir:  # the compiled graph calls the per-op profiling hook
            lines.append(f'#include "{ophook}"')
        lines += [f'#include "{path}"', ""]
        (src / name).write_text("\n".join(lines), encoding="utf-8")
    includes = [build_dir, CORE, core.port_dir, KERNELS, model_dir]
    if (build_dir / "features").is_dir():
        includes += [build_dir / "features", FEATURES]
    for p in includes:
        if any(c.isspace() for c in str(p)):
            raise TinyKWSError(f"{p}: PlatformIO's build flags cannot hold a path with spaces")
    flags = ["-O2", "-Wall", "-Wextra", *(f"-D{k}={v}" for k, v in board.defines.items())]
    flags += [f"-I{p}" for p in includes]
    ini = [
        f"; Generated by tinykws (tinykws/firmware/pio.py) for board '{board.name}': the portable core on",
        "; the Arduino mbed core. Rewritten on every build; the pinned versions live in",
        f"; {board.path.relative_to(ROOT) if board.path.is_relative_to(ROOT) else board.path} [arduino].",
        "[platformio]",
        "src_dir = src",
        "",
        f"[env:{ENV_NAME}]",
        f"platform = {core.platform}",
    ]
    if core.packages:
        ini += ["platform_packages =", *(f"    {p}" for p in core.packages)]
    ini += [
        f"board = {core.pio_board}",
        "framework = arduino",
        "lib_deps = PDM",
        "build_src_flags =",
        *(f"    {f}" for f in flags),
        f"extra_scripts = post:{core.port_dir / 'werror_c.py'}",
        "",
    ]
    (proj / "platformio.ini").write_text("\n".join(ini), encoding="utf-8")
    return proj


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PLATFORMIO_SETTING_ENABLE_TELEMETRY="No")
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        raise TinyKWSError(f"{' '.join(cmd[:3])}: no result within {timeout:g} s") from exc
    except OSError as exc:
        raise TinyKWSError(f"{cmd[0]}: cannot run: {exc}") from exc


def _last_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln.strip() for ln in (proc.stdout + "\n" + proc.stderr).splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit {proc.returncode}"


def _tail(proc: subprocess.CompletedProcess[str], n: int = 15) -> str:
    return "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-n:])


def build_arduino(
    board: Board,
    build_dir: Path,
    *,
    pio: str | None = None,
    notice: Callable[[str], None] | None = None,
    timeout: float = 1800.0,
) -> tuple[Path, int, int, list[list[str]]]:
    """Fetch the pinned core, build the Arduino image next to the bare build in `build_dir`, and
    check it against the board. Returns (elf, flash_bytes, ram_bytes, commands run)."""
    say = notice or (lambda _m: None)
    pio = pio or find_pio()
    core = arduino_core(board)
    proj = write_project(board, build_dir)
    base = ["-d", str(proj), "-e", ENV_NAME]
    cmds: list[list[str]] = []

    cmd = [pio, "pkg", "install", *base]
    say(f"PlatformIO: fetching {core.pinned()} (cached after the first time)")
    proc = _run(cmd, timeout)
    cmds.append(cmd)
    if proc.returncode != 0:
        raise TinyKWSError(
            f"could not download the Arduino core ({core.pinned()}) from the PlatformIO registry: "
            f"no network? (PlatformIO: {_last_line(proc)}). Connect this machine to the internet once "
            "(PlatformIO keeps the packages in ~/.platformio), or flash the bare-metal port, which "
            "needs only Debian packages: make flash BOARD=nano33 (without CORE=arduino)"
        )

    cmd = [pio, "run", *base]
    say("PlatformIO: building the Arduino-core image")
    proc = _run(cmd, timeout)
    cmds.append(cmd)
    text = proc.stdout + proc.stderr
    if proc.returncode != 0:
        if "greater than maximum allowed" in text:  # PlatformIO's own size check
            raise TinyKWSError(f"{board.name}: Arduino-core image does not fit: {_last_line(proc)}")
        raise TinyKWSError(f"{board.name}: Arduino-core build failed (pio run in {proj}):\n{_tail(proc)}")
    elf = proj / ".pio" / "build" / ENV_NAME / "firmware.elf"
    if not elf.is_file():
        raise TinyKWSError(f"{elf}: PlatformIO reported success but wrote no firmware.elf")
    text_b, data_b, bss_b = _sizes(elf)
    flash, ram = text_b + data_b, data_b + bss_b
    check_fits(board, flash, ram)
    return elf, flash, ram, cmds
