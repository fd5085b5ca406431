"""Core helpers: atomic writes, audio loading and the CLI error path."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest
import soundfile as sf

from tinykws import cli
from tinykws.audio import fix_length, load_audio
from tinykws.errors import TinyKWSError
from tinykws.fsutil import atomic_dir, atomic_write_bytes


def test_atomic_write_replaces_whole_file(tmp_path):
    p = tmp_path / "a" / "f.bin"
    atomic_write_bytes(p, b"one")
    atomic_write_bytes(p, b"two")
    assert p.read_bytes() == b"two"
    assert [x.name for x in p.parent.iterdir()] == ["f.bin"]


def test_atomic_write_disk_full_leaves_nothing(tmp_path, monkeypatch):
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(TinyKWSError, match="disk full"):
        atomic_write_bytes(tmp_path / "m.tflite", b"x" * 100)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_is_all_or_nothing(tmp_path):
    dest = tmp_path / "model"
    with atomic_dir(dest) as d:
        (d / "a").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(dest) as d:
            (d / "a").write_text("2")
            raise RuntimeError("crash mid-write")
    assert (dest / "a").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_load_audio_stereo_and_resample(tmp_path, capsys):
    t = np.arange(44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.zeros_like(t)], axis=1) * 0.5
    p = tmp_path / "s.wav"
    sf.write(p, stereo, 44100)
    x = load_audio(p)
    err = capsys.readouterr().err
    assert "mixed down" in err and "resampled 44100 Hz -> 16000 Hz" in err
    assert abs(len(x) - 16000) <= 1
    assert 0.2 < np.max(np.abs(x)) < 0.3  # mean of the two channels


@pytest.mark.parametrize(
    "content,match", [(b"", "empty"), (b"hello, not audio" * 10, "not a readable audio")]
)
def test_load_audio_bad_files(tmp_path, content, match):
    p = tmp_path / "bad.wav"
    p.write_bytes(content)
    with pytest.raises(TinyKWSError, match=match) as ei:
        load_audio(p)
    assert str(p) in str(ei.value)


def test_fix_length_keeps_late_word():
    x = np.zeros(24000, np.float32)
    x[20000:21000] = 0.5
    y = fix_length(x)
    assert len(y) == 16000 and np.abs(y).sum() > 0


def test_cli_without_verb_exits_2(capsys):
    assert cli.main([]) == 2
