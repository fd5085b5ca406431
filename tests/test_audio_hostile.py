"""Hostile audio: truncated, corrupt and adversarial files of every kind a corpus or `--clips` reads.

Why these tests: a corpus of real downloads holds truncated files, and a user's folder can hold
anything named .wav. Each hostile kind below is made here (soundfile, numpy, raw bytes; the
10-hour ones are headers or sparse files, never 10 hours written) and must be refused by the
verified reader (tinykws.audio.read_mono) with its kind: skipped and counted in a corpus (the
other clips still read), a one-line error naming the file with exit code 2 for `fewshot
--clips`, `fewshot --unknown-clips`, `features` and `listen --audio`, and nothing written.
Valid audio must decode to exactly the samples it always gave.
"""

from __future__ import annotations

import io
import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tinykws.audio import BadAudio, load_audio, read_mono, resample
from tinykws.cli import main

SR = 16000
TEN_HOURS = 10 * 3600


def _word(seed: int = 0, sr: int = SR, seconds: float = 1.0) -> np.ndarray:
    """A loud harmonic burst in quiet: passes fewshot's checks, so only hostility can fail."""
    rng = np.random.default_rng(seed)
    n = int(sr * seconds)
    t = np.arange(n) / sr
    env = np.exp(-(((t - seconds / 2) / 0.12) ** 2))
    x = sum(np.sin(2 * np.pi * (130 + 20 * seed) * h * t) / h for h in range(1, 6)) * env
    return (0.5 * x / np.max(np.abs(x)) + 1e-3 * rng.standard_normal(n)).astype(np.float32)


def _encode(x: np.ndarray, sr: int, fmt: str, subtype: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def _wav() -> bytes:
    return _encode(_word(), SR, "WAV", "PCM_16")


def _flac() -> bytes:
    return _encode(_word(), SR, "FLAC", "PCM_16")


def _opus() -> bytes:
    return _encode(_word(sr=48000), 48000, "OGG", "OPUS")


def _riff(channels: int = 1, rate: int = SR, bits: int = 16, data: bytes = b"\0" * 32000,
          data_size: int | None = None, fmt_tag: int = 1) -> bytes:  # fmt: skip
    """A WAV made by hand, so that any field may lie."""
    block = max(1, channels) * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits)
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _set_u32(b: bytes, at: int, value: int) -> bytes:
    out = bytearray(b)
    out[at : at + 4] = struct.pack("<I", value)
    return bytes(out)


def _wav_data_size(b: bytes, value: int) -> bytes:
    return _set_u32(b, b.index(b"data") + 4, value)


def _flac_total(b: bytes, total: int) -> bytes:
    """FLAC with STREAMINFO's 36-bit total-samples field set to `total`."""
    out = bytearray(b)
    v = int.from_bytes(out[18:26], "big")
    out[18:26] = ((v & ~((1 << 36) - 1)) | total).to_bytes(8, "big")
    return bytes(out)


def _ogg_crc(page: bytes) -> int:
    crc = 0
    for byte in page:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc


def _opus_granule(b: bytes, granule: int) -> bytes:
    """Ogg Opus whose last page's granule position (hence its length) is `granule`, CRC mended."""
    i = b.rfind(b"OggS")
    page = bytearray(b[i:])
    page[6:14] = struct.pack("<q", granule)
    page[22:26] = b"\0\0\0\0"
    page[22:26] = struct.pack("<I", _ogg_crc(bytes(page)))
    return b[:i] + bytes(page)


def _float_wav(value: float) -> bytes:
    x = _word()
    x[4000] = value
    return _encode(x, SR, "WAV", "FLOAT")


def _garbage(n: int = 6000) -> bytes:
    return np.random.default_rng(7).bytes(n)


def _sparse_ten_hour_wav(path: Path) -> None:
    """A real 10-hour 16 kHz WAV as a sparse file: a correct header, 1.15 GB of zeros unwritten."""
    n = TEN_HOURS * SR * 2
    with path.open("wb") as f:
        f.write(_riff(data=b"", data_size=n)[:44])
        f.truncate(44 + n)


def _cut(b: bytes, frac: float = 0.6) -> bytes:
    return b[: int(len(b) * frac)]


def _no_last_page(b: bytes) -> bytes:
    """Ogg cut exactly at its last page: every page whole, the end-of-stream one missing."""
    return b[: b.rfind(b"OggS")]


def _riff_garbage() -> bytes:
    return b"RIFF" + struct.pack("<I", 6004) + b"WAVE" + _garbage()


