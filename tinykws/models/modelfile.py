"""The one verified reader of `.tflite` files.

Why our own reader: a model is input from the user, and neither the generated `tflite` Python
classes nor the `tflite_micro` interpreter check a flatbuffer before trusting it (TFLM runs no
flatbuffers Verifier on the model), so a truncated or corrupt file gives a Python traceback in
the compiler or undefined behaviour in the interpreter. Every verb that reads a model (compile,
export, build, bench, evaluate, report, listen, the few-shot head writer, the TFLM oracle) goes
through `read_tflite`, which either returns a fully checked model or raises one TinyKWSError
naming the file and what is wrong.

What is checked (the schema facts are TensorFlow Lite's schema.fbs, version 3):
- flatbuffer structure: the root offset, the `TFL3` identifier, every table's vtable (inside
  the file, even size, aligned, fields inside the table), every offset (positive, target inside
  the file), every vector and string (length fits in the file; strings are NUL-terminated);
- the model: schema version 3, at least one subgraph, opcode and buffer indices in range,
  externally stored buffers (offset/size) inside the file;
- tensors: known dtype, non-negative dimensions, at most 2 GiB each, constant data whose size is
  exactly shape x dtype size, quantization arrays of equal length that are 1 or the size of the
  quantized dimension, finite positive scales; sparse and custom-quantized tensors are refused;
- operators: input indices in range or -1 (an optional input), output indices in range, the
  options table of the type the operator needs (for the operators tinykws compiles);
- the graph: every tensor an operator reads is a subgraph input, a constant, a variable or the
  output of an earlier operator; no tensor is written twice, and no input or constant is
  written at all. Operators run in order, so this makes the graph a DAG.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinykws.errors import TinyKWSError

SCHEMA_VERSION = 3
MAX_MODEL_BYTES = 64 * 1024 * 1024  # far beyond any microcontroller's flash; bounds the read
MAX_TENSOR_BYTES = 2**31 - 1  # kernels index with int32

# TensorType -> (name, bytes per element; 0 = no fixed size, None = packed 4-bit)
DTYPES: dict[int, tuple[str, int | None]] = {
    0: ("FLOAT32", 4),
    1: ("FLOAT16", 2),
    2: ("INT32", 4),
    3: ("UINT8", 1),
    4: ("INT64", 8),
    5: ("STRING", 0),
    6: ("BOOL", 1),
    7: ("INT16", 2),
    8: ("COMPLEX64", 8),
    9: ("INT8", 1),
    10: ("FLOAT64", 8),
    11: ("COMPLEX128", 16),
    12: ("UINT64", 8),
    13: ("RESOURCE", 0),
    14: ("VARIANT", 0),
    15: ("UINT32", 4),
    16: ("UINT16", 2),
    17: ("INT4", None),
    18: ("BFLOAT16", 2),
}

# Options tables tinykws reads: union type id, and its fields (slot, name, struct format, default).
_OPTION_FIELDS: dict[str, tuple[int, list[tuple[int, str, str, float | int | bool]]]] = {
    "Conv2DOptions": (
        1,
        [
            (0, "padding", "b", 0),
            (1, "stride_w", "i", 0),
            (2, "stride_h", "i", 0),
            (3, "fused_activation_function", "b", 0),
            (4, "dilation_w_factor", "i", 1),
            (5, "dilation_h_factor", "i", 1),
        ],
    ),
    "DepthwiseConv2DOptions": (
        2,
        [
            (0, "padding", "b", 0),
            (1, "stride_w", "i", 0),
            (2, "stride_h", "i", 0),
            (3, "depth_multiplier", "i", 0),
            (4, "fused_activation_function", "b", 0),
            (5, "dilation_w_factor", "i", 1),
            (6, "dilation_h_factor", "i", 1),
        ],
    ),
    "Pool2DOptions": (
        5,
        [
            (0, "padding", "b", 0),
            (1, "stride_w", "i", 0),
            (2, "stride_h", "i", 0),
            (3, "filter_width", "i", 0),
            (4, "filter_height", "i", 0),
            (5, "fused_activation_function", "b", 0),
        ],
    ),
    "FullyConnectedOptions": (
        8,
        [
            (0, "fused_activation_function", "b", 0),
            (1, "weights_format", "b", 0),
            (2, "keep_num_dims", "?", False),
            (3, "asymmetric_quantize_inputs", "?", False),
        ],
    ),
    "SoftmaxOptions": (9, [(0, "beta", "f", 0.0)]),
    "AddOptions": (11, [(0, "fused_activation_function", "b", 0), (1, "pot_scale_int16", "?", True)]),
    "ReducerOptions": (27, [(0, "keep_dims", "?", False)]),
}

# The options an operator must carry (what the converter writes; TFLM falls back to zeroed
# parameters without them, which no valid model relies on). Others are verified as tables only.
OP_OPTIONS: dict[str, str] = {
    "CONV_2D": "Conv2DOptions",
    "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
    "AVERAGE_POOL_2D": "Pool2DOptions",
    "MAX_POOL_2D": "Pool2DOptions",
    "FULLY_CONNECTED": "FullyConnectedOptions",
    "SOFTMAX": "SoftmaxOptions",
    "ADD": "AddOptions",
    "MEAN": "ReducerOptions",
}

# Field names of the tables read, by slot (for messages: the first word of a table's label).
_FIELD_NAMES: dict[str, tuple[str, ...]] = {
    "model": (
        "version",
        "operator_codes",
        "subgraphs",
        "description",
        "buffers",
        "metadata_buffer",
        "metadata",
        "signature_defs",
    ),
    "subgraph": ("tensors", "inputs", "outputs", "operators", "name"),
    "tensor": (
        "shape",
        "type",
        "buffer",
        "name",
        "quantization",
        "is_variable",
        "sparsity",
        "shape_signature",
    ),
    "operator": (
        "opcode_index",
        "inputs",
        "outputs",
        "builtin_options_type",
        "builtin_options",
        "custom_options",
        "custom_options_format",
        "mutating_variable_inputs",
        "intermediates",
        "large_custom_options_offset",
        "large_custom_options_size",
    ),
    "buffer": ("data", "offset", "size"),
    "quantization": ("min", "max", "scale", "zero_point", "details_type", "details", "quantized_dimension"),
}

# Metadata entries TFLM interprets itself (it would read their buffers unchecked).
_REFUSED_METADATA = ("OfflineMemoryAllocation", "COMPRESSION_METADATA")


def clean(text: str, limit: int = 60) -> str:
    """Text from the file made safe for a one-line message (printable ASCII, bounded length)."""
    return "".join(c if " " <= c <= "~" else "?" for c in text[:limit])


def dtype_name(dtype: int) -> str:
    return DTYPES.get(dtype, (str(dtype), 0))[0]


@dataclass
class Tensor:
    """One verified tensor; `data` is its constant bytes, None for activations."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: int
    buffer: int
    data: bytes | None
    scales: np.ndarray  # float32, possibly empty
    zero_points: np.ndarray  # int64, same length as scales
    qdim: int
    is_variable: bool = False

    @property
    def size(self) -> int:
        """Elements (1 for a scalar)."""
        return math.prod(self.shape)


