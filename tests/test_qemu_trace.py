"""The Cortex-M4 cycle ESTIMATE from a QEMU execution trace (tinykws.export._qemu_trace): the cost
classes of instructions as QEMU disassembles them, and, on qemu-m4, that the traced instruction
count per op agrees with the emulated count that SysTick measures."""

from __future__ import annotations

import numpy as np
import pytest
from needs import QEMU

from tinykws.export._qemu_trace import TAKEN_BRANCH, classify


@pytest.mark.parametrize(
    "mnem, ops, kind, cost, writes_pc",
    [
        ("ldr.w", "r7, [lr], #4", "load", 2, False),
        ("ldrb", "r9, [r6], #1", "load", 2, False),
        ("ldrsb.w", "r0, [r1, #1]!", "load", 2, False),
        ("ldr", "pc, [sp], #4", "load", 2, True),
        ("ldrd", "r7, r8, [r6, #4]", "loadm", 3, False),
        ("ldm.w", "ip!, {r8, sb, sl, fp}", "loadm", 5, False),
        ("pop.w", "{r4, r5, r6, pc}", "loadm", 5, True),
        ("str", "r6, [sp, #0xc]", "store", 1, False),
        ("strb.w", "r6, [sl, fp]", "store", 1, False),
        ("strd", "r5, r2, [ip, #-0x30]", "storem", 3, False),
        ("push.w", "{r4, r5, r6, r7, r8, sb, sl, fp, lr}", "storem", 10, False),
        ("smlad", "r0, r6, r8, r0", "other", 1, False),
        ("smmlar", "r6, r0, r7, r8", "other", 1, False),
        ("sxtb16", "r7, r7, ror #8", "other", 1, False),
        ("bne", "#0x9e6", "branch", 1, True),
        ("bl", "#0x27b4", "branch", 1, True),
        ("cbz", "r6, #0xa40", "branch", 1, True),
        ("bx", "lr", "branch", 1, True),
        ("tbh", "[pc, r6, lsl #1]", "tbb", 4, True),
        ("sdiv", "r0, r1, r2", "div", 7, False),
        ("mov", "pc, lr", "other", 1, True),
        ("mov", "r1, r0", "other", 1, False),
    ],
)
def test_cost_classes(mnem, ops, kind, cost, writes_pc):
    ins = classify(mnem, ops)
    assert (ins.kind, ins.cost, ins.writes_pc) == (kind, cost, writes_pc)


def test_taken_branch_price():
    assert TAKEN_BRANCH == 3  # 1 + a pipeline refill of 2 (the manual: 1 to 3)


def _needs_qemu(fn):
    for mark in QEMU:
        fn = mark(fn)
    return fn


@_needs_qemu
def test_trace_agrees_with_emulated_count(tmp_path):
    from test_compiler_ops import _convert

    from tinykws.export._qemu_profile import profile_on_qemu
    from tinykws.export._qemu_trace import estimate_cycles_on_qemu

    def model(L, x):
        y = L.Conv2D(16, 3, padding="same", activation="relu")(x)
        y = L.DepthwiseConv2D(3, padding="same", activation="relu")(y)
        return L.Conv2D(8, 1, activation="relu")(y)

    tfl = _convert(model, (9, 7, 4), seed=31, offset=0.2)
    x = np.random.default_rng(0).integers(-128, 128, size=(1, 9 * 7 * 4), dtype=np.int8)
    est = estimate_cycles_on_qemu(tfl, tmp_path / "t", board="qemu-m4", x=x)
    prof = profile_on_qemu(tfl, x, tmp_path / "p", board="qemu-m4", runs=10)
    assert [m.op for m in est.ops] == prof.ops
    for m, emulated in zip(est.ops, prof.op_instructions, strict=True):
        # SysTick counts in steps of 40 instructions and includes part of the hook around the op
        assert abs(m.instructions - emulated) <= 0.01 * emulated + 200, (m.op, m.instructions, emulated)
        assert m.instructions < m.cycles_estimate < 3 * m.instructions
        assert sum(m.kinds.values()) == m.instructions
    assert est.cycles_estimate == sum(m.cycles_estimate for m in est.ops)
