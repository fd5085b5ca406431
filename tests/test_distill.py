"""Teachers, their cache and `tinykws distill`: the teacher's input is computed as its package
computes it, cached outputs survive crashes and corruption, and bad input is one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tonecorpus import make_mswc

from tinykws.cli import main
from tinykws.errors import TinyKWSError


def _teacher_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("eff_word_net") is not None and importlib.util.find_spec(
        "onnxruntime"
    ) is not None


needs_teacher = pytest.mark.skipif(
    not _teacher_installed(), reason="the teachers extra (efficientword-net, onnxruntime) is not installed"
)


def test_log_filterbank_matches_python_speech_features():
    """The teacher's front end (64-band log filterbank, 25/10 ms, no window, no pre-emphasis) in
    our vectorised code equals python_speech_features' per-clip logfbank, which is the code
    EfficientWord-Net's audio_utils carries; and equals that package's own when installed."""
    import python_speech_features as psf

    from tinykws.training.teacher import TEACHERS, log_filterbank

    spec = TEACHERS["efficientword-net"]
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((3, spec.window_samples))).astype(np.float32)
    x[1, :6000] = 0.0  # exact zeros: the log's epsilon floor
    ours = log_filterbank(x, spec)
    assert ours.shape == (3, 149, 64)
    refs = [psf.logfbank(c, 16000, 0.025, 0.01, 64, 512, preemph=0.0) for c in x]
    np.testing.assert_allclose(ours, np.stack(refs), atol=1e-4, rtol=1e-5)
    try:
        from eff_word_net.audio_utils import logfbank
    except ImportError:
        return
    for c, o in zip(x, ours, strict=True):
        np.testing.assert_allclose(o, logfbank(c, 16000, 0.025, 0.01, 64, 512, preemph=0.0), atol=1e-4)


class FakeTeacher:
    """A stand-in teacher: a fixed random projection of the clip's spectrum, unit length."""

    def __init__(self, name: str = "fake", threads: int | None = None) -> None:
        from tinykws.training.teacher import TeacherSpec

        self.spec = TeacherSpec("fake", "none", "none", 16000, 24000, 16, "none", "test")
        self.fingerprint = "0" * 16
        self.calls = 0
        self.w = np.random.default_rng(1).standard_normal((201, 16)).astype(np.float32)

    @property
    def center_crop(self) -> int:
        return 4000

    def key(self) -> str:
        return "fake-0"

    def __call__(self, clips: np.ndarray, crop: int | None = None) -> np.ndarray:
        self.calls += len(clips)
        spec = np.abs(np.fft.rfft(clips.reshape(len(clips), -1, 400), axis=-1)).mean(1)[:, :201]
        e = np.log1p(spec) @ self.w
        return (e / np.linalg.norm(e, axis=1, keepdims=True)).astype(np.float32)


def test_cache_resumes_and_recomputes_corrupt_entries(tmp_path):
    from tinykws.training.teacher import TeacherCache

    rng = np.random.default_rng(0)
    clips = (0.1 * rng.standard_normal((10, 16000))).astype(np.float32)
    t = FakeTeacher()
    first = TeacherCache(tmp_path, t).embed(clips)
    assert t.calls == 10
    files = sorted((tmp_path / "fake-0").rglob("*.emb"))
    assert len(files) == 10
    again = TeacherCache(tmp_path, t)  # a second run (after a crash, say) computes nothing
    np.testing.assert_array_equal(again.embed(clips), first)
    assert t.calls == 10 and again.stats() == {"hits": 10, "computed": 0, "corrupt_recomputed": 0}
    files[0].write_bytes(files[0].read_bytes()[:-3])  # truncated
    data = bytearray(files[1].read_bytes())
    data[5] ^= 0xFF  # a flipped bit: the CRC catches it
    files[1].write_bytes(bytes(data))
    files[2].unlink()  # never written (the crash hit before it)
    third = TeacherCache(tmp_path, t)
    np.testing.assert_allclose(third.embed(clips), first, atol=1e-3)
    assert third.stats() == {"hits": 7, "computed": 3, "corrupt_recomputed": 2}
    assert t.calls == 13
    # keyed by crop too: another crop of the same clips is a different entry
    TeacherCache(tmp_path, t).embed(clips[:2], crop=0)
    assert t.calls == 15


