"""Corpus readers: fake MSWC (48 kHz Opus), folder corpora, corrupt clips, error messages."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from tinykws.data.corpus import Corpus, load_clips, read_corpus, speaker_of, split_of_speaker
from tinykws.errors import TinyKWSError

HEADER = "SET,LINK,WORD,VALID,SPEAKER,GENDER"


def _tone(freq: float, sr: int, seconds: float = 1.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    x = 0.5 * np.sin(2 * np.pi * freq * t)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def _dominant_hz(x: np.ndarray, sr: int = 16000) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(spec)])


@pytest.fixture
def fake_mswc(tmp_path):
    """Two languages, real MSWC style: 48 kHz Opus clips, LINK relative to <lang>/clips/."""
    root = tmp_path / "mswc"
    en = [("TRAIN", "yes", "spk1"), ("TRAIN", "yes", "spk2"), ("DEV", "yes", "spk3"), ("TEST", "no", "spk4")]
    en += [("TRAIN", "no", "spk1"), ("TRAIN", "cat", "spk2")]
    rows = {"en": en, "de": [("TRAIN", "ja", "s9"), ("TEST", "nein", "s8")]}
    freqs = {"yes": 440.0, "no": 880.0, "cat": 660.0, "ja": 330.0, "nein": 550.0}
    for lang, rs in rows.items():
        lines = [HEADER]
        for i, (s, word, spk) in enumerate(rs):
            link = f"{word}/common_voice_{lang}_{i}.opus"
            p = root / lang / "clips" / link
            p.parent.mkdir(parents=True, exist_ok=True)
            sf.write(p, _tone(freqs[word], 48000), 48000, format="OGG", subtype="OPUS")
            lines.append(f"{s},{link},{word},True,{spk},NAN")
        lines.append(f"TRAIN,yes/invalid_{lang}.opus,yes,False,spkX,NAN")  # VALID=False rows are dropped
        (root / lang / f"{lang}_splits.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_mswc_opus_48k_read_and_resampled(fake_mswc, capsys) -> None:
    c = read_corpus(fake_mswc)
    assert c.kind == "mswc" and c.words() == ["cat", "ja", "nein", "no", "yes"]
    assert c.languages() == ["de", "en"] and len(c.clips) == 8
    en = read_corpus(fake_mswc, languages=["en"], words=["yes", "no"])
    assert len(en.clips) == 5 and {x.language for x in en.clips} == {"en"}
    assert [x.split for x in en.by_split("dev")] == ["dev"] and len(en.by_split("test")) == 1
    audio, idx, skipped = load_clips(en.clips, jobs=2)
    assert skipped == 0 and audio.shape == (5, 16000) and audio.dtype == np.float32
    assert list(idx) == [0, 1, 2, 3, 4]
    for x, i in zip(audio, idx, strict=True):
        want = 440.0 if en.clips[i].word == "yes" else 880.0
        assert abs(_dominant_hz(x) - want) < 5  # 48 kHz -> 16 kHz kept the pitch
    assert "resampled 5 clips from 48000 Hz to 16000 Hz" in capsys.readouterr().err


def test_mswc_min_clips_and_one_language_dir(fake_mswc) -> None:
    c = read_corpus(fake_mswc, languages=["en"], min_clips=2)
    assert c.words() == ["no", "yes"]  # cat has 1 clip
    with pytest.raises(TinyKWSError, match="'cat' has fewer than 2 clips"):
        read_corpus(fake_mswc, languages=["en"], words=["cat"], min_clips=2)
    one = read_corpus(fake_mswc / "de")  # a single language directory works as a root too
    assert one.kind == "mswc" and one.words() == ["ja", "nein"]


def test_mswc_bad_header_named(tmp_path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "en_splits.csv").write_text("SET,LINK,WORD\nTRAIN,a/b.wav,a\n")
    with pytest.raises(
        TinyKWSError, match=r"en_splits.csv: header must be SET,LINK,WORD,VALID,SPEAKER,GENDER"
    ):
        read_corpus(tmp_path)


def test_errors_name_what_was_looked_for(fake_mswc, tmp_path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(TinyKWSError) as e:
        read_corpus(missing)
    assert str(missing) in str(e.value) and "<lang>_splits.csv" in str(e.value) and "<word>" in str(e.value)
    with pytest.raises(TinyKWSError) as e:
        read_corpus(fake_mswc, languages=["fr"])
    assert "language fr not in this corpus" in str(e.value) and "de, en" in str(e.value)
    with pytest.raises(TinyKWSError) as e:
        read_corpus(fake_mswc, languages=["en"], words=["yes", "marvin"])
    assert "'marvin'" in str(e.value) and "languages en" in str(e.value) and str(fake_mswc) in str(e.value)
    with pytest.raises(TinyKWSError) as e:
        read_corpus(fake_mswc, languages=["en"], min_clips=10)
    assert (
        "empty selection" in str(e.value) and "languages en" in str(e.value) and "at least 10" in str(e.value)
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TinyKWSError, match="no corpus here"):
        read_corpus(empty)


def test_folder_corpus_odd_rate_stereo_and_corrupt(tmp_path, capsys) -> None:
    root = tmp_path / "mine"
    for word, freq in (("lights", 500.0), ("music", 1000.0)):
        (root / word).mkdir(parents=True)
        for spk in ("alice", "bob", "carol"):
            sf.write(root / word / f"{spk}_nohash_0.wav", _tone(freq, 44100, 1.2, channels=2), 44100)
        sf.write(root / word / "dave_2.flac", _tone(freq, 22050, 0.5), 22050)
    (root / "music" / "broken_nohash_0.wav").write_bytes(b"RIFF\x00\x00junk that is not audio")
    (root / "music" / "empty_nohash_0.wav").write_bytes(b"")
    (root / "notes.txt").write_text("not a word folder")

    c = read_corpus(root)
    assert isinstance(c, Corpus) and c.kind == "folder" and c.words() == ["lights", "music"]
    assert len(c.clips) == 10
    assert {x.speaker for x in c.clips} == {"alice", "bob", "carol", "dave", "broken", "empty"}
    for x in c.clips:  # split follows the speaker, deterministically
        assert x.split == split_of_speaker(x.speaker)
    audio, idx, skipped = load_clips(c.clips)
    assert skipped == 2 and len(idx) == 8 and audio.shape == (8, 16000)
    loaded = [c.clips[i] for i in idx]
    assert all("broken" not in str(x.path) and "empty" not in str(x.path) for x in loaded)
    for x, clip in zip(audio, loaded, strict=True):
        assert abs(_dominant_hz(x) - (500.0 if clip.word == "lights" else 1000.0)) < 5
        assert 0.45 < np.max(np.abs(x)) < 0.55  # stereo mixdown of identical channels keeps the level
    err = capsys.readouterr().err
    assert "skipped 2 unreadable clips of 10" in err
    assert "resampled 6 clips from 44100 Hz" in err and "resampled 2 clips from 22050 Hz" in err
    assert "mixed down 6 multi-channel clips" in err
    with pytest.raises(TinyKWSError, match="'stop' not in the corpus.*lights, music"):
        read_corpus(root, words=["stop"])


def test_folder_corpus_speech_commands_lists(tmp_path) -> None:
    root = tmp_path / "gsc"
    (root / "yes").mkdir(parents=True)
    for spk in ("a1", "b2", "c3"):
        sf.write(root / "yes" / f"{spk}_nohash_0.wav", _tone(300, 16000), 16000)
    (root / "validation_list.txt").write_text("yes/b2_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("yes/c3_nohash_0.wav\n")
    c = read_corpus(root)
    assert {x.speaker: x.split for x in c.clips} == {"a1": "train", "b2": "dev", "c3": "test"}


def test_speaker_rule_and_split_balance() -> None:
    assert speaker_of("0a7c2a8d_nohash_1") == "0a7c2a8d"
    assert speaker_of("cat_0a7c2a8d_nohash_0") == "0a7c2a8d"
    assert speaker_of("00000_NO_3") == "00000"
    assert speaker_of("recording") == "recording"
    splits = [split_of_speaker(f"speaker{i}") for i in range(3000)]
    share = {s: splits.count(s) / len(splits) for s in ("train", "dev", "test")}
    assert 0.77 < share["train"] < 0.83 and 0.08 < share["dev"] < 0.12 and 0.08 < share["test"] < 0.12
    assert split_of_speaker("speaker7") == split_of_speaker("speaker7")


def test_synth_corpus_round_trip(tmp_path) -> None:
    """The synthesizer's output reads back through the same MSWC reader."""
    import shutil

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    from tinykws.data.synth import synthesize

    synthesize(tmp_path / "s", languages=["en"], words=["yes", "no"], speakers=5, seed=0, jobs=1)
    c = read_corpus(tmp_path / "s", languages=["en"], words=["yes", "no"])
    assert len(c.clips) == 10 and len({x.speaker for x in c.clips}) == 5
    audio, idx, skipped = load_clips(c.clips)
    assert skipped == 0 and audio.shape == (10, 16000) and np.all(np.max(np.abs(audio), axis=1) > 0.02)
