"""The firmware core and the ports, through QEMU: protocol strings, every emulated board boots
and infers, per-op profile, clear build refusals. Uses the hand-written test model fixture
(tests/fixtures/fake_model) so that it does not depend on the graph compiler."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from needs import QEMU

from tinykws.boards import list_boards, load_board
from tinykws.device.protocol import DeviceCommandError
from tinykws.device.qemu import QemuBoard
from tinykws.errors import TinyKWSError
from tinykws.firmware.build import check_fits, compile_sources

pytestmark = QEMU
FAKE = Path(__file__).parent / "fixtures" / "fake_model"
EMULATED = ["qemu-m3", "qemu-m4", "qemu-m7", "qemu-m33", "qemu-m55"]


def fake_model(x: np.ndarray) -> list[int]:
    """Python twin of the fixture's arithmetic (tinykws_model.c)."""
    acc = [int(np.sum(x[j::12].astype(np.int64))) for j in range(12)]
    return [max(-128, min(127, (a >> 4) - 1)) for a in acc]


@pytest.fixture(scope="module")
def fake_elfs(tmp_path_factory) -> dict[str, Path]:
    out = {}
    for name in EMULATED:
        board = load_board(name)
        d = tmp_path_factory.mktemp(name)
        elf, _, _ = compile_sources(board, FAKE, d, {"board": name, "model": "fake"}, kernels=False)
        out[name] = elf
    return out