def test_distill_tiny_with_a_stand_in_teacher(tmp_path, monkeypatch):
    """The whole verb on tone words, noise and windows across real clips, with a fake teacher:
    the embedding directory ships the embedding only, records teacher and pool, and has a NOTICE."""
    monkeypatch.setenv("TINYKWS_NO_PROGRESS", "1")
    import tinykws.training.teacher

    monkeypatch.setattr(tinykws.training.teacher, "Teacher", FakeTeacher)
    corpus = make_mswc(tmp_path / "c", speakers=5, takes=2)
    out = tmp_path / "emb"
    rc = main(["distill", "--real", str(corpus), "--unlabelled", "20", "--noise-clips", "10",
               "--filters", "8", "--blocks", "1", "--epochs", "1", "--dim", "8",
               "--cache", str(tmp_path / "cache"), "--out", str(out)])  # fmt: skip
    assert rc == 0
    meta = json.loads((out / "tinykws.json").read_text())
    assert meta["kind"] == "embedding" and meta["embedding_dim"] == 8
    assert meta["teacher"]["name"] == "fake"
    assert meta["data"]["languages"]["en"]["words"] == sorted(["yes", "no", "up", "down", "cat", "dog",
                                                               "tree"])
    assert meta["data"]["languages"]["en"]["sources"] == ["real"]
    pool = meta["data"]["distillation_pool"]
    assert pool["real"]["train"] == 7 * 3 * 2 and pool["real"]["dev"] == 7 * 1 * 2
    assert pool["unlabelled"]["train"] == 20
    assert pool["noise"]["train"] == 10
    assert meta["training"]["teacher_cache"]["computed"] == sum(sum(v.values()) for v in pool.values())
    assert -1.0 <= meta["figures"]["dev_cosine_to_teacher"] <= 1.0
    assert "Picovoice" in (out / "NOTICE").read_text()
    from tinykws.training.pretrain import load_embedding

    model, _ = load_embedding(out)
    assert model.output.shape[-1] == 8  # the embedding only: no geometry map, no word head
    assert {layer.name for layer in model.layers}.isdisjoint({"geometry", "words"})


def test_unlabelled_windows_join_two_clips():
    from tinykws.training.distill import unlabelled_windows

    a = np.stack([np.full(16000, 1.0, np.float32), np.full(16000, 2.0, np.float32)])
    w = unlabelled_windows(a, 8, np.random.default_rng(0))
    assert w.shape == (8, 16000)
    for x in w:  # the end of one clip, then the start of the other
        cut = int(np.argmax(x != x[0]))
        assert 4000 <= 16000 - cut <= 12000 and {x[0], x[-1]} == {1.0, 2.0}


