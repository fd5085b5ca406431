"""Hostile models (issue 16, item 1): the verified reader refuses each fault by name, every verb
reads through it, and a seeded fuzz of `tinykws compile` finds no traceback, hang or
differential mismatch with tflite_micro. The long run is benchmarks/fuzz_models.py."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from modelfuzz import mutants, run_compile

from tinykws.cli import main
from tinykws.errors import TinyKWSError
from tinykws.export import compiler
from tinykws.models.modelfile import read_tflite
from tinykws.models.tflm import TFLMRunner

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT.parent / "shared" / "peers"


def _ref_bytes(mlperf_ref_model: Path) -> bytes:
    return mlperf_ref_model.read_bytes()


def _field(table, slot: int) -> int:
    """Absolute position of field `slot` of a table of the generated `tflite` classes."""
    off = table._tab.Offset(4 + 2 * slot)
    assert off, "field absent in the valid model"
    return table._tab.Pos + off


def _patch(buf: bytes, pos: int, fmt: str, value) -> bytes:
    b = bytearray(buf)
    struct.pack_into("<" + fmt, b, pos, value)
    return bytes(b)


def _root(buf: bytes):
    import tflite

    return tflite.Model.GetRootAsModel(buf, 0)


def _refuse(buf: bytes, tmp_path: Path, needle: str) -> str:
    """The model is refused by read_tflite in one line that names the file and `needle`."""
    path = tmp_path / "bad.tflite"
    path.write_bytes(buf)
    with pytest.raises(TinyKWSError) as exc:
        read_tflite(path)
    msg = str(exc.value)
    assert msg.startswith(str(path)) and "\n" not in msg and needle in msg, msg
    return msg


def test_valid_models_pass_unchanged(mlperf_ref_model):
    for p in [mlperf_ref_model, *PEERS.glob("*/*.tflite"), ROOT / "models" / "demo" / "model_int8.tflite"]:
        if p.is_file():
            m = read_tflite(p)
            assert m.main.operators and m.main.inputs and m.main.outputs, p
    m = read_tflite(mlperf_ref_model)
    conv = m.main.operators[0]
    assert conv.kind == "CONV_2D" and conv.options["stride_h"] == 2 and conv.options["padding"] == 0
    w = m.main.tensors[conv.inputs[1]]
    assert w.data is not None and len(w.data) == w.size and len(w.scales) == w.shape[0]


def test_truncated_anywhere_is_refused(mlperf_ref_model, tmp_path):
    buf = _ref_bytes(mlperf_ref_model)
    for cut in np.linspace(0, len(buf) - 1, 60).astype(int):
        _refuse(buf[:cut], tmp_path, "")


def test_garbage_and_wrong_identifier(tmp_path):
    _refuse(b"", tmp_path, "TFL3")
    _refuse(b"\x00" * 64, tmp_path, "TFL3")
    _refuse(b"\x08\x00\x00\x00TFL3" + b"\xff" * 32, tmp_path, "vtable")


def test_buffer_index_out_of_range(mlperf_ref_model, tmp_path):
    buf = _ref_bytes(mlperf_ref_model)
    t = _root(buf).Subgraphs(0).Tensors(1)
    _refuse(_patch(buf, _field(t, 2), "I", 10_000), tmp_path, "buffer index 10000 out of range")


def test_constant_size_must_match_shape_and_dtype(mlperf_ref_model, tmp_path):
    buf = _ref_bytes(mlperf_ref_model)
    m = _root(buf)
    sg = m.Subgraphs(0)
    i = next(
        i
        for i in range(sg.TensorsLength())
        if m.Buffers(sg.Tensors(i).Buffer()).DataLength() and sg.Tensors(i).Type() == 9
    )
    t = sg.Tensors(i)
    shape_vec = t._tab.Vector(t._tab.Offset(4))
    first = struct.unpack_from("<i", buf, shape_vec)[0]
    _refuse(_patch(buf, shape_vec, "i", first + 1), tmp_path, "but its buffer holds")
    # the dtype counts too: INT8 -> INT32 makes the data four times too short
    _refuse(_patch(buf, _field(t, 1), "b", 2), tmp_path, "INT32")


def test_per_channel_quantization_must_match_channels(mlperf_ref_model, tmp_path):
    buf = _ref_bytes(mlperf_ref_model)
    sg = _root(buf).Subgraphs(0)
    w = next(
        sg.Tensors(i) for i in range(sg.TensorsLength()) if sg.Tensors(i).Quantization().ScaleLength() > 1
    )
    q = w.Quantization()
    scale_vec = q._tab.Vector(q._tab.Offset(8)) - 4
    zp_vec = q._tab.Vector(q._tab.Offset(10)) - 4
    bad = _patch(_patch(buf, scale_vec, "I", 2), zp_vec, "I", 2)
    _refuse(bad, tmp_path, "2 scales for")
    _refuse(_patch(buf, scale_vec, "I", 2), tmp_path, "zero points")
    _refuse(_patch(buf, q._tab.Vector(q._tab.Offset(8)), "f", float("nan")), tmp_path, "finite and positive")


def test_operator_indices_and_graph_order(mlperf_ref_model, tmp_path):
    buf = _ref_bytes(mlperf_ref_model)
    sg = _root(buf).Subgraphs(0)
    op0, op1 = sg.Operators(0), sg.Operators(1)
    in0 = op0._tab.Vector(op0._tab.Offset(6))
    _refuse(_patch(buf, in0, "i", 5000), tmp_path, "tensor index 5000 out of range")
    _refuse(_patch(buf, in0, "i", -2), tmp_path, "tensor index -2 out of range")
    # op 0 reading what op 1 writes: not produced before use
    _refuse(_patch(buf, in0, "i", int(op1.OutputsAsNumpy()[0])), tmp_path, "before any operator writes it")
    # op 1 writing op 0's output again
    out1 = op1._tab.Vector(op1._tab.Offset(8))
    _refuse(_patch(buf, out1, "i", int(op0.OutputsAsNumpy()[0])), tmp_path, "already written")
    _refuse(_patch(buf, _field(op1, 0), "I", 99), tmp_path, "opcode index 99 out of range")
    # a vtable pointing outside the file
    _refuse(_patch(buf, op0._tab.Pos, "i", -(2**30)), tmp_path, "vtable")


def test_every_verb_refuses_a_corrupt_model_in_one_line(mlperf_ref_model, tmp_path, capsys):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(_ref_bytes(mlperf_ref_model)[:30000])
    mdir = tmp_path / "badmodel"
    mdir.mkdir()
    (mdir / "model_int8.tflite").write_bytes(bad.read_bytes())
    (mdir / "tinykws.json").write_text((ROOT / "models" / "demo" / "tinykws.json").read_text())
    wav = PEERS / "tflm-micro-speech" / "yes_1000ms.wav"
    runs = [
        (["compile", str(bad), "--out", str(tmp_path / "c")], bad),
        (["export", str(mdir), "--out", str(tmp_path / "e")], mdir / "model_int8.tflite"),
        (["build", "--board", "qemu-m4", "--model", str(bad)], bad),
        (["bench", "--board", "qemu-m4", "--model", str(bad)], bad),
        (
            [
                "report",
                "--board",
                "qemu-m4",
                "--model",
                str(bad),
                "--labels",
                "mlperf",
                "--frontend",
                "mlperf",
                "--out",
                str(tmp_path / "r"),
            ],
            bad,
        ),
    ]
    if wav.is_file():
        runs.append(
            (["listen", "--model", str(mdir), "--simulate", "--audio", str(wav)], mdir / "model_int8.tflite")
        )
    for argv, named in runs:
        assert main(argv) == 2, argv
        err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("tinykws: error:")]
        assert len(err) == 1 and f"{named}: not a readable .tflite model" in err[0], (argv, err)
    with pytest.raises(TinyKWSError, match="not a readable .tflite"):
        TFLMRunner(bad)


def test_fuzz_compile_no_traceback(mlperf_ref_model):
    out = run_compile(_ref_bytes(mlperf_ref_model), n=240, seed=16, keep_accepted=3)
    assert out.failures == [], out.failures[:5]
    assert out.tried == 240 and out.refused + out.accepted == 240
    # every kind was exercised, and both outcomes occur (truncation and garbage: always refused)
    assert out.by_kind["truncate"][1] == out.by_kind["truncate"][0]
    assert out.by_kind["garbage"][1] == out.by_kind["garbage"][0]
    assert out.accepted > 0 and out.refused > 100


def test_fuzz_accepted_mutants_bitexact_with_tflite_micro(mlperf_ref_model, tmp_path):
    """Differential rule on a few accepted mutants: TFLM accepts them too, same int8 outputs."""
    from tinykws.export._hostbuild import HostModel, build_host_library

    out = run_compile(_ref_bytes(mlperf_ref_model), n=60, seed=3, keep_accepted=2)
    assert len(out.accepted_models) == 2
    rng = np.random.default_rng(0)
    xs = rng.integers(-128, 128, size=(20, 490), dtype=np.int8)
    for i, data in out.accepted_models:
        d = tmp_path / f"m{i}"
        res = compiler.compile_model(data, d)
        lib = HostModel(build_host_library(d, d / "lib.so"), 490, int(np.prod(res.output_shape)))
        want = TFLMRunner(data).invoke_batch(xs)
        assert (lib.invoke_batch(xs) == want).all(), f"mutant {i} differs from tflite_micro"


def _unverified_read(src, where):
    """The reader before issue 16: the generated `tflite` classes, trusting every offset."""
    import tflite
    from tflite.BuiltinOperator import BuiltinOperator

    buf = Path(src).read_bytes() if not isinstance(src, bytes) else src
    names = {v: k for k, v in BuiltinOperator.__dict__.items() if not k.startswith("_")}
    model = tflite.Model.GetRootAsModel(buf, 0)
    sg = model.Subgraphs(0)
    tensors = []
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        b = model.Buffers(t.Buffer())
        data = None
        if b.DataLength():
            dt = {9: np.int8, 2: np.int32}.get(t.Type())
            if dt is not None:
                data = np.frombuffer(b.DataAsNumpy().tobytes(), dt).reshape(shape)
        q = t.Quantization()
        tensors.append(
            compiler._Tensor(
                i,
                t.Name().decode(),
                shape,
                int(t.Type()),
                data,
                np.asarray(q.ScaleAsNumpy() if q.ScaleLength() else [], np.float32),
                np.asarray(q.ZeroPointAsNumpy() if q.ZeroPointLength() else [], np.int64),
                int(q.QuantizedDimension()),
            )
        )
    ops = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        oc = model.OperatorCodes(op.OpcodeIndex())
        kind = names.get(max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode()), "?")
        o = read_tflite.__globals__["_OPTION_FIELDS"].get(read_tflite.__globals__["OP_OPTIONS"].get(kind))
        opts = None
        if o is not None:
            table = op.BuiltinOptions()
            opts = {}
            for slot, name, fmt, default in o[1]:
                off = table.Offset(4 + 2 * slot)
                opts[name] = struct.unpack_from("<" + fmt, buf, table.Pos + off)[0] if off else default
        ops.append(compiler._Op(kind, list(op.InputsAsNumpy()), list(op.OutputsAsNumpy()), opts))
    return tensors, ops, list(sg.InputsAsNumpy()), list(sg.OutputsAsNumpy())


def test_fuzz_catches_a_planted_fault(mlperf_ref_model, monkeypatch, tmp_path):
    """With the unverified read restored, the same seeded fuzz finds tracebacks."""
    buf = _ref_bytes(mlperf_ref_model)
    monkeypatch.setattr(compiler, "_read_model", _unverified_read)
    assert compiler.compile_model(buf, tmp_path).ops  # still works on valid input
    out = run_compile(buf, n=60, seed=16)
    tracebacks = [f for f in out.failures if f[2].startswith("traceback")]
    assert len(tracebacks) >= 5, out.failures[:3]


def test_mutants_are_seeded(mlperf_ref_model):
    buf = _ref_bytes(mlperf_ref_model)
    a = [m for _, m in mutants(buf, 12, 5)]
    assert a == [m for _, m in mutants(buf, 12, 5)] and a != [m for _, m in mutants(buf, 12, 6)]
