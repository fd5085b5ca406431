"""Run a compiled model on an emulated Cortex-M (QEMU) and count emulated instructions per op.

Why a separate harness from the firmware bench: kernel work needs a quick loop -- build the
generated C and the kernels (optimized or `-DTINYKWS_PORTABLE`) for one board, run a batch of
inputs, get the raw outputs (to compare with tflite_micro bit for bit) and a per-op breakdown of
emulated instructions, without the serial protocol. It reuses the QEMU ports' startup code and
linker scripts (firmware/ports/qemu) and the board profiles (boards/*.toml) read-only.

Counting is the project's convention (DESIGN.md, Figures): QEMU with `-icount shift=0` (one
instruction = 1 ns of virtual time), SysTick on the 25 MHz processor clock (one tick = 40
instructions) with its wraps counted, one warm-up invoke, then the mean over the timed invokes.
Figures from here are *emulated instructions*, never real-chip time.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tomllib

from tinykws import resources
from tinykws.errors import TinyKWSError, missing_tool
from tinykws.export.compiler import KERNEL_DIR, CompileResult, compile_model

PORT_DIR = resources.firmware_dir() / "ports" / "qemu"

_MAIN_C = r"""
#include <stdint.h>
#include "tinykws_model.h"
#include "profile_inputs.h"

#define REG(a) (*(volatile uint32_t *)(a))
#define UART_DATA REG(UART0_BASE + 0x00u)
#define UART_STATE REG(UART0_BASE + 0x04u)
#define UART_CTRL REG(UART0_BASE + 0x08u)
#define UART_BAUDDIV REG(UART0_BASE + 0x10u)
#define SYST_CSR REG(0xE000E010u)
#define SYST_RVR REG(0xE000E014u)
#define SYST_CVR REG(0xE000E018u)
#define SCB_ICSR REG(0xE000ED04u)

static volatile uint32_t g_wraps;
void port_uart_isr(void) {}
void port_systick_isr(void) { g_wraps++; }

static uint64_t ticks(void) {
    uint32_t w, v;
    __asm volatile("cpsid i" ::: "memory");
    w = g_wraps;
    v = SYST_CVR;
    if (SCB_ICSR & (1u << 26)) { w++; v = SYST_CVR; }
    __asm volatile("cpsie i" ::: "memory");
    return ((uint64_t)w << 24) + (uint64_t)(0x00FFFFFFu - v);
}

static void putch(char c) { while (UART_STATE & 1u) {} UART_DATA = (uint8_t)c; }
static void puts_(const char *s) { while (*s) putch(*s++); }
static void putu(uint64_t v) {
    char b[24];
    int n = 0;
    do { b[n++] = (char)('0' + v % 10u); v /= 10u; } while (v);
    while (n) putch(b[--n]);
}
static void puthex(uint8_t v) { const char *h = "0123456789abcdef"; putch(h[v >> 4]); putch(h[v & 15]); }

uint64_t g_op_ticks[TINYKWS_NUM_OPS + 1];
static uint64_t g_last;
static int g_profiling;
void profile_hook(int i) {
    uint64_t t = ticks();
    if (g_profiling && i > 0) g_op_ticks[i - 1] += t - g_last;
    g_last = ticks();
}

static void semihost_exit(void) {
    register uint32_t r0 __asm("r0") = 0x18u;
    register uint32_t r1 __asm("r1") = 0x20026u;
    __asm volatile("bkpt 0xab" : : "r"(r0), "r"(r1) : "memory");
}

