"""`tinykws report` for a real board without one attached (nano33): the image is built for the
board (exact sizes), the models run on its emulated twin (qemu-m4), and latency and energy at
the board's clock are labelled estimates; the MLPerf Tiny reference model sits beside the model."""

from __future__ import annotations

import json
import shutil

import pytest
from needs import QEMU

from tinykws.boards import load_board
from tinykws.report import emulated_twin, report

pytestmark = QEMU


def test_report_nano33_estimated_from_emulated_twin(micro_speech_model, mlperf_ref_model, tmp_path):
    assert emulated_twin(load_board("nano33")).name == "qemu-m4"
    page = report("nano33", micro_speech_model, tmp_path, reference=mlperf_ref_model, n=2)
    md = page.read_text()
    assert md.startswith("# micro_speech_quantized on nano33")
    assert "| | micro_speech_quantized | kws_ref_model | source |" in md
    assert "emulated instructions (qemu-m4)" in md and "ms at 64 MHz" in md
    assert "estimate: 1 cycle per emulated instruction at nano33's clock" in md
    assert "image built for nano33; limits: flash 983,040, RAM 262,144 bytes" in md
    assert "always-on uW at 1 inference/s" in md and "sleep current 3.2 uA" in md
    assert "2/2 on qemu-m4" in md
    assert (tmp_path / "memory.png").stat().st_size > 1000 and (tmp_path / "power.png").stat().st_size > 1000
    data = json.loads((tmp_path / "report.json").read_text())
    ms, ref = data["models"]
    # the figures are consistent: ms = instructions / 64 MHz; energy from the nano33 model
    inst = ms["latency"]["emulated instructions (qemu-m4)"][0]
    assert ms["latency"]["ms at 64 MHz"][0] == pytest.approx(inst / 64e6 * 1e3)
    b = load_board("nano33")
    assert ms["energy_uj"] == pytest.approx(b.energy.uj_per_cycles(inst))
    assert ms["energy_source"].startswith("estimate")
    assert 0 < ms["flash_bytes"] < ref["flash_bytes"] < b.flash_bytes
    p1 = ms["always_on_uw"]["1"]
    assert p1 == pytest.approx(ms["energy_uj"] + b.energy.volts * b.energy.sleep_ua * (1 - inst / 64e6))


def test_report_accuracy_on_a_folder_corpus(micro_speech_wavs, mlperf_ref_model, tmp_path):
    """--data: int8 top-1 on recordings (host tflite_micro), here 'yes' and 'no' of TFLM's
    micro_speech example; the reference model hears that 'no' as 'go' (checked on the host)."""
    import numpy as np

    from tinykws.audio import load_audio
    from tinykws.device.listen import MLPERF_LABELS
    from tinykws.features import get_frontend
    from tinykws.models.tflm import TFLMRunner

    data = tmp_path / "data"
    for word in ("yes", "no"):
        (data / word).mkdir(parents=True)
        shutil.copy(micro_speech_wavs / f"{word}_1000ms.wav", data / word / f"spk1_nohash_0_{word}.wav")
    runner, fe = TFLMRunner(mlperf_ref_model), get_frontend("mlperf")
    pred = [
        MLPERF_LABELS[
            int(np.argmax(runner.invoke(fe.int8_features(load_audio(micro_speech_wavs / f"{w}_1000ms.wav")))))
        ]
        for w in ("yes", "no")
    ]
    want = sum(p == w for p, w in zip(pred, ("yes", "no"), strict=True)) / 2
    page = report("qemu-m4", mlperf_ref_model, tmp_path / "r", reference=None, n=1, data=str(data),
                  labels=MLPERF_LABELS, frontend="mlperf")  # fmt: skip
    md = page.read_text()
    assert f"| top-1 int8 on data | {100 * want:.2f}% |" in md
    assert "n=2, host tflite_micro" in md and "| kws_ref_model | source |" in md


def test_report_model_directory_metrics_and_labels(mlperf_ref_model, tmp_path):
    """A model directory: accuracy rows from its tinykws.json, labels built into the image."""
    from tinykws.device.listen import MLPERF_LABELS
    from tinykws.features import get_frontend

    d = tmp_path / "mymodel"
    d.mkdir()
    shutil.copy(mlperf_ref_model, d / "model_int8.tflite")
    meta = {
        "labels": MLPERF_LABELS,
        "frontend": get_frontend("mlperf").to_dict(),
        "metrics": {"float": {"top1": 0.9, "n": 100}, "int8": {"top1": 0.875, "n": 100}, "split": "test"},
    }
    (d / "tinykws.json").write_text(json.dumps(meta))
    page = report("qemu-m4", d, tmp_path / "r", reference=None, n=1)
    md = page.read_text()
    assert "| top-1 float | 90.00% |" in md and "| top-1 int8 | 87.50% |" in md
    assert "test split of its training corpus, n=100 (tinykws.json)" in md
    info = (tmp_path / "r" / "build" / "qemu-m4" / "tinykws_build_info.h").read_text()
    assert '#define TINYKWS_LABELS {"down", "go"' in info
