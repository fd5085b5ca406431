"""The shipped demo model (models/demo) on the emulated board: bit-exact with tflite_micro on
200 seeded random inputs and on the real MLPerf Tiny sample input, like the peer models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from needs import QEMU

DEMO = Path(__file__).resolve().parents[1] / "models" / "demo"

pytestmark = [
    *QEMU,
    pytest.mark.skipif(not (DEMO / "model_int8.tflite").exists(), reason=f"no demo model at {DEMO}"),
]


def test_demo_model_directory_is_complete():
    meta = json.loads((DEMO / "tinykws.json").read_text())
    assert meta["labels"][:2] == ["_silence_", "_unknown_"] and len(meta["labels"]) == 12
    assert meta["frontend"]["name"] == "mlperf"
    for f in (
        "model.keras",
        "model_int8.tflite",
        "report.md",
        "c/model_data.c",
        "c/labels.h",
        "c/features_config.h",
        "c/tinykws_model.c",
        "c/tinykws_model.h",
    ):
        assert (DEMO / f).exists(), f


def test_demo_model_bitexact_on_qemu_m4(mlperf_sample_input, tmp_path):
    from tinykws.device.bench import bench
    from tinykws.models.tflm import TFLMRunner

    r = bench("qemu-m4", DEMO, n=200, seed=99, build_dir=tmp_path / "rand")
    assert r.bitexact == r.n == 200
    # the real sample input: the demo model uses the same front end and input quantization
    x = np.fromfile(mlperf_sample_input, dtype=np.int8)
    label = int(np.argmax(TFLMRunner(DEMO / "model_int8.tflite").invoke(x)))
    folder = tmp_path / "inputs"
    folder.mkdir()
    shutil.copy(mlperf_sample_input, folder / "on_sample.bin")
    (folder / "y_labels.csv").write_text(f"on_sample.bin,12,{label}\n")
    r = bench("qemu-m4", DEMO, inputs=folder, build_dir=tmp_path / "sample")
    assert (r.n, r.bitexact) == (1, 1)
