"""Progress bars for long work, on stderr so that stdout stays machine-readable.

Set TINYKWS_NO_PROGRESS=1 (tests do) to silence them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def enabled() -> bool:
    """True unless TINYKWS_NO_PROGRESS is set to a non-empty, non-zero value."""
    return os.environ.get("TINYKWS_NO_PROGRESS", "") in ("", "0")


def progress(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """Wrap an iterable in a tqdm bar (or return it unchanged when progress is disabled)."""
    if not enabled():
        yield from iterable
        return
    from tqdm import tqdm

    yield from tqdm(iterable, desc=desc, total=total, unit=unit, file=sys.stderr, leave=False)


def notice(message: str) -> None:
    """A one-line notice for the user (stderr). Used for things like 'resampled 44100 -> 16000'."""
    print(f"tinykws: {message}", file=sys.stderr)
