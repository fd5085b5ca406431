"""Power monitor drivers against protocol peers on pseudo-terminals (no hardware): the
X-NUCLEO-LPM01A ASCII protocol and the Nordic PPK2 binary protocol, energy per inference by
MLPerf Tiny's rules (median of windows between the timestamp edges), faults kept as
incomplete results, and always-on power."""

from __future__ import annotations

import time

import numpy as np
import pytest
from ptypeer import Peer

from tinykws.device.energy import (
    LPM01A,
    PPK2,
    MonitorError,
    always_on_uw,
    inferences_per_window,
    lpm_value,
    measure_energy,
    ppk2_regulator_bytes,
)
from tinykws.errors import TinyKWSError


class LpmPeer(Peer):
    """X-NUCLEO-LPM01A as its manual describes it: `ack`/`error` replies with the prompt, energy
    samples in ascii_dec after `start` for acqtime at freq, then `Acquisition completed`."""

    KNOWN = ("htc", "hrc", "volt", "output", "format", "freq", "trigsrc", "trigdelay", "pwr", "acqtime")

    def __init__(self, sample="1500-09", fail_start_after: int | None = None, silent=False):
        super().__init__()
        self.sample, self.fail_start_after, self.silent = sample, fail_start_after, silent
        self.cmds: list[str] = []
        self.acqtime_s, self.freq, self.starts = 10.0, 100.0, 0
        self._line = b""

    def handle(self, data: bytes) -> bytes:
        if self.silent:
            return b""
        self._line += data
        out = b""
        while b"\r\n" in self._line:
            raw, self._line = self._line.split(b"\r\n", 1)
            cmd = raw.decode()
            self.cmds.append(cmd)
            word = cmd.split()[0] if cmd else ""
            if word in self.KNOWN:
                arg = cmd.split()[1] if len(cmd.split()) > 1 else ""
                if word == "acqtime":
                    self.acqtime_s = float(arg[:-1]) / 1000 if arg.endswith("m") else float(arg)
                if word == "freq":
                    self.freq = float(arg[:-1]) * 1000 if arg.endswith("k") else float(arg)
                out += f"\r\nPowerShield > ack {cmd}\r\n\r\n".encode()
            elif word == "start":
                self.starts += 1
                if self.fail_start_after is not None and self.starts > self.fail_start_after:
                    out += b"PowerShield > error\r\nPowerShield > Error detail: overcurrent\r\n"
                    continue
                n = int(round(self.acqtime_s * self.freq))
                body = "".join(f"{self.sample}\r\n" for _ in range(n + 5))  # a few beyond the window
                out += (
                    f"PowerShield > ack start\r\nTimeStamp: 000s 000ms, buff 00%\r\n{body}"
                    "PowerShield > Summary for target: 1.5 mJ\r\nPowerShield > Acquisition completed\r\n"
                ).encode()
            else:
                out += b"PowerShield > error\r\nPowerShield > Error detail: command not recognized\r\n"
        return out


class FakeDut:
    def __init__(self):
        self.cmds: list[str] = []

    def command(self, cmd: str, timeout: float | None = None) -> list[str]:
        self.cmds.append(cmd)
        return []


@pytest.fixture
def lpm_peer():
    peers = []

    def make(**kw):
        p = LpmPeer(**kw)
        p.start()
        peers.append(p)
        return p

    yield make
    for p in peers:
        p.close()


def test_lpm_value_format():
    assert lpm_value("6409-07") == pytest.approx(640.9e-6)
    assert lpm_value("1234+02") == pytest.approx(123400)
    assert lpm_value("TimeStamp: 1s") is None


def test_lpm01a_energy_median_of_windows(lpm_peer):
    peer = lpm_peer()
    mon = LPM01A(peer.path, timeout=2.0)
    dut = FakeDut()
    try:
        # 1000 us per inference, windows of >= 0.05 s (10 s on hardware): 50 inferences per window
        res = measure_energy(dut, mon, 1000.0, volts=1.8, windows=3, min_window_s=0.05)
    finally:
        mon.close()
    assert res.complete and res.error is None
    assert res.n_per_window == 50
    # 50 samples of 1.5 uJ (freq 1 kHz over 0.05 s) over 50 inferences
    assert res.windows_uj == pytest.approx([1.5, 1.5, 1.5])
    assert res.uj_per_inference == pytest.approx(1.5)
    assert dut.cmds == ["infer 50 0"] * 3
    assert peer.cmds[:3] == ["htc", "volt 1800m", "output energy"]
    assert "trigsrc d7" in peer.cmds and "acqtime 50m" in peer.cmds
    assert res.to_json()["energy_source"] == "measured (lpm01a)"


