"""The streaming part of `tinykws fewshot-eval`: detection, suppression, tolerance and F1 counting."""

from __future__ import annotations

import numpy as np

from tinykws.training.fewshot_eval import (
    HOP_S,
    SUPPRESS_S,
    binary_f1,
    detections,
    frr_at,
    make_stream,
    score_detections,
    sweep,
)


def _scores(n: int, peaks: list[float], width: float = 0.6) -> np.ndarray:
    """Posterior 0.95 for `width` s after each peak time (window-end times 1 + i * HOP_S)."""
    t = 1.0 + HOP_S * np.arange(n)
    s = np.full(n, 0.02)
    for p in peaks:
        s[(t >= p) & (t < p + width)] = 0.95
    return s


def test_detection_suppression_and_tolerance():
    s = _scores(600, [10.0, 30.0, 50.0])
    det = detections(s, 0.5)
    assert len(det) == 3  # one detection per burst: the refractory time swallows the rest
    assert np.all(np.diff(det) >= SUPPRESS_S)
    # keywords whose clips start 0.5 s before the bursts: all three hit, no false accepts
    assert score_detections(det, np.array([9.5, 29.5, 49.5])) == (3, 0)
    # a burst far from any keyword is a false accept, and a keyword without a burst is missed
    assert score_detections(det, np.array([9.5, 29.5, 40.0])) == (2, 1)


def test_sweep_monotone_and_frr_at():
    rng = np.random.default_rng(0)
    s = _scores(3000, [20.0, 80.0, 150.0]) + rng.uniform(0, 0.4, 3000)
    rows = sweep([(s, np.array([19.5, 79.5, 149.5]), 3000 * HOP_S / 3600, 40)])
    fa = [r["fa_per_hour"] for r in rows]
    assert all(a >= b for a, b in zip(fa, fa[1:], strict=False))  # stricter threshold, fewer FAs
    best = frr_at(rows, 1.0)
    assert best is not None and best["frr"] == 0.0 and best["fa_per_hour"] <= 1.0


def test_make_stream_places_keywords():
    rng = np.random.default_rng(1)
    kw = np.zeros((2, 16000), np.float32)
    kw[:, 8000] = 1.0  # an impulse in the middle of each keyword clip
    other = np.zeros((5, 16000), np.float32)
    noise = np.zeros((3, 16000), np.float32)
    x, starts = make_stream(kw, other, noise, rng, n_other=10, kw_repeats=2)
    assert len(starts) == 4
    for s0 in starts:
        assert abs(x[int(s0 * 16000) + 8000]) > 0.4


def test_precision_recall():
    from tinykws.training.fewshot_eval import precision_recall

    is_kw = np.array([1, 1, 1, 0, 0, 0, 0], bool)
    pred = np.array([1, 0, 0, 1, 1, 1, 0], bool)
    assert precision_recall(is_kw, pred) == (0.25, 1 / 3)
    assert precision_recall(is_kw, np.zeros(7, bool)) == (0.0, 0.0)


def test_binary_f1():
    t = np.array([1, 1, 0, 0, 0], bool)
    assert binary_f1(t, np.array([1, 0, 1, 0, 0], bool)) == 0.5
    assert binary_f1(t, np.zeros(5, bool)) == 0.0


def test_sweep_resolves_confident_scores_above_0_999():
    """A keyword burst at 0.9996 and a false-accept burst at 0.9993: the sweep reaches a
    threshold between them (FRR 0 at 0 FA/h), which a grid ending at 0.999 could not."""
    t = 1.0 + HOP_S * np.arange(2000)
    s = np.full(2000, 0.02)
    s[(t >= 50.5) & (t < 51.5)] = 0.9996
    s[(t >= 120.0) & (t < 121.0)] = 0.9993
    rows = sweep([(s, np.array([50.0]), 2000 * HOP_S / 3600, 100)])
    best = frr_at(rows, 1.0)
    assert best is not None and best["frr"] == 0.0 and best["false_accepts"] == 0
    assert 0.9993 < best["threshold"] <= 0.9996


def test_sweep_counts_false_accepts_per_other_word_pooled_over_streams():
    """The MSWC paper's rate: false accepts over the non-target words of all streams together."""
    t = 1.0 + HOP_S * np.arange(2000)
    s = np.full(2000, 0.02)
    s[(t >= 50.5) & (t < 51.5)] = 0.95  # the keyword
    s[(t >= 120.0) & (t < 121.0)] = 0.8  # a false accept at thresholds up to 0.8
    quiet = np.full(2000, 0.02)
    rows = sweep([(s, np.array([50.0]), 0.05, 30), (quiet, np.array([]), 0.05, 20)])
    at = {round(r["threshold"], 2): r for r in rows}
    assert at[0.5]["false_accepts"] == 1 and at[0.5]["other_words"] == 50
    assert at[0.5]["fa_per_other_word"] == 1 / 50
    assert at[0.85]["fa_per_other_word"] == 0.0 and at[0.85]["frr"] == 0.0
    best = frr_at(rows, 0.012, "fa_per_other_word")
    assert best is not None and best["threshold"] > 0.8 and best["frr"] == 0.0
    loose = frr_at(rows, 0.03, "fa_per_other_word")  # 2 %: one false accept is allowed there
    assert loose is not None and loose["false_accepts"] == 1 and loose["threshold"] <= 0.8


def _result(f1s: dict[tuple[str, str, str], float], protocol: str = "p") -> dict:
    groups = {
        g: {"frr_at_1_fa_per_hour": {"frr": 0.5}, "frr_at_mswc_fa_rate": None} for g in ("seen", "unseen")
    }
    return {
        "protocol": protocol,
        "shots": 5,
        "keywords": [
            {"group": g, "language": lang, "keyword": k, "f1": v} for (g, lang, k), v in f1s.items()
        ],
        **groups,
    }


