"""Streaming detection (`listen`) on qemu-m4: a synthesized stream with known keyword positions
is played into the MLPerf Tiny reference model; the device's detections, its features (within
1 LSB of the host front end) and its outputs (bit-exact with tflite_micro on those features)
are checked against the host's twin of the loop (tinykws.device.listen.simulate)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from needs import QEMU

from tinykws.boards import load_board
from tinykws.device.listen import MLPERF_LABELS, ListenConfig, simulate, stream_to_device
from tinykws.device.protocol import DeviceCommandError
from tinykws.device.qemu import QemuBoard
from tinykws.errors import TinyKWSError
from tinykws.firmware.build import build_firmware, compile_sources

pytestmark = QEMU
FAKE = Path(__file__).parent / "fixtures" / "fake_model"
CFG = ListenConfig(hop_ms=250, avg_ms=500, threshold=0.6, suppress_ms=1000)


def _stream(wavs: Path) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    """4 s: quiet, 'yes', recorded noise, quiet, 'yes', quiet; returns (pcm, keyword spans ms)."""
    from tinykws.audio import load_audio
    from tinykws.device.listen import pcm16

    yes = pcm16(load_audio(wavs / "yes_1000ms.wav"))
    noise = (pcm16(load_audio(wavs / "noise_1000ms.wav")) // 2).astype(np.int16)
    rng = np.random.default_rng(0)

    def quiet(n: int) -> np.ndarray:
        return rng.normal(0, 30, n).astype(np.int16)

    parts = [quiet(8000), yes, noise, quiet(4000), yes, quiet(4000)]
    spans = [("yes", 500, 1500), ("yes", 2750, 3750)]
    return np.concatenate(parts), spans


def _peer(*parts: str) -> Path:
    from conftest import PEERS, _need

    return _need(PEERS.joinpath(*parts))


@pytest.fixture(scope="module")
def streamed(tmp_path_factory):
    ref = _peer("mlperf-tiny-kws", "kws_ref_model.tflite")
    wavs = _peer("tflm-micro-speech")
    pcm, spans = _stream(wavs)
    board = load_board("qemu-m4")
    res = build_firmware(
        board, ref, tmp_path_factory.mktemp("listen"), frontend="mlperf", labels=MLPERF_LABELS
    )
    with QemuBoard(res.elf, board.qemu_machine) as dev:
        got = stream_to_device(dev, pcm, CFG, MLPERF_LABELS, verbose=2)
        # the link stays in step after streaming: an ordinary command still works
        assert dev.command("name") == ["m-name-dut-[tinykws-qemu-m4]"]
    want = simulate(pcm, ref, "mlperf", MLPERF_LABELS, CFG)
    return got, want, spans, ref


def test_detections_at_keyword_positions(streamed):
    got, want, spans, _ = streamed
    assert [d.label for d in got.detections] == [s[0] for s in spans]
    for d, (_, start, end) in zip(got.detections, spans, strict=True):
        # the detection's window (ms - 1000, ms] overlaps the keyword, and comes after its start
        assert start < d.ms <= end + 1000, (d, start, end)
        assert d.score >= CFG.threshold
    assert got.samples == 64000
    # same as the host twin (front end + tflite_micro + the same smoothing)
    assert [(d.label, d.ms) for d in got.detections] == [(d.label, d.ms) for d in want.detections]


def test_device_features_and_outputs_match_host(streamed):
    from tinykws.models.tflm import TFLMRunner

    got, want, _, ref = streamed
    assert len(got.features) == len(want.features) == 16
    for i, (f_dev, f_host) in enumerate(zip(got.features, want.features, strict=True)):
        diff = np.abs(f_dev.astype(int) - f_host.astype(int))
        assert diff.max() <= 1, f"hop {i}: device features differ by {diff.max()} LSB"
    runner = TFLMRunner(ref)
    for f_dev, o_dev in zip(got.features, got.outputs, strict=True):
        assert np.array_equal(runner.invoke(f_dev), o_dev)
    assert [h[0] for h in got.hops] == [250 * (k + 1) for k in range(16)]
    # every hop costs the same work (features + inference of a full window) within 1 %
    assert max(got.hop_cost) < 1.01 * min(got.hop_cost)


@pytest.fixture(scope="module")
def fake_stream_elf(tmp_path_factory) -> Path:
    """The fake model with the mlperf front end, and one without any front end."""
    from tinykws.features import get_frontend

    board = load_board("qemu-m4")
    d = tmp_path_factory.mktemp("fake-listen")
    get_frontend("mlperf").write_c_header(d / "fe" / "features_config.h")
    elf, _, _ = compile_sources(
        board, FAKE, d / "a", {"board": "qemu-m4", "model": "fake"}, frontend_header_dir=d / "fe",
        labels=["_silence_", "_unknown_", *[f"k{i}" for i in range(10)]],
    )  # fmt: skip
    return elf


def _fake_model(x: np.ndarray) -> list[int]:
    """Python twin of the fixture's arithmetic (tests/fixtures/fake_model/tinykws_model.c)."""
    acc = [int(np.sum(x[j::12].astype(np.int64))) for j in range(12)]
    return [max(-128, min(127, (a >> 4) - 1)) for a in acc]


