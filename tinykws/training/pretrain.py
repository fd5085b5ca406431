"""`tinykws pretrain`: a multilingual keyword embedding small enough for a microcontroller.

The embedding is a DS-CNN classifier over many (language, word) classes; the output of its
average pool (the layer named `flatten`) is the embedding that `tinykws fewshot` puts a new
head on. Why a classifier and not a metric-learning loss: with hundreds of classes from dozens
of languages the softmax already forces a general phonetic representation, it is what the
MSWC few-shot work did, and it trains fast on 2 CPU cores.

Default corpus (synthetic, espeak-ng, no Arabic: Arabic is the unseen real-speech test
language). Two word schemes, both real words spoken in the language's own rules:
- the 16 languages with a built-in word list (tinykws/data/wordlists) say its first N words;
- 14 more languages (other scripts and families) say the numbers 0..N-1, written as digits,
  which espeak-ng reads out in that language ("7" -> "sieben", "семь", "七", ...). This avoids
  shipping hand-written word lists for languages nobody here can proofread.
Words past the first N of each built-in list are never used in pretraining: they are the
held-out keywords of seen languages in `tinykws fewshot-eval`. docs/fewshot.md has the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from tinykws.data.synth import DEFAULT_LANGUAGES
from tinykws.errors import TinyKWSError
from tinykws.progress import notice

# The 16 built-in-list languages (synth.DEFAULT_LANGUAGES): Latin, Cyrillic, Devanagari, Greek.
WORDLIST_LANGUAGES = DEFAULT_LANGUAGES
# Number-word languages: Sino-Tibetan, Koreanic, Japonic, Kartvelian, Armenian, Dravidian,
# Indo-Aryan (Bengali), Austroasiatic, Bantu, Uralic, Romance, Slavic, Iranian, Basque; scripts
# Han, Hangul, Kana, Georgian, Armenian, Tamil, Bengali, Latin, Cyrillic, Perso-Arabic.
NUMBER_LANGUAGES = ("cmn", "ko", "ja", "ka", "hy", "ta", "bn", "vi", "sw", "hu", "ro", "uk", "fa", "eu")
DEFAULT_PRETRAIN_LANGUAGES = WORDLIST_LANGUAGES + NUMBER_LANGUAGES
# Languages fewshot-eval uses as "never seen" (numbers 0..19; Semitic, Tai, Slavic, Celtic,
# Austronesian, Baltic). Arabic is measured on real speech instead (realdev).
UNSEEN_EVAL_LANGUAGES = ("am", "th", "bg", "cy", "ms", "lt")
EMBEDDING_LAYER = "flatten"


def language_words(lang: str, n: int) -> list[str]:
    """The pretraining words of `lang`: the first `n` of its built-in list, else numbers 0..n-1."""
    from tinykws.data.synth import builtin_languages, builtin_words

    if lang.split("-")[0] in builtin_languages():
        words = builtin_words(lang)
        if len(words) < n:
            raise TinyKWSError(f"--words-per-language: '{lang}' has only {len(words)} built-in words")
        return words[:n]
    return [str(i) for i in range(n)]


def heldout_words(lang: str, n_pretrain: int) -> list[str]:
    """Built-in words of `lang` that pretraining with `n_pretrain` words never used."""
    from tinykws.data.synth import builtin_languages, builtin_words

    if lang.split("-")[0] not in builtin_languages():
        return []
    return builtin_words(lang)[n_pretrain:]


def synth_corpus(
    root: Path,
    languages: list[str],
    words_per_language: int,
    speakers: int,
    seed: int,
    jobs: int | None = None,
    words: dict[str, list[str]] | None = None,
    accented: float = 0.0,
) -> list[Path]:
    """Synthesize one MSWC-layout corpus per language under `root/<lang>` (reused when present).

    One corpus per language because the synthesizer's word list is shared by its languages and
    ours differs per language. Returns the corpus roots. `accented`: see synth.synthesize.
    """
    from tinykws.data.engines import espeak_knows
    from tinykws.data.synth import synthesize

    if "ar" in languages:
        notice("pretrain: Arabic is in --languages; it is tinykws's unseen real-speech test language")
    roots = []
    for lang in languages:  # check all before synthesizing any
        if not espeak_knows(lang):
            raise TinyKWSError(f"--languages: espeak-ng does not know language '{lang}'")
    for lang in languages:
        w = (words or {}).get(lang) or language_words(lang, words_per_language)
        r = synthesize(
            root / lang, languages=[lang], words=w, speakers=speakers, seed=seed, jobs=jobs, accented=accented
        )
        roots.append(r.root)
    return roots


def espeak_unused(languages: list[str]) -> list[str]:
    """espeak-ng languages (base codes) that pretraining did not use: the model never heard them."""
    from tinykws.data.engines import espeak_languages

    used = {lang.split("-")[0] for lang in languages}
    return sorted({c.split("-")[0] for c in espeak_languages()} - used)


def augment(
    audio: np.ndarray,
    noise: np.ndarray,
    rng: np.random.Generator,
    copies: int,
    shift_ms: float = 100.0,
    noise_prob: float = 0.8,
    noise_volume: float = 0.1,
    speed: float = 0.1,
    gain_db: float = 6.0,
) -> np.ndarray:
    """`copies` randomly altered versions of every clip: speed, time shift, gain, noise.

    numpy, not tf.data: the few-shot and pretraining sets are small enough to augment once and
    cache as features, which is several times faster on 2 cores than a per-epoch pipeline.
    Speed resamples about the clip's centre (pitch, formants and tempo at once, like another
    vocal tract); the mlperf front end divides by the clip's maximum, so gain matters only
    relative to the noise.
    """
    n, length = audio.shape
    out = np.empty((n * copies, length), np.float32)
    t = np.arange(length, dtype=np.float64)
    max_shift = int(shift_ms * 16)
    for c in range(copies):
        for i in range(n):
            x = audio[i].astype(np.float64)
            if speed > 0:
                f = float(np.exp(rng.uniform(-speed, speed)))
                x = np.interp((t - length / 2) * f + length / 2, t, x, left=0.0, right=0.0)
            s = int(rng.integers(-max_shift, max_shift + 1))
            x = np.roll(x, s)
            if s > 0:
                x[:s] = 0.0
            elif s < 0:
                x[s:] = 0.0
            x = x * 10 ** (rng.uniform(-gain_db, 0.0) / 20)
            if rng.random() < noise_prob:
                seg = noise[int(rng.integers(0, len(noise)))]
                seg = np.roll(seg, int(rng.integers(0, length)))
                x = x + rng.uniform(0.0, noise_volume) * seg
            out[c * n + i] = np.clip(x, -1.0, 1.0)
    return out


def pretrain_noise(seed: int) -> np.ndarray:
    """The background noise of embedding training (80 synthesized segments of all 8 kinds) for
    `seed`: one place for `pretrain` and `distill`, which augment alike."""
    from tinykws.data.noise import ALL_KINDS, NoiseBank

    return NoiseBank(seed=seed, n_synth=80, kinds=ALL_KINDS).segments


def silence_audio(noise: np.ndarray, n: int, rng: np.random.Generator, max_volume: float = 0.1) -> np.ndarray:
    """`n` background-only clips (the `_silence_` class), as train.fill_silence makes them."""
    pick = rng.integers(0, len(noise), n)
    vol = rng.uniform(0.0, max_volume, n).astype(np.float32)
    return (noise[pick] * vol[:, None]).astype(np.float32)


def embedding_model(classifier: Any) -> Any:
    """The embedding: the classifier's input up to its average pool."""
    import tensorflow as tf

    try:
        layer = classifier.get_layer(EMBEDDING_LAYER)
    except ValueError as exc:
        raise TinyKWSError(f"embedding model: no layer '{EMBEDDING_LAYER}' (not a DS-CNN embedding)") from exc
    return tf.keras.Model(classifier.inputs, layer.output, name="embedding")