@dataclass
class Operator:
    """One verified operator; `options` holds the fields of its options table (see OP_OPTIONS)."""

    index: int
    kind: str  # builtin name (CONV_2D ...), CUSTOM:<code>, or BUILTIN_<n> for unknown codes
    version: int
    inputs: list[int]  # -1 = optional input left out
    outputs: list[int]
    options: dict[str, float | int | bool] | None


@dataclass
class Subgraph:
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]


@dataclass
class TFLiteModel:
    """A `.tflite` that passed every check; `data` is the file's bytes, safe to hand to TFLM."""

    where: str
    data: bytes
    subgraphs: list[Subgraph] = field(default_factory=list)

    @property
    def main(self) -> Subgraph:
        return self.subgraphs[0]


class _Bad(Exception):
    """A verification failure inside the reader; read_tflite adds the file name."""


class _Table:
    """A flatbuffer table at `pos` whose vtable has been checked."""

    __slots__ = ("fb", "pos", "vt", "vt_size", "size", "what", "names")

    def __init__(self, fb: _Buffer, pos: int, what: str):
        self.fb, self.pos, self.what = fb, pos, what
        self.names = _FIELD_NAMES.get(what.split(" ")[0], ())
        if pos % 4:
            raise _Bad(f"{what}: table at {pos} is not 4-byte aligned")
        vt = pos - fb.scalar(pos, "i", what)
        if vt < 0 or vt + 4 > fb.n or vt % 2:
            raise _Bad(f"{what}: its vtable at {vt} lies outside the file or is misaligned")
        vt_size = fb.scalar(vt, "H", what)
        size = fb.scalar(vt + 2, "H", what)
        if vt_size < 4 or vt_size % 2 or vt + vt_size > fb.n:
            raise _Bad(f"{what}: vtable size {vt_size} is not valid")
        if size < 4 or pos + size > fb.n:
            raise _Bad(f"{what}: table size {size} runs past the end of the file")
        self.vt, self.vt_size, self.size = vt, vt_size, size

    def _field(self, slot: int, width: int) -> int:
        """Position of field `slot`, or 0 when absent; checks it lies inside the table."""
        at = 4 + 2 * slot
        if at + 2 > self.vt_size:
            return 0
        off = self.fb.scalar(self.vt + at, "H", self.what)
        if off == 0:
            return 0
        if off < 4 or off + width > self.size:
            raise _Bad(f"{self.what}: field {self._name(slot)} lies outside its table")
        pos = self.pos + off
        if pos % width:
            raise _Bad(f"{self.what}: field {self._name(slot)} is misaligned")
        return pos

    def _name(self, slot: int) -> str:
        return self.names[slot] if slot < len(self.names) else str(slot)

    def scalar(self, slot: int, fmt: str, default: float | int | bool = 0) -> float | int | bool:
        pos = self._field(slot, struct.calcsize("<" + fmt))
        return self.fb.scalar(pos, fmt, self.what) if pos else default

    def ref(self, slot: int) -> int:
        """Target of an offset field (table, vector or string), 0 when absent."""
        pos = self._field(slot, 4)
        if not pos:
            return 0
        off = self.fb.scalar(pos, "I", self.what)
        target = pos + off
        if off == 0 or off >= 2**31 or target >= self.fb.n:
            raise _Bad(f"{self.what}: field {self._name(slot)} points outside the file")
        return target

    def table(self, slot: int, what: str) -> _Table | None:
        target = self.ref(slot)
        return _Table(self.fb, target, what) if target else None

    def vector(self, slot: int, fmt: str, what: str) -> tuple[int, int]:
        """(count, position of the first element) of a vector field; (0, 0) when absent."""
        target = self.ref(slot)
        return self.fb.vector(target, struct.calcsize("<" + fmt), what) if target else (0, 0)

    def numbers(self, slot: int, fmt: str, what: str) -> list:
        n, start = self.vector(slot, fmt, what)
        return list(struct.unpack_from(f"<{n}{fmt}", self.fb.buf, start)) if n else []

    def tables(self, slot: int, what: str) -> list[_Table]:
        n, start = self.vector(slot, "I", what)
        out = []
        for i in range(n):
            pos = start + 4 * i
            off = self.fb.scalar(pos, "I", what)
            if off == 0 or off >= 2**31 or pos + off >= self.fb.n:
                raise _Bad(f"{what} {i}: offset points outside the file")
            out.append(_Table(self.fb, pos + off, f"{what} {i}"))
        return out

    def string(self, slot: int, what: str) -> str | None:
        target = self.ref(slot)
        if not target:
            return None
        n, start = self.fb.vector(target, 1, what)
        if start + n >= self.fb.n or self.fb.buf[start + n] != 0:
            raise _Bad(f"{what}: string is not NUL-terminated inside the file")
        return clean(self.fb.buf[start : start + n].decode("utf-8", "replace"), 200)