int main(void) {
    static int8_t out[TINYKWS_OUTPUT_SIZE];
    UART_BAUDDIV = 16u;
    UART_CTRL = 1u;
    SYST_RVR = 0x00FFFFFFu; SYST_CVR = 0u; SYST_CSR = 7u;
    __asm volatile("cpsie i" ::: "memory");
    for (int n = 0; n < PROFILE_N_INPUTS; ++n) {
        int rc = tinykws_invoke(profile_inputs[n], out);
        puts_("o ");
        putu((uint64_t)rc);
        putch(' ');
        for (int i = 0; i < TINYKWS_OUTPUT_SIZE; ++i) puthex((uint8_t)out[i]);
        putch('\n');
    }
    (void)tinykws_invoke(profile_inputs[0], out); /* warm-up */
    g_profiling = 1;
    uint64_t t0 = ticks();
    for (int r = 0; r < PROFILE_RUNS; ++r) (void)tinykws_invoke(profile_inputs[r % PROFILE_N_INPUTS], out);
    uint64_t t1 = ticks();
    g_profiling = 0;
    puts_("t "); putu(t1 - t0); putch('\n');
    for (int i = 0; i < TINYKWS_NUM_OPS; ++i) { puts_("p "); putu(g_op_ticks[i]); putch('\n'); }
    puts_("done\n");
    semihost_exit();
    for (;;) {}
}
"""


@dataclass
class QemuProfile:
    """Outputs and emulated-instruction figures of one model on one emulated board."""

    board: str
    outputs: np.ndarray  # [n_inputs, output_size] int8
    instructions_per_inference: float  # mean over the timed invokes (hooks included)
    op_instructions: list[float]  # per op, mean per inference (hooks excluded)
    ops: list[str]
    text_bytes: int  # code + const data of the image (includes this small harness)
    runs: int


def _board(name: str) -> dict:
    return tomllib.loads(resources.find_board(name).read_text())


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        pkgs = "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
        raise missing_tool(name, f"sudo apt-get install {pkgs}")
    return exe


def profile_on_qemu(
    tflite: bytes | str | Path,
    inputs: np.ndarray,
    workdir: str | Path,
    board: str = "qemu-m4",
    portable: bool = False,
    runs: int = 10,
    timeout_s: float = 300.0,
    extra_cflags: list[str] | None = None,
    **compile_options: bool,
) -> QemuProfile:
    """Compile, build for `board`, run `inputs` on QEMU; return outputs and instruction counts."""
    prof = _board(board)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    res: CompileResult = compile_model(tflite, workdir / "model", **compile_options)
    n_in = int(np.prod(res.input_shape))
    xs = np.asarray(inputs, dtype=np.int8).reshape(-1, n_in)
    rows = ",\n".join("{" + ",".join(str(int(v)) for v in x) + "}" for x in xs)
    (workdir / "profile_inputs.h").write_text(
        f"#define PROFILE_N_INPUTS {len(xs)}\n#define PROFILE_RUNS {runs}\n"
        f"static const int8_t profile_inputs[{len(xs)}][{n_in}] = {{\n{rows}\n}};\n"
    )
    (workdir / "main.c").write_text(_MAIN_C)
    build = prof["build"]
    defines = [f"-D{k}={v}" for k, v in build.get("defines", {}).items()]
    cc = _tool("arm-none-eabi-gcc")
    elf = workdir / "profile.elf"
    cmd = [
        cc,
        *build["cflags"],
        "-std=c99",
        "-O2",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-ffunction-sections",
        "-fdata-sections",
        "-nostartfiles",
        "-specs=nano.specs",
        "-specs=nosys.specs",
        *defines,
        "-DTINYKWS_OP_HOOK(i)=profile_hook(i)",
        "-include",
        str(workdir / "hookdecl.h"),
        *(["-DTINYKWS_PORTABLE"] if portable else []),
        *(extra_cflags or []),
        f"-I{KERNEL_DIR}",
        f"-I{workdir / 'model'}",
        f"-I{workdir}",
        str(workdir / "main.c"),
        str(PORT_DIR / "startup.c"),
        str(workdir / "model" / "tinykws_model.c"),
        *map(str, sorted(KERNEL_DIR.glob("*.c"))),
        f"-L{PORT_DIR}",
        f"-T{PORT_DIR / build['linker_script']}",
        "-Wl,--gc-sections",
        "-o",
        str(elf),
    ]
    (workdir / "hookdecl.h").write_text("void profile_hook(int i);\n")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise TinyKWSError(f"{board}: cross build failed:\n{proc.stderr[-4000:]}")
    size = subprocess.run([_tool("arm-none-eabi-size"), str(elf)], capture_output=True, text=True).stdout
    text_bytes = int(size.splitlines()[1].split()[0]) if size else 0
    qemu = [
        _tool("qemu-system-arm"),
        "-M",
        prof["flash"]["machine"],
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "stdio",
        "-semihosting-config",
        "enable=on,target=native",
        "-icount",
        "shift=0",
        "-kernel",
        str(elf),
    ]
    try:
        run = subprocess.run(qemu, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise TinyKWSError(f"{board}: QEMU did not finish within {timeout_s:.0f} s") from exc
    lines = run.stdout.splitlines()
    if "done" not in lines:
        raise TinyKWSError(
            f"{board}: QEMU run incomplete (rc {run.returncode}): {run.stdout[-500:]} {run.stderr[-500:]}"
        )
    outs, op_ticks, total = [], [], 0
    for ln in lines:
        if ln.startswith("o "):
            _, rc, hexs = ln.split()
            if rc != "0":
                raise TinyKWSError(f"{board}: tinykws_invoke returned {rc}")
            outs.append(np.frombuffer(bytes.fromhex(hexs), np.int8))
        elif ln.startswith("p "):
            op_ticks.append(int(ln.split()[1]))
        elif ln.startswith("t "):
            total = int(ln.split()[1])
    per_tick = 1e9 / float(str(build["defines"]["TINYKWS_SYSTICK_HZ"]).rstrip("uU"))
    return QemuProfile(
        board=board,
        outputs=np.stack(outs),
        instructions_per_inference=total * per_tick / runs,
        op_instructions=[t * per_tick / runs for t in op_ticks],
        ops=res.ops,
        text_bytes=text_bytes,
        runs=runs,
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m tinykws.export._qemu_profile MODEL [--board B] [--n N] [--portable]`: per-op table."""
    import argparse
    import tempfile

    from tinykws.models.tflm import TFLMRunner

    ap = argparse.ArgumentParser(prog="python -m tinykws.export._qemu_profile", description=main.__doc__)
    ap.add_argument("model", type=Path)
    ap.add_argument("--board", default="qemu-m4")
    ap.add_argument("--n", type=int, default=20, help="seeded random inputs checked against tflite_micro")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--portable", action="store_true", help="build with -DTINYKWS_PORTABLE")
    args = ap.parse_args(argv)
    oracle = TFLMRunner(args.model)
    n_in = int(np.prod(oracle.input_shape))
    xs = np.random.default_rng(args.seed).integers(-128, 128, size=(args.n, n_in), dtype=np.int8)
    with tempfile.TemporaryDirectory() as tmp:
        prof = profile_on_qemu(args.model, xs, tmp, board=args.board, portable=args.portable)
    same = int((prof.outputs == oracle.invoke_batch(xs)).all(axis=1).sum())
    print(f"{args.model.name} on {args.board} ({'portable' if args.portable else 'default'} kernels)")
    print(f"bit-exact with tflite_micro: {same}/{len(xs)}")
    n_instr = prof.instructions_per_inference
    print(f"emulated instructions per inference: {n_instr:,.0f} (mean of {prof.runs})")
    print(f"{'op':<4} {'kind':<20} {'instructions':>14} {'share':>7}")
    for i, (kind, n) in enumerate(zip(prof.ops, prof.op_instructions, strict=True)):
        print(f"{i:<4} {kind:<20} {n:>14,.0f} {n / prof.instructions_per_inference:>7.1%}")
    return 0 if same == len(xs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
