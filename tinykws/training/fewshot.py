"""`tinykws fewshot`: an int8 keyword model from about five examples, on a pretrained embedding.

Recipe (docs/fewshot.md): the shots are augmented (speed, time shift, gain, background noise)
into a few hundred training clips; `_unknown_` comes from a bank of other words spoken by
espeak-ng (the same language where tinykws has a word list or the user's corpus has other
words, plus a few other languages); `_silence_` is background noise. A softmax head is fitted
on the frozen embedding (multinomial logistic regression, class-balanced: seconds, and no
learning-rate to tune for five examples), optionally followed by a short fine-tune of the whole
network at a small learning rate. Then the same int8 quantization, evaluation, C export and
model directory as `tinykws train` (train.write_model_dir), so firmware follows unchanged.

Bad input is refused before anything is trained or written: too few clips, a silent clip, a
clip whose sound lasts much longer than 1 s, a language espeak-ng does not know with --tts, a
keyword the corpus lacks.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinykws import resources
from tinykws.errors import TinyKWSError
from tinykws.progress import notice

SR = 16000
DEFAULT_EMBEDDING = resources.packaged_model("embed-rt")  # distilled: docs/distill.md
SILENT_PEAK = 10 ** (-60 / 20)  # a clip whose peak is below -60 dBFS holds no speech
MAX_SOUND_S = 1.5  # sound (after trimming quiet ends) longer than this is not one keyword
TRIM_DB = 35.0  # frames this far below the loudest frame count as quiet ends
UNKNOWN_OTHER_LANGUAGES = 4  # other languages in the unknown bank
# espeak-ng speakers saying the language's other words: more is better for precision (measured
# on synthetic held-out voices: 8 -> 20 -> 40 speakers gave mean F1 0.58 -> 0.68 -> 0.70), each
# costs synthesis time; 24 keeps one keyword well inside 60 s (docs/fewshot.md)
UNKNOWN_SPEAKERS = 24
# a number word this far (0: typical number word, 1: the shots) towards the keyword is taken for
# it; measured on espeak-ng shots (benchmarks/bench_number_guard.py): own number 0.91-1.04
# (Thai 0.82), others <= 0.81
LIKE_KEYWORD = 0.85
NUMBER_WORDS = 40  # numbers 0..39: same-language unknown words for languages without a word list
# shrinkage of the within-word covariance towards its mean variance before whitening (fit_head):
# 1.0 is an equal mix; chosen on synthetic voices only (docs/fewshot.md)
WHITEN_SHRINK = 1.0


@dataclass
class FewshotConfig:
    """Everything that determines a few-shot model (stored in its tinykws.json)."""

    keywords: list[str]
    language: str
    out: str
    source: str  # "clips" | "tts" | "data"
    clips: list[str] = field(default_factory=list)
    data: str | None = None
    shots: int = 5
    embedding: str = str(DEFAULT_EMBEDDING)
    seed: int = 0
    copies: int = 40  # augmented copies of every shot
    # each shot also enters as this many pitch-moved versions (WORLD: formants kept), and the
    # copies are spread over them, so the keyword's training clips stay as many
    pitch_variants: int = 0
    # windows cut across two unknown words, as a streaming detector sees between words, added to
    # _unknown_ as this share of the unknown clips (0: none)
    stream_negatives: float = 0.0
    # whiten the embedding by the unknown bank's within-word covariance before fitting the head
    # (False: per-dimension standardization, the recipe before)
    whiten: bool = False
    # every shot (and pitch variant) time-reversed, augmented as often as the shots, in _unknown_:
    # negatives in the shots' own voice and room that do not say the keyword
    reversed_negatives: bool = False
    # the user's own recordings of other words (any words but the keywords), added to _unknown_
    unknown_clips: list[str] = field(default_factory=list)
    unknown_speakers: int = UNKNOWN_SPEAKERS  # espeak-ng speakers saying the language's other words
    finetune_epochs: int = 0
    finetune_lr: float = 1e-4


# --------------------------------------------------------------------------- positives


def fewshot_noise(seed: int) -> np.ndarray:
    """The few-shot background-noise segments (40 synthesized, 8 kinds) for `seed`: one place
    for `fewshot`, `fewshot-eval` (its own seed) and the benchmarks that must match them."""
    from tinykws.data.noise import NoiseBank

    kinds = ("white", "pink", "brown", "hum", "machine", "water", "clatter", "murmur")
    return NoiseBank(seed=seed, n_synth=40, kinds=kinds).segments


def prepare_clip(x: np.ndarray, where: str) -> np.ndarray:
    """Check one recording and bring it to 1 s: refuse silence and long sound, trim quiet ends.

    Why refuse rather than crop long sound: a 3 s recording may hold the keyword anywhere, or a
    sentence; guessing would train on the wrong sound without the user knowing.
    """
    from tinykws.audio import fix_length

    x = np.asarray(x, np.float32)
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak < SILENT_PEAK:
        db = 20 * np.log10(max(peak, 1e-12))
        raise TinyKWSError(f"{where}: silent (peak {db:.0f} dBFS); record the keyword again")
    hop = SR // 100
    n = len(x) // hop
    if n >= 1:
        e = (x[: n * hop].reshape(n, hop).astype(np.float64) ** 2).mean(1)
        loud = np.flatnonzero(e > e.max() * 10 ** (-TRIM_DB / 10))
        a, b = int(loud[0]) * hop, (int(loud[-1]) + 1) * hop
        dur = (b - a) / SR
        if dur > MAX_SOUND_S:
            raise TinyKWSError(
                f"{where}: {dur:.1f} s of sound, much longer than a 1 s keyword; cut the clip to the keyword"
            )
        if len(x) > SR:
            margin = SR // 10
            x = x[max(0, a - margin) : b + margin]
            if dur > 1.0:
                notice(f"{where}: {dur:.2f} s of sound, cropped to the loudest 1 s")
    return fix_length(x, SR)


def prepared_clips(paths: list[str]) -> np.ndarray:
    """The user's recordings (any sample rate), each checked and brought to 1 s by prepare_clip:
    the keyword's shots (`--clips`) and other words (`--unknown-clips`) alike. [N, SR]."""
    from tinykws.audio import load_audio

    if not paths:
        return np.zeros((0, SR), np.float32)
    return np.stack([prepare_clip(load_audio(p), p) for p in paths])