class _Buffer:
    """Bounds-checked little-endian reads of the whole file."""

    def __init__(self, buf: bytes):
        self.buf, self.n = buf, len(buf)

    def scalar(self, pos: int, fmt: str, what: str):
        width = struct.calcsize("<" + fmt)
        if pos < 0 or pos + width > self.n:
            raise _Bad(f"{what}: read at byte {pos} runs past the end of the file ({self.n} bytes)")
        return struct.unpack_from("<" + fmt, self.buf, pos)[0]

    def vector(self, pos: int, width: int, what: str) -> tuple[int, int]:
        if pos % 4:
            raise _Bad(f"{what}: vector at {pos} is misaligned")
        n = self.scalar(pos, "I", what)
        start = pos + 4
        if n * width > self.n - start:
            raise _Bad(f"{what}: vector of {n} elements runs past the end of the file")
        if width > 4 and start % width:
            raise _Bad(f"{what}: vector elements are misaligned")
        return n, start


def _op_names() -> dict[int, str]:
    from tflite.BuiltinOperator import BuiltinOperator  # the enum's names only

    return {v: k for k, v in BuiltinOperator.__dict__.items() if not k.startswith("_") and isinstance(v, int)}


def read_tflite(src: bytes | bytearray | str | os.PathLike[str], where: str | None = None) -> TFLiteModel:
    """Read and verify a `.tflite` (a path or its bytes); raises TinyKWSError naming `where`."""
    if isinstance(src, bytes | bytearray | memoryview):
        buf, where = bytes(src), where or "<model bytes>"
    else:
        path = Path(src)
        where = where or str(path)
        if not path.is_file():
            raise TinyKWSError(f"{where}: no such model file")
        try:
            size = path.stat().st_size
            if size > MAX_MODEL_BYTES:
                raise TinyKWSError(
                    f"{where}: {size} bytes; a .tflite over {MAX_MODEL_BYTES} bytes is refused"
                )
            buf = path.read_bytes()
        except OSError as exc:
            raise TinyKWSError(f"{where}: cannot read model: {exc.strerror or exc}") from exc
    if len(buf) > MAX_MODEL_BYTES:
        raise TinyKWSError(f"{where}: {len(buf)} bytes; a .tflite over {MAX_MODEL_BYTES} bytes is refused")
    try:
        return _verify(buf, where)
    except _Bad as exc:
        raise TinyKWSError(f"{where}: not a readable .tflite model: {exc}") from None


