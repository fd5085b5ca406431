"""The nano33 USB glue (firmware/ports/nano33/link_usb_nano33.c) with the portable USB layer,
compiled for the build machine against a *model* of the nRF52840 USBD / POWER registers and a
scripted USB host (tests/usbd_model/usbd_model.c): power-up, enumeration through EP0 with
EasyDMA, the OUT data stage of SET_LINE_CODING, bulk IN/OUT with flow control and zero-length
packets, endpoint halt, unplug / replug, and the 1200-baud touch's reset.

The model is our reading of the nRF52840 Product Specification, the same reading the glue was
written from: this checks the glue's logic, not the silicon. The glue has not run on a board."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODEL = Path(__file__).resolve().parent / "usbd_model"
GLUE = ROOT / "firmware" / "ports" / "nano33" / "link_usb_nano33.c"

CHECKS = 40


@pytest.fixture(scope="module")
def model_run(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    d = tmp_path_factory.mktemp("usbd")
    # the port's own nano33.h with its register accesses routed to the model
    # (-DTINYKWS_USBD_MODEL), and a stand-in for the generated build header
    shutil.copy(MODEL / "tinykws_build_info.h", d / "tinykws_build_info.h")
    exe = d / "usbd_model"
    srcs = [GLUE, MODEL / "usbd_model.c", *sorted((ROOT / "firmware" / "usb").glob("*.c"))]
    cmd = ["gcc", "-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-fno-pie", "-no-pie"]
    cmd += ["-DTINYKWS_USBD_MODEL"]
    cmd += [f"-I{d}", f"-I{ROOT / 'firmware' / 'usb'}", f"-I{ROOT / 'firmware' / 'core'}"]
    subprocess.run([*cmd, *map(str, srcs), "-o", str(exe)], check=True)
    return subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)


def test_glue_against_the_usbd_model(model_run):
    out = model_run.stdout
    if out.startswith("SKIP"):
        pytest.skip(out.strip())
    fails = [ln for ln in out.splitlines() if not ln.startswith(("ok ", "dma transfers"))]
    assert model_run.returncode == 0 and not fails, out + model_run.stderr
    oks = [ln for ln in out.splitlines() if ln.startswith("ok ")]
    assert len(oks) == CHECKS, out  # every scripted check ran (none skipped by an early exit)
    assert "ok packets 1, 64, then a zero-length packet" in oks
    assert "ok GPREGRET 0xB0, pull-up off, then reset" in oks
