"""Where the files that ship with tinykws are: firmware sources, board profiles, shipped models.

Why one module: the verbs need `firmware/`, `boards/` and `models/` at run time, and they live in
two places depending on how tinykws was installed.

- From a wheel or an sdist, the build copies them into the package as `tinykws/_data/`
  (setup.py, `build_py`), so they are found with `importlib.resources` wherever the package is.
- In a source checkout (an editable install, or the repository on `sys.path`), there is no
  `_data/`: they are the top-level folders of the repository, beside `tinykws/`.

Everything else asks this module, so there is exactly one rule to change if the layout moves.
Files the user names (boards, models) are resolved in the order the user expects: the path as
given (relative to the current directory), then the current directory's `boards/` or
`models/`, then the packaged ones.
"""

from __future__ import annotations

import functools
import os
from importlib import resources
from pathlib import Path

from tinykws.errors import TinyKWSError

DATA_PACKAGE_DIR = "_data"  # tinykws/_data/ in an installed package (setup.py writes it)


@functools.lru_cache(maxsize=1)
def package_dir() -> Path:
    """The installed `tinykws` package as a real folder (gcc and QEMU need real file paths)."""
    root = resources.files("tinykws")
    path = Path(str(root))
    if not path.is_dir():  # pragma: no cover - a zipped install (zipapp, egg)
        raise TinyKWSError(f"{root}: tinykws is installed as an archive; install it as files (pip install)")
    return path


@functools.lru_cache(maxsize=1)
def source_root() -> Path | None:
    """The repository root when tinykws runs from a source checkout, else None.

    A checkout is recognized by the folders the product fixes at the top level (firmware/,
    boards/) beside the package, and by the absence of packaged data.
    """
    if (package_dir() / DATA_PACKAGE_DIR).is_dir():
        return None
    root = package_dir().parent
    if (root / "firmware").is_dir() and (root / "boards").is_dir():
        return root
    return None


@functools.lru_cache(maxsize=1)
def data_root() -> Path:
    """The folder holding firmware/, boards/ and models/ (packaged, or the checkout's root).

    Board profiles name their port folders relative to it (`firmware/ports/qemu`).
    """
    packaged = package_dir() / DATA_PACKAGE_DIR
    if packaged.is_dir():
        return packaged
    root = source_root()
    if root is None:
        raise TinyKWSError(
            f"{package_dir()}: this tinykws installation carries no firmware, boards or models "
            "(neither tinykws/_data nor a source checkout); reinstall it from a wheel or the sdist"
        )
    return root


def firmware_dir() -> Path:
    """firmware/: the portable C core, kernels, front end, ports and USB stack."""
    return data_root() / "firmware"


def boards_dir() -> Path:
    """The packaged board profiles (TINYKWS_BOARDS_DIR overrides them, e.g. for tests)."""
    env = os.environ.get("TINYKWS_BOARDS_DIR")
    return Path(env) if env else data_root() / "boards"


def models_dir() -> Path:
    """The shipped model directories (models/demo, models/embed-ml, ...)."""
    return data_root() / "models"


def packaged_model(name: str) -> Path:
    """A shipped model directory by name (`demo`, `embed-ml`); the path may not exist."""
    return models_dir() / name


def shipped_models() -> list[str]:
    """Names of the shipped model directories (those with a tinykws.json)."""
    d = models_dir()
    return sorted(p.parent.name for p in d.glob("*/tinykws.json")) if d.is_dir() else []


def build_root() -> Path:
    """Default folder for build outputs: the checkout's build/, else ./build.

    Why not always ./build: in a checkout the Makefile, the tests and the docs name build/ at
    the repository root; an installed package has no root of its own to write into.
    """
    root = source_root()
    return root / "build" if root is not None else Path("build")


def shared_dir() -> Path:
    """The shared folder of peer artifacts and real recordings.

    TINYKWS_SHARED when set; in a source checkout `../shared` beside the repository (as the
    project has always laid it out); in an installed package `./shared` in the current directory.
    """
    env = os.environ.get("TINYKWS_SHARED")
    if env:
        return Path(env)
    root = source_root()
    return root.parent / "shared" if root is not None else Path("shared")


def list_boards() -> list[str]:
    """Names of the packaged board profiles."""
    return sorted(p.stem for p in boards_dir().glob("*.toml"))


def find_board(name_or_path: str | os.PathLike[str]) -> Path:
    """The profile file of a board: the path given, then ./<name>.toml or ./boards/<name>.toml,
    then the packaged boards/<name>.toml. An unknown board is one line listing the known ones."""
    s = str(name_or_path)
    given = Path(s)
    if s.endswith(".toml") or given.is_file():
        if given.is_file():
            return given
        if len(given.parts) > 1:  # a path that does not exist: say so, do not guess a name
            raise TinyKWSError(f"board '{s}': no such board profile file")
    stem = given.stem if s.endswith(".toml") else s
    for cand in (Path(f"{stem}.toml"), Path("boards") / f"{stem}.toml", boards_dir() / f"{stem}.toml"):
        if cand.is_file():
            return cand.absolute()
    known = ", ".join(list_boards()) or "(none)"
    raise TinyKWSError(
        f"board '{s}': unknown board; known boards: {known} "
        f"(and none at ./{stem}.toml or ./boards/{stem}.toml)"
    )


def find_model(model: str | os.PathLike[str]) -> Path:
    """A model directory or .tflite the user named: the path given (relative to the current
    directory), then ./models/<name>, then the shipped models/<name>.

    `models/demo` and `demo` both reach the shipped demo model from any directory, which is
    what the Makefile and the docs write. A path that matches nothing is returned as given, so
    the caller's own error names what the user typed.
    """
    p = Path(model)
    if p.exists() or p.is_absolute():
        return p
    parts = p.parts
    rel = Path(*parts[1:]) if len(parts) > 1 and parts[0] == "models" else p
    for cand in (Path("models") / rel, models_dir() / rel):
        if cand.exists():
            return cand
    return p


def resolve_source_path(rel: str, profile: Path) -> Path:
    """A folder a board profile names (`firmware/ports/qemu`).

    Relative to the profile's own folder, then to the folder above it (a user's project laid
    out like this one: boards/x.toml beside firmware/), then to the packaged data; so a user's
    own port works beside their profile and a packaged profile finds the packaged firmware.
    """
    p = Path(rel)
    if p.is_absolute():
        return p
    base = profile.resolve().parent
    for cand in (base / p, base.parent / p):
        if cand.exists():
            return cand
    return data_root() / p