def clip_shots(paths: list[str], shots: int) -> tuple[np.ndarray, np.ndarray]:
    """The user's recordings: (first `shots` prepared clips, the rest for a held-out check)."""
    if len(paths) < shots:
        raise TinyKWSError(f"--clips: {len(paths)} clip(s) given, --shots {shots} needs at least {shots}")
    clips = prepared_clips(paths)
    return clips[:shots], clips[shots:]


def check_tts_language(language: str) -> None:
    from tinykws.data.engines import espeak_knows

    if not espeak_knows(language):
        raise TinyKWSError(f"--language: espeak-ng does not know language '{language}' (needed by --tts)")


def _speak(words: list[str], speaker: Any, seed: int) -> list[tuple[str, np.ndarray]]:
    """One synthetic speaker says each word: (word, 1 s clip), perturbed like the synthetic corpus."""
    from tinykws.data import engines as eng
    from tinykws.data.synth import Perturbation, _h, render_clip

    p = Perturbation()
    out = []
    for word, (raw, sr_in) in zip(words, eng.synthesize_texts(words, speaker.voice), strict=True):
        rng = np.random.default_rng([seed & 0xFFFFFFFF, _h("fewshot", speaker.id, word)])
        try:
            out.append((word, render_clip(raw, sr_in, speaker, rng, p)))
        except TinyKWSError:
            continue  # the engine produced silence for this word
    return out


def _speakers(language: str, n: int, seed: int) -> list[Any]:
    from tinykws.data.synth import Perturbation, make_speakers

    return make_speakers(language, n, seed, ["espeak"], Perturbation())


def tts_shots(keyword: str, language: str, shots: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`shots` espeak-ng speakers say the keyword (plus 2 more speakers as a held-out check)."""
    check_tts_language(language)
    spk = _speakers(language, shots + 2, seed + 7919)
    clips = [c for sp in spk for _, c in _speak([keyword], sp, seed)]
    if len(clips) < shots:
        raise TinyKWSError(f"--keyword: espeak-ng ({language}) produced silence for '{keyword}'")
    arr = np.stack(clips)
    return arr[:shots], arr[shots:]


def corpus_shots(
    data: str, language: str, keyword: str, shots: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """`shots` training clips of the keyword from an MSWC/folder corpus, one per speaker first."""
    from tinykws.data.corpus import load_clips, read_corpus

    corpus = read_corpus(data, languages=[language] if _is_mswc(data) else None, words=[keyword])
    clips = [c for c in corpus.clips if c.word == keyword]
    train = [c for c in clips if c.split == "train"] or clips
    if len(train) < shots:
        raise TinyKWSError(
            f"--data: '{keyword}' has {len(train)} training clip(s) in {data}, --shots needs {shots}"
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train))
    seen: set[str] = set()
    first, rest = [], []
    for i in order:
        (rest if train[i].speaker in seen else first).append(train[i])
        seen.add(train[i].speaker)
    pick = (first + rest)[:shots]
    held = [c for c in clips if c.split == "test"][:20]
    audio, _, _ = load_clips(pick + held)
    return audio[:shots], audio[shots:]


def _is_mswc(data: str) -> bool:
    from tinykws.data.corpus import _mswc_language_dirs

    return bool(_mswc_language_dirs(Path(data)))


class Embedder:
    """The frozen embedding as a function of audio, with int8 features computed the device's way."""

    def __init__(self, classifier: Any, fe: Any, meta: dict[str, Any] | None = None) -> None:
        from tinykws.training.pretrain import embedding_model

        self.classifier = classifier
        self.model = embedding_model(classifier)
        self.fe = fe
        self.meta = meta or {}

    def features(self, audio: np.ndarray) -> np.ndarray:
        return self.fe.dequantize(self.fe.int8_features(audio))[..., None]

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(audio), 2048):  # features of 2048 clips at a time bound the memory
            out.append(self.model.predict(self.features(audio[i : i + 2048]), batch_size=256, verbose=0))
        return np.concatenate(out) if out else np.zeros((0, 1), np.float32)