def test_distill_bad_input(tmp_path, capsys, monkeypatch):
    out = tmp_path / "e"
    assert main(["distill", "--out", str(out)]) == 2  # no pool at all
    assert "the pool holds no audio" in capsys.readouterr().err
    assert main(["distill", "--teacher", "nope", "--real", str(tmp_path), "--out", str(out)]) == 2
    assert "unknown teacher 'nope'; known: efficientword-net" in capsys.readouterr().err
    import importlib.util

    real_find = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "eff_word_net" else real_find(n, *a)
    )
    assert main(["distill", "--real", str(tmp_path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'tinykws[teachers]'" in err
    assert not out.exists()


@needs_teacher
def test_teacher_files_absent_corrupt_or_mismatched(tmp_path, monkeypatch):
    import tinykws.training.teacher as T

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx model")
    monkeypatch.setattr(T, "weights_path", lambda spec: bad)
    with pytest.raises(TinyKWSError, match="is not a readable ONNX model"):
        T.Teacher("efficientword-net")
    monkeypatch.undo()
    spec = T.TEACHERS["efficientword-net"]
    missing = T.TeacherSpec(**{**spec.__dict__, "weights": "models/none.onnx"})
    monkeypatch.setitem(T.TEACHERS, "efficientword-net", missing)
    with pytest.raises(TinyKWSError, match="weights file .* is missing"):
        T.Teacher("efficientword-net")
    short = T.TeacherSpec(**{**spec.__dict__, "window_samples": 16000})  # 1 s, not the 1.5 s it takes
    monkeypatch.setitem(T.TEACHERS, "efficientword-net", short)
    with pytest.raises(TinyKWSError, match="sample rate or window does not match"):
        T.Teacher("efficientword-net")


@needs_teacher
def test_teacher_output_is_its_package_output():
    """Our Teacher (own front end, centred crop) gives what EfficientWord-Net's own backend gives
    for the same 1.5 s window: the input is computed as the teacher was trained."""
    from eff_word_net.audio_processing import Resnet50_Arc_loss

    from tinykws.training.teacher import Teacher, place

    rng = np.random.default_rng(0)
    clip = np.zeros((1, 16000), np.float32)
    clip[0, 4000:12000] = 0.3 * np.sin(np.linspace(0, 900, 8000)) * rng.uniform(0.5, 1, 8000)
    t = Teacher("efficientword-net")
    ours = t(clip)[0]
    ref = Resnet50_Arc_loss().audioToVector(place(clip, 24000, t.center_crop)[0])[0]
    assert ours.shape == (2048,)
    assert float(ours @ ref) > 0.999


def _tiny_distill_args(tmp_path, corpus, out, *extra):
    return ["distill", "--real", str(corpus), "--unlabelled", "20", "--noise-clips", "10",
            "--filters", "8", "--blocks", "1", "--dim", "8", "--cache", str(tmp_path / "cache"),
            "--out", str(out), *extra]  # fmt: skip


def test_distill_resumes_from_its_checkpoint(tmp_path, monkeypatch, capsys):
    """A run killed after an epoch resumes there (weights and Adam moments kept), refuses to
    resume with other arguments, and removes its checkpoint once the embedding is written."""
    monkeypatch.setenv("TINYKWS_NO_PROGRESS", "1")
    import tensorflow as tf

    import tinykws.training.pretrain
    import tinykws.training.teacher

    monkeypatch.setattr(tinykws.training.teacher, "Teacher", FakeTeacher)
    corpus = make_mswc(tmp_path / "c", speakers=5, takes=2)
    out = tmp_path / "emb"
    args = _tiny_distill_args(tmp_path, corpus, out, "--epochs", "3")

    def crash_after_first(epochs, verb):  # runs after the checkpoint callback, as a kill would
        def boom(epoch, logs):
            raise KeyboardInterrupt

        return tf.keras.callbacks.LambdaCallback(on_epoch_end=boom)

    real_notice = tinykws.training.pretrain._EpochNotice
    monkeypatch.setattr(tinykws.training.pretrain, "_EpochNotice", crash_after_first)
    assert main(args) == 130  # the CLI's answer to an interrupt
    assert "interrupted" in capsys.readouterr().err
    assert not out.exists()
    ckpt = tmp_path / ".emb.ckpt"
    state = json.loads((ckpt / "state.json").read_text())
    assert state["epoch"] == 0 and (ckpt / state["file"]).is_file()
    monkeypatch.setattr(tinykws.training.pretrain, "_EpochNotice", real_notice)

    assert main([*args[:-2], "--epochs", "4", "--out", str(out), "--resume"]) == 2
    assert "arguments differ from the checkpointed run" in capsys.readouterr().err
    assert main([*args, "--resume"]) == 0
    meta = json.loads((out / "tinykws.json").read_text())
    assert meta["training"]["resumed_at_epoch"] == 1
    assert len(meta["training"]["history"]["loss"]) == 3
    assert not ckpt.exists()
    assert main([*args, "--resume"]) == 2
    assert "no readable distillation checkpoint" in capsys.readouterr().err


def test_distill_warm_start_copies_the_embedding(tmp_path, monkeypatch, capsys):
    """--init starts the student from an embedding: before any step its embedding equals the
    init's on the same input; a DS-CNN of another shape is refused in one line."""
    monkeypatch.setenv("TINYKWS_NO_PROGRESS", "1")
    import tinykws.training.teacher
    from tinykws.training.distill import _warm_start, student_model
    from tinykws.training.pretrain import EMBEDDING_LAYER, embedding_model, load_embedding

    monkeypatch.setattr(tinykws.training.teacher, "Teacher", FakeTeacher)
    corpus = make_mswc(tmp_path / "c", speakers=5, takes=2)
    first = tmp_path / "first"
    assert main(_tiny_distill_args(tmp_path, corpus, first, "--epochs", "1")) == 0
    emb, _ = load_embedding(first)
    student = student_model((49, 10), 8, 1, 8, 0)
    _warm_start(student, first)
    x = np.random.default_rng(0).standard_normal((4, 49, 10, 1)).astype(np.float32)
    np.testing.assert_allclose(embedding_model(student)(x).numpy(), emb(x).numpy(), atol=1e-6)
    assert student.get_layer(EMBEDDING_LAYER).output.shape[-1] == 8

    assert main(_tiny_distill_args(tmp_path, corpus, tmp_path / "w", "--epochs", "1", "--init",
                                   str(first))) == 0  # fmt: skip
    meta = json.loads((tmp_path / "w" / "tinykws.json").read_text())
    assert meta["training"]["warm_start"] == str(first)
    bad = _tiny_distill_args(tmp_path, corpus, tmp_path / "x", "--init", str(first))
    bad[bad.index("--filters") + 1] = "16"
    assert main(bad) == 2
    err = capsys.readouterr().err
    assert "--init:" in err and "8 x 1 DS-CNN" in err and err.count("\n") == 1
    assert main(_tiny_distill_args(tmp_path, corpus, tmp_path / "x", "--init", str(tmp_path))) == 2
    assert "--init:" in capsys.readouterr().err
