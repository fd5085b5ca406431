"""Hostile serial peers (issue 16, item 4): the line bound follows from the model, and garbage,
endless lines and replies that never end are each bounded by the timeout, with a clear message
and the partial results kept. The fake device is test_device_faults.FakeDevice."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest
from test_device_faults import FakeDevice

from tinykws.device.protocol import BASE_LINE, DeviceGarbage, DeviceTimeout, line_limit

N_OUT = 640  # MLPerf Tiny anomaly detection's autoencoder output


def _infer_reply(n_out: int, value: bytes = b"-2147483.648") -> bytes:
    """An infer reply with `n_out` outputs, each printed as wide as the firmware can print it."""
    return (
        b"m-warmup-start-0\r\nm-warmup-done\r\nm-infer-start-1\r\nm-lap-us-1\r\nm-lap-us-2\r\nm-infer-done\r\n"
        b"m-results-[" + b",".join([value] * n_out) + b"]\r\n"
        b"m-results-int8-[" + b",".join([b"-128"] * n_out) + b"]\r\n"
        b"m-perf-[instructions,40,1]\r\nm-ready\r\n"
    )


def test_line_bound_follows_the_model():
    widest = len(_infer_reply(N_OUT).split(b"\r\n")[6]) + 2
    assert widest > BASE_LINE  # the fixed 4096 of before could not read it
    assert line_limit(640, N_OUT) >= widest and line_limit(490, 12) >= max(BASE_LINE, 12 + 490 * 5)
    assert line_limit(490, 10_000) >= 16 + 13 * 10_000


def test_640_outputs_are_read_once_the_model_is_known():
    dev = FakeDevice(lambda cmd, i: _infer_reply(N_OUT)).client(timeout=2.0)
    with pytest.raises(DeviceGarbage, match="without a line end"):
        dev.infer(1, 0)  # the base bound, as before: refused
    dev.close()
    dev = FakeDevice(lambda cmd, i: _infer_reply(N_OUT)).client(timeout=2.0)
    dev.expect_model(640, N_OUT)
    r = dev.infer(1, 0)
    assert len(r.results) == N_OUT and r.raw == [-128] * N_OUT and r.results[0] == -2147483.648
    dev.close()


def test_endless_line_without_newline_is_bounded():
    dev = FakeDevice(lambda cmd, i: b"m-results-[" + b"1," * 200_000).client(timeout=5.0)
    dev.expect_model(490, 12)
    t0 = time.monotonic()
    with pytest.raises(DeviceGarbage, match=r"bytes without a line end while waiting for 'infer 1 0'"):
        dev.infer(1, 0)
    assert time.monotonic() - t0 < 5.0
    assert len(dev._buf) <= 2 * dev.max_line  # never read without bound
    dev.close()


def test_overlong_line_with_its_newline_is_still_refused():
    dev = FakeDevice(lambda cmd, i: b"m-" + b"x" * 9000 + b"\r\nm-ready\r\n").client(timeout=2.0)
    with pytest.raises(DeviceGarbage, match="without a line end"):
        dev.command("db load 4")
    dev.close()


def test_reply_that_never_ends_times_out():
    def flood(cmd: str, i: int) -> bytes:
        return b"m-warmup-start-0\r\n" * 400_000  # lines, but no m-ready for seconds

    dev = FakeDevice(flood).client(timeout=0.8)
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeout, match=r"reply to 'infer 1 0' did not end within the timeout"):
        dev.infer(1, 0)
    assert time.monotonic() - t0 < 3.0
    dev.close()


def test_garbage_values_in_results_are_device_garbage():
    bad = _infer_reply(3, b"1.0").replace(b"m-results-[1.0,1.0,1.0]", b"m-results-[1.0,zz,1.0]")
    dev = FakeDevice(lambda cmd, i: bad).client()
    with pytest.raises(DeviceGarbage, match=r"malformed line in the reply"):
        dev.infer(1, 0)
    dev.close()
    perf = _infer_reply(3, b"1.0").replace(b"m-perf-[instructions,40,1]", b"m-perf-[oops]")
    dev = FakeDevice(lambda cmd, i: perf).client()
    with pytest.raises(DeviceGarbage):
        dev.infer(1, 0)
    dev.close()


def test_bench_keeps_partial_results_on_a_fault(monkeypatch, mlperf_ref_model, tmp_path):
    import contextlib

    import tinykws.device.qemu as qemu
    import tinykws.firmware.build as firmware
    from tinykws.device import bench as bench_mod
    from tinykws.models.tflm import TFLMRunner

    oracle = TFLMRunner(mlperf_ref_model)
    xs = bench_mod.random_inputs(4, 490, 0)
    want = oracle.invoke_batch(xs)
    state = {"infers": 0, "seed": None}

    def behaviour(cmd: str, i: int) -> bytes:
        if cmd.startswith("db rand"):
            return b"m-load-done\r\nm-ready\r\n"
        if cmd.startswith("infer"):
            state["infers"] += 1
            if state["infers"] > 2:
                return b"\xaa" * 100_000  # garbage without end from the third input on
            raw = ",".join(str(int(v)) for v in want[state["infers"] - 1]).encode()
            return (
                b"m-warmup-start-0\r\nm-warmup-done\r\nm-infer-start-1\r\nm-lap-us-1\r\nm-lap-us-2\r\n"
                b"m-infer-done\r\nm-results-[0.0]\r\nm-results-int8-[" + raw + b"]\r\n"
                b"m-perf-[instructions,40,1]\r\nm-ready\r\n"
            )
        return b"m-name-dut-[x]\r\nm-ready\r\n"

    fake = FakeDevice(behaviour)

    @contextlib.contextmanager
    def fake_board(*a, **k):
        dev = fake.client(timeout=1.0)
        yield dev
        dev.close()

    built = SimpleNamespace(
        input_size=490, output_size=12, model_path=mlperf_ref_model, model_name="ref", elf=None
    )
    monkeypatch.setattr(firmware, "build_firmware", lambda *a, **k: built)
    monkeypatch.setattr(qemu, "open_board", fake_board)
    with pytest.raises(DeviceGarbage) as exc:
        bench_mod.bench("qemu-m4", mlperf_ref_model, n=4, timeout=1.0)
    assert "after 2 of 4 inputs; 2/2 bit-exact so far" in str(exc.value)
    assert exc.value.partial["done"] == 2 and exc.value.partial["bitexact"] == 2
    assert not exc.value.partial["complete"]


def test_listen_keeps_detections_before_a_reply_that_never_ends():
    from tinykws.device.listen import ListenConfig, stream_to_device

    def behaviour(cmd: str, i: int) -> bytes:
        if "audio" in cmd:  # the previous block's samples precede it (no '%' in them)
            n = sum("audio" in c for c in fake.commands)
            if n <= 2:
                return f"m-detect-[yes,2,{n * 100},0.900]\r\nm-ready\r\n".encode()
            return b"m-hop-[1,2,0.1,5]\r\n" * 300_000
        return b"m-ready\r\n"

    fake = FakeDevice(behaviour)
    dev = fake.client(timeout=0.8)
    cfg = ListenConfig()
    pcm = np.zeros(cfg.hop_ms * 16 * 5, np.float32)
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeout, match=r"after 2 of 5 hops; 2 detection\(s\) kept") as exc:
        stream_to_device(dev, pcm, cfg, timeout=0.8)
    assert time.monotonic() - t0 < 4.0
    assert [d.ms for d in exc.value.partial.detections] == [100, 200]
    dev.close()


def _autoencoder_640(path):
    """An int8 autoencoder of MLPerf Tiny anomaly detection's shape (640 in, 640 out, Dense 128
    x 4, bottleneck 8), random weights, converted by TensorFlow Lite's own int8 converter."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    inp = tf.keras.Input((640,), batch_size=1)
    x = inp
    for units in (128, 128, 128, 128, 8, 128, 128, 128, 128):
        x = tf.keras.layers.ReLU()(tf.keras.layers.Dense(units)(x))
    model = tf.keras.Model(inp, tf.keras.layers.Dense(640)(x))
    rng = np.random.default_rng(0)

    def rep():
        for _ in range(32):
            yield [3 * rng.standard_normal((1, 640)).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    path.write_bytes(conv.convert())
    return path


@pytest.mark.qemu
def test_bench_640_outputs_on_qemu_m4(tmp_path):
    """The issue's case, for real: `tinykws bench` of an int8 autoencoder with 640 outputs on
    qemu-m4 reads every result line (once 4097 bytes without a line end) and is bit-exact."""
    import shutil

    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("needs qemu-system-arm and arm-none-eabi-gcc")
    from tinykws.device.bench import bench

    model = _autoencoder_640(tmp_path / "ae640.tflite")
    res = bench("qemu-m4", model, n=3, build_dir=tmp_path / "build")
    assert res.n == 3 and res.bitexact == 3 and res.emulated
    assert res.per_inference > 0
