"""The kernels on emulated Cortex-M boards: the DSP-extension paths (qemu-m4) and the portable
paths (-DTINYKWS_PORTABLE, and qemu-m3 which has no DSP extension) give outputs identical to the
tflite_micro interpreter; the MLPerf Tiny reference model stays within its instruction budget.

Emulated instruction counts are deterministic (QEMU -icount shift=0), so they are guarded here.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tinykws.export._hostbuild import HostModel, build_host_library
from tinykws.export._qemu_profile import profile_on_qemu
from tinykws.models.tflm import TFLMRunner

pytestmark = pytest.mark.skipif(
    not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
    reason="qemu-system-arm and arm-none-eabi-gcc are needed",
)

# Issue 3, Figures: at most 6.5 M emulated instructions per inference on qemu-m4 (TFLM with
# CMSIS-NN: 7.70 M) and an arena of at most 17,000 bytes. Issue 18 moved the bound to its target,
# 3.0 M (measured: 2.99 M, benchmarks/bench_qemu_results.md; 4.28 M before).
MLPERF_MAX_INSTRUCTIONS = 3.0e6


def _assert_bitexact(got: np.ndarray, want: np.ndarray, what: str) -> None:
    bad = np.flatnonzero(~(got == want).all(axis=1))
    assert bad.size == 0, (
        f"{what}: {bad.size}/{len(want)} differ; first #{bad[0]}: {got[bad[0]]} vs {want[bad[0]]}"
    )


def test_mlperf_ref_model_dsp_on_qemu_m4(mlperf_ref_model, mlperf_sample_input, tmp_path):
    sample = np.frombuffer(mlperf_sample_input.read_bytes(), np.int8)
    rng = np.random.default_rng(2024)
    xs = np.concatenate([sample[None, :], rng.integers(-128, 128, size=(200, 490), dtype=np.int8)])
    want = TFLMRunner(mlperf_ref_model).invoke_batch(xs)
    prof = profile_on_qemu(mlperf_ref_model, xs, tmp_path, board="qemu-m4")
    _assert_bitexact(prof.outputs, want, "qemu-m4 DSP")
    assert prof.instructions_per_inference <= MLPERF_MAX_INSTRUCTIONS, prof.op_instructions
    # convolutions dominate; the per-op breakdown accounts for the whole inference
    assert sum(prof.op_instructions) <= prof.instructions_per_inference
    assert sum(prof.op_instructions) >= 0.95 * prof.instructions_per_inference


def test_mlperf_ref_model_portable_on_qemu_m4(mlperf_ref_model, mlperf_sample_input, tmp_path):
    sample = np.frombuffer(mlperf_sample_input.read_bytes(), np.int8)
    xs = np.concatenate(
        [sample[None, :], np.random.default_rng(7).integers(-128, 128, (5, 490), dtype=np.int8)]
    )
    want = TFLMRunner(mlperf_ref_model).invoke_batch(xs)
    portable = profile_on_qemu(mlperf_ref_model, xs, tmp_path / "p", board="qemu-m4", portable=True, runs=1)
    _assert_bitexact(portable.outputs, want, "qemu-m4 portable")
    # the general DSP paths: generic requantization and the TFLite depthwise weight layout
    general = profile_on_qemu(
        mlperf_ref_model, xs, tmp_path / "g", board="qemu-m4", runs=1, fast_requant=False, dsp_layouts=False
    )
    _assert_bitexact(general.outputs, want, "qemu-m4 DSP, general paths")
    assert general.instructions_per_inference < portable.instructions_per_inference


def test_micro_speech_on_qemu_m4(micro_speech_model, tmp_path):
    xs = np.random.default_rng(5).integers(-128, 128, size=(200, 1960), dtype=np.int8)
    want = TFLMRunner(micro_speech_model).invoke_batch(xs)
    prof = profile_on_qemu(micro_speech_model, xs, tmp_path, board="qemu-m4", runs=2)
    _assert_bitexact(prof.outputs, want, "micro_speech qemu-m4")


def test_mlperf_ref_model_on_qemu_m3_without_dsp(mlperf_ref_model, tmp_path):
    xs = np.random.default_rng(3).integers(-128, 128, size=(3, 490), dtype=np.int8)
    prof = profile_on_qemu(mlperf_ref_model, xs, tmp_path, board="qemu-m3", runs=1)
    _assert_bitexact(prof.outputs, TFLMRunner(mlperf_ref_model).invoke_batch(xs), "qemu-m3")


def _random_op_models() -> list[tuple[str, bytes]]:
    """Small TF models that reach every DSP code path (both im2col variants, padding, strides,
    pixel counts that are not a multiple of five, depthwise borders, pooling, dense), converted
    full-int8."""
    from test_compiler_ops import _convert  # same directory; conversion helper

    def conv_c4(L, x):  # in_c % 4 == 0: fast im2col; SAME padding; stride 2; odd pixel count
        return L.Conv2D(6, (3, 2), strides=(2, 1), padding="same", activation="relu")(x)

    def conv_odd(L, x):  # in_c = 3, K % 4 != 0: generic im2col and weight tail; VALID
        return L.Conv2D(5, (2, 3), strides=(1, 2), padding="valid", activation="relu6")(x)

    def dw(L, x):  # depthwise dm 1, channels % 4 == 0: DSP path; stride 2 borders
        y = L.DepthwiseConv2D(3, strides=(2, 1), padding="same", activation="relu")(x)
        return L.DepthwiseConv2D((2, 3), padding="valid", activation="relu6")(y)

    def pools(L, x):  # average pool with channels % 4 == 0: SXTAB16 path; SAME borders count taps
        y = L.AveragePooling2D(pool_size=3, strides=2, padding="same")(x)
        return L.AveragePooling2D(pool_size=(2, 3), strides=1, padding="valid")(y)

    def conv_tiny(L, x):  # fewer output pixels than one group of five
        return L.Conv2D(7, 2, padding="valid")(x)

    def conv_c1(L, x):  # one input channel, kernel rows of four taps: the first-layer im2col,
        # rows cut by the left and the right edge (SAME, strides 2 and 3)
        y = L.Conv2D(8, (5, 4), strides=(2, 3), padding="same", activation="relu")(x)
        return L.Conv2D(4, (3, 3), strides=(1, 1), padding="same")(y)

    def dw3(L, x):  # 3x3 depthwise, vertical stride 1: the two-pixel kernels (w_layout 2, Helium 4), an odd
        # number of output rows (the last pair overlaps), horizontal stride 2
        y = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
        return L.DepthwiseConv2D(3, strides=(1, 2), padding="valid", activation="relu")(y)

    def dw3_one_row(L, x):  # 3x3 depthwise with one output row: the general DSP path
        return L.DepthwiseConv2D(3, padding="valid", activation="relu")(x)

    def dense(L, x):  # FC rows in fours and a remainder, input depth not a multiple of 4
        y = L.Dense(7, activation="relu")(L.Flatten()(x))
        return L.Dense(5, activation="softmax")(y)

    return [
        ("dense", _convert(dense, (3, 5, 3), seed=16, offset=0.4)),
        ("conv_tiny", _convert(conv_tiny, (2, 3, 4), seed=15, offset=0.0)),
        ("pools", _convert(pools, (9, 11, 8), seed=14, offset=0.2)),
        ("conv_c4", _convert(conv_c4, (7, 5, 8), seed=11, offset=1.0)),
        ("conv_odd", _convert(conv_odd, (6, 9, 3), seed=12, offset=-0.5)),
        ("dw", _convert(dw, (9, 6, 8), seed=13, offset=0.3)),
        ("conv_c1", _convert(conv_c1, (11, 10, 1), seed=17, offset=0.5)),
        ("dw3", _convert(dw3, (7, 5, 16), seed=18, offset=0.1)),
        ("dw3_one_row", _convert(dw3_one_row, (3, 6, 4), seed=19, offset=-0.2)),
    ]


def test_random_op_models_dsp_on_qemu_m4(tmp_path):
    for name, tfl in _random_op_models():
        oracle = TFLMRunner(tfl)
        n_in = int(np.prod(oracle.input_shape))
        xs = np.random.default_rng(len(name)).integers(-128, 128, size=(40, n_in), dtype=np.int8)
        want = oracle.invoke_batch(xs)
        for variant, opts in {"fast": {}, "general": {"fast_requant": False, "dsp_layouts": False}}.items():
            prof = profile_on_qemu(tfl, xs, tmp_path / name / variant, board="qemu-m4", runs=1, **opts)
            _assert_bitexact(prof.outputs, want, f"{name} ({variant})")
        # the cases meant for the fused DSP forms do get them (see conv_s8_dsp.inc and
        # depthwise_conv_s8_dsp.inc)
        src = (tmp_path / name / "fast" / "model" / "tinykws_model.c").read_text()
        if name in ("conv_c1", "conv_c4"):
            assert "_RQ_FAST 2" in src, name
        if name == "dw3":  # (and the Helium layout, which test_helium_paths_on_qemu_m55 runs)
            assert src.count("_W_LAYOUT 2") == 2 and src.count("_W_LAYOUT 4") == 2, name
        if name in ("dw", "dw3_one_row"):
            assert "_W_LAYOUT 2" not in src and "_W_LAYOUT 1" in src, name


def _set_output_quant(tfl: bytes, zero_point: int, scale_factor: float = 1.0) -> bytes:
    """The model with its output tensor's zero point (and scale) changed in place.

    Why: the converter calibrates a fused ReLU/ReLU6 output to the full int8 range, so real
    models never exercise the kernels' clamped requantization; moving the zero point (or
    widening the scale) makes act_min/act_max bite, and TFLM then runs the same arithmetic."""
    import tflite

    buf = bytearray(tfl)
    sg = tflite.Model.GetRootAsModel(buf, 0).Subgraphs(0)
    q = sg.Tensors(sg.Outputs(0)).Quantization()
    q.ZeroPointAsNumpy()[0] = zero_point  # numpy views into the flatbuffer: edited in place
    q.ScaleAsNumpy()[0] *= scale_factor
    return bytes(buf)


def test_clamped_activations_dsp_on_qemu_m4(tmp_path):
    from test_compiler_ops import _convert

    def conv(L, x):
        return L.Conv2D(8, 3, padding="same", activation="relu")(x)

    def dw(L, x):
        return L.DepthwiseConv2D(3, padding="same", activation="relu6")(x)

    cases = {
        "conv_relu_zp0": _set_output_quant(_convert(conv, (6, 5, 8), seed=21), zero_point=0),
        "dw_relu6_wide": _set_output_quant(
            _convert(dw, (6, 5, 8), seed=22), zero_point=-100, scale_factor=0.5
        ),
        # a 1/2000 output scale makes requantization multipliers > 1 (left shifts): generic path
        "conv_left_shift": _set_output_quant(
            _convert(conv, (6, 5, 8), seed=23), zero_point=-5, scale_factor=5e-4
        ),
        "dw_left_shift": _set_output_quant(_convert(dw, (6, 5, 8), seed=24), zero_point=3, scale_factor=5e-4),
    }
    for name, tfl in cases.items():
        oracle = TFLMRunner(tfl)
        xs = np.random.default_rng(9).integers(
            -128, 128, size=(30, int(np.prod(oracle.input_shape))), dtype=np.int8
        )
        want = oracle.invoke_batch(xs)
        assert want.min() > -128 or want.max() < 127, f"{name}: the clamp does not bite"
        for board in ("qemu-m4", "qemu-m55"):  # DSP and Helium requantization with clamps
            prof = profile_on_qemu(tfl, xs, tmp_path / name / board, board=board, runs=1)
            _assert_bitexact(prof.outputs, want, f"{name} on {board}")
        model_dir = tmp_path / name / "qemu-m4" / "model"  # the C that profile_on_qemu compiled
        host = HostModel(build_host_library(model_dir, model_dir / "h.so"), xs.shape[1], want.shape[1])
        _assert_bitexact(host.invoke_batch(xs), want, f"{name} (host, portable)")


def test_helium_paths_on_qemu_m55(mlperf_ref_model, tmp_path):
    """Cortex-M55: CONV_2D takes the Helium (MVE) path, the other kernels the DSP paths."""
    xs = np.random.default_rng(55).integers(-128, 128, size=(20, 490), dtype=np.int8)
    prof = profile_on_qemu(mlperf_ref_model, xs, tmp_path / "ref", board="qemu-m55", runs=2)
    _assert_bitexact(prof.outputs, TFLMRunner(mlperf_ref_model).invoke_batch(xs), "qemu-m55")
    for name, tfl in _random_op_models():
        oracle = TFLMRunner(tfl)
        n_in = int(np.prod(oracle.input_shape))
        xs = np.random.default_rng(len(name) + 55).integers(-128, 128, size=(20, n_in), dtype=np.int8)
        want = oracle.invoke_batch(xs)
        # the general (non-DSP-form) constants are exercised on qemu-m4 and in the clamp test
        prof = profile_on_qemu(tfl, xs, tmp_path / name, board="qemu-m55", runs=1)
        _assert_bitexact(prof.outputs, want, f"qemu-m55 {name}")


def test_unoptimized_build_on_qemu_m4(mlperf_ref_model, tmp_path):
    """-O0 keeps a frame pointer, leaving too few registers for the inline assembly: the
    kernels then use their C-intrinsic loops, which must give the same bytes."""
    xs = np.random.default_rng(0).integers(-128, 128, size=(3, 490), dtype=np.int8)
    prof = profile_on_qemu(mlperf_ref_model, xs, tmp_path, board="qemu-m4", runs=1, extra_cflags=["-O0"])
    _assert_bitexact(prof.outputs, TFLMRunner(mlperf_ref_model).invoke_batch(xs), "qemu-m4 -O0")


@pytest.mark.parametrize("cpu", ["cortex-m3", "cortex-m4", "cortex-m33", "cortex-m55"])
def test_kernels_build_at_every_optimization_level(cpu, tmp_path):
    """-Werror builds for each CPU at -O0/-Os/-O3 (a timeout turns a compiler hang into a
    failure: GCC once looped on an asm block at -O0)."""
    import subprocess

    from tinykws.export.compiler import KERNEL_DIR

    fpu = {"cortex-m4": ["-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"], "cortex-m55": ["-mfloat-abi=hard"]}.get(
        cpu, []
    )
    for opt in ("-O0", "-Os", "-O3"):
        for src in sorted(KERNEL_DIR.glob("*.c")):
            cmd = ["arm-none-eabi-gcc", f"-mcpu={cpu}", "-mthumb", *fpu, opt, "-std=c99", "-Wall", "-Wextra"]
            cmd += ["-Werror", "-c", str(src), "-o", str(tmp_path / "k.o")]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            assert proc.returncode == 0, f"{cpu} {opt} {src.name}: {proc.stderr[-2000:]}"
