"""The Nano 33 BLE port builds (arm-none-eabi-gcc -Wall -Wextra -Werror) with the MLPerf Tiny
reference model, links at the application address after the Arduino bootloader, and is sized
against the board's limits. It cannot be run here (no board attached)."""

from __future__ import annotations

import shutil
import struct
import subprocess

import pytest

from tinykws.boards import load_board
from tinykws.errors import TinyKWSError
from tinykws.firmware import build_firmware, check_fits, format_sizes

pytestmark = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")


def test_profile():
    b = load_board("nano33")
    assert (b.cpu, b.clock_hz, b.flash_bytes, b.ram_bytes) == ("cortex-m4", 64_000_000, 0xF0000, 256 * 1024)
    assert not b.emulated and b.flash_method == "bossac" and b.microphone == "pdm"
    assert b.raw["flash"]["usb_vid"] == 0x2341 and b.raw["flash"]["offset"] == 0x10000


def test_build_ref_model_with_frontend(mlperf_ref_model, tmp_path):
    b = load_board("nano33")
    res = build_firmware(b, mlperf_ref_model, tmp_path, frontend="mlperf")
    assert (
        res.frontend == "mlperf" and 0 < res.flash_bytes < b.flash_bytes and 0 < res.ram_bytes < b.ram_bytes
    )
    assert "/ 983,040 bytes" in format_sizes(res, b)
    # vector table at the application start: initial SP at the top of the stack in RAM, reset
    # handler (Thumb) inside the image
    out = subprocess.run(
        ["arm-none-eabi-objcopy", "-O", "binary", "-j", ".text", str(res.elf), str(tmp_path / "t.bin")],
        check=True,
    )
    assert out.returncode == 0
    sp, reset = struct.unpack("<II", (tmp_path / "t.bin").read_bytes()[:8])
    assert 0x20000000 < sp <= 0x20000000 + b.ram_bytes and sp % 8 == 0
    assert reset & 1 and 0x10000 <= reset < 0x10000 + res.flash_bytes
    nm = subprocess.run(["arm-none-eabi-nm", str(res.elf)], capture_output=True, text=True, check=True).stdout
    assert "00010000 T g_vectors" in nm
    for sym in ("port_pdm_isr", "port_uart_isr", "port_mic_start", "port_led"):
        assert f" {sym}\n" in nm


def test_energy_mode_image_and_limits(mlperf_ref_model, tmp_path):
    b = load_board("nano33")
    res = build_firmware(b, mlperf_ref_model, tmp_path, energy_mode=True, audio=False)
    assert res.frontend is None
    with pytest.raises(TinyKWSError, match=r"nano33: image does not fit: flash 983041 > 983040 bytes"):
        check_fits(b, b.flash_bytes + 1, 0)