def test_lpm01a_fault_keeps_partial_windows(lpm_peer):
    peer = lpm_peer(fail_start_after=2)
    mon = LPM01A(peer.path, timeout=2.0)
    try:
        res = measure_energy(FakeDut(), mon, 1000.0, windows=5, min_window_s=0.05)
    finally:
        mon.close()
    assert not res.complete
    assert "'start' refused: overcurrent" in res.error
    assert len(res.windows_uj) == 2 and res.uj_per_inference == pytest.approx(1.5)
    assert res.to_json()["energy_complete"] is False


def test_lpm01a_silent_and_unknown(lpm_peer):
    peer = lpm_peer(silent=True)
    mon = LPM01A(peer.path, timeout=0.3)
    t0 = time.monotonic()
    with pytest.raises(MonitorError, match="no answer to 'htc' within 0.3 s"):
        mon.setup()
    assert time.monotonic() - t0 < 2.0
    mon.close()
    mon = LPM01A(lpm_peer().path, timeout=1.0)
    with pytest.raises(MonitorError, match="'bogus' refused: command not recognized"):
        mon.command("bogus")
    mon.close()


class Ppk2Peer(Peer):
    """PPK2 as nRF Connect's protocol has it: opcode bytes; metadata text up to END; on
    AVERAGE_START a stream of 4-byte sample words (ADC bits 0-13, range 14-16, logic 24-31)."""

    def __init__(self, words: np.ndarray, silent=False):
        super().__init__()
        self.words, self.silent = words, silent
        self.ops = bytearray()

    def handle(self, data: bytes) -> bytes:
        if self.silent:
            return b""
        out = b""
        for b in data:
            self.ops.append(b)
            if b == 0x19:
                meta = "Calibrated: 0\nR0: 1003.3\nR1: 18.0\nGS1: 0\nGI1: 1\nO1: 0\nS1: 0\nI1: 0\n"
                meta += "UG1: 1\nHW: 9173\n"
                out += (meta + "mode: 2\nEND\n").encode()
            elif b == 0x06:
                out += self.words.astype("<u4").tobytes()
        return out


def ppk2_words(active: int, idle: int = 50, adc: int = 4096, rng: int = 1) -> np.ndarray:
    """Idle (D0 high), timestamp pulse (2 samples low), `active` samples (D0 high), pulse, idle."""
    base = (adc & 0x3FFF) | (rng << 14)
    hi, lo = base | (1 << 24), base
    seq = [hi] * idle + [lo] * 2 + [hi] * active + [lo] * 2 + [hi] * idle
    return np.array(seq, np.uint32)


def test_ppk2_energy_between_edges():
    peer = Ppk2Peer(ppk2_words(1000))
    peer.start()
    mon = PPK2(peer.path, timeout=1.0)
    try:
        res = measure_energy(FakeDut(), mon, 1000.0, volts=3.0, windows=2, min_window_s=0.01)
    finally:
        mon.close()
        peer.close()
    assert res.complete, res.error
    # range 1 with R1 = 18, GS1 = 0, GI1 = 1: adc 4096 -> 4096*4*1.8/163840/18 = 10 mA, at 3.0 V
    # between the falling edges: 2 pulse + 1000 active samples at 100 kHz
    want_uj = 0.010 * 3.0 * 1002 / 100_000 * 1e6 / res.n_per_window
    assert res.uj_per_inference == pytest.approx(want_uj, rel=1e-9)
    assert res.n_per_window == 10
    # opcodes: metadata, source mode (0x11 2), regulator 3000 mV, DUT power on, start/stop
    assert bytes(peer.ops[:9]) == bytes([0x19, 0x11, 2, 0x0D, *ppk2_regulator_bytes(3000), 0x0C, 1, 0x06])
    assert 0x07 in peer.ops