def test_streaming_protocol_errors(fake_stream_elf, tmp_path):
    from tinykws.features import get_frontend

    board = load_board("qemu-m4")
    with QemuBoard(fake_stream_elf, board.qemu_machine) as dev:
        assert dev.command("listen") == ["m-listen-cfg-[250,500,600,1000,0]"]
        with pytest.raises(DeviceCommandError, match="listen cfg: need"):
            dev.command("listen cfg 5 500 600 1000")
        with pytest.raises(DeviceCommandError, match="listen cfg: need"):
            dev.command("listen cfg 100 2000 600 1000")
        assert dev.command("listen cfg 100 300 500 0 1") == ["m-listen-cfg-[100,300,500,0,1]"]
        # audio before `listen start`: refused, and its samples consumed (link stays in step)
        with pytest.raises(DeviceCommandError, match="Not listening"):
            dev.command("audio 3", payload=b"%%%%%%")
        assert dev.command("name") == ["m-name-dut-[tinykws-qemu-m4]"]
        with pytest.raises(DeviceCommandError, match="No microphone"):
            dev.command("listen mic 1")
        assert dev.command("listen start") == ["m-listen-[host]"]
        lines = dev.command("audio 1600", payload=np.zeros(1600, "<i2").tobytes())
        # expected: the fixture's arithmetic on the features of one second of silence, best
        # class among the keywords (indices 2..11; _silence_ and _unknown_ are skipped)
        out = np.array(_fake_model(get_frontend("mlperf").int8_features(np.zeros(16000, np.int16)).ravel()))
        best = 2 + int(np.argmax(out[2:]))
        score = f"{(out[best] + 128) / 256:.3f}"
        cost = int(lines[0].rsplit(",", 1)[1][:-1])  # emulated instructions of the hop
        assert 1_000_000 < cost < 50_000_000
        want = [f"m-hop-[100,{best},{score},{cost}]"]
        if float(score) >= 0.5:
            want.append(f"m-detect-[k{best - 2},{best},100,{score}]")
        assert lines == [*want, "m-audio-[1600]"]
        assert dev.command("listen stop") == ["m-listen-done-[1600]"]
    # an image without a feature front end refuses streaming, and still consumes the samples
    d = tmp_path / "nofe"
    elf, _, _ = compile_sources(board, FAKE, d, {"board": "qemu-m4", "model": "fake"}, kernels=False)
    with QemuBoard(elf, board.qemu_machine) as dev:
        with pytest.raises(DeviceCommandError, match="Streaming mode not built in"):
            dev.command("audio 2", payload=b"name")
        assert dev.command("name") == ["m-name-dut-[tinykws-qemu-m4]"]


def test_listen_cli_needs_audio_on_emulated_board(mlperf_ref_model, capsys):
    from tinykws.cli import main

    assert (
        main(["listen", "--board", "qemu-m4", "--model", str(mlperf_ref_model), "--frontend", "mlperf"]) == 2
    )
    assert "no microphone; give --audio" in capsys.readouterr().err
    with pytest.raises(TinyKWSError, match="--hop-ms"):
        ListenConfig(hop_ms=5).validate()


def test_live_loop_with_a_synthetic_microphone(tmp_path):
    """The core's `listen mic` loop on qemu-m4 with the port's test-only synthetic microphone
    (-DTINYKWS_QEMU_TEST_MIC): stops after S seconds of audio, or on any byte from the host."""
    import dataclasses
    import time

    from tinykws.features import get_frontend

    board = load_board("qemu-m4")
    test_board = dataclasses.replace(board, defines={**board.defines, "TINYKWS_QEMU_TEST_MIC": "1"})
    get_frontend("mlperf").write_c_header(tmp_path / "fe" / "features_config.h")
    elf, _, _ = compile_sources(test_board, FAKE, tmp_path / "a", {"board": "qemu-m4", "model": "fake"},
                                frontend_header_dir=tmp_path / "fe", kernels=False)  # fmt: skip
    with QemuBoard(elf, board.qemu_machine) as dev:
        dev.command("listen cfg 250 500 1000 1000 1")  # threshold 1.0: hop lines, (almost) no detections
        lines = dev.command("listen mic 2", timeout=60)
        assert lines[0] == "m-listen-[mic]" and lines[-1] == "m-listen-done-[32000]"
        hops = [ln for ln in lines if ln.startswith("m-hop-[")]
        assert [int(h[7:].split(",")[0]) for h in hops] == [250 * (k + 1) for k in range(8)]
        # unbounded: any byte from the host stops it (the host sends '%')
        dev.write_raw(b"listen mic 0%")
        time.sleep(0.5)
        dev.write_raw(b"%")
        lines = dev.read_reply(timeout=30)
        assert lines[0] == "m-listen-[mic]" and lines[-1].startswith("m-listen-done-[")
        assert int(lines[-1][len("m-listen-done-[") : -1]) > 0
        assert dev.command("name") == ["m-name-dut-[tinykws-qemu-m4]"]
