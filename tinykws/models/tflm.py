"""The oracle: run int8 models through the `tflite_micro` interpreter.

Why TFLM and not tf.lite: the microcontroller runs TFLM's (or our bit-exact) kernels, and the
two interpreters differ in rounding in places. Every int8 figure tinykws reports comes from here.
"""

from __future__ import annotations

import os

import numpy as np

from tinykws.errors import TinyKWSError


def _quiet_tf_logs() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class TFLMRunner:
    """A reusable tflite_micro interpreter over one model (single input, single output)."""

    def __init__(
        self, model: bytes | str | os.PathLike[str], arena_size: int | None = None, where: str | None = None
    ):
        """Verify the model (tinykws.models.modelfile) before TFLM sees it: TFLM trusts the flatbuffer,
        so an unchecked file could crash the process instead of giving an error."""
        _quiet_tf_logs()
        from tflite_micro.python.tflite_micro import runtime

        from tinykws.models.modelfile import verified_bytes

        where = where or ("<model bytes>" if isinstance(model, bytes | bytearray) else str(model))
        data = verified_bytes(model, where)
        self.model_bytes = data
        self.where = where
        try:
            self._it = runtime.Interpreter.from_bytes(data, arena_size=arena_size)
            self.input_details = self._it.get_input_details(0)
            self.output_details = self._it.get_output_details(0)
        except Exception as exc:  # noqa: BLE001 - its Python loader raises struct.error and more
            msg = " ".join(str(exc).split())[:200]
            raise TinyKWSError(f"{where}: the tflite_micro interpreter refuses the model: {msg}") from None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.input_details["shape"])

    def _quant(self, details: dict, what: str) -> tuple[float, int]:
        q = details["quantization_parameters"]
        if len(q["scales"]) == 0 or len(q["zero_points"]) == 0:
            raise TinyKWSError(
                f"{self.where}: the model's {what} is not quantized (not a full-integer model)"
            )
        return float(q["scales"][0]), int(q["zero_points"][0])

    @property
    def input_quant(self) -> tuple[float, int]:
        return self._quant(self.input_details, "input")

    @property
    def output_quant(self) -> tuple[float, int]:
        return self._quant(self.output_details, "output")

    def invoke(self, x: np.ndarray) -> np.ndarray:
        """Run one input (any shape with the right number of elements); returns the raw output."""
        x = np.asarray(x, dtype=self.input_details["dtype"]).reshape(self.input_shape)
        try:
            self._it.set_input(x, 0)
            self._it.invoke()
        except (RuntimeError, ValueError) as exc:
            msg = " ".join(str(exc).split())[:200]
            raise TinyKWSError(
                f"{self.where}: the tflite_micro interpreter fails on the model: {msg}"
            ) from None
        return np.array(self._it.get_output(0)).reshape(-1)

    def invoke_batch(self, xs: np.ndarray) -> np.ndarray:
        """Run a batch one input at a time (TFLM has batch size 1); returns [N, outputs]."""
        return np.stack([self.invoke(x) for x in xs]) if len(xs) else np.zeros((0, 0), np.int8)