# name -> (file name, maker of its bytes (None: the sparse file), refusal kind, words in the message)
Maker = Callable[[], bytes]
T, U, B, L = "truncated", "unreadable", "bad header", "length mismatch"
HOSTILE: dict[str, tuple[str, Maker | None, str, str]] = {
    "truncated_opus": ("a.opus", lambda: _cut(_opus()), T, "last page is cut off"),
    "opus_without_last_page": ("b.opus", lambda: _no_last_page(_opus()), T, "no end-of-stream page"),
    "truncated_flac": ("c.flac", lambda: _cut(_flac()), U, "corrupt audio data"),
    "truncated_wav": ("d.wav", lambda: _cut(_wav()), T, "header announces 32000"),
    "wav_data_longer_than_file": ("e.wav", lambda: _wav_data_size(_wav(), 64000), T, "the file holds"),
    "wav_data_shorter_than_file": ("f.wav", lambda: _wav_data_size(_wav(), 16000), L, "shorter data chunk"),
    "flac_total_shorter_than_data": ("g.flac", lambda: _flac_total(_flac(), 8000), L, "the data holds 16000"),
    "flac_total_unknown": ("h.flac", lambda: _flac_total(_flac(), 0), B, "does not announce a length"),
    "wav_rate_zero": ("i.wav", lambda: _riff(rate=0), B, "sample rate of 0 Hz"),
    "wav_rate_huge": ("j.wav", lambda: _riff(rate=1_000_000_000), B, "sample rate of 1000000000 Hz"),
    "wav_rate_one": ("k.wav", lambda: _riff(rate=1), B, "sample rate of 1 Hz"),
    "wav_zero_channels": ("l.wav", lambda: _riff(channels=0), B, "0 channels"),
    "float_wav_nan": ("m.wav", lambda: _float_wav(float("nan")), "non-finite", "NaN or infinite"),
    "float_wav_inf": ("n.wav", lambda: _float_wav(float("inf")), "non-finite", "NaN or infinite"),
    "float_wav_minus_inf": ("o.wav", lambda: _float_wav(float("-inf")), "non-finite", "NaN or infinite"),
    "garbage_wav": ("p.wav", _garbage, U, "not a readable audio file"),
    "garbage_opus": ("q.opus", _garbage, U, "not a readable audio file"),
    "garbage_flac": ("r.flac", _garbage, U, "not a readable audio file"),
    "riff_then_garbage": ("s.wav", _riff_garbage, U, "corrupt WAV"),
    "empty": ("t.wav", lambda: b"", "empty", "empty (0 bytes)"),
    "wav_header_says_10_hours": ("u.wav", lambda: _wav_data_size(_wav(), TEN_HOURS * SR * 2), T,
                                 "header announces 1152000000 bytes"),
    "flac_header_says_10_hours": ("v.flac", lambda: _flac_total(_flac(), TEN_HOURS * SR), "too long",
                                  "10.0 h at 16000 Hz"),
    "opus_header_says_10_hours": ("w.opus", lambda: _opus_granule(_opus(), TEN_HOURS * 48000), "too long",
                                  "10.0 h at 48000 Hz"),
    "wav_of_10_hours_sparse": ("x.wav", None, "too long", "MB, more than 30 s of audio"),
}  # fmt: skip


