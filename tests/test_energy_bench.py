"""`bench --energy` end to end without hardware: a stand-in board on a pseudo-terminal speaks
the EnergyRunner protocol (outputs computed by tflite_micro, a fixed cycle count), and a PPK2
protocol peer supplies current samples with the timestamp edges on D0. Checks the measured
energy, the JSON, and that a monitor fault keeps the run's results marked incomplete."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ptypeer import BoardPeer
from test_energy import Ppk2Peer, ppk2_words

from tinykws.device.protocol import xorshift_bytes

CYCLES = 4_000_000  # per inference: 62.5 ms at the nano33's 64 MHz


class FakeBoard(BoardPeer):
    """A board running tinykws firmware, as far as `bench` can tell over its serial port."""

    def __init__(self, model):
        super().__init__()
        from tinykws.models.tflm import TFLMRunner

        self.runner = TFLMRunner(model)
        self.scale, self.zp = self.runner.output_quant
        self.buf = bytearray()
        self.want = 0

    def command(self, cmd: str) -> list[str]:
        tok = cmd.split()
        if tok[0] == "name":
            return ["m-name-dut-[tinykws-nano33]"]
        if tok[:2] == ["db", "load"]:
            self.want, self.buf = int(tok[2]), bytearray()
            return [f"m-[Expecting {self.want} bytes]"]
        if tok[:2] == ["db", "rand"]:
            self.buf = bytearray(xorshift_bytes(int(tok[2]), int(tok[3])))
            return ["m-load-done"]
        if tok[0] == "db":
            self.buf += bytes.fromhex(tok[1])
            return ["m-load-done"] if len(self.buf) == self.want else []
        if tok[0] == "infer":
            n = int(tok[1])
            out = self.runner.invoke(np.frombuffer(bytes(self.buf), np.int8))
            deq = ",".join(f"{(int(q) - self.zp) * self.scale:.3f}" for q in out)
            return [
                f"m-warmup-start-{tok[2]}", "m-warmup-done", f"m-infer-start-{n}", "m-infer-done",
                f"m-results-[{deq}]", f"m-results-int8-[{','.join(str(int(q)) for q in out)}]",
                f"m-perf-[cycles,{CYCLES * n},{n}]",
            ]  # fmt: skip
        return [f"e-[Unknown command: {tok[0]}]"]


@pytest.fixture
def rig(mlperf_ref_model):
    board = FakeBoard(mlperf_ref_model)
    board.start()
    peers = []

    def monitor(words):
        p = Ppk2Peer(words)
        p.start()
        peers.append(p)
        return p

    yield board, monitor
    board.close()
    for p in peers:
        p.close()


def test_bench_nano33_with_ppk2(rig, mlperf_ref_model, tmp_path):
    from tinykws.device.bench import bench

    board, monitor = rig
    ppk2 = monitor(ppk2_words(6250))  # 62.5 ms of 10 mA between the edges (+2 pulse samples)
    r = bench(
        "nano33", mlperf_ref_model, port=board.path, n=3, energy="ppk2", energy_port=ppk2.path,
        rate_hz=2.0, min_window_s=0.06, build_dir=tmp_path,
    )  # fmt: skip
    assert r.bitexact == r.n == 3 and r.counter_unit == "cycles"
    assert r.us_per_inference == pytest.approx(62_500.0)
    d = r.to_json()
    assert d["energy_source"] == "measured (ppk2)" and d["energy_complete"] is True
    assert d["energy_inferences_per_window"] == 1 and len(d["energy_windows_uj"]) == 5
    assert d["energy_uj_per_inference"] == pytest.approx(0.010 * 3.0 * 6252 / 100_000 * 1e6, rel=1e-6)
    busy = 2.0 * 0.0625
    assert d["always_on_uw"] == pytest.approx(
        d["energy_uj_per_inference"] * 2 + 3.0 * 3.2 * (1 - busy), rel=1e-3
    )
    assert board.cmds.count("infer 1 0") >= 3 + 5  # bit-exactness runs, then the 5 energy windows


def test_bench_monitor_fault_keeps_results_incomplete(rig, mlperf_ref_model, tmp_path):
    from tinykws.cli import main

    board, monitor = rig
    ppk2 = monitor(np.array([1 << 24] * 100, np.uint32))  # timestamp pin not wired: no edges
    out = tmp_path / "r.json"
    argv = ["bench", "--board", "nano33", "--model", str(mlperf_ref_model), "--port", board.path, "--n", "2",
            "--energy", "ppk2", "--energy-port", ppk2.path, "--json", str(out)]  # fmt: skip
    assert main(argv) == 0  # bit-exact; the energy part is marked incomplete, not lost
    d = json.loads(out.read_text())
    assert d["bitexact"] == 2 and d["cycles_per_inference"] == CYCLES
    assert d["energy_complete"] is False and "falling edge(s) on D0" in d["energy_error"]
    assert d["energy_source"] == "estimate" and d["energy_windows_uj"] == []
