"""The graph compiler on real models: bit-exact with tflite_micro on the host build."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinykws.errors import TinyKWSError
from tinykws.export._hostbuild import HostModel, build_host_library
from tinykws.export.compiler import compile_model, quantize_multiplier
from tinykws.models.tflm import TFLMRunner

FLAVOURS = {"default": [], "portable": ["-DTINYKWS_PORTABLE"]}


def _compile_and_build(model: Path, out: Path) -> tuple[object, dict[str, HostModel]]:
    res = compile_model(model, out)
    n_in, n_out = int(np.prod(res.input_shape)), int(np.prod(res.output_shape))
    libs = {
        k: HostModel(build_host_library(out, out / f"lib_{k}.so", flags), n_in, n_out)
        for k, flags in FLAVOURS.items()
    }
    return res, libs


def _check_bitexact(model: Path, libs: dict[str, HostModel], xs: np.ndarray) -> None:
    want = TFLMRunner(model).invoke_batch(xs)
    for flavour, lib in libs.items():
        got = lib.invoke_batch(xs)
        bad = np.flatnonzero(~(got == want).all(axis=1))
        assert bad.size == 0, (
            f"{flavour}: {bad.size}/{len(xs)} inputs differ, first #{bad[0]}: {got[bad[0]]} vs {want[bad[0]]}"
        )


def test_mlperf_ref_model_bitexact(mlperf_ref_model, mlperf_sample_input, tmp_path):
    res, libs = _compile_and_build(mlperf_ref_model, tmp_path)
    assert res.ops[0] == "CONV_2D" and res.ops[-1] == "SOFTMAX"
    assert "RESHAPE" not in res.ops  # aliases cost no op
    assert res.input_shape == (1, 49, 10, 1) and res.output_shape == (1, 12)
    assert res.input_zero_point == 83 and res.output_zero_point == -128
    # Arena: TFLM reports 22,772 bytes for this model; the two largest live activations are 16,000.
    assert 16000 <= res.arena_bytes <= 17000
    header = res.header.read_text()
    assert f"#define TINYKWS_ARENA_BYTES {res.arena_bytes}" in header
    assert "#define TINYKWS_INPUT_SIZE 490" in header and "#define TINYKWS_OUTPUT_SIZE 12" in header
    assert f"#define TINYKWS_NUM_OPS {len(res.ops)}" in header
    rng = np.random.default_rng(1234)
    xs = rng.integers(-128, 128, size=(200, 490), dtype=np.int8)
    # realistic inputs too: around the MFCC operating range, where softmax is not saturated
    sample = np.frombuffer(mlperf_sample_input.read_bytes(), np.int8)
    near = np.clip(sample[None, :].astype(int) + rng.integers(-20, 21, size=(50, 490)), -128, 127).astype(
        np.int8
    )
    _check_bitexact(mlperf_ref_model, libs, np.concatenate([sample[None, :], xs, near]))


def test_micro_speech_bitexact(micro_speech_model, tmp_path):
    res, libs = _compile_and_build(micro_speech_model, tmp_path)
    assert res.ops == ["DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX"]
    rng = np.random.default_rng(99)
    xs = rng.integers(-128, 128, size=(200, 1960), dtype=np.int8)
    _check_bitexact(micro_speech_model, libs, xs)
    assert res.arena_bytes <= 1960 + 4000 + 64


def test_writes_only_two_files_and_cli(mlperf_ref_model, tmp_path, capsys):
    import argparse

    from tinykws.cli import VERBS
    from tinykws.export import compiler

    # the verb is registered; drive it through its own parser so other verbs' state does not matter
    assert VERBS["compile"][0] == "tinykws.export.compiler"
    parser = argparse.ArgumentParser()
    compiler.cli_configure(parser)
    (tmp_path / "keep.txt").write_text("other exports live here too")
    args = parser.parse_args([str(mlperf_ref_model), "--out", str(tmp_path), "--name", "kws_ref"])
    assert compiler.cli_run(args) == 0
    out = capsys.readouterr().out
    assert "arena bytes:" in out and "CONV_2D" in out and "weight bytes" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt", "tinykws_model.c", "tinykws_model.h"]
    assert '#define TINYKWS_MODEL_NAME "kws_ref"' in (tmp_path / "tinykws_model.h").read_text()


def test_bad_inputs_are_refused(tmp_path):
    with pytest.raises(TinyKWSError, match="no such model file"):
        compile_model(tmp_path / "missing.tflite", tmp_path)
    with pytest.raises(TinyKWSError, match="not a readable"):
        compile_model(b"garbage bytes that are not a flatbuffer", tmp_path)


def test_quantize_multiplier_matches_tflite():
    # Values worked by hand from TFLite's QuantizeMultiplier (frexp, round half away from zero).
    assert quantize_multiplier(0.5) == (1 << 30, 0)
    assert quantize_multiplier(1.0) == (1 << 30, 1)
    assert quantize_multiplier(0.0) == (0, 0)
    m, s = quantize_multiplier(0.0009765625 * 3)  # 3/1024 = 0.75 * 2^-8
    assert (m, s) == (3 << 29, -8)
    # a significand that rounds up to 2^31 renormalizes
    assert quantize_multiplier(1.0 - 2.0**-40) == (1 << 30, 1)


def test_scratch_formulas_match_the_kernel_header(tmp_path):
    """The compiler reserves the DSP kernels' scratch with formulas mirrored from
    tinykws_kernels.h; check them against the header's macros, compiled."""
    import subprocess

    from tinykws.export.compiler import KERNEL_DIR, conv_scratch_bytes, dw_scratch_bytes

    cases = [(10, 4, 1), (1, 1, 64), (3, 3, 3), (2, 3, 5), (1, 1, 7)]
    src = '#include <stdio.h>\n#include "tinykws_kernels.h"\nint main(void) {\n'
    for kh, kw, ic in cases:
        src += (
            f'    printf("%u %u\\n", TK_CONV_SCRATCH_BYTES({kh}, {kw}, {ic}), TK_DW_SCRATCH_BYTES({ic}));\n'
        )
    src += "    return 0;\n}\n"
    (tmp_path / "s.c").write_text(src)
    subprocess.run(
        ["gcc", "-std=c99", f"-I{KERNEL_DIR}", str(tmp_path / "s.c"), "-o", str(tmp_path / "s")], check=True
    )
    got = subprocess.run([str(tmp_path / "s")], capture_output=True, text=True, check=True).stdout.split("\n")
    for (kh, kw, ic), line in zip(cases, got, strict=False):
        conv, dw = map(int, line.split())
        assert conv == conv_scratch_bytes(kh, kw, ic)
        assert dw == dw_scratch_bytes(ic)


def _tflm_arena_total(model: Path, capfd) -> int:
    """TFLM's own arena use for the model (RecordingMicroAllocator, 64-bit host build)."""
    import re

    from tflite_micro.python.tflite_micro import runtime

    capfd.readouterr()
    runtime.Interpreter.from_bytes(model.read_bytes()).print_allocations()
    out = capfd.readouterr()
    m = re.search(r"Arena allocation total (\d+) bytes", out.out + out.err)
    assert m, out
    return int(m.group(1))


def test_arena_not_above_tflm(mlperf_ref_model, micro_speech_model, tmp_path, capfd):
    for model in (mlperf_ref_model, micro_speech_model):
        res = compile_model(model, tmp_path / model.stem)
        assert res.arena_bytes <= _tflm_arena_total(model, capfd), model.name