def test_compare_results_pairs_keywords_and_gives_the_standard_error():
    import pytest

    from tinykws.errors import TinyKWSError
    from tinykws.training.fewshot_eval import compare_results, paired_difference

    base = {("seen", "de", "rot"): 0.5, ("seen", "de", "grün"): 0.8, ("unseen", "lt", "7"): 1.0}
    other = {("seen", "de", "rot"): 0.7, ("seen", "de", "grün"): 0.7, ("unseen", "lt", "7"): 1.0}
    c = compare_results(_result(base), _result(other))
    seen = c["f1"]["seen"]
    assert seen["n"] == 2 and seen["better"] == 1 and seen["worse"] == 1
    assert np.isclose(seen["mean"], 0.05) and np.isclose(seen["se"], np.std([0.2, -0.1], ddof=1) / np.sqrt(2))
    assert c["f1"]["all"]["n"] == 3 and np.isclose(c["f1"]["all"]["mean"], 0.1 / 3)
    assert c["stream"]["seen"]["other"] == {"frr_at_1_fa_per_hour": 0.5, "frr_at_mswc_fa_rate": None}
    # the pairing is by keyword, not by position: a keyword only one side has is left out
    d = paired_difference({"a": 0.1, "b": 0.9}, {"b": 1.0, "c": 0.0})
    assert d["n"] == 1 and np.isclose(d["mean"], 0.1)
    # real speech: a keyword whose --tts shots failed has no f1_tts and is left out of that pair
    rd_b, rd_o = _result(base), _result(other)
    rd_b["realdev"] = {
        "keywords": [{"keyword": "a", "f1_clips": 0.2, "f1_tts": 0.1}, {"keyword": "b", "f1_clips": 0.4}]
    }
    rd_o["realdev"] = {
        "keywords": [{"keyword": "a", "f1_clips": 0.3, "f1_tts": 0.3}, {"keyword": "b", "f1_clips": 0.4}]
    }
    c = compare_results(rd_b, rd_o)
    assert c["realdev_clips"]["n"] == 2 and np.isclose(c["realdev_clips"]["mean"], 0.05)
    assert c["realdev_tts"]["n"] == 1 and np.isclose(c["realdev_tts"]["mean"], 0.2)
    with pytest.raises(TinyKWSError, match="different protocols"):
        compare_results(_result(base), _result(other, protocol="q"))
    with pytest.raises(TinyKWSError, match="no keyword"):
        paired_difference({"a": 1.0}, {"b": 1.0})


def test_real_recordings_reads_both_layouts(tmp_path):
    """realdev's folder-per-keyword layout and an MSWC language folder (realtune) give the same
    kind of listing: files, keyword, speaker, native word."""
    import soundfile as sf
    from tonecorpus import make_mswc

    from tinykws.training.fewshot_eval import real_recordings

    root = make_mswc(tmp_path / "m", lang="lt", speakers=3, takes=1)
    files, lab, spk, native = real_recordings(root / "lt")
    assert len(files) == 3 * 7 and all(f.is_file() for f in files)
    assert set(spk) == {"spk00", "spk01", "spk02"} and native["yes"] == "yes"
    folder = tmp_path / "f"
    for g, s in (("one", "a1"), ("one", "b2"), ("two", "a1")):
        (folder / g).mkdir(parents=True, exist_ok=True)
        sf.write(folder / g / f"{s}_NO_0.flac", np.zeros(16000, np.float32), 16000)
    (folder / "words.tsv").write_text("label\tarabic\tipa\none\tواحد\twaːħid\n")
    files, lab, spk, native = real_recordings(folder)
    assert lab == ["one", "one", "two"] and spk == ["a1", "b2", "a1"] and native == {"one": "واحد"}


def test_shots_of_speakers_takes_one_take_each():
    from tinykws.training.fewshot_eval import _shots_of_speakers

    spk = np.array(["a", "a", "b", "c", "c", "d", "e", "f"])
    is_kw = np.array([True, True, True, False, True, True, True, True])
    speakers = ["a", "b", "c", "d", "e", "f"]
    idx = _shots_of_speakers(is_kw, spk, speakers, 2, 5, np.random.default_rng(0))
    assert list(spk[idx]) == ["c", "d", "e", "f", "a"] and is_kw[idx].all()
    assert _shots_of_speakers(is_kw, spk, speakers, 0, 7, np.random.default_rng(0)) is None


def test_streaming_wakeword_rules():
    """MLPerf Tiny's streaming-wakeword scoring: a hit from the word's start to 1 s after its
    end; other detections are false positives, debounced over 1 s."""
    from tinykws.training.fewshot_eval import score_detections_sww, word_extent

    starts, ends = np.array([10.0, 30.0]), np.array([10.6, 30.5])
    det = np.array([9.9, 10.2, 11.5, 20.0, 20.8, 22.5, 31.6])
    # 9.9 is before the word: FP. 10.2 hits. 11.5 is inside the window but the word is taken:
    # FP (1.6 s after the last FP). 20.0 FP, 20.8 debounced (0.8 s later), 22.5 FP. 31.6 is
    # 1.1 s after the second word's end: FP, and that word is missed.
    hits, fp = score_detections_sww(det, starts, ends)
    assert hits == 1 and fp == 5
    clip = np.zeros(16000, np.float32)
    clip[4000:9000] = 0.5 * np.sin(np.arange(5000))
    a, b = word_extent(clip)
    assert abs(a - 0.25) <= 0.01 and abs(b - 0.5625) <= 0.01