def verified_bytes(src: bytes | bytearray | str | os.PathLike[str], where: str | None = None) -> bytes:
    """The bytes of a model that passed `read_tflite` (for the TFLM interpreter, C arrays)."""
    return read_tflite(src, where).data


def _verify(buf: bytes, where: str) -> TFLiteModel:
    fb = _Buffer(buf)
    if fb.n < 8 or buf[4:8] != b"TFL3":
        raise _Bad("no TFL3 file identifier (not a TensorFlow Lite flatbuffer)")
    root = fb.scalar(0, "I", "root offset")
    if root < 8 or root >= fb.n:
        raise _Bad("root table offset points outside the file")
    model = _Table(fb, root, "model")
    version = model.scalar(0, "I")
    if version != SCHEMA_VERSION:
        raise _Bad(f"schema version {version}; only version {SCHEMA_VERSION} is supported")
    names = _op_names()
    opcodes = []
    for oc in model.tables(1, "operator_code"):
        code = max(int(oc.scalar(0, "b", 0)), int(oc.scalar(3, "i", 0)))
        kind = names.get(code, f"BUILTIN_{code}")
        custom = oc.string(1, "custom code")  # checked for every op: TFLM's loader reads it
        if kind == "CUSTOM":
            kind = f"CUSTOM:{custom or '?'}"
        opcodes.append((kind, int(oc.scalar(2, "i", 1))))
    model.string(3, "description")
    buffers = []
    for i, b in enumerate(model.tables(4, "buffer")):
        n, start = b.vector(0, "B", f"buffer {i}")
        offset, size = int(b.scalar(1, "Q", 0)), int(b.scalar(2, "Q", 0))
        if offset > 1:
            if n:
                raise _Bad(f"buffer {i}: has both inline data and an external offset")
            if offset + size > fb.n:
                raise _Bad(f"buffer {i}: external data at {offset}+{size} lies outside the file")
            buffers.append(buf[offset : offset + size] if size else None)
        else:
            buffers.append(buf[start : start + n] if n else None)
    model.numbers(5, "i", "metadata_buffer")
    for i, md in enumerate(model.tables(6, "metadata")):
        name = md.string(0, f"metadata {i} name") or ""
        bidx = int(md.scalar(1, "I", 0))
        if bidx >= len(buffers):
            raise _Bad(f"metadata '{name}': buffer index {bidx} out of range ({len(buffers)} buffers)")
        if name in _REFUSED_METADATA:
            raise _Bad(f"metadata '{name}' is not supported")
    subgraph_tables = model.tables(2, "subgraph")
    if not subgraph_tables:
        raise _Bad("the model has no subgraph")
    for i, sd in enumerate(model.tables(7, "signature def")):
        for slot in (0, 1):
            for tm in sd.tables(slot, f"signature def {i} tensor map"):
                tm.string(0, "signature tensor name")
        sd.string(2, f"signature def {i} key")
        if int(sd.scalar(4, "I", 0)) >= len(subgraph_tables):
            raise _Bad(f"signature def {i}: subgraph index out of range")
    out = TFLiteModel(where, buf)
    for s, sg in enumerate(subgraph_tables):
        out.subgraphs.append(_subgraph(sg, s, buffers, opcodes))
    return out


