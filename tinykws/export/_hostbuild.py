"""Build compiled models for the host and call them from Python.

Why: the portable kernels are the correctness reference, and running them on the host (a shared
library loaded with ctypes) lets tests compare the generated C against the `tflite_micro`
interpreter on hundreds of inputs in a fraction of a second, without an emulator.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np

from tinykws.errors import TinyKWSError, missing_tool
from tinykws.export.compiler import KERNEL_DIR

HOST_CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared"]


def kernel_sources() -> list[Path]:
    return sorted(KERNEL_DIR.glob("*.c"))


def build_host_library(model_dir: str | Path, out: str | Path, extra_flags: list[str] | None = None) -> Path:
    """Compile `model_dir/tinykws_model.c` plus all kernels into a shared library at `out`."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise missing_tool("gcc", "sudo apt-get install gcc")
    model_dir, out = Path(model_dir), Path(out)
    cmd = [
        cc,
        *HOST_CFLAGS,
        *(extra_flags or []),
        f"-I{KERNEL_DIR}",
        f"-I{model_dir}",
        str(model_dir / "tinykws_model.c"),
        *map(str, kernel_sources()),
        "-o",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise TinyKWSError(f"{model_dir}: host build failed:\n{proc.stderr[-4000:]}")
    return out


class HostModel:
    """A compiled model loaded from a host shared library."""

    def __init__(self, lib_path: str | Path, input_size: int, output_size: int):
        self._lib = ctypes.CDLL(str(Path(lib_path).resolve()))
        self._fn = self._lib.tinykws_invoke
        self._fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self._fn.restype = ctypes.c_int
        self.input_size, self.output_size = input_size, output_size

    def invoke(self, x: np.ndarray) -> np.ndarray:
        xi = np.ascontiguousarray(np.asarray(x, dtype=np.int8).reshape(-1))
        if xi.size != self.input_size:
            raise TinyKWSError(f"input has {xi.size} values; the model takes {self.input_size}")
        y = np.zeros(self.output_size, np.int8)
        rc = self._fn(xi.ctypes.data, y.ctypes.data)
        if rc != 0:
            raise TinyKWSError(f"tinykws_invoke returned {rc}")
        return y

    def invoke_batch(self, xs: np.ndarray) -> np.ndarray:
        return np.stack([self.invoke(x) for x in xs])
