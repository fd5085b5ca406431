"""The graph compiler: an int8 `.tflite` becomes plain C that runs without an interpreter.

Why a compiler rather than TFLM on the device: the graph of a keyword model is fixed, so the
interpreter's flatbuffer parsing, op resolver, tensor bookkeeping and per-op `Prepare` work can be
done once, here, on the host. What is left on the device is a straight sequence of kernel calls
on one static arena, with weights, folded biases and requantization constants in flash.

The output is `tinykws_model.h` (the interface the firmware relies on, see docs/compiler.md) and
`tinykws_model.c`, which includes the kernels of `firmware/kernels/`. Every constant is derived
exactly as TFLM derives it (QuantizeMultiplier in double precision, CalculateActivationRange in
float, ComputePadding), so results are bit-exact with the `tflite_micro` interpreter.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinykws import resources
from tinykws.errors import TinyKWSError
from tinykws.fsutil import atomic_write_text
from tinykws.models.modelfile import read_tflite

KERNEL_DIR = resources.firmware_dir() / "kernels"

SUPPORTED_OPS = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "AVERAGE_POOL_2D",
    "MAX_POOL_2D",
    "RESHAPE",
    "SQUEEZE",
    "SOFTMAX",
    "ADD",
    "MEAN",
    "QUANTIZE",
    "DEQUANTIZE",
)
_SUPPORTED_TEXT = ", ".join(SUPPORTED_OPS) + " (QUANTIZE/DEQUANTIZE only at the model's input/output)"

ARENA_ALIGN = 16

# tflite TensorType values used here
_FLOAT32, _INT32, _INT8, _INT64 = 0, 2, 9, 4
_TYPE_NAMES = {0: "FLOAT32", 1: "FLOAT16", 2: "INT32", 3: "UINT8", 4: "INT64", 7: "INT16", 9: "INT8"}


@dataclass
class CompileResult:
    """What `compile_model` produced; the firmware build and the bench read these figures."""

    arena_bytes: int
    ops: list[str]
    sources: list[Path]
    header: Path
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    weights_bytes: int
    kernel_dir: Path = KERNEL_DIR
    macs: int = 0
    op_macs: list[int] = field(default_factory=list)


@dataclass
class _Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: int
    data: np.ndarray | None
    scales: np.ndarray
    zero_points: np.ndarray
    qdim: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def scale(self) -> float:
        return float(self.scales[0]) if len(self.scales) else 0.0

    @property
    def zp(self) -> int:
        return int(self.zero_points[0]) if len(self.zero_points) else 0


@dataclass
class _Op:
    kind: str
    inputs: list[int]
    outputs: list[int]
    options: dict[str, float | int | bool] | None


@dataclass
class _Step:
    """One kernel call in the generated code."""

    kind: str
    reads: list[int]  # activation tensor ids read
    write: int  # activation tensor id written
    call: str  # C call, with {in0} {in1} {out} {scratch} placeholders
    decls: list[str]  # const declarations
    const_bytes: int
    scratch: int = 0
    macs: int = 0


# --------------------------------------------------------------------------- TFLM arithmetic


def _tflite_round(x: float) -> int:
    """std::round: half away from zero (Python's round() is half-to-even)."""
    if not math.isfinite(x) or abs(x) >= 2**62:
        raise TinyKWSError(f"quantization parameters out of range (a rescale of {x})")
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def quantize_multiplier(d: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier (double rounding build): d = m * 2^(shift - 31)."""
    if d == 0.0:
        return 0, 0
    q, shift = math.frexp(d)
    q_fixed = _tflite_round(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    return int(q_fixed), int(shift)


def activation_range(act: int, scale: float, zp: int) -> tuple[int, int]:
    """TFLM CalculateActivationRangeQuantized for int8 (float arithmetic as in C)."""
    s = np.float32(scale)

    def q(f: float) -> int:
        return zp + _tflite_round(float(np.float32(f) / s))

    lo, hi = -128, 127
    if act == 0:  # NONE
        return lo, hi
    if act == 1:  # RELU
        return max(lo, q(0.0)), hi
    if act == 2:  # RELU_N1_TO_1
        return max(lo, q(-1.0)), min(hi, q(1.0))
    if act == 3:  # RELU6
        return max(lo, q(0.0)), min(hi, q(6.0))
    raise TinyKWSError(f"fused activation {act}: not supported (NONE, RELU, RELU_N1_TO_1, RELU6 are)")


def conv_scratch_bytes(kh: int, kw: int, ic: int) -> int:
    """TK_CONV_SCRATCH_BYTES of tinykws_kernels.h: six int16 im2col columns and an int8 patch."""
    return 13 * ((kh * kw * ic + 3) // 4 * 4) + 8


def dw_scratch_bytes(ic: int) -> int:
    """TK_DW_SCRATCH_BYTES of tinykws_kernels.h: one row of zero-point bytes."""
    return ic + 8


def _rq_fast_ok(acc_bound: np.ndarray, shifts: list[int], out_zp: int) -> bool:
    """May the DSP kernels requantize with SMMULR(2*acc, m)? (see firmware/kernels/tk_dsp.h)

    Needs, per channel: a right shift e = -shift >= 1, |2*acc| < 2^31, and the rounding constant
    2^(e-1) + zp*2^e plus |y| <= |acc| fitting in int32.
    """
    for bound, sh in zip(acc_bound.tolist(), shifts, strict=True):
        e = -sh
        if e < 1 or e > 30 or 2 * bound >= 2**31:
            return False
        if bound + abs((1 << (e - 1)) + out_zp * (1 << e)) + 1 >= 2**31:
            return False
    return True


def _out_size(padding: int, in_size: int, k: int, stride: int) -> int:
    return (in_size + stride - 1) // stride if padding == 0 else (in_size - k + stride) // stride


def _pad(stride: int, in_size: int, k: int, out_size: int) -> int:
    total = (out_size - 1) * stride + k - in_size
    return max(total, 0) // 2


# --------------------------------------------------------------------------- flatbuffer reading


def _read_model(src: bytes | str | Path, where: str) -> tuple[list[_Tensor], list[_Op], list[int], list[int]]:
    """The graph of a model, through the one verified reader (tinykws.models.modelfile).

    Everything structural (offsets, sizes, indices, quantization array lengths, the order of the
    graph) is checked there; what is left here are the checks of what the kernels can run.
    """
    model = read_tflite(src, where)
    if len(model.subgraphs) != 1:
        raise TinyKWSError(
            f"{where}: {len(model.subgraphs)} subgraphs; only single-subgraph models are supported"
        )
    sg = model.main
    np_types = {_INT8: np.int8, _INT32: np.int32, _FLOAT32: np.float32, _INT64: np.int64}
    tensors: list[_Tensor] = []
    for t in sg.tensors:
        data = None
        dt = np_types.get(t.dtype)
        if t.data is not None and dt is not None:
            data = np.frombuffer(t.data, dtype=dt).copy().reshape(t.shape)
        tensors.append(_Tensor(t.index, t.name, t.shape, t.dtype, data, t.scales, t.zero_points, t.qdim))
    ops = [_Op(op.kind, list(op.inputs), list(op.outputs), op.options) for op in sg.operators]
    return tensors, ops, list(sg.inputs), list(sg.outputs)


# --------------------------------------------------------------------------- C emission helpers


def _c_array(ctype: str, name: str, values: np.ndarray, per_line: int = 24) -> str:
    vals = [str(int(v)) for v in np.asarray(values).reshape(-1)]
    if ctype == "int32_t":
        vals = [v if int(v) != -(2**31) else "(-2147483647 - 1)" for v in vals]
    lines = [", ".join(vals[i : i + per_line]) for i in range(0, len(vals), per_line)]
    body = ",\n    ".join(lines) if lines else "0"
    return f"static const {ctype} {name}[{max(len(vals), 1)}] = {{\n    {body}\n}};\n"


def _int16_words(v: np.ndarray) -> np.ndarray:
    """int16 values packed two to an int32 word (little-endian): 4-byte aligned for LDRD."""
    h = np.asarray(v).astype(np.int16).view(np.uint16).astype(np.uint32).reshape(-1, 2)
    return (h[:, 0] | (h[:, 1] << 16)).astype(np.uint32).view(np.int32)


def _mve_conv_weights(wdata: np.ndarray) -> np.ndarray:
    """CONV_2D weights [oc][K] in the Helium kernel's w_layout 3: per block of four output
    channels, per chunk of sixteen taps (K zero-padded to a multiple of 16), the four channels'
    chunks one after the other; then the out_c % 4 last rows unchanged."""
    oc = wdata.shape[0]
    w = wdata.reshape(oc, -1)
    k = w.shape[1]
    k16 = -(-k // 16) * 16
    nb = oc // 4
    pad = np.zeros((nb * 4, k16), dtype=w.dtype)
    pad[:, :k] = w[: nb * 4]
    blocks = pad.reshape(nb, 4, k16 // 16, 16).transpose(0, 2, 1, 3).reshape(-1)
    return np.concatenate([blocks, w[nb * 4 :].reshape(-1)])


def _c_float(x: float) -> str:
    return f"{float(np.float32(x)):.9g}f"


class _Compiler:
    def __init__(self, src: bytes | str | Path, where: str):
        self.where = where
        self.tensors, self.ops, self.inputs, self.outputs = _read_model(src, where)
        self.steps: list[_Step] = []
        self.fast_requant = True
        self.dsp_layouts = True
        self.alias: dict[int, int] = {}  # tensor -> representative (reshape groups)

    # ---- helpers
    def t(self, i: int) -> _Tensor:
        return self.tensors[i]

    def rep(self, i: int) -> int:
        while i in self.alias:
            i = self.alias[i]
        return i

    def err(self, msg: str) -> TinyKWSError:
        return TinyKWSError(f"{self.where}: {msg}")

    def need_int8(self, op: _Op, idx: int, what: str) -> _Tensor:
        t = self.t(idx)
        if t.dtype != _INT8:
            raise self.err(
                f"{op.kind} {what} '{t.name}' is {_TYPE_NAMES.get(t.dtype, t.dtype)}; only int8 "
                "activations and weights are supported (quantize the model full-integer)"
            )
        if len(t.scales) == 0:
            raise self.err(f"{op.kind} {what} '{t.name}' has no quantization parameters")
        return t

    def weights(self, op: _Op, idx: int, channels: int) -> tuple[_Tensor, np.ndarray]:
        t = self.need_int8(op, idx, "weights")
        if t.data is None:
            raise self.err(
                f"{op.kind} weights '{t.name}' are not constant; only constant weights are supported"
            )
        if np.any(t.zero_points != 0):
            raise self.err(
                f"{op.kind} weights '{t.name}' have a nonzero zero point; int8 weights must be symmetric"
            )
        scales = t.scales.astype(np.float64)
        if len(scales) == 1:
            scales = np.repeat(scales, channels)
        elif len(scales) != channels:
            raise self.err(f"{op.kind} weights '{t.name}': {len(scales)} scales for {channels} channels")
        return t, scales

    def bias(self, op: _Op, pos: int, channels: int, product_scales: np.ndarray | None = None) -> np.ndarray:
        """The int32 bias; its scale must be input scale x weight scale, as TFLM checks
        (relative 1e-6) before it runs a model, so we refuse what it refuses."""
        if len(op.inputs) <= pos or op.inputs[pos] < 0:
            return np.zeros(channels, np.int64)
        t = self.t(op.inputs[pos])
        if t.dtype != _INT32 or t.data is None:
            raise self.err(
                f"{op.kind} bias '{t.name}' is {_TYPE_NAMES.get(t.dtype, t.dtype)}; "
                "only constant int32 biases are supported"
            )
        if t.size != channels:
            raise self.err(f"{op.kind} bias '{t.name}' has {t.size} values for {channels} output channels")
        if product_scales is not None and len(t.scales):
            bs = t.scales.astype(np.float64)
            if np.any(np.abs(product_scales - bs) > 1e-6 * np.minimum(product_scales, bs)):
                raise self.err(
                    f"{op.kind} bias '{t.name}': its scale is not input scale x weight scale "
                    "(tflite_micro refuses such a model too)"
                )
        return t.data.reshape(-1).astype(np.int64)

    def requant_arrays(self, sid: int, in_scale: float, w_scales: np.ndarray, out_scale: float):
        mults, shifts = [], []
        for ws in w_scales:
            m, s = quantize_multiplier(float(in_scale) * float(ws) / float(out_scale))
            mults.append(m)
            shifts.append(s)
        decls = [
            _c_array("int32_t", f"op{sid}_mult", np.array(mults)),
            _c_array("int8_t", f"op{sid}_shift", np.array(shifts)),
        ]
        self._last_mults = mults
        return decls, 5 * len(mults), shifts

    # ---- what the kernels need of each operator
    def check_ops(self) -> None:
        """Arity, ranks and parameters of every supported operator, before anything reads them.

        The reader has checked indices and sizes; these are the facts the lowering code relies
        on (a weight of rank 4, a stride of at least 1, no empty tensor), so a model that breaks
        them is refused by name instead of failing inside the lowering.
        """
        # (min inputs, max inputs, required inputs) per op; outputs are always exactly one
        arity = {
            "CONV_2D": (2, 3, 2),
            "DEPTHWISE_CONV_2D": (2, 3, 2),
            "FULLY_CONNECTED": (2, 3, 2),
            "AVERAGE_POOL_2D": (1, 1, 1),
            "MAX_POOL_2D": (1, 1, 1),
            "RESHAPE": (1, 2, 1),
            "SQUEEZE": (1, 1, 1),
            "SOFTMAX": (1, 1, 1),
            "ADD": (2, 2, 2),
            "MEAN": (2, 2, 2),
            "QUANTIZE": (1, 1, 1),
            "DEQUANTIZE": (1, 1, 1),
        }
        ranks = {
            "CONV_2D": (4, 4),
            "DEPTHWISE_CONV_2D": (4, 4),
            "FULLY_CONNECTED": (None, 2),
            "AVERAGE_POOL_2D": (4,),
            "MAX_POOL_2D": (4,),
        }
        for i, op in enumerate(self.ops):
            if op.kind not in arity:
                continue
            lo, hi, req = arity[op.kind]
            what = f"operator {i} ({op.kind})"
            if not lo <= len(op.inputs) <= hi or len(op.outputs) != 1:
                raise self.err(
                    f"{what} has {len(op.inputs)} inputs and {len(op.outputs)} outputs; "
                    f"it takes {lo}{'' if lo == hi else f' to {hi}'} inputs and 1 output"
                )
            if any(ti < 0 for ti in op.inputs[:req]):
                raise self.err(f"{what}: a required input is missing (index -1)")
            for ti in [*op.inputs[:req], *op.outputs]:
                t = self.t(ti)
                if t.size == 0:
                    raise self.err(f"{what}: tensor '{t.name}' of shape {t.shape} has no elements")
            for ti, rank in zip(op.inputs, ranks.get(op.kind, ()), strict=False):
                t = self.t(ti)
                if rank is not None and len(t.shape) != rank:
                    raise self.err(f"{what}: tensor '{t.name}' has shape {t.shape}; rank {rank} is needed")
            if op.kind in ranks and ranks[op.kind][0] == 4 and len(self.t(op.outputs[0]).shape) != 4:
                raise self.err(f"{what}: output shape {self.t(op.outputs[0]).shape}; rank 4 is needed")
            if op.kind == "SOFTMAX" and not self.t(op.inputs[0]).shape:
                raise self.err(f"{what}: a scalar input; softmax needs at least one dimension")
            o = op.options or {}
            for key in ("stride_w", "stride_h", "filter_width", "filter_height"):
                if key in o and o[key] < 1:
                    raise self.err(f"{what}: {key} is {o[key]}; it must be at least 1")
            if "padding" in o and o["padding"] not in (0, 1):
                raise self.err(f"{what}: padding {o['padding']} is neither SAME (0) nor VALID (1)")
            if "beta" in o and not (math.isfinite(o["beta"]) and o["beta"] > 0):
                raise self.err(f"{what}: softmax beta {o['beta']} must be finite and positive")

    # ---- graph preparation
    def prepare(self) -> None:
        # Strip float edges: QUANTIZE right after a float input, DEQUANTIZE right before a float output.
        for pos, gi in enumerate(list(self.inputs)):
            if self.t(gi).dtype == _FLOAT32:
                users = [op for op in self.ops if gi in op.inputs]
                if (
                    len(users) == 1
                    and users[0].kind == "QUANTIZE"
                    and self.t(users[0].outputs[0]).dtype == _INT8
                ):
                    self.inputs[pos] = users[0].outputs[0]
                    self.ops.remove(users[0])
                else:
                    raise self.err(
                        f"input '{self.t(gi).name}' is float32 and not followed by a QUANTIZE to int8; "
                        "only full-integer (int8) models are supported"
                    )
        for pos, go in enumerate(list(self.outputs)):
            if self.t(go).dtype == _FLOAT32:
                prods = [op for op in self.ops if go in op.outputs]
                if (
                    len(prods) == 1
                    and prods[0].kind == "DEQUANTIZE"
                    and self.t(prods[0].inputs[0]).dtype == _INT8
                ):
                    self.outputs[pos] = prods[0].inputs[0]
                    self.ops.remove(prods[0])
                else:
                    raise self.err(
                        f"output '{self.t(go).name}' is float32 and not produced by a DEQUANTIZE from int8; "
                        "only full-integer (int8) models are supported"
                    )
        if len(self.inputs) != 1 or len(self.outputs) != 1:
            raise self.err(
                f"{len(self.inputs)} inputs and {len(self.outputs)} outputs; exactly one of each is supported"
            )
        unsupported = sorted({op.kind for op in self.ops if op.kind not in SUPPORTED_OPS})
        if unsupported:
            raise self.err(f"unsupported op(s) {', '.join(unsupported)}; supported ops: {_SUPPORTED_TEXT}")
        for gi in (self.inputs[0], self.outputs[0]):
            t = self.t(gi)
            if t.dtype != _INT8:
                raise self.err(
                    f"model input/output '{t.name}' is {_TYPE_NAMES.get(t.dtype, t.dtype)}; "
                    "only int8 is supported"
                )

    # ---- lowering
    def lower(self) -> None:
        for op in self.ops:
            fn = getattr(self, "_op_" + op.kind.lower(), None)
            if fn is None or op.kind in ("QUANTIZE", "DEQUANTIZE"):
                raise self.err(
                    f"{op.kind} inside the graph is not supported (only at the model's edges); "
                    f"supported ops: {_SUPPORTED_TEXT}"
                )
            fn(op)

    @staticmethod
    def _consts(sid: int) -> str:
        return f"op{sid}_w, op{sid}_b, op{sid}_mult, op{sid}_shift"

    def _sid(self) -> int:
        return len(self.steps)

    def _conv_like(self, op: _Op, depthwise: bool) -> None:
        o = op.options
        if o["dilation_h_factor"] != 1 or o["dilation_w_factor"] != 1:
            raise self.err(
                f"{op.kind} with dilation {o['dilation_h_factor']}x{o['dilation_w_factor']}; "
                "only dilation 1 is supported"
            )
        x = self.need_int8(op, op.inputs[0], "input")
        y = self.need_int8(op, op.outputs[0], "output")
        if len(x.shape) != 4 or x.shape[0] != 1:
            raise self.err(f"{op.kind} input shape {x.shape}; only NHWC with batch 1 is supported")
        _, ih, iw, ic = x.shape
        _, oh, ow, oc = y.shape
        wt = self.t(op.inputs[1])
        if depthwise:
            one, kh, kw, woc = wt.shape
            dm = oc // ic
            if one != 1 or woc != oc or dm * ic != oc:
                raise self.err(
                    f"{op.kind}: weights {wt.shape} do not match input {x.shape} / output {y.shape}"
                )
            if o["depth_multiplier"] != dm:
                # TFLM's kernel loops over the stated multiplier; the shapes say another
                raise self.err(
                    f"{op.kind}: depth multiplier {o['depth_multiplier']} does not match the shapes "
                    f"(input {x.shape}, output {y.shape})"
                )
        else:
            woc, kh, kw, wic = wt.shape
            dm = 1
            if wic != ic or woc != oc:
                raise self.err(
                    f"{op.kind}: grouped or mismatched convolution (weights {wt.shape}, "
                    f"input {x.shape}) is not supported"
                )
        wt, wscales = self.weights(op, op.inputs[1], oc)
        if wt.qdim != (3 if depthwise else 0) and len(wt.scales) > 1:
            raise self.err(f"{op.kind}: per-channel scales on dimension {wt.qdim} are not supported")
        wdata = wt.data
        if depthwise and ic == 1:
            # A depthwise convolution of one channel is a plain convolution with dm outputs
            # (TFLM micro_speech has one): weights [1,kh,kw,oc] -> [oc,kh,kw,1], conv kernels.
            wdata = wdata.reshape(kh, kw, oc).transpose(2, 0, 1).reshape(oc, kh, kw, 1)
            depthwise, dm = False, 1
        sh, sw, pad = o["stride_h"], o["stride_w"], o["padding"]
        if (_out_size(pad, ih, kh, sh), _out_size(pad, iw, kw, sw)) != (oh, ow):
            raise self.err(
                f"{op.kind}: output shape {y.shape} does not follow from the input, kernel and strides"
            )
        ph, pw = _pad(sh, ih, kh, oh), _pad(sw, iw, kw, ow)
        act_min, act_max = activation_range(o["fused_activation_function"], y.scale, y.zp)
        w = wdata.astype(np.int64)
        bias = self.bias(op, 2, oc, float(x.scale) * wscales)
        wsum = w.reshape(-1, oc).sum(axis=0) if depthwise else w.reshape(oc, -1).sum(axis=1)
        folded = bias - x.zp * wsum
        if np.any(np.abs(folded) >= 2**31):
            raise self.err(f"{op.kind}: bias out of int32 range after folding the input zero point")
        sid = self._sid()
        taps = kh * kw
        w_bytes = w.size
        dsp_kernel = not depthwise or (dm == 1 and ic % 4 == 0 and taps <= 64)  # else portable
        wabs = np.abs(w).reshape(-1, oc).sum(axis=0) if depthwise else np.abs(w).reshape(oc, -1).sum(axis=1)
        rq, rq_bytes, shifts = self.requant_arrays(sid, x.scale, wscales, y.scale)
        fast_ok = self.fast_requant and _rq_fast_ok(np.abs(folded) + 128 * wabs, shifts, y.zp)
        if (
            self.dsp_layouts
            and depthwise
            and dsp_kernel
            and fast_ok
            and (kh, kw, sh) == (3, 3, 1)
            and oh >= 2
            and (act_min, act_max) == (-128, 127)
        ):
            decls, w_bytes, rq_bytes = self._dw3_decls(sid, wdata, folded, shifts, rq, y.zp, ic)
            rq_fast, layout = f"OP{sid}_RQ_FAST", f"OP{sid}_W_LAYOUT"
            # the specialized entry links only the 3x3 kernel (DSP and, channels a multiple of
            # 8, Helium layouts); otherwise the general entry, which dispatches on w_layout
            fn = "tk_depthwise_conv3x3_s8" if ic % 8 == 0 else "tk_depthwise_conv_s8"
        else:
            decls, w_bytes, rq_bytes, rq_fast, layout = self._conv_decls(
                sid,
                wdata,
                folded,
                shifts,
                rq,
                rq_bytes,
                y.zp,
                depthwise,
                dsp_kernel,
                fast_ok,
                ic,
                taps,
                (act_min, act_max) == (-128, 127),
            )
            # specialized entry points link only the code paths of their form (tinykws_kernels.h)
            if depthwise:
                fn = "tk_depthwise_conv_s8"
            elif layout == "0":  # (Helium builds need w_layout 3 for the specialized entries)
                fn = "tk_conv_s8"
            elif (kh, kw, sh, sw, ph, pw) == (1, 1, 1, 1, 0, 0) and ic % 4 == 0:
                fn = "tk_conv_1x1_s8"
            elif ic % 4 != 0 and kw * ic == 4 and iw * ic >= 4:
                fn = "tk_conv_rows4_s8"
            else:
                fn = "tk_conv_s8"
        decls.append(
            f"static const tk_conv_params op{sid}_p = {{{ih}, {iw}, {ic}, {oh}, {ow}, {oc}, {kh}, {kw}, "
            f"{sh}, {sw}, {ph}, {pw}, {dm}, {x.zp}, {y.zp}, {act_min}, {act_max}, {rq_fast}, {layout}}};\n"
        )
        # scratch of the DSP kernels (TK_CONV_SCRATCH_BYTES / TK_DW_SCRATCH_BYTES in tinykws_kernels.h)
        scratch = dw_scratch_bytes(ic) if depthwise else conv_scratch_bytes(kh, kw, ic)
        call = (
            f"{fn}(&op{sid}_p, {{in0}}, (const int8_t *)op{sid}_w, op{sid}_b, op{sid}_mult, op{sid}_shift, "
            "{out}, {scratch});"
        )
        macs = oh * ow * oc * kh * kw * (1 if depthwise else ic)
        self.steps.append(
            _Step(
                op.kind,
                [op.inputs[0]],
                op.outputs[0],
                call,
                decls,
                w_bytes + 4 * oc + rq_bytes,
                scratch,
                macs,
            )
        )

    def _conv_decls(
        self,
        sid,
        wdata,
        folded,
        shifts,
        rq,
        rq_bytes,
        out_zp,
        depthwise,
        dsp_kernel,
        fast_ok,
        ic,
        taps,
        full_range,
    ):
        """Weights, biases and requantization arrays of a CONV_2D or a DEPTHWISE_CONV_2D (layouts 0, 1)."""
        w_bytes = wdata.size
        if self.dsp_layouts and depthwise and dsp_kernel:
            # The DSP depthwise kernel wants, per group of 4 channels and per tap, the weights as
            # int16 in SXTB16 order (channels 0,2,1,3): one LDRD per tap, no unpacking. Only DSP
            # builds carry this layout; w_layout in the params tells the kernel which it got.
            dsp = wdata.reshape(taps, ic // 4, 4)[:, :, [0, 2, 1, 3]].transpose(1, 0, 2).reshape(-1)
            # (Helium builds keep TFLite's layout: their kernel loads eight channels at a time.)
            wdecl = (
                "#if TK_USE_DSP && !TK_USE_MVE\n"
                + _c_array("int32_t", f"op{sid}_w", _int16_words(dsp))
                + f"#define OP{sid}_W_LAYOUT 1\n#else\n"
                + _c_array("int8_t", f"op{sid}_w", wdata.reshape(-1))
                + f"#define OP{sid}_W_LAYOUT 0\n#endif\n"
            )
            layout = f"OP{sid}_W_LAYOUT"
            w_bytes = 2 * wdata.size
        elif not depthwise and self.dsp_layouts and len(shifts) >= 4:
            # Helium builds: blocks of four output channels, their rows interleaved sixteen taps
            # at a time and zero-padded to a multiple of sixteen, so that one pointer feeds the
            # four VMLADAVA of a block and the tail needs no predicate on the weights; the
            # out_c % 4 last rows keep TFLite's layout (w_layout 3, conv_s8_mve.inc)
            wdecl = (
                "#if TK_USE_MVE\n"
                + _c_array("int8_t", f"op{sid}_w", _mve_conv_weights(wdata))
                + f"#define OP{sid}_W_LAYOUT 3\n#else\n"
                + _c_array("int8_t", f"op{sid}_w", wdata.reshape(-1))
                + f"#define OP{sid}_W_LAYOUT 0\n#endif\n"
            )
            layout = f"OP{sid}_W_LAYOUT"
        else:
            wdecl = _c_array("int8_t", f"op{sid}_w", wdata.reshape(-1))
            layout = "0"
        rq_fast = "0"
        if fast_ok and not depthwise and wdata.size // len(shifts) % 4 == 0 and full_range:
            # the DSP CONV_2D kernel's fused form (conv_s8_dsp.inc, rq_fast 2): one record
            # {2 * bias, m, rzp} per output channel, the right shift read off rzp's lowest set
            # bit; Helium builds get the pairs form, portable builds TFLM's constants
            pairs = self._fast_rq_pairs(shifts, out_zp)
            recs = np.concatenate([2 * np.asarray(folded).reshape(-1, 1), pairs], axis=1)
            decls = [
                wdecl,
                "#if TK_USE_DSP && !TK_USE_MVE\n"
                + f"static const int32_t op{sid}_b[1] = {{0}};\n"
                + _c_array("int32_t", f"op{sid}_mult", recs.reshape(-1))
                + f"static const int8_t op{sid}_shift[1] = {{0}};\n"
                + f"#define OP{sid}_RQ_FAST 2\n#elif TK_USE_DSP\n"
                + _c_array("int32_t", f"op{sid}_b", folded)
                + self._fast_rq_arrays(sid, shifts, out_zp)
                + f"#define OP{sid}_RQ_FAST 1\n#else\n"
                + _c_array("int32_t", f"op{sid}_b", folded)
                + "".join(rq)
                + f"#define OP{sid}_RQ_FAST 0\n#endif\n",
            ]
            return decls, w_bytes, rq_bytes + 4 * len(shifts), f"OP{sid}_RQ_FAST", layout
        decls = [wdecl, _c_array("int32_t", f"op{sid}_b", folded)]
        if fast_ok and (not depthwise or layout != "0"):
            # DSP builds get (multiplier, rounding + zero point) pairs and right shifts e = -shift,
            # the form of tk_out_fast() in tk_dsp.h; portable builds keep TFLM's (mult, shift).
            rq = [
                "#if TK_USE_DSP\n"
                + self._fast_rq_arrays(sid, shifts, out_zp)
                + f"#define OP{sid}_RQ_FAST 1\n#else\n"
                + "".join(rq)
                + f"#define OP{sid}_RQ_FAST 0\n#endif\n"
            ]
            rq_fast = f"OP{sid}_RQ_FAST"
            rq_bytes += 4 * len(shifts)
        decls += rq
        return decls, w_bytes, rq_bytes, rq_fast, layout

    def _fast_rq_pairs(self, shifts, out_zp) -> np.ndarray:
        es = [-sh for sh in shifts]
        mults = self._last_mults
        return np.array([[m, (1 << (e - 1)) + out_zp * (1 << e)] for m, e in zip(mults, es, strict=True)])

    def _fast_rq_arrays(self, sid, shifts, out_zp) -> str:
        pairs = self._fast_rq_pairs(shifts, out_zp)
        return _c_array("int32_t", f"op{sid}_mult", pairs.reshape(-1)) + _c_array(
            "int8_t", f"op{sid}_shift", np.array([-sh for sh in shifts])
        )

    def _dw3_decls(self, sid, wdata, folded, shifts, rq, out_zp, ic):
        """A 3x3 DEPTHWISE_CONV_2D for the DSP kernel's w_layout 2 (depthwise_conv_s8_dsp.inc):
        per group of four channels one record of 31 words: the doubled folded biases, channel 3's
        (m, rzp), the nine taps' doubled int16 weights in SXTB16 order (0,2 | 1,3), channels 0-2's
        (m, rzp) and the four right shifts as bytes. Helium builds get TFLite's layout and the
        pairs; portable builds TFLM's constants."""
        g = ic // 4
        w2 = (2 * wdata.astype(np.int64)).reshape(9, g, 4)[:, :, [0, 2, 1, 3]]
        w2 = w2.transpose(1, 0, 2)  # [group][tap][4]
        pairs = self._fast_rq_pairs(shifts, out_zp).reshape(g, 4, 2)
        es = np.array([-sh for sh in shifts], dtype=np.int64).reshape(g, 4)
        recs = []
        for k in range(g):
            bias2 = 2 * folded.reshape(g, 4)[k]
            wwords = _int16_words(w2[k].reshape(-1)).astype(np.int64)
            ebytes = int(sum(int(e) << (8 * i) for i, e in enumerate(es[k])))
            pk = pairs[k]
            recs.append(np.concatenate([bias2, pk[3], wwords, pk[:3].reshape(-1), [ebytes]]))
        words = np.concatenate(recs).astype(np.int64)
        # Helium builds: with channels a multiple of 8, per group of eight channels the nine taps'
        # eight weights one after the other (w_layout 4, depthwise_conv_s8_mve.inc)
        mve_layout, mve_w = 0, wdata.reshape(-1)
        if ic % 8 == 0:
            mve_layout = 4
            mve_w = wdata.reshape(9, ic // 8, 8).transpose(1, 0, 2).reshape(-1)
        words = np.where(words >= 2**31, words - 2**32, words)
        decls = [
            "#if TK_USE_DSP && !TK_USE_MVE\n"
            + _c_array("int32_t", f"op{sid}_w", words)
            + f"static const int32_t op{sid}_b[1] = {{0}};\n"
            + f"static const int32_t op{sid}_mult[1] = {{0}};\n"
            + f"static const int8_t op{sid}_shift[1] = {{0}};\n"
            + f"#define OP{sid}_W_LAYOUT 2\n#define OP{sid}_RQ_FAST 1\n"
            + "#elif TK_USE_DSP\n"
            + _c_array("int8_t", f"op{sid}_w", mve_w)
            + _c_array("int32_t", f"op{sid}_b", folded)
            + self._fast_rq_arrays(sid, shifts, out_zp)
            + f"#define OP{sid}_W_LAYOUT {mve_layout}\n#define OP{sid}_RQ_FAST 1\n#else\n"
            + _c_array("int8_t", f"op{sid}_w", wdata.reshape(-1))
            + _c_array("int32_t", f"op{sid}_b", folded)
            + "".join(rq)
            + f"#define OP{sid}_W_LAYOUT 0\n#define OP{sid}_RQ_FAST 0\n#endif\n"
        ]
        # what the DSP build holds (the largest of the three)
        return decls, 4 * len(words) - 4 * ic, 0

    def _op_conv_2d(self, op: _Op) -> None:
        self._conv_like(op, depthwise=False)

    def _op_depthwise_conv_2d(self, op: _Op) -> None:
        self._conv_like(op, depthwise=True)

    def _pool(self, op: _Op, fn: str) -> None:
        o = op.options
        x = self.need_int8(op, op.inputs[0], "input")
        y = self.need_int8(op, op.outputs[0], "output")
        if len(x.shape) != 4 or x.shape[0] != 1:
            raise self.err(f"{op.kind} input shape {x.shape}; only NHWC with batch 1 is supported")
        if x.scale != y.scale or x.zp != y.zp:
            raise self.err(f"{op.kind}: input and output quantization differ; TFLite requires them equal")
        _, ih, iw, c = x.shape
        _, oh, ow, _ = y.shape
        kh, kw, sh, sw, pad = (
            o["filter_height"],
            o["filter_width"],
            o["stride_h"],
            o["stride_w"],
            o["padding"],
        )
        if (_out_size(pad, ih, kh, sh), _out_size(pad, iw, kw, sw)) != (oh, ow):
            raise self.err(
                f"{op.kind}: output shape {y.shape} does not follow from the input, window and strides"
            )
        ph, pw = _pad(sh, ih, kh, oh), _pad(sw, iw, kw, ow)
        act_min, act_max = activation_range(o["fused_activation_function"], y.scale, y.zp)
        sid = self._sid()
        decl = (
            f"static const tk_conv_params op{sid}_p = {{{ih}, {iw}, {c}, {oh}, {ow}, {c}, {kh}, {kw}, "
            f"{sh}, {sw}, {ph}, {pw}, 1, {x.zp}, {y.zp}, {act_min}, {act_max}, 0, 0}};\n"
        )
        self.steps.append(
            _Step(op.kind, [op.inputs[0]], op.outputs[0], f"{fn}(&op{sid}_p, {{in0}}, {{out}});", [decl], 0)
        )

    def _op_average_pool_2d(self, op: _Op) -> None:
        self._pool(op, "tk_avgpool_s8")

    def _op_max_pool_2d(self, op: _Op) -> None:
        self._pool(op, "tk_maxpool_s8")

    def _op_fully_connected(self, op: _Op) -> None:
        o = op.options
        x = self.need_int8(op, op.inputs[0], "input")
        y = self.need_int8(op, op.outputs[0], "output")
        wt = self.t(op.inputs[1])
        if len(wt.shape) != 2:
            raise self.err(f"FULLY_CONNECTED weights shape {wt.shape}; expected [out, in]")
        if o is not None and o["weights_format"] != 0:
            raise self.err("FULLY_CONNECTED with shuffled weights is not supported")
        n_out, n_in = wt.shape
        if x.size % n_in:
            raise self.err(f"FULLY_CONNECTED input of {x.size} elements is not a multiple of {n_in}")
        batches = x.size // n_in
        wt, wscales = self.weights(op, op.inputs[1], n_out)
        act = o["fused_activation_function"] if o is not None else 0
        act_min, act_max = activation_range(act, y.scale, y.zp)
        w = wt.data.astype(np.int64)
        folded = self.bias(op, 2, n_out, float(x.scale) * wscales) - x.zp * w.sum(axis=1)
        sid = self._sid()
        decls = [
            _c_array("int8_t", f"op{sid}_w", wt.data.reshape(-1)),
            _c_array("int32_t", f"op{sid}_b", folded),
        ]
        rq, rq_bytes, _ = self.requant_arrays(sid, x.scale, wscales, y.scale)
        decls += rq
        decls.append(
            f"static const tk_fc_params op{sid}_p = {{{batches}, {n_in}, {n_out}, {x.zp}, {y.zp}, "
            f"{act_min}, {act_max}}};\n"
        )
        call = f"tk_fully_connected_s8(&op{sid}_p, {{in0}}, {self._consts(sid)}, {{out}});"
        self.steps.append(
            _Step(
                op.kind,
                [op.inputs[0]],
                op.outputs[0],
                call,
                decls,
                w.size + 4 * n_out + rq_bytes,
                0,
                batches * n_in * n_out,
            )
        )

    def _op_softmax(self, op: _Op) -> None:
        x = self.need_int8(op, op.inputs[0], "input")
        y = self.need_int8(op, op.outputs[0], "output")
        if y.zp != -128 or abs(y.scale - 1.0 / 256) > 1e-9:
            raise self.err("SOFTMAX int8 output must have scale 1/256 and zero point -128 (as TFLM requires)")
        beta = float(op.options["beta"]) if op.options is not None else 1.0
        real = min(beta * float(x.scale) * float(1 << (31 - 5)), float((1 << 31) - 1))
        mult, shift = quantize_multiplier(real)
        if shift < 0:
            raise self.err("SOFTMAX: input scale too small for TFLM's int8 softmax")
        radius = math.floor(((1 << 5) - 1) * float(1 << (31 - 5)) / float(1 << shift))
        diff_min = -radius
        depth = x.shape[-1]
        sid = self._sid()
        decl = (
            f"static const tk_softmax_params op{sid}_p = {{{x.size // depth}, {depth}, {mult}, {shift}, "
            f"{diff_min}}};\n"
        )
        self.steps.append(
            _Step(
                op.kind,
                [op.inputs[0]],
                op.outputs[0],
                f"tk_softmax_s8(&op{sid}_p, {{in0}}, {{out}});",
                [decl],
                0,
            )
        )

    def _op_add(self, op: _Op) -> None:
        a = self.need_int8(op, op.inputs[0], "input 1")
        b = self.need_int8(op, op.inputs[1], "input 2")
        y = self.need_int8(op, op.outputs[0], "output")
        if a.data is not None or b.data is not None:
            raise self.err("ADD with a constant operand is not supported")
        out_shape = (1,) * (4 - len(y.shape)) + tuple(y.shape)
        if len(out_shape) > 4:
            raise self.err(f"ADD of rank {len(y.shape)}; at most 4 dimensions are supported")

        def strides(t: _Tensor) -> list[int]:
            shp = (1,) * (4 - len(t.shape)) + tuple(t.shape)
            st, acc = [0] * 4, 1
            for d in range(3, -1, -1):
                if shp[d] not in (1, out_shape[d]):
                    raise self.err(f"ADD: shapes {a.shape} and {b.shape} do not broadcast to {y.shape}")
                st[d] = acc if shp[d] != 1 else 0
                acc *= shp[d]
            return st

        s1, s2 = strides(a), strides(b)
        left = 20
        twice_max = 2.0 * float(max(np.float32(a.scale), np.float32(b.scale)))
        m1, sh1 = quantize_multiplier(float(a.scale) / twice_max)
        m2, sh2 = quantize_multiplier(float(b.scale) / twice_max)
        mo, sho = quantize_multiplier(twice_max / ((1 << left) * float(y.scale)))
        act = op.options["fused_activation_function"] if op.options is not None else 0
        act_min, act_max = activation_range(act, y.scale, y.zp)
        sid = self._sid()
        dims = ", ".join(str(d) for d in out_shape)
        decl = (
            f"static const tk_add_params op{sid}_p = {{{{{dims}}}, {{{', '.join(map(str, s1))}}}, "
            f"{{{', '.join(map(str, s2))}}}, {-a.zp}, {-b.zp}, {y.zp}, {left}, {m1}, {sh1}, {m2}, {sh2}, "
            f"{mo}, {sho}, {act_min}, {act_max}}};\n"
        )
        call = f"tk_add_s8(&op{sid}_p, {{in0}}, {{in1}}, {{out}});"
        self.steps.append(_Step(op.kind, [op.inputs[0], op.inputs[1]], op.outputs[0], call, [decl], 0))

    def _op_mean(self, op: _Op) -> None:
        x = self.need_int8(op, op.inputs[0], "input")
        y = self.need_int8(op, op.outputs[0], "output")
        axis_t = self.t(op.inputs[1])
        if axis_t.data is None or axis_t.dtype != _INT32 or len(x.shape) != 4 or x.shape[0] != 1:
            raise self.err("MEAN is supported over axes 1 and 2 of a constant-axis NHWC tensor with batch 1")
        axes = sorted(int(v) % 4 for v in axis_t.data.reshape(-1))
        if axes != [1, 2]:
            raise self.err(f"MEAN over axes {axes}; only the spatial axes [1, 2] are supported")
        _, h, w, c = x.shape
        n = h * w
        mult, shift = quantize_multiplier(float(x.scale) / float(y.scale))
        # TFLM (reduce.h, QuantizedMeanOrSumExtraArgs) folds 1/n into the multiplier:
        red = min(n.bit_length() - 1, 32, 31 + shift)
        mult, shift = (mult << red) // n, shift - red
        sid = self._sid()
        decl = (
            f"static const tk_mean_params op{sid}_p = {{{h}, {w}, {c}, {x.zp}, {y.zp}, {mult}, {shift}}};\n"
        )
        self.steps.append(
            _Step(
                op.kind,
                [op.inputs[0]],
                op.outputs[0],
                f"tk_mean_s8(&op{sid}_p, {{in0}}, {{out}});",
                [decl],
                0,
            )
        )

    def _alias(self, op: _Op) -> None:
        x, y = self.t(op.inputs[0]), self.t(op.outputs[0])
        if x.dtype != y.dtype or x.size != y.size:
            raise self.err(f"{op.kind} '{y.name}' changes type or size; not supported")
        if x.dtype == _INT8 and (x.scale != y.scale or x.zp != y.zp):
            raise self.err(f"{op.kind} '{y.name}' changes quantization; not supported")
        self.alias[op.outputs[0]] = op.inputs[0]

    _op_reshape = _alias
    _op_squeeze = _alias

    # ---- placement and planning
    def plan(self) -> tuple[dict[int, str], int]:
        """Map every activation to an address expression; returns (locations, arena bytes).

        The graph input is read from the caller's `input` and the final result is written straight
        into the caller's `output`, so neither takes arena space. Everything else gets an offset
        from a greedy first-fit planner over tensor lifetimes (largest first), the same idea as
        TFLM's GreedyMemoryPlanner, with per-op scratch buffers as one-op lifetimes.
        """
        gin, gout = self.rep(self.inputs[0]), self.rep(self.outputs[0])
        if gin == gout:
            # the graph is only reshapes: copy the input
            n = self.t(self.outputs[0]).size
            self.steps.append(
                _Step(
                    "COPY",
                    [self.inputs[0]],
                    self.outputs[0],
                    f"for (int i = 0; i < {n}; ++i) {{out}}[i] = {{in0}}[i];",
                    [],
                    0,
                )
            )
            self.alias.pop(self.outputs[0], None)
            gout = self.outputs[0]
        loc: dict[int, str] = {gin: "input", gout: "output"}
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        for s, st in enumerate(self.steps):
            for r in st.reads:
                last[self.rep(r)] = s
            first.setdefault(self.rep(st.write), s)
            last.setdefault(self.rep(st.write), s)
        for t in first:
            if t not in loc and last.get(t, first[t]) < first[t]:
                last[t] = first[t]
        bufs = []  # (size, first, last, key)
        for t in first:
            if t in loc:
                continue
            bufs.append((self.t(t).size, first[t], last[t], ("t", t)))
        for s, st in enumerate(self.steps):
            if st.scratch:
                bufs.append((st.scratch, s, s, ("s", s)))
        bufs.sort(key=lambda b: (-b[0], b[1]))
        placed: list[tuple[int, int, int, int]] = []  # offset, size, first, last
        offsets: dict[tuple[str, int], int] = {}
        for size, f, l_, key in bufs:
            asize = (size + ARENA_ALIGN - 1) // ARENA_ALIGN * ARENA_ALIGN
            conflicts = sorted((o, sz) for o, sz, pf, pl in placed if pf <= l_ and f <= pl)
            off = 0
            for o, sz in conflicts:
                if off + asize <= o:
                    break
                off = max(off, (o + sz + ARENA_ALIGN - 1) // ARENA_ALIGN * ARENA_ALIGN)
            placed.append((off, asize, f, l_))
            offsets[key] = off
        arena = max((o + sz for o, sz, _, _ in placed), default=0)
        for key, off in offsets.items():
            if key[0] == "t":
                loc[key[1]] = f"(tinykws_arena.b + {off})"
            else:
                loc[-1 - key[1]] = f"(void *)(tinykws_arena.b + {off})"
        return loc, arena

    def emit(self, name: str, loc: dict[int, str], arena: int) -> tuple[str, str]:
        x, y = self.t(self.inputs[0]), self.t(self.outputs[0])
        n = len(self.steps)
        hdr = f"""/* Generated by tinykws compile ({name}): the model as plain C, no interpreter.
 * Bit-exact with the tflite_micro interpreter. Interface: docs/compiler.md. */
#ifndef TINYKWS_MODEL_H
#define TINYKWS_MODEL_H

#include <stdint.h>

#define TINYKWS_MODEL_NAME "{name}"
#define TINYKWS_INPUT_SIZE {x.size}      /* elements */
#define TINYKWS_OUTPUT_SIZE {y.size}
#define TINYKWS_ARENA_BYTES {arena}
#define TINYKWS_INPUT_SCALE {_c_float(x.scale)}
#define TINYKWS_INPUT_ZERO_POINT {x.zp if x.zp >= 0 else f"({x.zp})"}
#define TINYKWS_OUTPUT_SCALE {_c_float(y.scale)}
#define TINYKWS_OUTPUT_ZERO_POINT {y.zp if y.zp >= 0 else f"({y.zp})"}
#define TINYKWS_NUM_OPS {n}

#ifdef __cplusplus
extern "C" {{
#endif

extern const char *const tinykws_op_names[TINYKWS_NUM_OPS];

/* Runs the model on `input` (TINYKWS_INPUT_SIZE int8 values) and writes TINYKWS_OUTPUT_SIZE int8
 * values to `output`; returns 0 on success. Not reentrant (one static arena).
 * Profiling: define TINYKWS_OP_HOOK(i) when compiling tinykws_model.c; it is called before op i
 * and with i == TINYKWS_NUM_OPS at the end. */
int tinykws_invoke(const int8_t *input, int8_t *output);

#ifdef __cplusplus
}}
#endif

#endif /* TINYKWS_MODEL_H */
"""
        parts = [
            f"/* Generated by tinykws compile ({name}). Weights, folded biases and requantization\n"
            " * constants are const (flash); activations live in one static arena planned from tensor\n"
            " * lifetimes. */\n",
            '#include "tinykws_model.h"\n#include "tinykws_kernels.h"\n\n',
            "#ifndef TINYKWS_OP_HOOK\n#define TINYKWS_OP_HOOK(i) ((void)0)\n#endif\n\n",
        ]
        if arena:
            parts.append(
                f"static union {{\n    int32_t align_;\n    int8_t b[{arena}];\n}} tinykws_arena;\n\n"
            )
        names = ", ".join(f'"{st.kind}"' for st in self.steps)
        parts.append(f"const char *const tinykws_op_names[TINYKWS_NUM_OPS] = {{{names}}};\n\n")
        for st in self.steps:
            parts.extend(st.decls)
            parts.append("\n")
        parts.append("int tinykws_invoke(const int8_t *input, int8_t *output) {\n")
        uses_input = uses_output = False
        for s, st in enumerate(self.steps):
            ins = {f"in{i}": self._ptr(loc, r, const=True) for i, r in enumerate(st.reads)}
            outp = self._ptr(loc, st.write, const=False)
            uses_input |= any(v == "input" for v in ins.values())
            uses_output |= outp == "output" or any(v == "output" for v in ins.values())
            call = st.call.format(out=outp, scratch=loc.get(-1 - s, "(void *)0"), **ins)
            shapes = " + ".join("x".join(map(str, self.t(r).shape)) for r in st.reads)
            desc = f"{st.kind} {shapes} -> {'x'.join(map(str, self.t(st.write).shape))}"
            parts.append(f"    /* op {s}: {desc} */\n    TINYKWS_OP_HOOK({s});\n    {call}\n")
        if not uses_input:
            parts.append("    (void)input;\n")
        if not uses_output:
            parts.append("    (void)output;\n")
        parts.append("    TINYKWS_OP_HOOK(TINYKWS_NUM_OPS);\n    return 0;\n}\n")
        return hdr, "".join(parts)

    def _ptr(self, loc: dict[int, str], t: int, const: bool) -> str:
        r = self.rep(t)
        if r not in loc:
            tt = self.t(t)
            raise self.err(
                f"tensor '{tt.name}' is read but never produced (constant activations are not supported)"
            )
        return loc[r]


def compile_model(
    tflite: bytes | str | Path,
    out_dir: str | Path,
    name: str = "tinykws",
    *,
    fast_requant: bool = True,
    dsp_layouts: bool = True,
    where: str | None = None,
) -> CompileResult:
    """Compile an int8 .tflite to `out_dir/tinykws_model.{h,c}`; refuses what it cannot run exactly.

    `fast_requant` and `dsp_layouts` exist so tests can force the DSP kernels' general paths
    (generic requantization, TFLite weight layout); the output is bit-exact either way.
    The model is read by tinykws.models.modelfile; `where` names bytes in messages (default: the path).
    """
    if where is None:
        where = "<model bytes>" if isinstance(tflite, bytes | bytearray) else str(tflite)
    try:
        comp = _Compiler(tflite, where)
        comp.fast_requant, comp.dsp_layouts = fast_requant, dsp_layouts
        comp.check_ops()
        comp.prepare()
        comp.lower()
        loc, arena = comp.plan()
        hdr, src = comp.emit(name, loc, arena)
    except TinyKWSError as exc:
        # helpers shared with other callers (activation_range, quantize_multiplier) do not know
        # the file: every refusal names it
        if str(exc).startswith(where):
            raise
        raise TinyKWSError(f"{where}: {exc}") from None
    out_dir = Path(out_dir)
    header = atomic_write_text(out_dir / "tinykws_model.h", hdr)
    source = atomic_write_text(out_dir / "tinykws_model.c", src)
    x, y = comp.t(comp.inputs[0]), comp.t(comp.outputs[0])
    return CompileResult(
        arena_bytes=arena,
        ops=[st.kind for st in comp.steps],
        sources=[source],
        header=header,
        input_shape=tuple(x.shape),
        output_shape=tuple(y.shape),
        input_scale=float(x.scale),
        input_zero_point=x.zp,
        output_scale=float(y.scale),
        output_zero_point=y.zp,
        weights_bytes=sum(st.const_bytes for st in comp.steps),
        macs=sum(st.macs for st in comp.steps),
        op_macs=[st.macs for st in comp.steps],
    )


def cli_configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="int8 .tflite model")
    parser.add_argument("--out", type=Path, required=True, help="output directory for tinykws_model.{h,c}")
    parser.add_argument("--name", default="tinykws", help="model name recorded in the header")


def cli_run(args: argparse.Namespace) -> int:
    res = compile_model(args.model, args.out, name=args.name)
    print(f"ops ({len(res.ops)}): {' '.join(res.ops)}")
    print(
        f"input {res.input_shape} scale {res.input_scale:.7g} zp {res.input_zero_point}; "
        f"output {res.output_shape} scale {res.output_scale:.7g} zp {res.output_zero_point}"
    )
    print(f"arena bytes: {res.arena_bytes}")
    print(f"weight bytes (weights, biases, requantization constants): {res.weights_bytes}")
    print(f"multiply-accumulates per inference: {res.macs}")
    print(f"wrote {res.header} and {', '.join(str(s) for s in res.sources)} (kernels: {res.kernel_dir})")
    return 0
