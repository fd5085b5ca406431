"""Randomized small models per op, converted full-int8 by TensorFlow, compiled and run on the host:
every output must be identical to the tflite_micro interpreter's (both kernel flavours).

Conversion costs about a second per model, so the models are few and each exercises several
parameters at once (shapes, strides, SAME/VALID, depth multipliers, activations); the random
parameters come from a fixed seed so a failure reproduces.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from tinykws.errors import TinyKWSError
from tinykws.export._hostbuild import HostModel, build_host_library
from tinykws.export.compiler import SUPPORTED_OPS, compile_model
from tinykws.models.tflm import TFLMRunner

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _convert(
    build: Callable, in_shape: tuple[int, ...], seed: int, offset: float = 0.0, quant: bool = True
) -> bytes:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    inp = tf.keras.Input(shape=in_shape, batch_size=1)
    model = tf.keras.Model(inp, build(tf.keras.layers, inp))
    # random but not all-zero biases, so bias folding and per-channel requantization matter
    for layer in model.layers:
        ws = layer.get_weights()
        if len(ws) == 2:
            layer.set_weights(
                [ws[0], np.random.default_rng(seed).normal(0, 0.3, ws[1].shape).astype(np.float32)]
            )
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.5, 3.0)

    def gen() -> Iterator[list[np.ndarray]]:
        for _ in range(40):
            yield [(rng.normal(offset, scale, (1, *in_shape))).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if quant:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = gen
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return bytes(conv.convert())


def _run_case(tflite: bytes, tmp_path, n: int = 60, seed: int = 0) -> list[str]:
    res = compile_model(tflite, tmp_path)
    oracle = TFLMRunner(tflite)
    rng = np.random.default_rng(seed)
    n_in = int(np.prod(res.input_shape))
    xs = rng.integers(-128, 128, size=(n, n_in), dtype=np.int8)
    want = oracle.invoke_batch(xs)
    for flavour, flags in {"default": [], "portable": ["-DTINYKWS_PORTABLE"]}.items():
        lib = HostModel(
            build_host_library(tmp_path, tmp_path / f"{flavour}.so", flags),
            n_in,
            int(np.prod(res.output_shape)),
        )
        got = lib.invoke_batch(xs)
        bad = np.flatnonzero(~(got == want).all(axis=1))
        assert bad.size == 0, (
            f"{flavour} {res.ops}: {bad.size}/{n} differ; e.g. {got[bad[0]]} vs {want[bad[0]]}"
        )
    return res.ops


def _conv_cases(seed: int) -> list[tuple[str, Callable, tuple[int, ...], float]]:
    r = np.random.default_rng(seed)
    cases = []
    for i in range(3):
        h, w, c = int(r.integers(5, 12)), int(r.integers(3, 9)), int(r.integers(1, 5))
        k = (int(r.integers(1, 5)), int(r.integers(1, 4)))
        s = (int(r.integers(1, 3)), int(r.integers(1, 3)))
        pad = ["same", "valid"][i % 2]
        act = [None, "relu", "relu6"][i]
        f = int(r.integers(2, 9))

        def build(L, x, f=f, k=k, s=s, pad=pad, act=act, bias=(i != 1)):
            return L.Conv2D(f, k, strides=s, padding=pad, activation=act, use_bias=bias)(x)

        cases.append((f"conv{i}", build, (h, w, c), float(r.normal(0, 2))))
    for i in range(3):
        h, w, c = int(r.integers(4, 11)), int(r.integers(3, 9)), int(r.integers(1, 6))
        k = (int(r.integers(1, 4)), int(r.integers(1, 4)))
        s = (int(r.integers(1, 3)), int(r.integers(1, 3)))
        dm = [1, 2, 3][i]
        pad = ["same", "valid", "same"][i]
        act = ["relu", None, "relu6"][i]

        def build(L, x, k=k, s=s, dm=dm, pad=pad, act=act):
            return L.DepthwiseConv2D(k, strides=s, depth_multiplier=dm, padding=pad, activation=act)(x)

        cases.append((f"dw{i}", build, (h, w, c), float(r.normal(0, 2))))
    return cases


CASES = _conv_cases(2026)


def _pools(L, x):
    y = L.MaxPooling2D(pool_size=3, strides=2, padding="same")(x)
    return L.AveragePooling2D(pool_size=(2, 3), strides=(1, 2), padding="same")(y)


def _pools_valid(L, x):
    y = L.AveragePooling2D(pool_size=(3, 2), strides=(2, 1), padding="valid")(x)
    return L.MaxPooling2D(pool_size=2, strides=1, padding="valid")(y)


def _dense_softmax(L, x):
    y = L.Flatten()(x)
    y = L.Dense(9, activation="relu")(y)
    return L.Dense(5, activation="softmax")(y)


def _add(L, x):
    a = L.Conv2D(4, 1, activation="relu")(x)
    b = L.Conv2D(4, 3, padding="same")(x)
    return L.Add()([a, b])


def _mean(L, x):
    y = L.Conv2D(6, 3, padding="same", activation="relu")(x)
    return L.GlobalAveragePooling2D()(y)


def _mean_keepdims(L, x):
    y = L.Conv2D(6, 3, padding="same")(x)
    return L.GlobalAveragePooling2D(keepdims=True)(y)


OTHER = [
    ("pools_same", _pools, (9, 11, 3)),
    ("pools_valid", _pools_valid, (8, 7, 2)),
    ("dense_softmax", _dense_softmax, (3, 4, 2)),
    ("add", _add, (6, 5, 3)),
    ("mean", _mean, (5, 4, 2)),
    ("mean_keepdims", _mean_keepdims, (5, 7, 3)),
]


@pytest.mark.parametrize("case", range(len(CASES)), ids=[c[0] for c in CASES])
def test_conv_like_ops_bitexact(case, tmp_path):
    name, build, shape, offset = CASES[case]
    ops = _run_case(_convert(build, shape, seed=100 + case, offset=offset), tmp_path, seed=case)
    assert ops[0] == ("CONV_2D" if name.startswith("conv") else "DEPTHWISE_CONV_2D")


@pytest.mark.parametrize("case", range(len(OTHER)), ids=[c[0] for c in OTHER])
def test_other_ops_bitexact(case, tmp_path):
    name, build, shape = OTHER[case]
    ops = _run_case(_convert(build, shape, seed=200 + case, offset=0.5), tmp_path, seed=case)
    expect = {
        "pools_same": ["MAX_POOL_2D", "AVERAGE_POOL_2D"],
        "pools_valid": ["AVERAGE_POOL_2D", "MAX_POOL_2D"],
        "dense_softmax": ["FULLY_CONNECTED", "FULLY_CONNECTED", "SOFTMAX"],
        "add": ["CONV_2D", "CONV_2D", "ADD"],
        "mean": ["CONV_2D", "MEAN"],
        "mean_keepdims": ["CONV_2D", "MEAN"],
    }[name]
    assert sorted(ops) == sorted(expect)


def test_unsupported_op_is_refused_with_name_and_list(tmp_path):
    tfl = _convert(lambda L, x: L.Activation("tanh")(L.Conv2D(2, 1)(x)), (4, 4, 1), seed=1)
    with pytest.raises(TinyKWSError) as ei:
        compile_model(tfl, tmp_path)
    msg = str(ei.value)
    assert "TANH" in msg and all(op in msg for op in SUPPORTED_OPS)
    assert not (tmp_path / "tinykws_model.c").exists()


def test_float_model_is_refused(tmp_path):
    tfl = _convert(lambda L, x: L.Conv2D(2, 1)(x), (4, 4, 1), seed=1, quant=False)
    with pytest.raises(TinyKWSError, match="float32"):
        compile_model(tfl, tmp_path)


def test_float_edges_are_stripped(tmp_path):
    """QUANTIZE at the input and DEQUANTIZE at the output are dropped: the compiled model works
    on the int8 tensors between them, and matches TFLM fed with the equivalent floats."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(3)
    inp = tf.keras.Input(shape=(5, 4, 2), batch_size=1)
    model = tf.keras.Model(inp, tf.keras.layers.Conv2D(3, 2, activation="relu")(inp))
    rng = np.random.default_rng(3)

    def gen():
        for _ in range(30):
            yield [rng.normal(0, 1, (1, 5, 4, 2)).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = gen
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    tfl = bytes(conv.convert())  # float32 input and output
    res = compile_model(tfl, tmp_path)
    assert res.ops == ["CONV_2D"]
    lib = HostModel(build_host_library(tmp_path, tmp_path / "m.so"), 40, int(np.prod(res.output_shape)))
    oracle = TFLMRunner(tfl)
    for q in rng.integers(-128, 128, size=(20, 40)):
        x = ((q - res.input_zero_point) * np.float32(res.input_scale)).astype(np.float32)
        y = oracle.invoke(x)
        want = np.round(y / np.float32(res.output_scale)).astype(int) + res.output_zero_point
        np.testing.assert_array_equal(lib.invoke(q.astype(np.int8)), want)