def _make(kind: str, folder: Path) -> Path:
    name, maker, _, _ = HOSTILE[kind]
    p = folder / name
    if maker is None:
        _sparse_ten_hour_wav(p)
    else:
        p.write_bytes(maker())
    return p


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_reader_refuses_each_hostile_kind(kind, tmp_path):
    p = _make(kind, tmp_path)
    _, _, reason, words = HOSTILE[kind]
    tracemalloc.start()
    try:
        with pytest.raises(BadAudio) as ei:
            read_mono(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ei.value.reason == reason, ei.value.why
    assert words in ei.value.why and str(p) in str(ei.value)
    assert "\n" not in str(ei.value)
    assert peak < 4 * 2**20, f"{kind}: {peak} bytes traced while refusing"


def test_valid_files_decode_as_before(tmp_path):
    """Same samples as libsndfile's whole-file read (mixed down by row means), for each format
    and a streamed WAV whose data size was never patched (0xFFFFFFFF): valid, still read."""
    rng = np.random.default_rng(1)
    cases = {
        "mono.wav": (_word(), SR, "WAV", "PCM_16"),
        "stereo.wav": ((rng.standard_normal((44100, 2)) * 0.2).astype(np.float32), 44100, "WAV", "PCM_24"),
        "six.wav": ((rng.standard_normal((8000, 6)) * 0.2).astype(np.float32), 22050, "WAV", "FLOAT"),
        "mono.flac": (_word(), SR, "FLAC", "PCM_16"),
        "stereo.flac": ((rng.standard_normal((70000, 2)) * 0.2).astype(np.float32), 48000, "FLAC", "PCM_16"),
        "mono.opus": (_word(sr=48000), 48000, "OGG", "OPUS"),
        "long.wav": ((rng.standard_normal((SR * 25, 1)) * 0.2).astype(np.float32), SR, "WAV", "PCM_16"),
    }
    for name, (x, sr, fmt, sub) in cases.items():
        (tmp_path / name).write_bytes(_encode(x, sr, fmt, sub))
    (tmp_path / "streamed.wav").write_bytes(_wav_data_size(_wav(), 0xFFFFFFFF))
    for p in sorted(tmp_path.iterdir()):
        data, sr = sf.read(str(p), dtype="float32", always_2d=True)
        ref = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
        got, h = read_mono(p)
        assert h.samplerate == sr and np.array_equal(got, ref), p.name
        old_load = np.clip(resample(ref, sr, SR), -1.0, 1.0)
        assert np.array_equal(load_audio(p, quiet=True), old_load), p.name


def _folder_corpus(root: Path, kinds: list[str]) -> tuple[int, int]:
    """Word folders with good clips (wav, flac, opus) and every hostile kind: (good, hostile)."""
    good = 0
    for w, seed in (("ja", 1), ("nein", 2)):
        (root / w).mkdir(parents=True)
        for i in range(3):
            (root / w / f"s{i}_nohash_0.wav").write_bytes(_encode(_word(seed + i), SR, "WAV", "PCM_16"))
            good += 1
        (root / w / "s9_nohash_0.flac").write_bytes(_encode(_word(seed), SR, "FLAC", "PCM_16"))
        (root / w / "s8_nohash_0.opus").write_bytes(_encode(_word(seed, sr=48000), 48000, "OGG", "OPUS"))
        good += 2
    bad = root / "ja"
    for k in kinds:
        p = _make(k, bad)
        p.rename(bad / f"h{k}_nohash_0{p.suffix}")
    return good, len(kinds)


def test_folder_corpus_skips_and_counts_every_hostile_kind(tmp_path, capsys):
    from tinykws.data.corpus import load_clips, read_corpus

    good, bad = _folder_corpus(tmp_path / "c", sorted(HOSTILE))
    corpus = read_corpus(tmp_path / "c")
    assert len(corpus.clips) == good + bad
    tracemalloc.start()
    try:
        audio, idx, skipped = load_clips(corpus.clips, jobs=2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert skipped == bad and len(idx) == good and audio.shape == (good, SR)
    assert all(corpus.clips[i].speaker[0] == "s" for i in idx)  # the good ones, and all of them
    assert np.all(np.isfinite(audio)) and np.all(np.abs(audio).max(axis=1) > 0.3)
    assert peak < 16 * 2**20  # the 10-hour files cost nothing
    err = capsys.readouterr().err
    line = next(ln for ln in err.splitlines() if "skipped" in ln)
    n = {r: sum(1 for k in HOSTILE if HOSTILE[k][2] == r) for r in {v[2] for v in HOSTILE.values()}}
    assert f"skipped {bad} unreadable clips of {good + bad}:" in line
    for reason, k in n.items():
        assert f"{k} {reason}" in line


def test_mswc_corpus_skips_hostile_opus(tmp_path, capsys):
    """The MSWC layout: truncated and lying Opus clips beside good ones are skipped and counted."""
    from tinykws.data.corpus import load_clips, read_corpus

    lang = tmp_path / "m" / "de"
    rows = ["SET,LINK,WORD,VALID,SPEAKER,GENDER"]
    for i in range(4):
        d = lang / "clips" / "hallo"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"good{i}.opus").write_bytes(_encode(_word(i, sr=48000), 48000, "OGG", "OPUS"))
        rows.append(f"TRAIN,hallo/good{i}.opus,hallo,True,spk{i},NAN")
    for k in ("truncated_opus", "opus_without_last_page", "opus_header_says_10_hours", "garbage_opus"):
        p = _make(k, lang / "clips" / "hallo")
        rows.append(f"TRAIN,hallo/{p.name},hallo,True,spk{k},NAN")
    (lang / "de_splits.csv").write_text("\n".join(rows) + "\n")
    corpus = read_corpus(tmp_path / "m", languages=["de"])
    audio, idx, skipped = load_clips(corpus.clips, jobs=2)
    assert skipped == 4 and len(idx) == 4
    assert sorted(corpus.clips[i].path.name for i in idx) == [f"good{i}.opus" for i in range(4)]
    assert "skipped 4 unreadable clips of 8: 2 truncated, 1 too long, 1 unreadable" in capsys.readouterr().err


def test_load_clips_counts_the_skipped(tmp_path):
    """load_clips returns the count of refused clips, the number train's tinykws.json and
    evaluate's result record as `skipped_clips`."""
    from tinykws.data.corpus import load_clips, read_corpus

    _folder_corpus(tmp_path / "c", ["truncated_wav", "float_wav_nan"])
    _, _, skipped = load_clips(read_corpus(tmp_path / "c").clips, jobs=1)
    assert skipped == 2


@pytest.fixture()
def fake_embedding(tmp_path: Path) -> Path:
    """An embedding directory that passes fewshot's first check: the clips are read and
    refused before the model is ever loaded, so no TensorFlow is needed here."""
    d = tmp_path / "emb"
    d.mkdir()
    (d / "model.keras").write_bytes(b"")
    return d


def _one_line(err: str, path: Path) -> None:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("tinykws: error: ") and str(path) in lines[0], err
    assert "Traceback" not in err


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_fewshot_clips_refuse_each_kind(kind, tmp_path, fake_embedding, capsys):
    good = []
    for i in range(5):
        p = tmp_path / f"shot{i}.wav"
        p.write_bytes(_encode(_word(i), SR, "WAV", "PCM_16"))
        good.append(str(p))
    bad = _make(kind, tmp_path)
    out = tmp_path / "model"
    as_shot = ["--clips", good[0], str(bad), *good[1:]]
    as_unknown = ["--clips", *good, "--unknown-clips", str(bad)]
    for flag_args in (as_shot, as_unknown):
        rc = main(["fewshot", "--keyword", "hallo", "--language", "de", *flag_args,
                   "--embedding", str(fake_embedding), "--out", str(out)])  # fmt: skip
        assert rc == 2
        _one_line(capsys.readouterr().err, bad)
        assert not out.exists()


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_features_and_listen_refuse_each_kind(kind, tmp_path, capsys):
    good = tmp_path / "good.wav"
    good.write_bytes(_encode(_word(), SR, "WAV", "PCM_16"))
    bad = _make(kind, tmp_path)
    out = tmp_path / "feat"
    assert main(["features", "--out", str(out), str(good), str(bad)]) == 2
    _one_line(capsys.readouterr().err, bad)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == sorted([good.name, bad.name])
    model = tmp_path / "m.tflite"
    model.write_bytes(b"TFL3")  # never opened: the recording is refused first
    argv = ["listen", "--simulate", "--model", str(model), "--frontend", "mlperf", "--labels", "a,b",
            "--audio", str(bad)]  # fmt: skip
    assert main(argv) == 2
    _one_line(capsys.readouterr().err, bad)


def test_listen_bound_is_an_hour_and_reads_nothing_longer(tmp_path):
    from tinykws.device.listen import STREAM_MAX_SECONDS, load_stream

    p = tmp_path / "long.wav"
    _sparse_ten_hour_wav(p)
    tracemalloc.start()
    try:
        with pytest.raises(BadAudio, match=r"10\.0 h at 16000 Hz, this reader takes at most 3600 s"):
            load_stream(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert STREAM_MAX_SECONDS == 3600 and peak < 4 * 2**20


def test_noise_bank_skips_hostile_files_and_reads_only_the_head_of_long_ones(tmp_path, capsys):
    """A 10-hour noise recording is valid: only the first 60 s (+1 s) are decoded. Hostile files
    are skipped with one notice; the segments of the good file are the ones a whole read gives."""
    from tinykws.data.noise import NoiseBank

    d = tmp_path / "noise"
    d.mkdir()
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(44100 * 3) * 0.2).astype(np.float32)
    (d / "good.wav").write_bytes(_encode(x, 44100, "WAV", "PCM_16"))
    _sparse_ten_hour_wav(d / "tenhours.wav")  # digital silence: read, then dropped as silent
    for k in ("truncated_wav", "float_wav_nan", "garbage_flac", "truncated_opus"):
        _make(k, d)
    tracemalloc.start()
    try:
        bank = NoiseBank(folders=[d], n_synth=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20  # 61 s of the 10-hour file, not 10 hours (2.3 GB as float32)
    data, _ = sf.read(str(d / "good.wav"), dtype="float32")
    whole = np.clip(resample(data, 44100, SR), -1, 1)
    want = [whole[k * SR : (k + 1) * SR] for k in range(len(whole) // SR)]
    assert len(bank.segments) == len(want) == 3
    for seg, w in zip(bank.segments, want, strict=True):
        assert np.array_equal(seg, (w / np.max(np.abs(w))).astype(np.float32))
    assert "noise bank: skipped 4 unreadable file(s)" in capsys.readouterr().err


def test_not_a_regular_file_is_refused_without_blocking(tmp_path):
    import os

    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)  # sf.info on a FIFO would wait for a writer forever
    with pytest.raises(BadAudio, match="not a regular file"):
        read_mono(fifo)
    with pytest.raises(BadAudio, match="not a regular file"):
        read_mono(tmp_path)
    with pytest.raises(BadAudio, match="file not found"):
        read_mono(tmp_path / "nothing.wav")