# --------------------------------------------------------------------------- unknown words


@dataclass
class UnknownBank:
    """Other words for `_unknown_`, with which clips may still need checking against the shots."""

    audio: np.ndarray  # float32 [N, SR]
    held: np.ndarray  # bool [N]: held out for the model directory's check set
    word: np.ndarray  # str [N]: the number word of a same-language number clip, else ""
    desc: dict[str, Any]
    label: np.ndarray | None = None  # str [N]: "language:word" of every clip ("" if unknown)

    def subset(self, keep: np.ndarray, desc: dict[str, Any] | None = None) -> UnknownBank:
        lab = self.label[keep] if self.label is not None else None
        return UnknownBank(self.audio[keep], self.held[keep], self.word[keep], desc or self.desc, lab)


def unknown_bank(
    language: str, keywords: list[str], seed: int, speakers: int, data: str | None = None
) -> UnknownBank:
    """Other words for `_unknown_`.

    Same language first: the user's corpus (--data), else tinykws's built-in word list spoken by
    espeak-ng speakers, else (a language espeak-ng speaks but tinykws has no list for) the
    numbers 0..NUMBER_WORDS-1 read by espeak-ng in that language, the word scheme pretraining
    uses for such languages. Plus words of UNKNOWN_OTHER_LANGUAGES other languages, so that the
    model rejects speech in general and not only one language's. About one speaker in five is
    held out for the model directory's test figures. Number words can be the keyword written
    out ("خمسة" is "5"), which spelling cannot catch: `without_keyword_like` checks them by sound.
    """
    from tinykws.data.engines import espeak_knows
    from tinykws.data.synth import DEFAULT_LANGUAGES, builtin_languages, builtin_words

    kw = {k.casefold() for k in keywords}
    desc: dict[str, Any] = {"same_language": None, "other_languages": []}
    audio: list[np.ndarray] = []
    held: list[bool] = []
    word: list[str] = []
    label: list[str] = []
    if data:
        from tinykws.data.corpus import load_clips, read_corpus

        corpus = read_corpus(data, languages=[language] if _is_mswc(data) else None)
        others = [c for c in corpus.clips if c.word.casefold() not in kw]
        rng = np.random.default_rng(seed + 1)
        others = [others[i] for i in rng.permutation(len(others))[:300]]
        if others:
            a, idx, _ = load_clips(others)
            audio.extend(a)
            held.extend(others[i].split == "test" for i in idx)
            word.extend([""] * len(a))
            label.extend(f"{language}:{others[i].word}" for i in idx)
            desc["same_language"] = {
                "source": str(data),
                "words": len({c.word for c in others}),
                "clips": len(a),
            }
    tasks: list[tuple[list[str], Any, bool, bool, str]] = []
    base = language.split("-")[0]
    if not data and espeak_knows(language):
        numbers = base not in builtin_languages()
        if numbers:
            words = [w for w in (str(i) for i in range(NUMBER_WORDS)) if w not in kw]
            source = f"numbers 0-{NUMBER_WORDS - 1} read by espeak-ng (no built-in word list)"
        else:
            words = [w for w in builtin_words(language) if w.casefold() not in kw]
            source = "built-in word list, espeak-ng"
        spk = _speakers(language, speakers, seed + 104729)
        rng = np.random.default_rng(seed + 2)
        for i, sp in enumerate(spk):
            pick = [words[j] for j in rng.permutation(len(words))[:15]]
            tasks.append((pick, sp, i % 5 == 4, numbers, language))
        desc["same_language"] = {"source": source, "words": len(words), "speakers": speakers}
    elif not data:
        notice(f"fewshot: espeak-ng does not speak '{language}'; unknown words are other languages' only")
    rng = np.random.default_rng(seed + 3)
    pool = [lang for lang in DEFAULT_LANGUAGES if lang != base]
    n_other = UNKNOWN_OTHER_LANGUAGES if desc["same_language"] else 2 * UNKNOWN_OTHER_LANGUAGES
    for lang in [pool[i] for i in rng.permutation(len(pool))[:n_other]]:
        words = [w for w in builtin_words(lang) if w.casefold() not in kw]
        n_spk = 3 if desc["same_language"] else 6  # no same-language words: more of the others
        for i, sp in enumerate(_speakers(lang, n_spk, seed + 15485863)):
            pick = [words[j] for j in rng.permutation(len(words))[:8]]
            tasks.append((pick, sp, i == n_spk - 1, False, lang))
        desc["other_languages"].append(lang)
    with ThreadPoolExecutor(max_workers=2) as ex:
        results = list(ex.map(lambda t: _speak(t[0], t[1], seed), tasks))
    for (_, _, is_held, numbers, lang), said in zip(tasks, results, strict=True):
        for w, clip in said:
            audio.append(clip)
            held.append(is_held)
            word.append(w if numbers else "")
            label.append(f"{lang}:{w}")
    if not audio:
        raise TinyKWSError("fewshot: the unknown-word bank is empty")
    arr = np.stack(audio).astype(np.float32)
    return UnknownBank(arr, np.array(held, bool), np.array(word, str), desc, np.array(label, str))


