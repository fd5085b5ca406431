"""Instruction mix per op from a QEMU execution trace, and a Cortex-M4 cycle ESTIMATE from it.

QEMU has no cycle model: `-icount shift=0` counts instructions, and those are the project's
emulated figures. To say more about a real Cortex-M4 this module records what was executed and
prices it with a small per-instruction cost table. The result is an *estimate*, never a
measurement: it ignores flash wait states, bus contention, pipelining of neighbouring loads, and
whether a conditional (IT-block) instruction passed its condition.

Method:
1. The model is built with the QEMU profile harness (`_qemu_profile`, the same compiler flags and
   kernels) for one input and run once more under QEMU with `-d in_asm,exec,nochain`: every
   translated block is logged once with its disassembly, and every execution of a block is logged
   in order (chaining off, so none is skipped).
2. Each executed block contributes its instructions. A block that ends in a branch and whose
   successor does not start right after it counts that branch as taken.
3. Instructions between two calls of the harness' per-op hook belong to that op (the hook's own
   instructions are left out); the last of the harness' invocations is the one reported.

Cost table (cycles), picked from the Cortex-M4 Technical Reference Manual's figures and
simplified; `COSTS` below is the one source of it:
- single loads (LDR, LDRB, LDRH, LDRSB, LDRSH, LDREX): 2;
- multiple loads (LDRD, LDM, POP) of N registers: 1 + N;
- single stores: 1; multiple stores (STRD, STM, PUSH) of N registers: 1 + N;
- branches taken (B, BL, BX, BLX, CBZ/CBNZ, a load or POP into PC): 3, i.e. 1 + a pipeline refill
  of 2 (the manual gives 1 to 3 for the refill; 2 is the middle); TBB/TBH: 4 (a load, then the
  refill); branches not taken: 1;
- SDIV/UDIV: 7 (the manual gives 2 to 12, depending on the operands);
- everything else, including every multiply and multiply-accumulate (MUL, MLA, SMLAD, SMLABB,
  SMMLAR, SMULL, ...), SXTB16, SSAT and the IT instruction: 1.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinykws.errors import TinyKWSError
from tinykws.export._qemu_profile import _board, _tool, profile_on_qemu

TAKEN_BRANCH = 3  # 1 + a pipeline refill of 2 cycles
TABLE_BRANCH = 4  # TBB/TBH: load, then refill
NOT_TAKEN = 1
DIVIDE = 7
COSTS = {
    "load": 2,
    "store": 1,
    "other": 1,
}  # multiple loads/stores: 1 + N registers (see module docstring)

_LINE = re.compile(r"^0x([0-9a-f]+):\s+([0-9a-f]{4})(?: ([0-9a-f]{4}))?\s+(\S+)\s*(.*)$")
_TRACE = re.compile(r"^Trace \d+: (0x[0-9a-f]+) \[[0-9a-f]+/([0-9a-f]+)/")
_COND = ("eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al")


def _base(mnem: str) -> str:
    """Mnemonic without the .w/.n width suffix."""
    return mnem.split(".")[0]


def _strip_cond(m: str, stems: tuple[str, ...]) -> str | None:
    """The stem of `m` if `m` is one of `stems`, optionally followed by a condition code."""
    for s in stems:
        if m == s or (m.startswith(s) and m[len(s) :] in _COND):
            return s
    return None


def _nregs(ops: str) -> int:
    """Registers in a register list such as {r4, r5, lr} (ranges as QEMU prints them: listed)."""
    inner = ops[ops.index("{") + 1 : ops.index("}")]
    return len([r for r in inner.split(",") if r.strip()])


@dataclass
class _Insn:
    addr: int
    size: int
    kind: str  # load, loadm, store, storem, branch, tbb, div, other
    cost: int  # cycles without the taken-branch refill
    regs: int = 0
    writes_pc: bool = False


def classify(mnem: str, ops: str) -> _Insn:
    """Cost class of one disassembled instruction (address and size filled in by the caller)."""
    m = _base(mnem)
    writes_pc = False
    if m in ("pop", "ldm", "ldmia", "ldmfd", "ldmdb", "ldmea"):
        n = _nregs(ops)
        writes_pc = "pc" in ops[ops.index("{") :]
        return _Insn(0, 0, "loadm", 1 + n, n, writes_pc)
    if m in ("push", "stm", "stmia", "stmea", "stmdb", "stmfd"):
        n = _nregs(ops)
        return _Insn(0, 0, "storem", 1 + n, n)
    if _strip_cond(m, ("ldrd",)):
        return _Insn(0, 0, "loadm", 3, 2)
    if _strip_cond(m, ("strd",)):
        return _Insn(0, 0, "storem", 3, 2)
    if _strip_cond(m, ("tbb", "tbh")):
        return _Insn(0, 0, "tbb", TABLE_BRANCH, 0, True)
    ld = _strip_cond(m, ("ldrex", "ldrsb", "ldrsh", "ldrb", "ldrh", "ldr", "ldrbt", "ldrht", "ldrt"))
    if ld:
        writes_pc = ops.split(",")[0].strip() == "pc"
        return _Insn(0, 0, "load", COSTS["load"], 1, writes_pc)
    if _strip_cond(m, ("strex", "strb", "strh", "str", "strbt", "strht", "strt")):
        return _Insn(0, 0, "store", COSTS["store"], 1)
    if _strip_cond(m, ("b", "bl", "bx", "blx")) or m in ("cbz", "cbnz"):
        return _Insn(0, 0, "branch", NOT_TAKEN, 0, True)
    if _strip_cond(m, ("sdiv", "udiv")):
        return _Insn(0, 0, "div", DIVIDE)
    if ops.split(",")[0].strip() == "pc":  # mov pc, add pc, ...
        return _Insn(0, 0, "other", COSTS["other"], 0, True)
    return _Insn(0, 0, "other", COSTS["other"])


@dataclass
class OpMix:
    """What one op executed, and its estimated Cortex-M4 cycles."""

    op: str
    instructions: int = 0
    cycles_estimate: int = 0
    kinds: Counter = field(default_factory=Counter)  # instructions per cost class
    functions: Counter = field(default_factory=Counter)  # instructions per function (symbol)
    taken_branches: int = 0


@dataclass
class TraceEstimate:
    board: str
    ops: list[OpMix]
    instructions: int  # whole invocation, from the trace (hooks excluded)
    cycles_estimate: int


def _symbol(elf: Path, name: str) -> int:
    out = subprocess.run([_tool("arm-none-eabi-nm"), str(elf)], capture_output=True, text=True).stdout
    for ln in out.splitlines():
        parts = ln.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16) & ~1
    raise TinyKWSError(f"{elf}: no symbol {name}")


def _symbol_end(elf: Path, name: str) -> tuple[int, int]:
    out = subprocess.run([_tool("arm-none-eabi-nm"), "-S", str(elf)], capture_output=True, text=True).stdout
    for ln in out.splitlines():
        parts = ln.split()
        if len(parts) == 4 and parts[3] == name:
            a = int(parts[0], 16) & ~1
            return a, a + int(parts[1], 16)
    raise TinyKWSError(f"{elf}: no symbol {name}")


def estimate_cycles_on_qemu(
    tflite: bytes | str | Path,
    workdir: str | Path,
    board: str = "qemu-m4",
    x: np.ndarray | None = None,
    timeout_s: float = 600.0,
) -> TraceEstimate:
    """Instruction mix per op of one inference on `board` (QEMU), priced with the M4 cost table."""
    workdir = Path(workdir)
    if x is None:
        from tinykws.models.tflm import TFLMRunner

        n_in = int(np.prod(TFLMRunner(tflite).input_shape))
        x = np.random.default_rng(0).integers(-128, 128, size=(1, n_in), dtype=np.int8)
    prof = profile_on_qemu(tflite, np.asarray(x).reshape(1, -1), workdir, board=board, runs=1)
    elf = workdir / "profile.elf"
    hook_lo, hook_hi = _symbol_end(elf, "profile_hook")
    machine = _board(board)["flash"]["machine"]
    log = workdir / "trace.log"
    cmd = [
        _tool("qemu-system-arm"), "-M", machine, "-nographic", "-monitor", "none", "-serial", "null",
        "-semihosting-config", "enable=on,target=native", "-icount", "shift=0", "-kernel", str(elf),
        "-d", "in_asm,exec,nochain", "-D", str(log),
    ]  # fmt: skip
    try:
        subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise TinyKWSError(f"{board}: traced QEMU run did not finish within {timeout_s:.0f} s") from exc
    n_hooks = len(prof.ops) + 1  # TINYKWS_OP_HOOK(0..n_ops)
    try:
        per_call = _parse(log, hook_lo, hook_hi, n_hooks)
    finally:
        log.unlink(missing_ok=True)
    if len(per_call) < 1:
        raise TinyKWSError(f"{board}: the trace holds no complete invocation")
    last = per_call[-1]
    mixes = []
    for name, seg in zip(prof.ops, last, strict=True):
        seg.op = name
        mixes.append(seg)
    return TraceEstimate(
        board=board,
        ops=mixes,
        instructions=sum(m.instructions for m in mixes),
        cycles_estimate=sum(m.cycles_estimate for m in mixes),
    )


def _parse(log: Path, hook_lo: int, hook_hi: int, n_hooks: int) -> list[list[OpMix]]:
    """Per invocation, per op: the mix of the instructions executed between consecutive hooks."""
    blocks: dict[str, list[_Insn]] = {}
    pending: list[_Insn] | None = None
    calls: list[list[OpMix]] = []
    cur: list[OpMix] | None = None
    seg: OpMix | None = None
    hooks = 0
    prev: list[_Insn] | None = None
    with open(log, errors="replace") as fh:
        for ln in fh:
            if ln.startswith("0x"):
                mt = _LINE.match(ln)
                if mt and pending is not None:
                    ins = classify(mt.group(4), mt.group(5))
                    ins.addr = int(mt.group(1), 16)
                    ins.size = 4 if mt.group(3) else 2
                    pending.append(ins)
                continue
            if ln.startswith("IN:"):
                pending = []
                continue
            if not ln.startswith("Trace"):
                continue
            mt = _TRACE.match(ln)
            if not mt:
                continue
            host, pc = mt.group(1), int(mt.group(2), 16)
            func = ln.rsplit(None, 1)[-1]
            if pending is not None:
                if pending:
                    blocks[host] = pending
                pending = None
            block = blocks.get(host)
            if block is None or block[0].addr != pc:
                prev = None
                continue
            # the previous block's last instruction: taken if this block does not follow it
            if prev is not None and seg is not None:
                last = prev[-1]
                if last.writes_pc and pc != last.addr + last.size:
                    seg.taken_branches += 1
                    # the refill; TBB/TBH are priced as taken already
                    seg.cycles_estimate += 0 if last.kind == "tbb" else TAKEN_BRANCH - NOT_TAKEN
            prev = block
            if pc == hook_lo:
                hooks += 1
                k = (hooks - 1) % n_hooks
                if k == 0:
                    cur = []
                if cur is not None and k < n_hooks - 1:
                    seg = OpMix(op="")
                    cur.append(seg)
                elif cur is not None:
                    calls.append(cur)
                    cur, seg = None, None
                continue
            if seg is None or hook_lo <= pc < hook_hi:
                if hook_lo <= pc < hook_hi:
                    prev = None  # the hook's own branches are not the op's
                continue
            seg.functions[func] += len(block)
            for ins in block:
                seg.instructions += 1
                seg.cycles_estimate += ins.cost
                seg.kinds[ins.kind] += 1
    return calls