def _tensor(t: _Table, i: int, buffers: list[bytes | None]) -> Tensor:
    what = f"tensor {i}"
    shape = tuple(int(d) for d in t.numbers(0, "i", f"{what} shape"))
    dtype = int(t.scalar(1, "b", 0))
    bidx = int(t.scalar(2, "I", 0))
    name = t.string(3, f"{what} name") or ""
    what = f"tensor {i} '{name}'"
    if dtype not in DTYPES:
        raise _Bad(f"{what}: unknown type {dtype}")
    if any(d < 0 for d in shape):
        raise _Bad(f"{what}: negative dimension in shape {shape}")
    if bidx >= len(buffers):
        raise _Bad(f"{what}: buffer index {bidx} out of range ({len(buffers)} buffers)")
    width = DTYPES[dtype][1]
    n = math.prod(shape)
    nbytes = (n + 1) // 2 if width is None else n * width
    if nbytes > MAX_TENSOR_BYTES:
        raise _Bad(f"{what}: shape {shape} is too large ({nbytes} bytes)")
    data = buffers[bidx]
    if data is not None:
        if width == 0:
            raise _Bad(f"{what}: constant {DTYPES[dtype][0]} tensors are not supported")
        if len(data) != nbytes:
            raise _Bad(
                f"{what}: shape {shape} x {DTYPES[dtype][0]} is {nbytes} bytes, "
                f"but its buffer holds {len(data)}"
            )
    is_variable = bool(t.scalar(5, "?", False))
    if t.ref(6):
        raise _Bad(f"{what}: sparse tensors are not supported")
    t.numbers(7, "i", f"{what} shape_signature")
    if t.ref(9):
        raise _Bad(f"{what}: variant tensors are not supported")
    scales = np.zeros(0, np.float32)
    zps = np.zeros(0, np.int64)
    qdim = 0
    q = t.table(4, f"quantization of {what}")
    if q is not None:
        q.numbers(0, "f", f"{what} min")
        q.numbers(1, "f", f"{what} max")
        scales = np.array(q.numbers(2, "f", f"{what} scales"), np.float32)
        zps = np.array(q.numbers(3, "q", f"{what} zero points"), np.int64)
        if int(q.scalar(4, "B", 0)) or q.ref(5):
            raise _Bad(f"{what}: custom quantization details are not supported")
        qdim = int(q.scalar(6, "i", 0))
        if len(scales) != len(zps):
            raise _Bad(f"{what}: {len(scales)} scales but {len(zps)} zero points")
        if len(scales) > 1:
            if not 0 <= qdim < len(shape):
                raise _Bad(f"{what}: quantized dimension {qdim} out of range for shape {shape}")
            if len(scales) != shape[qdim]:
                raise _Bad(
                    f"{what}: {len(scales)} scales for {shape[qdim]} channels (dimension {qdim} of {shape})"
                )
        if len(scales) and not (np.all(np.isfinite(scales)) and np.all(scales > 0)):
            raise _Bad(f"{what}: quantization scales must be finite and positive")
        if dtype == 9 and len(zps) and (zps.min() < -128 or zps.max() > 127):
            raise _Bad(f"{what}: int8 zero point outside [-128, 127]")
    return Tensor(i, name, shape, dtype, bidx, data, scales, zps, qdim, is_variable)