def keyword_likeness(
    bank: UnknownBank, shots: np.ndarray, embed: Callable[[np.ndarray], np.ndarray]
) -> dict[str, float]:
    """How far each number word of the bank sits towards the keyword: 0 is the typical number
    word (the median over words), 1 is the shots themselves (each shot against the mean of the
    others), in cosine similarity to the shots' mean embedding. Empty when there is nothing to
    compare (fewer than 3 number words or 2 shots)."""
    idx = np.flatnonzero(bank.word != "")
    words = sorted(set(bank.word[idx].tolist()))
    if len(words) < 3 or len(shots) < 2:
        return {}

    def unit(e: np.ndarray) -> np.ndarray:
        return e / (np.linalg.norm(e, axis=-1, keepdims=True) + 1e-9)

    e_shots = unit(embed(shots))
    centre = unit(e_shots.mean(0))
    own = np.mean([e_shots[i] @ unit(np.delete(e_shots, i, 0).mean(0)) for i in range(len(e_shots))])
    sim = unit(embed(bank.audio[idx])) @ centre
    per = np.array([sim[bank.word[idx] == w].mean() for w in words])
    med = float(np.median(per))
    span = max(float(own) - med, 1e-9)  # the shots sit nearer their mean than number words do
    return {w: float((v - med) / span) for w, v in zip(words, per, strict=True)}


def without_keyword_like(
    bank: UnknownBank, shots: np.ndarray, embed: Callable[[np.ndarray], np.ndarray]
) -> tuple[UnknownBank, list[str]]:
    """The bank without number words that sound like the keyword; returns (bank, dropped words).

    Why: a number word that *is* the keyword would teach the model that the keyword is unknown.
    A number word leaves the bank when its `keyword_likeness` exceeds LIKE_KEYWORD.
    """
    drop = [w for w, x in keyword_likeness(bank, shots, embed).items() if x > LIKE_KEYWORD]
    if not drop:
        return bank, []
    keep = ~np.isin(bank.word, drop)
    return bank.subset(keep, {**bank.desc, "dropped_like_keyword": drop}), drop


# --------------------------------------------------------------------------- training


def within_word_covariance(emb: np.ndarray, labels: np.ndarray) -> np.ndarray | None:
    """Covariance of embeddings around their word's mean, over words with at least 2 clips.

    Why: what varies between clips of one word (speaker, pitch, rate, room) is what a keyword
    head must not rely on. The unknown bank holds each word from many speakers, so it measures
    those directions in the language at hand, at no extra cost. None when it cannot (fewer than
    two such words).
    """
    res = []
    for w in np.unique(labels):
        m = labels == w
        if w and m.sum() >= 2:
            res.append(emb[m] - emb[m].mean(0))
    if len(res) < 2:
        return None
    r = np.concatenate(res).astype(np.float64)
    return r.T @ r / len(r)


def bank_within(bank: UnknownBank, embed: Callable[[np.ndarray], np.ndarray]) -> np.ndarray | None:
    """The within-word covariance of the bank's labelled clips in the embedding (or None)."""
    if bank.label is None:
        return None
    m = bank.label != ""
    return within_word_covariance(embed(bank.audio[m]), bank.label[m]) if m.sum() else None