def test_protocol_on_qemu_m4(fake_elfs):
    board = load_board("qemu-m4")
    with QemuBoard(fake_elfs["qemu-m4"], board.qemu_machine) as dev:
        assert dev.boot_lines == ["m-timestamp-mode-performance", "m-init-done", "m-ready"]
        assert dev.command("name") == ["m-name-dut-[tinykws-qemu-m4]"]
        assert dev.command("profile") == ["m-profile-[tinykws firmware 0.1.0]", "m-model-[kws01]"]
        assert dev.info() == {"board": "qemu-m4", "model": "fake"}
        assert any("db rand SEED" in ln for ln in dev.command("help"))
        # unknown command: the exact EEMBC error line, then m-ready
        dev.write_raw(b"bogus%")
        assert dev.read_reply() == ["e-[Unknown command: bogus]"]
        dev.write_raw(b"x" * 100 + b"%")
        assert dev.read_reply() == ["e-[Command too long: at most 80 characters]"]
        with pytest.raises(DeviceCommandError, match="No results yet"):
            dev.command("results")
        x = np.random.default_rng(1).integers(-128, 128, 490, dtype=np.int8)
        assert dev.command("db load 490") == ["m-[Expecting 490 bytes]"]
        for i in range(0, 490, 32):
            lines = dev.command("db " + x[i : i + 32].tobytes().hex())
        assert lines == ["m-load-done"]
        lines = dev.command("infer 3 2")
        assert lines[:3] == ["m-warmup-start-2", "m-warmup-done", "m-infer-start-3"]
        assert lines[3].startswith("m-lap-us-") and lines[4].startswith("m-lap-us-")
        assert lines[5] == "m-infer-done"
        want = fake_model(x)
        # dequantized with three decimals, ties rounded away from zero
        milli = [(q + 128) * 1000 // 256 + (1 if ((q + 128) * 1000) % 256 >= 128 else 0) for q in want]
        assert lines[6] == "m-results-[" + ",".join(f"{m // 1000}.{m % 1000:03d}" for m in milli) + "]"
        assert lines[7] == "m-results-int8-[" + ",".join(map(str, want)) + "]"
        assert lines[8].startswith("m-perf-[instructions,") and lines[8].endswith(",3]")
        assert dev.command("results") == lines[6:8]
        # db rand: the device generates the bytes the host computes (xorshift32)
        from tinykws.device.protocol import xorshift_bytes

        for seed in (1, 123456789, 4294967295):
            assert dev.command(f"db rand {seed}") == ["m-load-done"]
            x = np.frombuffer(xorshift_bytes(seed, 490), dtype=np.int8)
            assert dev.infer(1, 0).raw == fake_model(x)
        with pytest.raises(DeviceCommandError, match="requires a seed > 0"):
            dev.command("db rand 0")
        # errors with their own messages
        with pytest.raises(DeviceCommandError, match="Inference iterations must be >0"):
            dev.command("infer 0")
        with pytest.raises(DeviceCommandError, match="Invalid hex digit 'zz'"):
            dev.command("db zz")
        with pytest.raises(DeviceCommandError, match="Raw-audio mode not built in"):
            dev.command("mode audio")
        # per-op profile: both ops of the fixture, with counts summing to about one inference
        ops = dev.ops(2)
        assert [n for n, _ in ops] == ["FAKE_SUM", "FAKE_SCALE"]
        per = dev.infer(10, 1).per_inference
        assert 0.9 * per <= sum(v for _, v in ops) <= 1.1 * per


@pytest.mark.parametrize("name", EMULATED)
def test_each_emulated_board_boots_and_infers(fake_elfs, name):
    board = load_board(name)
    x = np.arange(490, dtype=np.int64).astype(np.int8)
    with QemuBoard(fake_elfs[name], board.qemu_machine) as dev:
        assert dev.name_() == f"tinykws-{name}"
        dev.load(x.tobytes(), pipeline=True)
        r = dev.infer(10, 1)
        assert r.raw == fake_model(x)
        assert r.counter_unit == "instructions"
        # the fixture runs a few thousand instructions; a wrong SysTick clock would be off by x1.25+
        assert 4000 < r.per_inference < 9000


def test_instruction_count_is_deterministic(fake_elfs):
    board = load_board("qemu-m4")
    counts = []
    for _ in range(2):
        with QemuBoard(fake_elfs["qemu-m4"], board.qemu_machine) as dev:
            dev.load(bytes(490), pipeline=True)
            counts.append(dev.infer(10, 1).counter_total)
    assert counts[0] == counts[1]


def test_unknown_board_lists_known():
    with pytest.raises(TinyKWSError, match=r"unknown board; known boards: .*qemu-m4"):
        load_board("nope")
    assert set(EMULATED) <= set(list_boards())


def test_bad_profile_is_refused(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text((Path(load_board("qemu-m4").path)).read_text().replace('name = "qemu-m4"', 'name = "bad"')
                 .replace("clock_hz = 25000000", 'clock_hz = "fast"'))  # fmt: skip
    with pytest.raises(TinyKWSError, match=r"bad.toml: field 'clock_hz' must be int"):
        load_board(p)


def test_image_that_does_not_fit_is_refused():
    board = load_board("qemu-m4")
    with pytest.raises(TinyKWSError, match=r"image does not fit: flash 5000000 > 4194304 bytes"):
        check_fits(board, 5_000_000, 1000)
    with pytest.raises(TinyKWSError, match=r"RAM 9000000 > 4194304 bytes"):
        check_fits(board, 1000, 9_000_000)


CALIB = Path(__file__).parent / "fixtures" / "calib_model"


@pytest.mark.parametrize("name", EMULATED)
def test_instruction_count_is_calibrated(tmp_path, name):
    """A loop of exactly 2,000,000 instructions must count as that on every board: checks the
    SysTick clock each profile declares (25, 20 or 32 MHz) and the wrap handling."""
    board = load_board(name)
    elf, _, _ = compile_sources(board, CALIB, tmp_path, {"board": name}, kernels=False)
    with QemuBoard(elf, board.qemu_machine) as dev:
        dev.load(bytes(4), pipeline=True)
        r = dev.infer(3, 1)
    assert abs(r.per_inference - 2_000_000) < 150, r.per_inference


def test_reset_and_hang_on_real_firmware(fake_elfs):
    """Faults injected through the QEMU monitor: a reset mid-command and a stopped CPU."""
    from tinykws.device.protocol import DeviceReset, DeviceTimeout

    board = load_board("qemu-m4")
    qb = QemuBoard(fake_elfs["qemu-m4"], board.qemu_machine, timeout=1.0)
    with qb as dev:
        dev.load(bytes(490), pipeline=True)
        # minutes of emulated work: reset it while it runs
        timer = threading.Timer(0.3, qb.monitor, ["system_reset"])
        timer.start()
        with pytest.raises(DeviceReset, match=r"device reset while running 'infer 2000000 0'"):
            dev.command("infer 2000000 0", timeout=10)
        timer.join()
        dev.wait_boot()
        assert dev.name_() == "tinykws-qemu-m4"
        qb.monitor("stop")
        t = time.monotonic()
        with pytest.raises(DeviceTimeout, match=r"no answer to 'name' within the timeout"):
            dev.name_()
        assert time.monotonic() - t < 3.0


def test_emulator_that_dies_is_reported(fake_elfs):
    from tinykws.device.protocol import DeviceError

    board = load_board("qemu-m4")
    qb = QemuBoard(fake_elfs["qemu-m4"], board.qemu_machine, timeout=2.0)
    with qb as dev:
        assert qb.proc is not None
        qb.proc.kill()
        qb.proc.wait()
        t = time.monotonic()
        with pytest.raises(DeviceError, match=r"qemu-m4|mps2-an386"):
            dev.name_()
        assert time.monotonic() - t < 4.0
    assert qb.proc is None  # stopped and reaped


def test_energy_mode_image(tmp_path):
    """Energy mode: the boot says so, and timestamps are GPIO edges (no m-lap-us lines)."""
    board = load_board("qemu-m4")
    elf, _, _ = compile_sources(board, FAKE, tmp_path, {"board": "qemu-m4"}, energy_mode=True, kernels=False)
    with QemuBoard(elf, board.qemu_machine) as dev:
        assert dev.boot_lines == ["m-timestamp-mode-energy", "m-init-done", "m-ready"]
        dev.load(bytes(490), pipeline=True)
        r = dev.infer(2, 1)
        assert r.lap_us == [] and r.raw == fake_model(np.zeros(490, np.int8))
        assert dev.command("timestamp") == []