def embedding_dir(path: str | Path) -> Path:
    """An embedding directory as `find_model` resolves it, or a one-line error if it is not one
    (cheap: checks the files without loading TensorFlow, so callers can refuse before writing)."""
    from tinykws.resources import find_model

    p = find_model(path)
    if not (p / "model.keras").is_file() or not (p / "tinykws.json").is_file():
        raise TinyKWSError(
            f"--embedding: {p} is not an embedding model directory (needs model.keras, tinykws.json)"
        )
    return p


def load_embedding(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Load a pretrained embedding directory: (classifier Keras model, its tinykws.json).

    `path` is resolved as every model is (tinykws.resources.find_model): as given, then
    ./models/<name>, then the shipped ones, so `--embedding embed-ml` works anywhere."""
    import tensorflow as tf

    p = embedding_dir(path)
    meta = json.loads((p / "tinykws.json").read_text())
    return tf.keras.models.load_model(p / "model.keras", compile=False), meta


def resource_level(hours: float) -> str:
    """MSWC's resource levels: low < 10 h of clips, medium 10-100 h, high > 100 h."""
    return "low" if hours < 10 else "medium" if hours <= 100 else "high"


PRETRAIN_LOSSES = ("softmax", "amsoftmax")
AM_SOFTMAX = {"scale": 30.0, "margin": 0.35}  # the AM-softmax paper's values (Wang et al. 2018)


def am_softmax_classifier(classifier: Any, n_classes: int) -> tuple[Any, Any]:
    """The classifier with its softmax layer replaced by additive-margin cosine logits, and its loss.

    Why: a softmax classifier only needs its 600 pretraining words to fall on the right side of
    each other; nothing asks a new word to land far from them. Cosine logits with a margin
    (logit of the true class s * (cos - m), the others s * cos) pull each word's clips into a
    tight cone and push words apart by an angle, so an unseen word's clips stay close to each
    other and apart from the rest: the property a 5-shot head lives on. Only the embedding
    ships, so the cosine layer, used only for pretraining, never reaches the device.
    The model outputs the cosines; argmax of them is the class, as with softmax.
    """
    import tensorflow as tf

    emb = classifier.get_layer(EMBEDDING_LAYER).output
    unit = tf.keras.layers.UnitNormalization(axis=-1, name="unit_embedding")(emb)
    cos = tf.keras.layers.Dense(
        n_classes, use_bias=False, kernel_constraint=tf.keras.constraints.UnitNorm(axis=0), name="cosine"
    )(unit)
    model = tf.keras.Model(classifier.inputs, cos, name=classifier.name)
    s, m = AM_SOFTMAX["scale"], AM_SOFTMAX["margin"]

    def am_softmax_loss(y_true: Any, cosines: Any) -> Any:
        y = tf.cast(tf.reshape(y_true, [-1]), tf.int32)
        logits = s * (cosines - m * tf.one_hot(y, n_classes, dtype=cosines.dtype))
        return tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)

    return model, am_softmax_loss


