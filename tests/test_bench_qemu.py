"""Real models on qemu-m4 through `bench`: bit-exact with tflite_micro on seeded random inputs
and the real sample input, EEMBC input folders, the JSON keys, raw-audio mode (features computed
on the device), and a guard on the emulated instruction count of the MLPerf Tiny model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from needs import QEMU

from tinykws.boards import load_board
from tinykws.device.bench import bench
from tinykws.errors import TinyKWSError
from tinykws.features.files import load_eembc_inputs

pytestmark = QEMU
RECORD = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_qemu_results.json"
EMULATED_KEYS = {
    "top1", "n", "bitexact", "instructions_per_inference", "arena_bytes", "flash_bytes",
    "ram_bytes", "energy_uj_per_inference", "energy_source",
}  # fmt: skip


def test_mlperf_ref_model_bitexact_200_random(mlperf_ref_model, tmp_path):
    r = bench("qemu-m4", mlperf_ref_model, n=200, seed=1234, build_dir=tmp_path)
    assert r.bitexact == r.n == 200
    d = r.to_json()
    assert set(d) == EMULATED_KEYS
    assert d["top1"] is None and d["energy_source"] == "estimate"
    assert d["arena_bytes"] > 0 and d["flash_bytes"] > 0 and d["ram_bytes"] > d["arena_bytes"]
    # Guard against regressions of the emulated instruction count (deterministic): never above
    # the figure recorded in benchmarks/ by benchmarks/bench_qemu.py (issue 18: 2.99 M), and
    # within issue 18's target of 3.0 M.
    assert d["instructions_per_inference"] <= 3.0e6
    if RECORD.is_file():
        rec = json.loads(RECORD.read_text())["results"]
        ref = [x for x in rec if x["board"] == "qemu-m4" and x["model"] == "kws_ref_model"]
        if ref:
            assert d["instructions_per_inference"] <= ref[0]["instructions_per_inference"] * 1.001


def test_sample_input_and_eembc_folder(mlperf_ref_model, mlperf_sample_input, tmp_path):
    from tinykws.models.tflm import TFLMRunner

    x = np.fromfile(mlperf_sample_input, dtype=np.int8)
    label = int(np.argmax(TFLMRunner(mlperf_ref_model).invoke(x)))
    folder = tmp_path / "inputs"
    folder.mkdir()
    shutil.copy(mlperf_sample_input, folder / "tst_000000_sample.bin")
    (folder / "y_labels.csv").write_text(f"tst_000000_sample.bin, 12, {label}\n")
    r = bench("qemu-m4", mlperf_ref_model, inputs=folder, build_dir=tmp_path / "b")
    assert (r.n, r.bitexact, r.top1) == (1, 1, 1.0)


def test_eembc_folder_errors(tmp_path):
    with pytest.raises(TinyKWSError, match="no y_labels.csv"):
        load_eembc_inputs(tmp_path, 490)
    (tmp_path / "y_labels.csv").write_text("a.bin,12,3\n")
    with pytest.raises(TinyKWSError, match=r"a.bin: listed in y_labels.csv but missing"):
        load_eembc_inputs(tmp_path, 490)
    (tmp_path / "a.bin").write_bytes(bytes(100))
    with pytest.raises(TinyKWSError, match=r"a.bin: 100 bytes, the model input needs 490"):
        load_eembc_inputs(tmp_path, 490)


def test_micro_speech_bitexact(micro_speech_model, tmp_path):
    r = bench("qemu-m4", micro_speech_model, n=200, seed=7, build_dir=tmp_path)
    assert r.bitexact == r.n == 200


def test_raw_audio_mode(mlperf_ref_model, micro_speech_wavs, tmp_path):
    """The device computes MFCCs from PCM with the C front end: within 1 LSB of the host's, and
    its inference equals tflite_micro's on the device's own features."""
    from tinykws.audio import fix_length, load_audio
    from tinykws.device.qemu import QemuBoard
    from tinykws.features import get_frontend
    from tinykws.firmware.build import build_firmware
    from tinykws.models.tflm import TFLMRunner

    board = load_board("qemu-m4")
    res = build_firmware(board, mlperf_ref_model, tmp_path, frontend="mlperf")
    assert res.frontend == "mlperf"
    audio = fix_length(load_audio(micro_speech_wavs / "yes_1000ms.wav"))
    pcm = np.clip(np.round(audio * 32768.0), -32768, 32767).astype("<i2")
    host = get_frontend("mlperf").int8_features(pcm.astype(np.float32) / 32768.0).reshape(-1)
    with QemuBoard(res.elf, board.qemu_machine) as dev:
        assert dev.info()["frontend"] == "mlperf"
        dev.mode("audio")
        dev.load(pcm.tobytes(), pipeline=True)
        feats = np.array(dev.features())
        r = dev.infer(1, 0)
    assert feats.shape == host.shape
    assert np.max(np.abs(feats - host.astype(np.int64))) <= 1
    assert r.raw == [int(v) for v in TFLMRunner(mlperf_ref_model).invoke(feats.astype(np.int8))]


def test_bench_table_side_by_side(micro_speech_model, mlperf_ref_model, capsys):
    import argparse

    from tinykws.device.bench import cli_configure_bench_table, cli_run_bench_table

    p = argparse.ArgumentParser()
    cli_configure_bench_table(p)
    args = p.parse_args(["--board", "qemu-m4", "--model", str(micro_speech_model), "--n", "3"])
    assert cli_run_bench_table(args) == 0
    out = capsys.readouterr().out
    assert "micro_speech_quantized" in out and "kws_ref_model" in out
    assert "per inference (emulated instructions)" in out
    assert "energy uJ/inference (estimate)" in out
    assert out.count("3/3") == 2  # bit-exact on both models


def test_build_model_directory_with_frontend(mlperf_ref_model, tmp_path):
    """A model directory's tinykws.json front end goes into the image (raw-audio mode); the
    bench build leaves it out so that its flash and RAM are model plus runtime only."""
    from tinykws.firmware.build import build_firmware

    mdir = tmp_path / "kws"
    mdir.mkdir()
    shutil.copy(mlperf_ref_model, mdir / "model_int8.tflite")
    (mdir / "tinykws.json").write_text(json.dumps({"frontend": {"name": "mlperf"}}))
    with_audio = build_firmware("qemu-m4", mdir, tmp_path / "a")
    without = build_firmware("qemu-m4", mdir, tmp_path / "b", audio=False)
    assert (with_audio.frontend, without.frontend) == ("mlperf", None)
    assert with_audio.ram_bytes >= without.ram_bytes + 32000
    assert with_audio.flash_bytes > without.flash_bytes
    with pytest.raises(TinyKWSError, match="not a model directory"):
        build_firmware("qemu-m4", tmp_path, tmp_path / "c")


def test_build_refuses_image_bigger_than_board(mlperf_ref_model, tmp_path):
    """A board profile with 32 KB of flash: the ref model image (~45 KB) is refused, with sizes."""
    from tinykws.firmware.build import build_firmware

    src = load_board("qemu-m4").path.read_text()
    small = src.replace('name = "qemu-m4"', 'name = "tiny-m4"')
    small = small.replace("flash_bytes = 4194304", "flash_bytes = 32768")
    prof = tmp_path / "tiny-m4.toml"
    prof.write_text(small)
    with pytest.raises(TinyKWSError, match=r"tiny-m4: image does not fit: flash \d+ > 32768 bytes"):
        build_firmware(load_board(prof), mlperf_ref_model, tmp_path / "b")
