"""`flash` for the Nano 33 BLE without a board: the 1200-baud touch, port auto-detection by USB
vendor id (for flashing and for talking to the application's USB CDC-ACM port), bossac's command
line, and the messages when the tool or the board is missing (all with fakes: no board is
attached here)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tinykws.device import flasher
from tinykws.errors import TinyKWSError


@dataclass
class FakePort:
    device: str
    vid: int | None


class FakeSerial:
    log: list[tuple[str, object]] = []

    def __init__(self, port: str, baudrate: int):
        FakeSerial.log.append(("open", (port, baudrate)))

    @property
    def dtr(self) -> bool:
        return True

    @dtr.setter
    def dtr(self, v: bool) -> None:
        FakeSerial.log.append(("dtr", v))

    def close(self) -> None:
        FakeSerial.log.append(("close", None))


def test_touch_1200_opens_at_1200_baud_drops_dtr_and_closes():
    FakeSerial.log = []
    flasher.touch_1200("/dev/ttyACM7", FakeSerial, settle=0)
    assert FakeSerial.log == [("open", ("/dev/ttyACM7", 1200)), ("dtr", False), ("close", None)]


def test_port_detection_by_vendor_id():
    ports = [FakePort("/dev/ttyS0", None), FakePort("/dev/ttyACM0", 0x2341), FakePort("/dev/ttyUSB0", 0x0403)]
    assert flasher.find_port(comports=lambda: ports) == "/dev/ttyACM0"
    with pytest.raises(TinyKWSError, match=r"no board with USB vendor id 0x2341 .*plug the Nano 33 BLE"):
        flasher.find_port(comports=lambda: [FakePort("/dev/ttyS0", None)])
    two = [FakePort("/dev/ttyACM0", 0x2341), FakePort("/dev/ttyACM1", 0x2341)]
    with pytest.raises(TinyKWSError, match="several boards"):
        flasher.find_port(comports=lambda: two)
    # after the touch the bootloader comes back under a new name
    assert flasher.wait_bootloader_port("/dev/ttyACM0", comports=lambda: [two[1]]) == "/dev/ttyACM1"
    with pytest.raises(TinyKWSError, match="did not come back as a bootloader port"):
        flasher.wait_bootloader_port("/dev/ttyACM0", timeout=0.2, comports=lambda: [])


def test_no_bossac_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.delenv("TINYKWS_BOSSAC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(
        TinyKWSError, match=r"bossac: not installed; .*`sudo apt-get install bossa-cli`.*tinykws doctor"
    ):
        flasher.find_bossac()
    monkeypatch.setenv("TINYKWS_BOSSAC", str(tmp_path / "nope"))
    with pytest.raises(TinyKWSError, match="not an executable file"):
        flasher.find_bossac()


@pytest.mark.skipif(shutil.which("arm-none-eabi-objcopy") is None, reason="needs arm-none-eabi-objcopy")
def test_flash_runs_touch_then_bossac(monkeypatch, tmp_path, mlperf_ref_model):
    from tinykws.firmware.build import build_firmware

    res = build_firmware("nano33", mlperf_ref_model, tmp_path / "b", audio=False)
    fake = tmp_path / "bossac"
    args_file = tmp_path / "args"
    fake.write_text(f'#!/bin/sh\necho "$@" > {args_file}\necho "Verify successful"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("TINYKWS_BOSSAC", str(fake))
    FakeSerial.log = []
    monkeypatch.setattr(flasher.time, "sleep", lambda s: None)
    ports = [FakePort("/dev/ttyACM3", 0x2341)]
    cmd = flasher.flash_bossac(res.elf, comports=lambda: ports, serial_factory=FakeSerial)
    assert FakeSerial.log[0] == ("open", ("/dev/ttyACM3", 1200))
    binary = res.elf.with_suffix(".bin")
    assert binary.is_file() and binary.stat().st_size == res.flash_bytes
    assert args_file.read_text().split() == [
        "-d",
        "--port=ttyACM3",
        "-U",
        "-i",
        "-e",
        "-w",
        str(binary),
        "-R",
    ]
    assert cmd[0] == str(fake)
    # a failing bossac is reported with its output
    fake.write_text("#!/bin/sh\necho 'No device found on ttyACM3'\nexit 1\n")
    with pytest.raises(TinyKWSError, match=r"(?s)bossac on /dev/ttyACM3 failed .*No device found"):
        flasher.flash_bossac(res.elf, comports=lambda: ports, serial_factory=FakeSerial)


def test_flash_cli_without_board(monkeypatch, tmp_path, mlperf_ref_model, capsys):
    from tinykws.cli import main

    fake = tmp_path / "bossac"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("TINYKWS_BOSSAC", str(fake))
    monkeypatch.setattr(flasher, "_comports", lambda: [])
    argv = ["flash", "--board", "nano33", "--model", str(mlperf_ref_model), "--out", str(tmp_path / "b")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no board with USB vendor id 0x2341" in err and "PORT=/dev/ttyACM0" in err
    assert main([*argv, "--port", "/dev/ttyACM_missing"]) == 2
    assert "no such serial port" in capsys.readouterr().err
    assert os.environ["TINYKWS_BOSSAC"] == str(fake) and Path(fake).exists()


def test_flash_refuses_a_model_too_big_before_flashing(monkeypatch, tmp_path, mlperf_ref_model, capsys):
    """A board whose flash is smaller than the image: refused with the sizes, bossac never runs."""
    from tinykws.boards import ROOT
    from tinykws.cli import main

    text = (ROOT / "boards" / "nano33.toml").read_text()
    small = tmp_path / "tiny33.toml"
    small.write_text(
        text.replace('name = "nano33"', 'name = "tiny33"').replace(
            "flash_bytes = 983040", "flash_bytes = 40000"
        )
    )
    fake = tmp_path / "bossac"
    fake.write_text(f"#!/bin/sh\ntouch {tmp_path / 'ran'}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("TINYKWS_BOSSAC", str(fake))
    monkeypatch.setattr(flasher, "_comports", lambda: [FakePort("/dev/ttyACM0", 0x2341)])
    argv = ["flash", "--board", str(small), "--model", str(mlperf_ref_model), "--out", str(tmp_path / "b")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "tiny33: image does not fit: flash" in err and "> 40000 bytes" in err
    assert not (tmp_path / "ran").exists()


def test_open_board_finds_the_usb_cdc_port_by_vendor_id(monkeypatch, tmp_path):
    """The application enumerates as USB CDC-ACM with vendor id 0x2341 (firmware/usb): bench /
    listen without --port pick it the way flash does; a UART-linked profile still needs --port."""
    from tinykws.boards import ROOT, load_board
    from tinykws.device import qemu

    opened = []

    def fake_open_port(port, baud=115200, timeout=0.1):
        opened.append(port)
        raise TinyKWSError("stop here")

    monkeypatch.setattr(qemu, "open_port", fake_open_port)
    b = load_board("nano33")
    ports = [FakePort("/dev/ttyS0", None), FakePort("/dev/ttyACM5", 0x2341)]
    monkeypatch.setattr(flasher, "_comports", lambda: ports)
    with pytest.raises(TinyKWSError, match="stop here"), qemu.open_board(b, None, None):
        pass
    assert opened == ["/dev/ttyACM5"]
    monkeypatch.setattr(flasher, "_comports", lambda: [FakePort("/dev/ttyS0", None)])
    with pytest.raises(TinyKWSError, match="no board with USB vendor id 0x2341"):
        with qemu.open_board(b, None, None):
            pass
    uart = tmp_path / "n33uart.toml"
    uart.write_text(
        (ROOT / "boards" / "nano33.toml")
        .read_text()
        .replace('name = "nano33"', 'name = "n33uart"')
        .replace('transport = "usb"', 'transport = "uart"')
    )
    with pytest.raises(TinyKWSError, match="needs --port"), qemu.open_board(load_board(uart), None, None):
        pass
    assert opened == ["/dev/ttyACM5"]
