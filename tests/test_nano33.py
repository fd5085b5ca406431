"""The Nano 33 BLE port builds (arm-none-eabi-gcc -Wall -Wextra -Werror) with the MLPerf Tiny
reference model, links at the application address after the Arduino bootloader, and is sized
against the board's limits; its host link is USB CDC-ACM (firmware/usb + the USBD glue), or
UART0 with -DTINYKWS_NANO33_UART. It cannot be run here (no board attached)."""

from __future__ import annotations

import shutil
import struct
import subprocess

import pytest

from tinykws.boards import ROOT, load_board
from tinykws.errors import TinyKWSError
from tinykws.firmware.build import build_firmware, check_fits, format_sizes

pytestmark = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")


def test_profile():
    b = load_board("nano33")
    assert (b.cpu, b.clock_hz, b.flash_bytes, b.ram_bytes) == ("cortex-m4", 64_000_000, 0xF0000, 256 * 1024)
    assert not b.emulated and b.flash_method == "bossac" and b.microphone == "pdm"
    assert b.raw["flash"]["usb_vid"] == 0x2341 and b.raw["flash"]["offset"] == 0x10000
    assert b.raw["serial"]["transport"] == "usb" and "USB CDC-ACM" in b.description
    assert [d.relative_to(ROOT).as_posix() for d in b.source_dirs] == ["firmware/usb"]


def test_profile_sources_must_exist(tmp_path):
    text = (ROOT / "boards" / "nano33.toml").read_text()
    bad = tmp_path / "n33bad.toml"
    bad.write_text(
        text.replace('name = "nano33"', 'name = "n33bad"').replace('["firmware/usb"]', '["firmware/nope"]')
    )
    with pytest.raises(TinyKWSError, match=r"build.sources folder does not exist: .*firmware/nope"):
        load_board(bad)


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
    vectors = struct.unpack("<64I", (tmp_path / "t.bin").read_bytes()[: 64 * 4])
    sp, reset = vectors[:2]
    assert 0x20000000 < sp <= 0x20000000 + b.ram_bytes and sp % 8 == 0
    assert reset & 1 and 0x10000 <= reset < 0x10000 + res.flash_bytes
    syms = _symbols(res.elf)
    assert syms["g_vectors"] == ("T", 0x10000)
    for sym in ("port_pdm_isr", "port_mic_start", "port_led", "tkusb_setup", "tkusb_cdc_putc"):
        assert syms[sym][0] == "T", sym
    # the default host link is USB: its handlers are wired to POWER_CLOCK (IRQ 0) and USBD
    # (IRQ 39); the UART handler is only the weak default
    assert syms["port_usbd_isr"][0] == syms["port_power_isr"][0] == "T" and syms["port_uart_isr"][0] == "W"
    assert vectors[16 + 39] == syms["port_usbd_isr"][1] | 1
    assert vectors[16 + 0] == syms["port_power_isr"][1] | 1
    assert vectors[16 + 29] == syms["port_pdm_isr"][1] | 1


def _symbols(elf) -> dict[str, tuple[str, int]]:
    nm = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    return {p[2]: (p[1], int(p[0], 16)) for p in (ln.split() for ln in nm.splitlines()) if len(p) == 3}


def test_uart_link_is_selectable(mlperf_ref_model, tmp_path):
    """-DTINYKWS_NANO33_UART: the UART0 link instead of USB, and no USB code in the image."""
    text = (ROOT / "boards" / "nano33.toml").read_text()
    prof = tmp_path / "n33uart.toml"
    prof.write_text(
        text.replace('name = "nano33"', 'name = "n33uart"').replace(
            "defines = {}", 'defines = { TINYKWS_NANO33_UART = "1" }'
        )
    )
    b = load_board(prof)
    res = build_firmware(b, mlperf_ref_model, tmp_path / "b", audio=False)
    syms = _symbols(res.elf)
    assert syms["port_uart_isr"][0] == "T" and syms["port_usbd_isr"][0] == "W"
    assert not [s for s in syms if s.startswith("tkusb_")]


def test_energy_mode_image_and_limits(mlperf_ref_model, tmp_path):
    b = load_board("nano33")
    res = build_firmware(b, mlperf_ref_model, tmp_path, energy_mode=True, audio=False)
    assert res.frontend is None
    with pytest.raises(TinyKWSError, match=r"nano33: image does not fit: flash 983041 > 983040 bytes"):
        check_fits(b, b.flash_bytes + 1, 0)