def deployed_size(classifier: Any, fe: Any, n_classes: int, calib: np.ndarray) -> dict[str, int]:
    """int8 flash and arena of embedding + an `n_classes` head, as a few-shot model deploys.

    Measured by converting (random head weights do not change the size) and compiling with
    tinykws's graph compiler, whose arena comes from liveness analysis.
    """
    import tempfile

    import tensorflow as tf

    from tinykws.export.compiler import compile_model
    from tinykws.training.quantize import quantize_keras

    emb = classifier.get_layer(EMBEDDING_LAYER).output
    head = tf.keras.layers.Dense(n_classes, activation="softmax", name="logits_fewshot")(emb)
    model = tf.keras.Model(classifier.inputs, head)
    tflite = quantize_keras(model, calib, fe.input_scale, fe.input_zero_point)
    with tempfile.TemporaryDirectory() as d:
        res = compile_model(tflite, d)
    return {
        "tflite_bytes": len(tflite),
        "compiled_weights_bytes": res.weights_bytes,
        "arena_bytes": res.arena_bytes,
    }


def _EpochNotice(epochs: int, verb: str = "pretrain") -> Any:  # noqa: N802 (a class factory: tf imported lazily)
    """A Keras callback that prints one line per epoch, named by the verb (unless progress is disabled)."""
    import tensorflow as tf

    from tinykws.progress import enabled

    def line(epoch: int, logs: dict[str, float] | None) -> None:
        if enabled():
            shown = ", ".join(f"{k} {v:.3f}" for k, v in (logs or {}).items() if "acc" in k or "loss" in k)
            notice(f"{verb}: epoch {epoch + 1}/{epochs}: {shown}")

    return tf.keras.callbacks.LambdaCallback(on_epoch_end=line)


