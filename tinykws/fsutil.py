"""Atomic writes: a crash or a full disk never leaves a half-written model or data file.

Everything is written to a temporary sibling first and renamed into place, because rename is
atomic on POSIX filesystems. On failure the temporary is removed and a TinyKWSError names the
destination, so the user knows which write failed and that nothing was left behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tinykws.errors import TinyKWSError


def _describe_os_error(path: Path, exc: OSError) -> TinyKWSError:
    if exc.errno == errno.ENOSPC:
        return TinyKWSError(f"{path}: disk full while writing; nothing was written")
    return TinyKWSError(f"{path}: cannot write: {exc.strerror or exc}")


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write `data` to `path` atomically (temp file + fsync + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _describe_os_error(path, exc) from exc
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 text atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Build a directory in a temporary sibling and move it into place on success.

    Why: a model directory (model.keras, model_int8.tflite, tinykws.json, c/) must appear whole
    or not at all. An existing directory at `path` is replaced only after the new one is
    complete; if the body raises, the temporary is deleted and `path` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _describe_os_error(path, exc) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