def test_ppk2_ampere_meter_mode():
    peer = Ppk2Peer(ppk2_words(100))
    peer.start()
    mon = PPK2(peer.path, timeout=1.0, ampere_meter=True)
    try:
        mon.setup(volts=3.3)
    finally:
        mon.close()
        peer.close()
    # ampere meter (0x11 1), the supply's voltage for the calibration, no DUT power switching
    assert bytes(peer.ops[:6]) == bytes([0x19, 0x11, 1, 0x0D, *ppk2_regulator_bytes(3300)])
    assert bytes(peer.ops[6:]) == bytes([0x07])  # then only the stop of close(): no 0x0C (DUT power)


def test_ppk2_regulator_encoding_and_faults():
    assert ppk2_regulator_bytes(800) == (3, 32)
    assert ppk2_regulator_bytes(3000) == (3 + (2232 // 256), 2232 % 256)
    peer = Ppk2Peer(np.array([1 << 24] * 100, np.uint32))  # no timestamp edges at all
    peer.start()
    mon = PPK2(peer.path, timeout=1.0)
    try:
        res = measure_energy(FakeDut(), mon, 1000.0, windows=5, min_window_s=0.01)
    finally:
        mon.close()
        peer.close()
    assert not res.complete and res.uj_per_inference is None
    assert "0 falling edge(s) on D0" in res.error and "timestamp pin" in res.error
    silent = Ppk2Peer(np.zeros(0, np.uint32), silent=True)
    silent.start()
    mon = PPK2(silent.path, timeout=0.3)
    try:
        with pytest.raises(MonitorError, match="no metadata within 0.3 s"):
            mon.metadata()
    finally:
        mon.close()
        silent.close()


def test_busy_port_and_missing_port(tmp_path):
    peer = Ppk2Peer(np.zeros(0, np.uint32))
    try:
        first = PPK2(peer.path)
        with pytest.raises(MonitorError, match="busy"):
            PPK2(peer.path)
        first.close()
    finally:
        peer.close()
    with pytest.raises(MonitorError, match="cannot open"):
        LPM01A(str(tmp_path / "ttyNONE"))


def test_windows_and_always_on_power():
    assert inferences_per_window(70_000.0) == 143  # 143 x 70 ms >= 10 s
    # 100 uJ per inference, 1 inference/s of 50 ms, 2 uA sleep at 3 V: 100 + 6 * 0.95 uW
    assert always_on_uw(100.0, 50_000.0, 1.0, 2.0, 3.0) == pytest.approx(105.7)
    with pytest.raises(TinyKWSError, match="at most 20.0 inferences per second"):
        always_on_uw(100.0, 50_000.0, 30.0, 2.0, 3.0)


def test_bench_energy_arguments_and_always_on(mlperf_ref_model):
    from tinykws.boards import load_board
    from tinykws.device.bench import BenchResult, add_always_on, bench

    with pytest.raises(TinyKWSError, match="needs --energy-port"):
        bench("qemu-m4", mlperf_ref_model, energy="ppk2")
    with pytest.raises(TinyKWSError, match="qemu-m4 is emulated: its energy is the profile's estimate"):
        bench("qemu-m4", mlperf_ref_model, energy="lpm01a", energy_port="/dev/null")
    with pytest.raises(TinyKWSError, match="unknown monitor"):
        bench("qemu-m4", mlperf_ref_model, energy="joulescope", energy_port="/dev/null")
    b = load_board("qemu-m4")
    r = BenchResult(
        board="qemu-m4", model="m", emulated=True, n=1, top1=None, bitexact=1, counter_unit="instructions",
        per_inference=2_500_000, us_per_inference=None, arena_bytes=1, flash_bytes=1, ram_bytes=1,
        energy_uj_per_inference=b.energy.uj_per_cycles(2_500_000), energy_source="estimate",
    )  # fmt: skip
    add_always_on(r, b, 2.0, None, in_json=True)
    # 2.5 M instructions at 25 MHz = 100 ms; 2/s -> busy 20 %, sleep the rest
    want = r.energy_uj_per_inference * 2.0 + b.energy.volts * b.energy.sleep_ua * 0.8
    assert r.always_on_uw == pytest.approx(want)
    d = r.to_json()
    assert d["always_on_rate_hz"] == 2.0 and d["always_on_source"].startswith("estimate")
