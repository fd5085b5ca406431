"""A model's and its optimizer's variables as one .npz: the checkpoint format of distillation
and of multi-worker training.

Why by hand rather than model.save: those models train with losses or loops that a .keras file
cannot restore, and a resumed run must continue Adam's moments, not restart them.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from tinykws.errors import TinyKWSError


def variables_bytes(model: Any, optimizer: Any) -> bytes:
    """The .npz bytes of `model`'s weights and `optimizer`'s variables (write them atomically)."""
    buf = io.BytesIO()
    w = model.get_weights()
    o = [v.numpy() for v in optimizer.variables]
    np.savez(buf, n_weights=len(w), n_opt=len(o), **{f"w{i}": a for i, a in enumerate(w)},
             **{f"o{i}": a for i, a in enumerate(o)})  # fmt: skip
    return buf.getvalue()


def load_variables(path: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(weights, optimizer variables) from a file variables_bytes wrote; one line if unreadable."""
    try:
        with np.load(path) as z:
            return ([z[f"w{i}"] for i in range(int(z["n_weights"]))],
                    [z[f"o{i}"] for i in range(int(z["n_opt"]))])  # fmt: skip
    except (OSError, ValueError, KeyError) as exc:
        raise TinyKWSError(f"--resume: {path} is unreadable ({exc}); start again without --resume") from exc
