"""Full-integer int8 quantization (int8 weights, activations, input and output).

Why the input quantization is pinned: the device quantizes its features with the front end's
fixed rule (for `mlperf`, q = trunc(mfcc / 0.5847 + 83), as MLPerf Tiny's test inputs are made),
so the model's input scale and zero point must be exactly the front end's. The converter derives
them from the calibration range, so the representative set includes one sample at each end of
the front end's int8 range; the result is checked after conversion.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tinykws.errors import TinyKWSError


def representative_from(features: np.ndarray, n: int = 300, seed: int = 0) -> np.ndarray:
    """Draw up to `n` calibration inputs (already-dequantized features) from a feature array."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(features))[:n]
    return features[idx].astype(np.float32)


def quantize_keras(
    model: Any, representative: np.ndarray, input_scale: float, input_zero_point: int
) -> bytes:
    """Convert a Keras model to a full-int8 .tflite with int8 input/output.

    `representative` holds float model inputs (dequantized int8 features, shape [N, frames,
    coeffs] or [N, frames, coeffs, 1]). Raises TinyKWSError if the converted input quantization
    differs from the requested one.
    """
    import tensorflow as tf

    if len(representative) == 0:
        raise TinyKWSError("quantize: the representative set is empty (no training features)")
    shape = tuple(int(d) for d in model.input_shape[1:])
    rep = representative.reshape((-1, *shape)).astype(np.float32)
    lo = (-128 - input_zero_point) * input_scale
    hi = (127 - input_zero_point) * input_scale
    rep = np.clip(rep, lo, hi)  # the device's int8 input can never leave this range
    # Pin the input range with a single value at each end, inside two real samples: whole
    # constant frames at the extremes would stretch every layer's calibrated range and cost
    # resolution (measured: several points of int8 accuracy on real speech).
    extreme = rep[:2].copy()
    extreme[0].flat[0] = lo
    extreme[1].flat[0] = hi

    def gen() -> Iterator[list[np.ndarray]]:
        for x in np.concatenate([extreme, rep]):
            yield [x[None]]

    # A fixed batch of 1 keeps shapes static, so Reshape converts to a single RESHAPE rather
    # than SHAPE/STRIDED_SLICE/PACK, which small firmware does not need to carry.
    inp = tf.keras.Input(shape=shape, batch_size=1, name="features")
    wrapped = tf.keras.Model(inp, model(inp, training=False), name="tinykws")
    conv = tf.lite.TFLiteConverter.from_keras_model(wrapped)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = gen
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    from tinykws.quiet import quiet_conversion

    with quiet_conversion():  # no export dump, converter summary or C++ logs on the terminal
        tflite = conv.convert()

    from tinykws.models.tflm import TFLMRunner

    scale, zp = TFLMRunner(tflite).input_quant
    if zp != input_zero_point or abs(scale - input_scale) > 1e-4 * input_scale:
        raise TinyKWSError(
            f"quantize: converter chose input quantization scale={scale:.6g} zp={zp}, "
            f"front end needs scale={input_scale:.6g} zp={input_zero_point}"
        )
    return bytes(tflite)


def tflite_ops(tflite: bytes, where: str = "<model bytes>") -> list[str]:
    """The builtin op names of a .tflite model, in execution order (for checks and reports)."""
    from tinykws.models.modelfile import read_tflite

    return [op.kind for op in read_tflite(tflite, where).main.operators]


def quantize_model_dir(model_dir: Path, data: Path | None = None, n: int = 300, seed: int = 0) -> Path:
    """Re-quantize a model directory's model.keras, calibrating on its training data.

    The calibration set is drawn from the training split of `data` (default: the corpus
    recorded in tinykws.json), using the model's own front end and labels.
    """
    import tensorflow as tf

    from tinykws.data.splits import calibration_audio
    from tinykws.features import FrontEnd
    from tinykws.fsutil import atomic_write_bytes, atomic_write_text
    from tinykws.models.modeldir import read_meta
    from tinykws.training.config import TrainConfig

    meta = read_meta(model_dir)
    keras_path = model_dir / "model.keras"
    if not keras_path.exists():
        raise TinyKWSError(f"{keras_path}: missing; only a float model can be quantized")
    fe = FrontEnd.from_dict(meta["frontend"])
    root = Path(data) if data else Path(meta["data"]["root"])
    cfg_d = dict(meta["training"]["config"])
    cfg_d.setdefault("embedding", None)  # recorded before --embedding existed: from scratch
    cfg_d["data"] = str(root)
    feats = fe.int8_features(calibration_audio(TrainConfig(**cfg_d), n=n, seed=seed))
    model = tf.keras.models.load_model(keras_path)
    tfl = quantize_keras(model, fe.dequantize(feats), fe.input_scale, fe.input_zero_point)
    out = atomic_write_bytes(model_dir / "model_int8.tflite", tfl)
    meta["quantization"] = {"calibration_clips": int(len(feats)), "calibration_root": str(root)}
    atomic_write_text(model_dir / "tinykws.json", json.dumps(meta, indent=2))
    return out


def cli_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", type=Path, help="model directory (with model.keras and tinykws.json)")
    p.add_argument("--data", type=Path, help="corpus for calibration (default: the training corpus)")
    p.add_argument("--n", type=int, default=300, help="calibration clips (default 300)")
    p.add_argument("--seed", type=int, default=0)


def cli_run(args: argparse.Namespace) -> int:
    out = quantize_model_dir(args.model, args.data, args.n, args.seed)
    print(f"wrote {out} ({out.stat().st_size} bytes): {', '.join(tflite_ops(out.read_bytes()))}")
    return 0
