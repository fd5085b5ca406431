"""`tinykws listen --port P` without `--audio` on a real board listens live (`listen mic`): a
stand-in board on a pseudo-terminal plays the firmware's side (no board is attached here)."""

from __future__ import annotations

import pytest
from ptypeer import BoardPeer


class MicBoard(BoardPeer):
    """Answers like the firmware on a board with a microphone: two detections, then done."""

    def __init__(self, mic: bool = True):
        super().__init__()
        self.mic = mic

    def command(self, cmd: str) -> list[str]:
        if cmd == "name":
            return ["m-name-dut-[tinykws-nano33]"]
        if cmd.startswith("listen cfg"):
            return ["m-listen-cfg-[250,500,600,1000,0]"]
        if cmd.startswith("listen mic"):
            if not self.mic:
                return ["e-[No microphone on this board: stream audio with 'listen start' and 'audio N']"]
            return ["m-listen-[mic]", "m-detect-[yes,9,1500,0.912]", "m-detect-[no,3,4250,0.801]",
                    "m-listen-done-[80000]"]  # fmt: skip
        return []


def test_listen_live_on_a_board_port(mlperf_ref_model, tmp_path, capsys):
    from tinykws.cli import main

    board = MicBoard()
    board.start()
    out = tmp_path / "d.json"
    try:
        argv = ["listen", "--board", "nano33", "--model", str(mlperf_ref_model), "--frontend", "mlperf",
                "--labels", "mlperf", "--port", board.path, "--seconds", "5", "--json", str(out)]  # fmt: skip
        assert main(argv) == 0
    finally:
        board.close()
    assert "listen mic 5" in board.cmds and "listen cfg 250 500 600 1000 0" in board.cmds
    text = capsys.readouterr().out
    assert "1.500 s  yes" in text and "4.250 s  no" in text and "2 detection(s) in 5.00 s" in text
    assert out.read_text().count('"label"') == 2


def test_listen_live_without_microphone(mlperf_ref_model, tmp_path):
    from tinykws.device.listen import listen
    from tinykws.device.protocol import DeviceCommandError

    board = MicBoard(mic=False)
    board.start()
    try:
        with pytest.raises(DeviceCommandError, match="No microphone on this board"):
            listen("nano33", mlperf_ref_model, frontend="mlperf", port=board.path, seconds=1,
                   build_dir=tmp_path)  # fmt: skip
    finally:
        board.close()


def test_listen_simulate_without_a_board(mlperf_ref_model, micro_speech_wavs, tmp_path, capsys):
    """--simulate: the device's loop on the host, for a user without a board or QEMU."""
    import numpy as np

    from tinykws.audio import load_audio, write_wav
    from tinykws.cli import main

    yes = load_audio(micro_speech_wavs / "yes_1000ms.wav")
    write_wav(
        tmp_path / "s.wav", np.concatenate([np.zeros(8000, np.float32), yes, np.zeros(16000, np.float32)])
    )
    argv = ["listen", "--simulate", "--model", str(mlperf_ref_model), "--frontend", "mlperf",
            "--labels", "mlperf", "--audio", str(tmp_path / "s.wav")]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "yes" in out and "1 detection(s) in 2.50 s of audio (host simulation" in out
    assert main(["listen", "--model", str(mlperf_ref_model), "--audio", str(tmp_path / "s.wav")]) == 2
    assert "--board: required (or --simulate" in capsys.readouterr().err
