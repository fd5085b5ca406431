"""Board profiles: one TOML file per board in `boards/` (see DESIGN.md, "Board profiles").

Why TOML files and not Python: a user adds a board (a new MCU, a different clock) by copying a
profile and editing numbers; the firmware build, the serial settings and the energy estimate all
read the same file, so they cannot disagree.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinykws import resources
from tinykws.errors import TinyKWSError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

# the folder board profiles name their port folders from: the checkout's root, or the packaged
# data (tinykws.resources); kept as a name because tests and older callers read it
ROOT = resources.data_root()
FLASH_METHODS = ("qemu", "arduino-cli", "platformio", "bossac", "pyocd", "openocd")


@dataclass(frozen=True)
class EnergyModel:
    """Datasheet figures used to *estimate* energy when no power monitor is attached."""

    reference_mcu: str
    volts: float
    run_ua_per_mhz: float
    sleep_ua: float
    source: str

    def uj_per_cycles(self, cycles: float) -> float:
        """Active energy of `cycles` CPU cycles in µJ.

        Run current scales with clock (I = run_ua_per_mhz * f) and time is cycles / f, so the
        clock cancels: E = V * run_ua_per_mhz[µA/MHz] * cycles * 1e-6 µJ.
        """
        return self.volts * self.run_ua_per_mhz * cycles * 1e-6


@dataclass(frozen=True)
class Board:
    """A validated board profile."""

    name: str
    description: str
    cpu: str
    fpu: str
    clock_hz: int
    flash_bytes: int
    ram_bytes: int
    emulated: bool
    port_dir: Path
    linker_script: Path
    cflags: tuple[str, ...]
    defines: dict[str, str]
    flash_method: str
    qemu_machine: str | None
    baud: int
    energy_baud: int
    microphone: str
    energy: EnergyModel
    path: Path
    # shared source folders the port needs besides the core (e.g. firmware/usb): their *.c are
    # compiled into the image and they are on the include path
    source_dirs: tuple[Path, ...] = ()
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    def oversize(self, flash: int, ram: int) -> list[str]:
        """What of `flash` and `ram` exceeds this board's, as 'flash N > M bytes' (empty: it fits)."""
        over = []
        if flash > self.flash_bytes:
            over.append(f"flash {flash} > {self.flash_bytes} bytes")
        if ram > self.ram_bytes:
            over.append(f"RAM {ram} > {self.ram_bytes} bytes")
        return over


def check_fits(board: Board, flash: int, ram: int) -> None:
    """Refuse an image bigger than the board's flash or RAM, with the sizes."""
    over = board.oversize(flash, ram)
    if over:
        raise TinyKWSError(f"{board.name}: image does not fit: {', '.join(over)}")


def list_boards() -> list[str]:
    """Names of the packaged boards (tinykws.resources.boards_dir)."""
    return resources.list_boards()


def _get(d: dict[str, Any], key: str, typ: type | tuple[type, ...], where: Path, section: str = "") -> Any:
    name = f"{section}.{key}" if section else key
    if key not in d:
        raise TinyKWSError(f"{where}: missing field '{name}'")
    val = d[key]
    if isinstance(val, bool) and typ in (int, float, (int, float)):
        raise TinyKWSError(f"{where}: field '{name}' must be a number, got {val!r}")
    if not isinstance(val, typ):
        tname = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
        raise TinyKWSError(f"{where}: field '{name}' must be {tname}, got {val!r}")
    return val


def load_board(name_or_path: str | os.PathLike[str]) -> Board:
    """Load and validate a board profile by name (`qemu-m4`) or by path to a .toml file.

    Resolution (tinykws.resources.find_board): the path given, then ./<name>.toml or
    ./boards/<name>.toml, then the packaged profile; folders the profile names are found beside
    it first, then in the packaged firmware.
    """
    path = resources.find_board(name_or_path)
    try:
        d = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TinyKWSError(f"{path}: not valid TOML: {exc}") from exc

    build = _get(d, "build", dict, path)
    flash = _get(d, "flash", dict, path)
    serial = _get(d, "serial", dict, path)
    energy = _get(d, "energy", dict, path)
    mic = d.get("microphone", {"type": "none"})
    port_dir = resources.resolve_source_path(_get(build, "port", str, path, "build"), path)
    if not port_dir.is_dir():
        raise TinyKWSError(f"{path}: build.port folder does not exist: {port_dir}")
    ld = port_dir / _get(build, "linker_script", str, path, "build")
    if not ld.is_file():
        raise TinyKWSError(f"{path}: build.linker_script does not exist: {ld}")
    cflags = _get(build, "cflags", list, path, "build")
    if not all(isinstance(f, str) for f in cflags):
        raise TinyKWSError(f"{path}: build.cflags must be a list of strings")
    defines = {str(k): str(v) for k, v in build.get("defines", {}).items()}
    sources = build.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(x, str) for x in sources):
        raise TinyKWSError(f"{path}: build.sources must be a list of folders (strings)")
    source_dirs = tuple(resources.resolve_source_path(x, path) for x in sources)
    for sd in source_dirs:
        if not sd.is_dir():
            raise TinyKWSError(f"{path}: build.sources folder does not exist: {sd}")
    method = _get(flash, "method", str, path, "flash")
    if method not in FLASH_METHODS:
        raise TinyKWSError(f"{path}: flash.method '{method}' unknown; one of {', '.join(FLASH_METHODS)}")
    machine = flash.get("machine")
    if method == "qemu" and not isinstance(machine, str):
        raise TinyKWSError(f"{path}: flash.machine (the QEMU machine name) is required for method 'qemu'")
    for key in ("clock_hz", "flash_bytes", "ram_bytes"):
        if _get(d, key, int, path) <= 0:
            raise TinyKWSError(f"{path}: field '{key}' must be > 0")
    name = _get(d, "name", str, path)
    if name != path.stem:
        raise TinyKWSError(f"{path}: name '{name}' must match the file name '{path.stem}'")
    return Board(
        name=name,
        description=_get(d, "description", str, path),
        cpu=_get(d, "cpu", str, path),
        fpu=_get(d, "fpu", str, path),
        clock_hz=d["clock_hz"],
        flash_bytes=d["flash_bytes"],
        ram_bytes=d["ram_bytes"],
        emulated=bool(d.get("emulated", method == "qemu")),
        port_dir=port_dir,
        linker_script=ld,
        cflags=tuple(cflags),
        defines=defines,
        flash_method=method,
        qemu_machine=machine if isinstance(machine, str) else None,
        baud=_get(serial, "baud", int, path, "serial"),
        energy_baud=int(serial.get("energy_baud", 9600)),
        microphone=str(mic.get("type", "none")),
        energy=EnergyModel(
            reference_mcu=_get(energy, "reference_mcu", str, path, "energy"),
            volts=float(_get(energy, "volts", (int, float), path, "energy")),
            run_ua_per_mhz=float(_get(energy, "run_ua_per_mhz", (int, float), path, "energy")),
            sleep_ua=float(_get(energy, "sleep_ua", (int, float), path, "energy")),
            source=str(energy.get("source", "datasheet")),
        ),
        path=path,
        source_dirs=source_dirs,
        raw=d,
    )
