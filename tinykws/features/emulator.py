"""Run the C front end on an emulated Cortex-M4F (QEMU mps2-an386), bare metal.

Why a separate, self-contained harness: it checks that the *cross-compiled* front end
(arm-none-eabi-gcc, hard-float FPv4-SP) gives the same int8 values as the host reference,
and it counts emulated instructions per clip, without depending on the firmware core or the
serial protocol. Clips are baked into the image as const arrays; results come back through
semihosting on stdout. Counting follows DESIGN.md: `-icount shift=0` (1 instruction = 1 ns)
and SysTick at 25 MHz, so one tick is 40 instructions. Figures are *emulated instructions*.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from tinykws import resources
from tinykws.errors import TinyKWSError

FEATURES_DIR = resources.firmware_dir() / "features"
M4_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
INSTR_PER_TICK = 40  # SysTick at 25 MHz with -icount shift=0

_HARNESS = r"""
#include <stdint.h>
#include "tinykws_features.h"
#include "clips.h"

#define REG(a) (*(volatile uint32_t *)(a))
extern uint32_t _estack, _sbss, _ebss;
int main(void);

static int semi(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static void put(const char *s) { semi(0x04, s); }

static void put_u32(uint32_t v)
{
    char b[12];
    int i = 11;
    b[i] = 0;
    do {
        b[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    put(&b[i]);
}

void reset_handler(void)
{
    for (uint32_t *p = &_sbss; p < &_ebss; p++) {
        *p = 0;
    }
    REG(0xE000ED88u) |= 0xFu << 20; /* CPACR: enable CP10/CP11 (FPU) */
    __asm__ volatile("dsb\n isb");
    main();
    {
        static const uint32_t exit_args[2] = {0x20026u, 0u}; /* ADP_Stopped_ApplicationExit */
        semi(0x18, exit_args);
    }
    for (;;) {
    }
}

__attribute__((section(".vectors"), used)) static const void *const vectors[2] = {
    &_estack, (const void *)reset_handler};

static int8_t feats[490];

int main(void)
{
    static const char hex[] = "0123456789abcdef";
    char line[2 * 490 + 2];
    REG(0xE000E014u) = 0x00FFFFFFu; /* SysTick reload */
    REG(0xE000E018u) = 0u;
    REG(0xE000E010u) = 5u; /* enable, processor clock, no interrupt */
    for (int c = 0; c < N_CLIPS; c++) {
        uint32_t t0 = REG(0xE000E018u);
        tinykws_features_int8(clips[c], CLIP_LEN, feats);
        uint32_t t1 = REG(0xE000E018u);
        put("clip ");
        put_u32((uint32_t)c);
        put(" ticks ");
        put_u32((t0 - t1) & 0x00FFFFFFu);
        put(" q ");
        for (int i = 0; i < tinykws_features_size(); i++) {
            line[2 * i] = hex[((uint8_t)feats[i]) >> 4];
            line[2 * i + 1] = hex[((uint8_t)feats[i]) & 15];
        }
        line[2 * tinykws_features_size()] = 0;
        put(line);
        put("\n");
    }
    return 0;
}
"""

_LD = """
MEMORY { FLASH (rx) : ORIGIN = 0x00000000, LENGTH = 4M
         RAM (rwx)  : ORIGIN = 0x20000000, LENGTH = 4M }
SECTIONS {
  .text : { KEEP(*(.vectors)) *(.text*) *(.rodata*) } > FLASH
  .bss (NOLOAD) : { _sbss = .; *(.bss*) *(COMMON) . = ALIGN(4); _ebss = .; } > RAM
  _estack = ORIGIN(RAM) + LENGTH(RAM);
}
"""


def available() -> str | None:
    """None when the tools are there, else the reason (for pytest.skip)."""
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (see `tinykws doctor`)"
    return None


def run_on_m4(
    frontend: object, clips: list[np.ndarray], timeout: float = 120.0
) -> tuple[np.ndarray, np.ndarray]:
    """int8 features [N, frames, coeffs] and emulated instructions [N] of the C front end
    built for Cortex-M4F with `frontend`'s features_config.h, on int16 clips of 16000."""
    from tinykws.features import FrontEnd

    assert isinstance(frontend, FrontEnd)
    reason = available()
    if reason:
        raise TinyKWSError(f"C front end on QEMU: {reason}")
    n = frontend.clip_samples
    pcm = np.stack([np.pad(np.asarray(c, np.int16)[:n], (0, max(0, n - len(c)))) for c in clips])
    with tempfile.TemporaryDirectory(prefix="tinykws-fe-qemu-") as tmp:
        d = Path(tmp)
        frontend.write_c_header(d / "features_config.h")
        rows = ",\n".join("{" + ",".join(str(int(v)) for v in c) + "}" for c in pcm)
        (d / "clips.h").write_text(
            f"#define N_CLIPS {len(pcm)}\n#define CLIP_LEN {n}\n"
            f"static const int16_t clips[N_CLIPS][CLIP_LEN] = {{\n{rows}\n}};\n"
        )
        (d / "main.c").write_text(_HARNESS)
        (d / "link.ld").write_text(_LD)
        elf = d / "fe.elf"
        cmd = [
            "arm-none-eabi-gcc",
            *M4_FLAGS,
            "-O2",
            "-std=c99",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-ffreestanding",
            "-nostartfiles",
            "--specs=nano.specs",
            f"-I{d}",
            f"-I{FEATURES_DIR}",
            str(d / "main.c"),
            str(FEATURES_DIR / "tinykws_features.c"),
            "-T",
            str(d / "link.ld"),
            "-o",
            str(elf),
            "-lm",
        ]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise TinyKWSError(f"C front end: cross-compile failed: {r.stderr.strip()[:400]}")
        q = [
            "qemu-system-arm",
            "-M",
            "mps2-an386",
            "-nographic",
            "-monitor",
            "none",
            "-serial",
            "none",
            "-icount",
            "shift=0",
            "-semihosting-config",
            "enable=on,target=native",
            "-kernel",
            str(elf),
        ]
        try:
            r = subprocess.run(q, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise TinyKWSError(f"C front end on QEMU: no exit within {timeout:.0f} s") from exc
    out_text = r.stdout + r.stderr
    found = re.findall(r"clip (\d+) ticks (\d+) q ([0-9a-f]+)", out_text)
    if len(found) != len(pcm):
        raise TinyKWSError(f"C front end on QEMU: expected {len(pcm)} results, got: {out_text[-300:]!r}")
    feats = np.stack([np.frombuffer(bytes.fromhex(h), np.int8) for _, _, h in found])
    instr = np.array([int(t) * INSTR_PER_TICK for _, t, _ in found])
    return feats.reshape(len(pcm), *frontend.shape), instr
