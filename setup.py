"""Build hook: map the top-level firmware/, boards/ and shipped models/ into the package.

Why a hook and not a copy in the repository: the product fixes the top-level layout
(README.md, tinykws/, firmware/, models/, boards/), and a copy kept by hand under tinykws/
would drift. At build time `build_py` copies those folders into the built package as
`tinykws/_data/` (found at run time by tinykws.resources), and `sdist` carries the same files so
that a wheel built from the sdist gets them too. An editable install copies nothing: there
tinykws.resources reads the checkout's own folders.

What ships: every file under firmware/, boards/*.toml, and each models/<name>/ that holds a
tinykws.json (a model directory), minus caches and temporaries.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
DATA_DIR = "_data"  # tinykws/_data in the built package (tinykws.resources.DATA_PACKAGE_DIR)
_SKIP_PARTS = {"__pycache__", ".pytest_cache"}
_SKIP_SUFFIXES = (".pyc", ".o", ".elf", ".tmp")


def _keep(path: Path) -> bool:
    rel = path.relative_to(HERE)
    if any(p in _SKIP_PARTS or (p.startswith(".") and p != ".") for p in rel.parts):
        return False
    return path.is_file() and not path.name.endswith(_SKIP_SUFFIXES)


def shipped_files() -> list[Path]:
    """The files to ship, relative to the project root, in a stable order."""
    files: list[Path] = []
    files += [p for p in sorted((HERE / "firmware").rglob("*")) if _keep(p)]
    files += [p for p in sorted((HERE / "boards").glob("*.toml")) if _keep(p)]
    for meta in sorted((HERE / "models").glob("*/tinykws.json")):
        files += [p for p in sorted(meta.parent.rglob("*")) if _keep(p)]
    return [p.relative_to(HERE) for p in files]


class BuildPyWithData(build_py):
    """build_py that also copies the shipped files into <build_lib>/tinykws/_data/."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's folders (tinykws.resources)
        dest = Path(self.build_lib) / "tinykws" / DATA_DIR
        if dest.is_dir():  # a previous build's copy may hold files since deleted from the tree
            shutil.rmtree(dest)
        for rel in shipped_files():
            target = dest / rel
            self.mkpath(str(target.parent))
            self.copy_file(str(HERE / rel), str(target), preserve_mode=False)


class SdistWithData(sdist):
    """sdist that also carries the shipped files (and this hook), so a wheel built from it works."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        extra = [str(p) for p in shipped_files()]
        super().make_release_tree(base_dir, sorted(set(files) | set(extra) | {"setup.py"}))


setup(cmdclass={"build_py": BuildPyWithData, "sdist": SdistWithData})