def pretrain(
    out: str | Path,
    data: list[str | Path] | None = None,
    languages: list[str] | None = None,
    words_per_language: int = 20,
    speakers: int = 20,
    filters: int = 96,
    blocks: int = 4,
    epochs: int = 30,
    copies: int = 1,
    batch_size: int = 128,
    learning_rate: float = 3e-3,
    seed: int = 0,
    corpus_dir: str | Path | None = None,
    jobs: int | None = None,
    corpora: int = 2,
    accented: float = 0.0,
    loss: str = "softmax",
) -> dict[str, Any]:
    """Train the embedding classifier and write its model directory; returns its tinykws.json.

    `data`: MSWC roots (real users); default synthesizes `corpora` corpora with seeds seed,
    seed + 1, ... into `corpus_dir` (default `<out>.corpus` beside the model, reused on a second
    run): each gives every language `speakers` new synthetic speakers, and two (40 speakers per
    language) are what the shipped embedding was trained on. Classes are `lang:word`.
    `accented`: share of the non-English synthetic speakers that are piper's English neural
    voice reading the language (synth.make_speakers).
    `loss`: "softmax" (a classifier) or "amsoftmax" (additive-margin cosine classifier,
    `am_softmax_classifier`).
    """
    import tensorflow as tf

    from tinykws.data.corpus import load_clips, read_corpus
    from tinykws.features import get_frontend
    from tinykws.fsutil import atomic_dir
    from tinykws.models.dscnn import dscnn

    out = Path(out)
    if loss not in PRETRAIN_LOSSES:
        raise TinyKWSError(f"--loss: one of {', '.join(PRETRAIN_LOSSES)}, got '{loss}'")
    langs = list(dict.fromkeys(languages or DEFAULT_PRETRAIN_LANGUAGES))
    synthetic = not data
    if synthetic:
        cdir = Path(corpus_dir) if corpus_dir else out.parent / f".{out.name}.corpus"
        roots = []
        for s in range(seed, seed + corpora):  # languages in name order within each corpus
            made = synth_corpus(
                cdir / f"seed{s}", langs, words_per_language, speakers, s, jobs, accented=accented
            )
            roots.extend(sorted(made, key=lambda r: r.name))
    else:
        roots = [Path(d) for d in data]
    clips = []
    for r in roots:
        if synthetic or not languages:
            clips.extend(read_corpus(r).clips)
        else:  # real corpora: keep the requested languages that this root holds
            from tinykws.data.corpus import _mswc_language_dirs

            have = [lang for lang in langs if lang in _mswc_language_dirs(r)]
            if have:
                clips.extend(read_corpus(r, languages=have).clips)
    if not clips:
        raise TinyKWSError(f"--data: no clips of {', '.join(langs)} in {', '.join(map(str, roots))}")
    if not synthetic and words_per_language:
        # real corpora: the `words_per_language` most frequent words of each language
        from collections import Counter

        keep: set[tuple[str, str]] = set()
        for lang in {c.language for c in clips}:
            cnt = Counter(c.word for c in clips if c.language == lang)
            keep |= {(lang, w) for w, _ in cnt.most_common(words_per_language)}
        clips = [c for c in clips if (c.language, c.word) in keep]
    classes = sorted({f"{c.language}:{c.word}" for c in clips})
    index = {k: i for i, k in enumerate(classes)}
    audio, idx, skipped = load_clips(clips)
    if skipped:
        notice(f"pretrain: skipped {skipped} unreadable clips")
    kept = [clips[i] for i in idx]
    y = np.array([index[f"{c.language}:{c.word}"] for c in kept], np.int32)
    split = np.array([c.split for c in kept])
    fe = get_frontend("mlperf")
    noise = pretrain_noise(seed)
    rng = np.random.default_rng(seed)
    tr = split == "train"
    t0 = time.perf_counter()
    x_tr = fe.dequantize(fe.int8_features(augment(audio[tr], noise, rng, copies)))[..., None]
    y_tr = np.tile(y[tr], copies)
    ev = split != "train"
    x_ev = fe.dequantize(fe.int8_features(audio[ev]))[..., None]
    y_ev = y[ev]
    feat_s = time.perf_counter() - t0

    tf.keras.utils.set_random_seed(seed)
    model = dscnn(fe.shape, len(classes), filters=filters, blocks=blocks, name="embedding_dscnn")
    if loss == "amsoftmax":
        model, loss_fn = am_softmax_classifier(model, len(classes))
    else:
        loss_fn = "sparse_categorical_crossentropy"
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate), loss=loss_fn, metrics=["accuracy"])

    def lr_at(epoch: int, _lr: float) -> float:
        return learning_rate * 0.5 * (1 + math.cos(math.pi * epoch / epochs))

    t0 = time.perf_counter()
    hist = model.fit(
        x_tr, y_tr, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0,
        validation_data=(x_ev, y_ev) if len(y_ev) else None,
        callbacks=[tf.keras.callbacks.LearningRateScheduler(lr_at), _EpochNotice(epochs)],
    )  # fmt: skip
    train_s = time.perf_counter() - t0
    top1 = (
        float(np.mean(model.predict(x_ev, batch_size=256, verbose=0).argmax(1) == y_ev))
        if len(y_ev)
        else None
    )
    size = deployed_size(model, fe, 3, x_tr[:200])

    per_lang: dict[str, dict[str, Any]] = {}
    for c in kept:
        d = per_lang.setdefault(c.language, {"words": set(), "clips": 0})
        d["words"].add(c.word)
        d["clips"] += 1
    languages_doc = {
        lang: {
            "words": sorted(d["words"]),
            "clips": d["clips"],
            "hours": round(d["clips"] / 3600, 4),
            "resource_level": resource_level(d["clips"] / 3600),
            "word_scheme": "built-in list"
            if lang in WORDLIST_LANGUAGES
            else "numbers (digits read by espeak-ng)",
        }
        for lang, d in sorted(per_lang.items())
    }
    emb_params = int(embedding_model(model).count_params())
    meta = {
        "name": out.name,
        "kind": "embedding",
        "embedding_layer": EMBEDDING_LAYER,
        "embedding_dim": int(filters),
        "model": {
            "builder": "dscnn",
            "filters": filters,
            "blocks": blocks,
            "params_embedding": emb_params,
            "params_pretrain_head": int(model.count_params()) - emb_params,
            "pretrain_loss": {"name": loss, **AM_SOFTMAX} if loss == "amsoftmax" else {"name": loss},
        },  # fmt: skip
        "frontend": fe.to_dict(),
        "input_quantization": {"scale": fe.input_scale, "zero_point": fe.input_zero_point},
        "data": {
            "synthetic": synthetic,
            "roots": [str(r) for r in roots] if not synthetic else None,
            "languages": languages_doc,
            "n_languages": len(languages_doc),
            "n_classes": len(classes),
            "clips": {s: int((split == s).sum()) for s in ("train", "dev", "test")},
            "speakers_per_language": speakers * corpora if synthetic else None,
            "corpus_seeds": list(range(seed, seed + corpora)) if synthetic else None,
            "accented": accented if synthetic else None,
            "seed": seed,
        },
        "espeak_languages_not_in_pretraining": espeak_unused(list(languages_doc)),
        "training": {
            "epochs": epochs,
            "augmented_copies": copies,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "feature_seconds": round(feat_s, 1),
            "train_seconds": round(train_s, 1),
            "history": {k: [round(float(v), 4) for v in vs] for k, vs in hist.history.items()},
        },  # fmt: skip
        "figures": {
            "measured": True,
            "pretrain_top1_float_heldout_speakers": top1,
            "heldout_clips": int(len(y_ev)),
            "deployed_3class_int8": size,
        },
        "classes": classes,
    }
    with atomic_dir(out) as d:
        # only the embedding ships (the pretraining head is of no use to a new keyword): smaller
        embedding_model(model).save(d / "model.keras")
        (d / "tinykws.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False))
    return meta


def cli_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", nargs="+", default=None, help="MSWC roots (default: synthesize a corpus)")
    p.add_argument("--languages", default=None, help="comma-separated (default: 30 languages, no Arabic)")
    p.add_argument("--words-per-language", type=int, default=20)
    p.add_argument("--speakers", type=int, default=20, help="synthetic speakers per language and corpus")
    p.add_argument(
        "--corpora",
        type=int,
        default=2,
        help="synthetic corpora, seeds --seed, --seed+1, ...",
    )
    p.add_argument(
        "--accented",
        type=float,
        default=0.0,
        help="share of non-English synthetic speakers spoken by piper's English neural voice (0 to 1)",
    )
    p.add_argument("--filters", type=int, default=96, help="width; 96 fits the Nano 33 BLE with a head")
    p.add_argument("--blocks", type=int, default=4)
    p.add_argument(
        "--loss",
        choices=PRETRAIN_LOSSES,
        default="softmax",
        help="amsoftmax: additive-margin cosine classifier (words in tight, separated cones)",
    )
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--copies", type=int, default=1, help="augmented copies of each training clip")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--corpus-dir", default=None, help="where to synthesize (default: beside --out)")
    p.add_argument("--jobs", type=int, default=None)
    p.add_argument("--out", required=True)


def cli_run(args: argparse.Namespace) -> int:
    for name in ("words_per_language", "speakers", "filters", "blocks", "epochs", "copies", "corpora"):
        if getattr(args, name) < 1:
            raise TinyKWSError(f"--{name.replace('_', '-')}: must be at least 1")
    langs = [s.strip() for s in args.languages.split(",") if s.strip()] if args.languages else None
    meta = pretrain(
        args.out, data=args.data, languages=langs, words_per_language=args.words_per_language,
        speakers=args.speakers, filters=args.filters, blocks=args.blocks, epochs=args.epochs,
        copies=args.copies, seed=args.seed, corpus_dir=args.corpus_dir, jobs=args.jobs,
        corpora=args.corpora, accented=args.accented, loss=args.loss,
    )  # fmt: skip
    f = meta["figures"]
    print(
        f"embedding: {args.out} ({meta['data']['n_languages']} languages, {meta['data']['n_classes']} words)"
    )
    print(f"pretrain top-1 (float, held-out speakers): {f['pretrain_top1_float_heldout_speakers']}")
    print(f"deployed with a 3-class head: {f['deployed_3class_int8']}")
    return 0