def _options(op: _Table, kind: str, what: str) -> dict[str, float | int | bool] | None:
    otype = int(op.scalar(3, "B", 0))
    table = op.table(4, f"{what} options")
    if (otype == 0) != (table is None):
        raise _Bad(f"{what}: options type {otype} does not match its options table")
    need = OP_OPTIONS.get(kind)
    if need is None:
        return None
    type_id, fields = _OPTION_FIELDS[need]
    if otype != type_id or table is None:
        raise _Bad(f"{what}: {kind} needs {need} (options type {type_id}), the file has type {otype}")
    return {name: table.scalar(slot, fmt, default) for slot, name, fmt, default in fields}


def _subgraph(sg: _Table, s: int, buffers: list[bytes | None], opcodes: list[tuple[str, int]]) -> Subgraph:
    tensors = [_tensor(t, i, buffers) for i, t in enumerate(sg.tables(0, "tensor"))]
    nt = len(tensors)

    def indices(values: list[int], what: str, optional: bool) -> list[int]:
        for v in values:
            if not (0 <= v < nt or (optional and v == -1)):
                raise _Bad(f"{what}: tensor index {v} out of range ({nt} tensors)")
        return [int(v) for v in values]

    inputs = indices(sg.numbers(1, "i", "subgraph inputs"), f"subgraph {s} inputs", False)
    outputs = indices(sg.numbers(2, "i", "subgraph outputs"), f"subgraph {s} outputs", False)
    sg.string(4, f"subgraph {s} name")
    ops = []
    for i, op in enumerate(sg.tables(3, "operator")):
        ci = int(op.scalar(0, "I", 0))
        if ci >= len(opcodes):
            raise _Bad(f"operator {i}: opcode index {ci} out of range ({len(opcodes)} operator codes)")
        kind, version = opcodes[ci]
        what = f"operator {i} ({kind})"
        ins = indices(op.numbers(1, "i", f"{what} inputs"), f"{what} inputs", True)
        outs = indices(op.numbers(2, "i", f"{what} outputs"), f"{what} outputs", False)
        options = _options(op, kind, what)
        op.vector(5, "B", f"{what} custom options")
        op.numbers(7, "?", f"{what} mutating variable inputs")
        indices(op.numbers(8, "i", f"{what} intermediates"), f"{what} intermediates", False)
        lo, ln = int(op.scalar(9, "Q", 0)), int(op.scalar(10, "Q", 0))
        if lo and lo + ln > sg.fb.n:
            raise _Bad(f"{what}: large custom options lie outside the file")
        ops.append(Operator(i, kind, version, ins, outs, options))
    # DAG: operators run in order, so each reads only what exists before it runs.
    ready = {t.index for t in tensors if t.data is not None or t.is_variable} | set(inputs)
    fixed = set(ready)
    written: set[int] = set()
    for op in ops:
        for ti in op.inputs:
            if ti >= 0 and ti not in ready:
                raise _Bad(
                    f"operator {op.index} ({op.kind}) reads tensor {ti} '{tensors[ti].name}' "
                    "before any operator writes it"
                )
        for ti in op.outputs:
            if ti in fixed:
                raise _Bad(f"operator {op.index} ({op.kind}) writes tensor {ti}, a model input or constant")
            if ti in written:
                raise _Bad(f"operator {op.index} ({op.kind}) writes tensor {ti}, already written")
            written.add(ti)
            ready.add(ti)
    for ti in outputs:
        if ti not in ready:
            raise _Bad(f"subgraph output tensor {ti} '{tensors[ti].name}' is never written")
    return Subgraph(tensors, ops, inputs, outputs)
