"""Markers for tests that need tools a machine may lack (each skips with the reason)."""

from __future__ import annotations

import shutil

import pytest

# tests that build firmware and run it on an emulated board
QEMU = [
    pytest.mark.qemu,
    pytest.mark.skipif(
        shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
        reason="needs qemu-system-arm and arm-none-eabi-gcc",
    ),
]
