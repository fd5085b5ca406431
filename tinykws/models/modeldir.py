"""Reading a model directory's `tinykws.json` (DESIGN.md: labels, front end, metrics, ...).

One reader, so that every verb that takes a model directory says the same thing when the file
is missing or unreadable.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tinykws.errors import TinyKWSError


def read_meta(model_dir: Path, required: bool = True) -> dict[str, Any] | None:
    """The parsed tinykws.json of `model_dir`.

    A missing file raises TinyKWSError (`required`) or returns None; an unreadable or invalid
    one always raises, naming the file.
    """
    path = Path(model_dir) / "tinykws.json"
    if not path.is_file():
        if required:
            raise TinyKWSError(f"{model_dir}: not a model directory (no tinykws.json)")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TinyKWSError(f"{path}: cannot read: {exc}") from exc


def resolve_model(model: str | os.PathLike[str]) -> tuple[Path, Path | None]:
    """(tflite path, model directory or None) for a model directory or a bare .tflite.

    The path given, then ./models/<name>, then the shipped models (tinykws.resources.find_model),
    so `--model models/demo` works from any directory.
    """
    from tinykws.resources import find_model

    p = find_model(model)
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
