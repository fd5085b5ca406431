"""Shared test fixtures: paths to peer artifacts (skipped with a reason when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TINYKWS_NO_PROGRESS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TINYKWS_SHARED", ROOT.parent / "shared"))
PEERS = SHARED / "peers"
REALDEV = SHARED / "realdev"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"peer artifact not present: {path}")
    return path


@pytest.fixture
def mlperf_ref_model() -> Path:
    return _need(PEERS / "mlperf-tiny-kws" / "kws_ref_model.tflite")


@pytest.fixture
def mlperf_sample_input() -> Path:
    return _need(PEERS / "mlperf-tiny-kws" / "sample_input.bin")


@pytest.fixture
def micro_speech_model() -> Path:
    return _need(PEERS / "tflm-micro-speech" / "micro_speech_quantized.tflite")


@pytest.fixture
def micro_speech_wavs() -> Path:
    return _need(PEERS / "tflm-micro-speech")


@pytest.fixture
def realdev_gsc() -> Path:
    return _need(REALDEV / "gsc")
