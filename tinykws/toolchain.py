"""The cross toolchain and the firmware sources it compiles, in one place.

Why its own module, below every stage that compiles C: the firmware build, the Arduino library
export (which compiles its sources to check their size), the flasher (objcopy) and `doctor` all
need the same compiler and the same source folders, and none of them should import another's
stage to get them.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tinykws import resources

FIRMWARE = resources.firmware_dir()
CORE = FIRMWARE / "core"
KERNELS = FIRMWARE / "kernels"
FEATURES = FIRMWARE / "features"
CC = os.environ.get("TINYKWS_ARM_CC", "arm-none-eabi-gcc")
SIZE = os.environ.get("TINYKWS_ARM_SIZE", "arm-none-eabi-size")


def elf_sizes(elf: Path) -> tuple[int, int, int]:
    """(.text, .data, .bss) bytes of an ELF, as arm-none-eabi-size -B reports them."""
    out = subprocess.run([SIZE, "-B", str(elf)], capture_output=True, text=True, check=True).stdout
    text, data, bss = (int(v) for v in out.splitlines()[1].split()[:3])
    return text, data, bss