def fit_head(
    emb: np.ndarray, y: np.ndarray, n_classes: int, seed: int, within: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression on embeddings -> (W [d, C], b [C]).

    Not class-balanced: the unknown class is the larger one on purpose, because false accepts
    (precision) are what few-shot models get wrong (balanced weights measured F1 0.54 against
    0.58 unbalanced on synthetic held-out voices, recall 0.85 but precision 0.44).

    The embedding is standardized first: per dimension, or, given `within` (the within-word
    covariance, `within_word_covariance`), whitened by it after shrinking it towards its mean
    variance (WHITEN_SHRINK). Whitening shrinks the directions in which one word's clips differ
    from speaker to speaker, so that five shots of one voice do not teach the head that voice.
    Either way the transform is folded into the weights: the head is one Dense layer on the raw
    embedding, exactly what the int8 graph will hold.
    """
    from sklearn.linear_model import LogisticRegression

    mu = emb.mean(0)
    if within is None:
        sd = emb.std(0) + 1e-6
        z = (emb - mu) / sd  # elementwise, not a diagonal matrix: same bits as before --whiten
    else:
        d = len(within)
        vals, vecs = np.linalg.eigh(within + WHITEN_SHRINK * np.trace(within) / d * np.eye(d))
        a = vecs @ np.diag(vals**-0.5) @ vecs.T
        z = (emb - mu) @ a
    lr = LogisticRegression(C=0.5, max_iter=2000, random_state=seed)
    lr.fit(z, y)
    coef = np.zeros((n_classes, emb.shape[1]))
    inter = np.zeros(n_classes)
    if n_classes == 2 and lr.coef_.shape[0] == 1:  # sklearn's binary form: one logit
        coef[1], inter[1] = lr.coef_[0], lr.intercept_[0]
    else:
        coef[lr.classes_], inter[lr.classes_] = lr.coef_, lr.intercept_
    if within is None:
        w = (coef / sd).T
        b = inter - (coef * (mu / sd)).sum(1)
    else:
        w = a @ coef.T
        b = inter - mu @ w
    return w.astype(np.float32), b.astype(np.float32)


@dataclass
class FewshotData:
    """Augmented training audio and a held-out check set, labels in cfg order."""

    train_audio: np.ndarray
    train_y: np.ndarray
    train_silence: np.ndarray
    test_audio: np.ndarray
    test_y: np.ndarray
    test_silence: np.ndarray
    summary: dict[str, Any]


def with_pitch_variants(
    shots: np.ndarray, n: int, seed: int, f0_range: tuple[float, float] = (0.67, 1.5)
) -> np.ndarray:
    """The shots followed by `n` versions of each with its pitch moved, formants kept.

    Why: five takes of one voice say little about other voices' pitch, and a user's shots are
    usually one voice. Moving F0 by a factor log-uniform in `f0_range` (about +-7 semitones, so
    a low voice reaches a high one's range) over the same vocal tract (WORLD vocoder, as the
    synthesizer's voice conversion) gives the head more than one pitch per keyword. Without
    pyworld (the `voices` extra) the shots come back unchanged, with a notice.
    """
    from tinykws.data.perturb import world_available, world_pitch

    if n <= 0:
        return shots
    if not world_available():
        notice("fewshot: pyworld not installed (see tinykws doctor), so no pitch variants")
        return shots
    rng = np.random.default_rng([seed, 7])
    lo, hi = np.log(f0_range[0]), np.log(f0_range[1])
    out = [shots]
    for _ in range(n):
        out.append(np.stack([world_pitch(x, SR, float(np.exp(rng.uniform(lo, hi))))[0] for x in shots]))
    return np.concatenate(out).astype(np.float32)


def between_words(clips: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` 1 s windows cut across two different clips laid end to end with a 0.2-1.2 s gap.

    Why: a streaming detector scores a window every hop, and most windows hold the end of one
    word and the start of the next. The head trained on whole words has never seen those, so
    they can land anywhere in the embedding, near the keyword included. The window start is
    uniform over the stretch where it holds sound of both clips or of one clip's edge.
    """
    length = clips.shape[1]
    out = np.empty((n, length), np.float32)
    for i in range(n):
        a, b = rng.choice(len(clips), 2, replace=False)
        gap = int(rng.uniform(0.2, 1.2) * SR)
        pair = np.concatenate([clips[a], np.zeros(gap, np.float32), clips[b]])
        start = int(rng.integers(length // 2, length // 2 + gap + 1))
        out[i] = pair[start : start + length]
    return out


def build_data(
    positives: dict[str, tuple[np.ndarray, np.ndarray]],
    unknown: np.ndarray,
    unknown_held: np.ndarray,
    noise: np.ndarray,
    keywords: list[str],
    copies: int,
    seed: int,
    pitch_variants: int = 0,
    stream_negatives: float = 0.0,
    own_unknown: np.ndarray | None = None,
    reversed_negatives: bool = False,
) -> FewshotData:
    """Labels: 0 `_silence_`, 1 `_unknown_`, 2.. keywords. Shots -> `copies` augmented clips each
    (spread over the shot and its pitch variants).

    `own_unknown`: the user's own recordings of other words (`--unknown-clips`). Augmented so
    that together they weigh as much as one keyword's shots (`copies` x shots spread over them):
    a few clips in the user's voice and room are the only real-speech negatives the head sees,
    and 2 copies each would drown them in the synthetic bank.

    `reversed_negatives`: the shots played backwards join `_unknown_`, as many as the keyword's
    clips. Reversal keeps every frame's spectrum, so the voice, microphone and room of the shots,
    but not the order of the word's sounds. Without them the shots are the only clips in the
    user's recording domain, and a head can learn that domain instead of the word: real shots
    against a synthetic bank fail on precision (docs/fewshot.md)."""
    from tinykws.training.pretrain import augment, silence_audio

    rng = np.random.default_rng(seed)
    tr_a, tr_y, te_a, te_y = [], [], [], []
    n_pos = 0
    for k, kwd in enumerate(keywords):
        shots, held = positives[kwd]
        src = with_pitch_variants(shots, pitch_variants, seed + k)
        per_src = max(1, round(copies * len(shots) / len(src)))
        a = augment(src, noise, rng, per_src)
        tr_a.append(a)
        tr_y.append(np.full(len(a), 2 + k))
        n_pos += len(a)
        if reversed_negatives:  # own generator: the other clips stay as they are without it
            rev_rng = np.random.default_rng([seed, 17, k])
            rev = augment(np.ascontiguousarray(src[:, ::-1]), noise, rev_rng, per_src)
            tr_a.append(rev)
            tr_y.append(np.ones(len(rev)))
        check = held if len(held) else augment(shots, noise, np.random.default_rng(seed + 99), 4)
        te_a.append(check)
        te_y.append(np.full(len(check), 2 + k))
    unk_tr = unknown[~unknown_held]
    unk_te = unknown[unknown_held] if unknown_held.any() else unknown[:20]
    a = augment(unk_tr, noise, rng, 2)
    tr_a.append(a)
    tr_y.append(np.ones(len(a)))
    if own_unknown is not None and len(own_unknown):
        n_shots = len(positives[keywords[0]][0])
        own = augment(own_unknown, noise, np.random.default_rng([seed, 13]),
                      max(1, round(copies * n_shots / len(own_unknown))))  # fmt: skip
        tr_a.append(own)
        tr_y.append(np.ones(len(own)))
    n_cross = int(round(stream_negatives * len(a)))
    if n_cross and len(unk_tr) > 1:
        cross = augment(between_words(unk_tr, n_cross, np.random.default_rng([seed, 11])), noise, rng, 1)
        tr_a.append(cross)
        tr_y.append(np.ones(len(cross)))
    te_a.append(unk_te)
    te_y.append(np.ones(len(unk_te)))
    n_sil = max(100, n_pos // (2 * len(keywords)))
    tr_a.append(silence_audio(noise, n_sil, rng))
    tr_y.append(np.zeros(n_sil))
    te_a.append(np.zeros((20, SR), np.float32))
    te_y.append(np.zeros(20))
    tr_y_all = np.concatenate(tr_y).astype(np.int32)
    te_y_all = np.concatenate(te_y).astype(np.int32)
    return FewshotData(
        np.concatenate(tr_a), tr_y_all, tr_y_all == 0,
        np.concatenate(te_a).astype(np.float32), te_y_all, te_y_all == 0,
        {"train_counts": np.bincount(tr_y_all, minlength=2 + len(keywords)).tolist(),
         "check_counts": np.bincount(te_y_all, minlength=2 + len(keywords)).tolist()},
    )  # fmt: skip


def train_fewshot_model(
    classifier: Any,
    fe: Any,
    data: FewshotData,
    n_classes: int,
    seed: int,
    finetune_epochs: int = 0,
    finetune_lr: float = 1e-4,
    within: np.ndarray | None = None,
) -> tuple[Any, np.ndarray]:
    """Head on the frozen embedding, optional fine-tune; returns (Keras model, train features)."""
    import tensorflow as tf

    from tinykws.training.pretrain import EMBEDDING_LAYER, embedding_model

    x = fe.dequantize(fe.int8_features(data.train_audio))[..., None]
    emb = embedding_model(classifier).predict(x, batch_size=256, verbose=0)
    w, b = fit_head(emb, data.train_y, n_classes, seed, within)
    head = tf.keras.layers.Dense(n_classes, activation="softmax", name="logits_fewshot")
    out = head(classifier.get_layer(EMBEDDING_LAYER).output)
    model = tf.keras.Model(classifier.inputs, out, name="fewshot")
    head.set_weights([w, b])
    if finetune_epochs > 0:
        counts = np.bincount(data.train_y, minlength=n_classes).astype(np.float64)
        sw = (len(data.train_y) / (n_classes * np.maximum(counts, 1)))[data.train_y]
        tf.keras.utils.set_random_seed(seed)
        model.compile(tf.keras.optimizers.Adam(finetune_lr), "sparse_categorical_crossentropy")
        model.fit(x, data.train_y, sample_weight=sw, batch_size=64, epochs=finetune_epochs, verbose=0)
    return model, x


@dataclass
class FewshotResult:
    out: Path
    seconds: float
    metrics: dict[str, Any]


def fewshot(cfg: FewshotConfig) -> FewshotResult:
    """Clips (or TTS, or a corpus) -> int8 model directory at cfg.out. Checks come first."""
    t0 = time.perf_counter()
    if cfg.shots < 1:
        raise TinyKWSError(f"--shots: must be at least 1, got {cfg.shots}")
    kws = list(dict.fromkeys(k.strip() for k in cfg.keywords))
    if not kws or any(not k or k.startswith("_") for k in kws):
        raise TinyKWSError("--keyword: give non-empty keywords that do not start with '_'")
    if cfg.source == "clips" and len(kws) > 1:
        raise TinyKWSError("--clips: one keyword per run with --clips (use --data for several)")
    emb_dir = resources.find_model(cfg.embedding)
    if not (emb_dir / "model.keras").is_file():
        raise TinyKWSError(f"--embedding: {emb_dir} has no model.keras (train one with `tinykws pretrain`)")
    own = prepared_clips(cfg.unknown_clips)
    positives: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for k in kws:
        if cfg.source == "clips":
            positives[k] = clip_shots(cfg.clips, cfg.shots)
        elif cfg.source == "tts":
            positives[k] = tts_shots(k, cfg.language, cfg.shots, cfg.seed)
        elif cfg.source == "data":
            if not cfg.data:
                raise TinyKWSError("--data: give a corpus root")
            positives[k] = corpus_shots(cfg.data, cfg.language, k, cfg.shots, cfg.seed)
        else:
            raise TinyKWSError(f"fewshot: unknown positive source '{cfg.source}'")
    return fewshot_from_audio(cfg, positives, own, t0)


def fewshot_from_audio(
    cfg: FewshotConfig,
    positives: dict[str, tuple[np.ndarray, np.ndarray]],
    own_unknown: np.ndarray,
    t0: float | None = None,
) -> FewshotResult:
    """The rest of `fewshot` once the user's clips are in memory: the positives and
    `own_unknown`, cfg.unknown_clips loaded and checked (`prepared_clips`) before any work."""
    from dataclasses import asdict

    from tinykws.features import get_frontend
    from tinykws.training.pretrain import load_embedding
    from tinykws.training.train import SplitData, TrainConfig, write_model_dir

    t0 = time.perf_counter() if t0 is None else t0
    kws = list(positives)
    classifier, emb_meta = load_embedding(cfg.embedding)
    fe = get_frontend("mlperf")
    if emb_meta.get("frontend") and emb_meta["frontend"] != fe.to_dict():
        raise TinyKWSError(f"--embedding: {cfg.embedding} uses another front end than mlperf")
    bank = unknown_bank(cfg.language, kws, cfg.seed, cfg.unknown_speakers, cfg.data)
    embed = Embedder(classifier, fe)
    for k in kws:
        bank, dropped = without_keyword_like(bank, positives[k][0], embed)
        if dropped:
            notice(f"fewshot: number words {', '.join(dropped)} sound like '{k}'; left out of _unknown_")
    noise = fewshot_noise(cfg.seed)
    data = build_data(
        positives,
        bank.audio,
        bank.held,
        noise,
        kws,
        cfg.copies,
        cfg.seed,
        cfg.pitch_variants,
        cfg.stream_negatives,
        own_unknown,
        cfg.reversed_negatives,
    )
    labels = ["_silence_", "_unknown_", *kws]
    within = bank_within(bank, embed) if cfg.whiten else None
    model, _ = train_fewshot_model(
        classifier, fe, data, len(labels), cfg.seed, cfg.finetune_epochs, cfg.finetune_lr, within
    )
    tcfg = TrainConfig(
        data=cfg.data or cfg.source, keywords=kws, out=cfg.out, language=cfg.language,
        model="dscnn-embedding",
        filters=emb_meta.get("model", {}).get("filters"), blocks=emb_meta.get("model", {}).get("blocks"),
        epochs=cfg.finetune_epochs, seed=cfg.seed, calibration_clips=300, embedding=None,
    )  # fmt: skip
    splits = {
        "train": SplitData(data.train_audio, data.train_y, data.train_silence),
        "test": SplitData(data.test_audio, data.test_y, data.test_silence),
    }
    summary = {
        "root": cfg.data or cfg.source,
        "kind": f"fewshot ({cfg.source})",
        "counts": {
            "train": dict(zip(labels, data.summary["train_counts"], strict=True)),
            "test": dict(zip(labels, data.summary["check_counts"], strict=True)),
        },  # fmt: skip
    }
    state = {"best_epoch": -1, "best_val_accuracy": -1.0, "history": []}
    extra = {
        "fewshot": {
            "config": asdict(cfg),
            "embedding": {
                "path": str(cfg.embedding),
                "name": emb_meta.get("name"),
                "languages": sorted(emb_meta.get("data", {}).get("languages", {})),
            },  # fmt: skip
            "unknown_bank": bank.desc,
            "note": "test metrics are a check set: held-out user clips or augmented shots, held-out "
            "unknown-bank speakers and noise; not an independent test (see `tinykws fewshot-eval`)",
        }
    }
    res = write_model_dir(tcfg, model, fe, splits, noise, summary, state, 0.0, extra_meta=extra)
    return FewshotResult(res.out, time.perf_counter() - t0, res.metrics)


def cli_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--keyword", action="append", required=True, help="repeat for several keywords")
    p.add_argument("--language", required=True, help="espeak-ng code of the keyword's language")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--clips", nargs="+", help="your recordings of the keyword (any sample rate)")
    src.add_argument("--tts", action="store_true", help="espeak-ng speaks the keyword")
    src.add_argument("--data", help="MSWC or folder corpus root holding the keyword")
    p.add_argument("--shots", type=int, default=5)
    p.add_argument(
        "--unknown-clips",
        nargs="+",
        default=[],
        help="your recordings of other words (not the keyword): real negatives in your voice and room",
    )
    p.add_argument("--embedding", default=str(DEFAULT_EMBEDDING))
    p.add_argument(
        "--finetune-epochs",
        type=int,
        default=0,
        help="fine-tune the whole network (default: head only; 5 epochs on 5 shots measured worse, "
        "benchmarks/results/fewshot_finetune.md)",
    )
    p.add_argument(
        "--unknown-speakers",
        type=int,
        default=UNKNOWN_SPEAKERS,
        help="espeak-ng speakers saying the language's other words (unknown class)",
    )
    p.add_argument(
        "--pitch-variants",
        type=int,
        default=FewshotConfig.pitch_variants,
        help="pitch-moved versions of each shot (WORLD, formants kept; needs the voices extra)",
    )
    p.add_argument(
        "--stream-negatives",
        type=float,
        default=FewshotConfig.stream_negatives,
        help="windows across two unknown words, as a share of the unknown clips",
    )
    p.add_argument(
        "--whiten",
        action="store_true",
        help="whiten the embedding by the unknown bank's within-word covariance before the head",
    )
    p.add_argument(
        "--reversed-negatives",
        action="store_true",
        help="the shots played backwards as unknown words: negatives in the shots' own voice and room",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)


def check_head_options(args: argparse.Namespace) -> None:
    """--pitch-variants, --stream-negatives and --finetune-epochs, shared by `fewshot` and `fewshot-eval`."""
    if args.pitch_variants < 0:
        raise TinyKWSError(f"--pitch-variants: must be 0 or more, got {args.pitch_variants}")
    if args.stream_negatives < 0:
        raise TinyKWSError(f"--stream-negatives: must be 0 or more, got {args.stream_negatives}")
    if args.finetune_epochs < 0:
        raise TinyKWSError(f"--finetune-epochs: must be 0 or more, got {args.finetune_epochs}")


def cli_run(args: argparse.Namespace) -> int:
    source = "clips" if args.clips else "tts" if args.tts else "data"
    cfg = FewshotConfig(
        keywords=args.keyword, language=args.language, out=args.out, source=source,
        clips=args.clips or [], data=args.data, shots=args.shots, embedding=args.embedding,
        seed=args.seed, finetune_epochs=args.finetune_epochs, unknown_speakers=args.unknown_speakers,
        pitch_variants=args.pitch_variants, stream_negatives=args.stream_negatives, whiten=args.whiten,
        unknown_clips=args.unknown_clips, reversed_negatives=args.reversed_negatives,
    )  # fmt: skip
    check_head_options(args)
    res = fewshot(cfg)
    m = res.metrics
    print(f"model: {res.out} ({res.seconds:.1f} s)")
    print(f"check set top-1: float {m['float']['top1']:.3f}  int8 {m['int8']['top1']:.3f}")
    return 0
