"""`tinykws distill`: our embedding DS-CNN learns a real-speech teacher's embedding geometry.

Why: an embedding trained on tinykws's synthetic voices separates words spoken by synthetic
voices, and on real speakers its few-shot heads take other words for the keyword (0.39 F1 on
real Arabic). A teacher trained on real speech (tinykws.training.teacher) separates real voices' words
(0.74) but is 20 000 times too large for a microcontroller. Distillation moves the geometry,
not the weights: for every clip of a pool the student's embedding is asked to point where the
teacher's does.

The pool mixes what each source is good for:
- synthetic corpora (every engine and language): many words in many languages;
- real clips (MSWC layout, e.g. ../shared/realtrain): microphones, rooms and real voices;
- unlabelled windows of real speech: the end of one real clip joined to the start of another,
  so the student also learns what the teacher says of speech that is not a whole word (what a
  streaming detector sees between words);
- noise (the noise bank), so that silence has a place in the geometry too.

The student sees augmented copies (speed, shift, gain, noise) of each clip and must give the
teacher's embedding of the clean clip: the teacher's invariances become the student's.

Loss, per batch (student vector s = a linear map of the 96-d embedding, unit length; teacher
vector t = the teacher's output projected on its first `dim` principal axes of the pool, unit
length; the projection is fixed before training):
- cosine: mean(1 - s . t);
- relation: mean squared difference between the batch's student similarities s_i . s_j and
  the teacher's t_i . t_j (the pairwise geometry, which is what a few-shot head lives on);
- words (optional, --words-weight): cross-entropy over the pool's labelled words.
Only the embedding (input to the average pool's output) ships; the linear map and any word
head are training aids.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinykws.errors import TinyKWSError
from tinykws.progress import notice

DEFAULT_DIM = 128
SOURCES = ("synthetic", "real", "unlabelled", "noise")


@dataclass
class Pool:
    """Distillation audio: 1 s clips with what is known of each."""

    audio: np.ndarray  # float32 [N, 16000]
    source: np.ndarray  # str [N]: one of SOURCES
    label: np.ndarray  # str [N]: "lang:word", or "" for unlabelled windows and noise
    split: np.ndarray  # str [N]: train | dev | test
    origin: list[str] = field(default_factory=list)  # the roots read, for the record

    def select(self, keep: np.ndarray) -> Pool:
        return Pool(self.audio[keep], self.source[keep], self.label[keep], self.split[keep], self.origin)

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            s: {sp: int(((self.source == s) & (self.split == sp)).sum()) for sp in ("train", "dev", "test")}
            for s in SOURCES
        }


def _read_roots(
    roots: list[Path], max_clips: int | None, seed: int, what: str
) -> tuple[list[Any], list[str]]:
    """Clips of MSWC-layout roots (a corpus root, or one language folder of it)."""
    from tinykws.data.corpus import read_corpus

    clips, origin = [], []
    for r in roots:
        if not Path(r).exists():
            raise TinyKWSError(f"{what}: {r} not found")
        try:
            c = read_corpus(r).clips
        except TinyKWSError:
            parent = Path(r).parent  # a language folder: read its corpus root for that language
            c = read_corpus(parent, languages=[Path(r).name]).clips
        if max_clips and len(c) > max_clips:  # a seeded subset that keeps every split's share
            rng = np.random.default_rng([seed, len(origin)])
            c = [c[i] for i in sorted(rng.permutation(len(c))[:max_clips])]
        clips.extend(c)
        origin.append(f"{r} ({len(c)} clips)")
    return clips, origin


def unlabelled_windows(audio: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` one-second windows across the join of two different real clips: the last part of one
    and the first part of the next, cut at a random point. Real speech, but no whole word."""
    if len(audio) < 2 or n <= 0:
        return np.zeros((0, audio.shape[1] if audio.ndim == 2 else 16000), np.float32)
    length = audio.shape[1]
    out = np.empty((n, length), np.float32)
    for i in range(n):
        a, b = rng.choice(len(audio), 2, replace=False)
        cut = int(rng.integers(length // 4, 3 * length // 4))
        out[i, : length - cut] = audio[a, cut:]
        out[i, length - cut :] = audio[b, : cut]
    return out


def build_pool(
    synthetic: list[Path],
    real: list[Path],
    unlabelled: int,
    noise_clips: int,
    seed: int,
    max_per_root: int | None = None,
    noise: np.ndarray | None = None,
) -> Pool:
    """Read and assemble the pool; unreadable clips are skipped and counted. `noise`: the
    segments the noise clips are cut from (default: pretrain_noise(seed), as training uses)."""
    from tinykws.data.corpus import load_clips
    from tinykws.training.pretrain import pretrain_noise, silence_audio

    parts: list[tuple[np.ndarray, str, list[str], list[str]]] = []
    origin: list[str] = []
    skipped = 0
    for roots, kind in ((synthetic, "synthetic"), (real, "real")):
        if not roots:
            continue
        clips, org = _read_roots(roots, max_per_root, seed, f"--{kind}")
        origin += [f"{kind}: {o}" for o in org]
        if not clips:
            continue
        a, idx, sk = load_clips(clips)
        skipped += sk
        kept = [clips[i] for i in idx]
        # synthetic speakers are never measured here: all of them train; real dev speakers are
        # kept apart to score the student against the teacher on unheard real voices
        splits = [c.split if kind == "real" else "train" for c in kept]
        parts.append((a, kind, [f"{c.language}:{c.word}" for c in kept], splits))
    rng = np.random.default_rng(seed)
    real_train = [p[0][np.array(p[3]) == "train"] for p in parts if p[1] == "real"]
    if unlabelled and real_train and sum(len(r) for r in real_train) >= 2:
        w = unlabelled_windows(np.concatenate(real_train), unlabelled, rng)
        parts.append((w, "unlabelled", [""] * len(w), ["train"] * len(w)))
    if noise_clips:
        segs = pretrain_noise(seed) if noise is None else noise
        nz = silence_audio(segs, noise_clips, rng, max_volume=0.1)
        parts.append((nz, "noise", [""] * len(nz), ["train"] * len(nz)))
    if skipped:
        notice(f"distill: skipped {skipped} unreadable clips")
    if not parts or sum(len(p[0]) for p in parts) == 0:
        raise TinyKWSError("distill: the pool holds no audio (give --synthetic and/or --real corpora)")
    return Pool(
        np.concatenate([p[0] for p in parts]).astype(np.float32),
        np.concatenate([[p[1]] * len(p[0]) for p in parts]).astype(str),
        np.concatenate([p[2] for p in parts]).astype(str),
        np.concatenate([p[3] for p in parts]).astype(str),
        origin,
    )


def languages_doc(pool: Pool) -> dict[str, dict[str, Any]]:
    """Per language of the pool's labelled training clips: words, clips, hours, MSWC resource
    level and where they came from (the form `tinykws pretrain` records, which fewshot-eval reads
    to tell seen from unseen languages)."""
    from tinykws.training.pretrain import resource_level

    out: dict[str, dict[str, Any]] = {}
    tr = pool.split == "train"
    for lab, src in zip(pool.label[tr], pool.source[tr], strict=True):
        if not lab:
            continue
        lang, word = lab.split(":", 1)
        d = out.setdefault(lang, {"words": set(), "clips": 0, "sources": set()})
        d["words"].add(word)
        d["clips"] += 1
        d["sources"].add(str(src))
    return {
        lang: {
            "words": sorted(d["words"]),
            "clips": d["clips"],
            "hours": round(d["clips"] / 3600, 4),
            "resource_level": resource_level(d["clips"] / 3600),
            "sources": sorted(d["sources"]),
        }
        for lang, d in sorted(out.items())
    }


def pca_projection(targets: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The teacher's first `dim` principal axes over the pool: (mean [D], axes [D, dim])."""
    mu = targets.mean(0)
    x = (targets - mu).astype(np.float64)
    _, _, vt = np.linalg.svd(x[:: max(1, len(x) // 20000)], full_matrices=False)
    return mu.astype(np.float32), vt[:dim].T.astype(np.float32)


def project(targets: np.ndarray, mu: np.ndarray, axes: np.ndarray) -> np.ndarray:
    z = (targets - mu) @ axes
    return (z / (np.linalg.norm(z, axis=1, keepdims=True) + 1e-9)).astype(np.float32)


def _losses(relation_weight: float) -> Any:
    import tensorflow as tf

    def geometry_loss(t: Any, s: Any) -> Any:
        s = tf.math.l2_normalize(s, axis=-1)
        cos = tf.reduce_sum(s * t, axis=-1)
        loss = tf.reduce_mean(1.0 - cos)
        if relation_weight:
            ss = tf.matmul(s, s, transpose_b=True)
            tt = tf.matmul(t, t, transpose_b=True)
            loss += relation_weight * tf.reduce_mean(tf.square(ss - tt))
        return loss

    def words_loss(y: Any, logits: Any) -> Any:
        y = tf.cast(tf.reshape(y, [-1]), tf.int32)
        m = tf.cast(y >= 0, logits.dtype)
        ce = tf.keras.losses.sparse_categorical_crossentropy(tf.maximum(y, 0), logits, from_logits=True)
        return tf.reduce_sum(ce * m) / tf.maximum(tf.reduce_sum(m), 1.0)

    return geometry_loss, words_loss


def student_model(shape: tuple[int, int], filters: int, blocks: int, dim: int, n_words: int) -> Any:
    """The DS-CNN embedding with its training heads: a linear map to the teacher's projection and
    (n_words > 0) word logits. The shipped embedding is its `flatten` layer."""
    import tensorflow as tf

    from tinykws.models.dscnn import dscnn
    from tinykws.training.pretrain import EMBEDDING_LAYER

    base = dscnn(shape, 2, filters=filters, blocks=blocks, name="embedding_dscnn")
    emb = base.get_layer(EMBEDDING_LAYER).output
    outs = {"geometry": tf.keras.layers.Dense(dim, name="geometry")(emb)}
    if n_words:
        outs["words"] = tf.keras.layers.Dense(n_words, name="words")(emb)
    return tf.keras.Model(base.inputs, outs, name="embedding_dscnn")


def distill(
    out: str | Path,
    teacher: str = "efficientword-net",
    synthetic: list[str | Path] | None = None,
    real: list[str | Path] | None = None,
    unlabelled: int = 3000,
    noise_clips: int = 1000,
    cache: str | Path | None = None,
    filters: int = 96,
    blocks: int = 4,
    dim: int = DEFAULT_DIM,
    relation_weight: float = 1.0,
    words_weight: float = 0.0,
    epochs: int = 30,
    copies: int = 2,
    batch_size: int = 128,
    learning_rate: float = 3e-3,
    seed: int = 0,
    max_per_root: int | None = None,
    init: str | Path | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Distil `teacher` into a DS-CNN embedding and write its model directory; returns tinykws.json.

    `init`: an embedding directory of the same shape whose weights start the student (a warm
    start: a further run of a distilled embedding, with its own cosine schedule). `resume`:
    continue the run checkpointed beside `out` (every epoch, atomically) with the same arguments.
    """
    import tensorflow as tf

    from tinykws.features import get_frontend
    from tinykws.fsutil import atomic_dir
    from tinykws.training.pretrain import EMBEDDING_LAYER, augment, embedding_model, pretrain_noise
    from tinykws.training.teacher import Teacher, TeacherCache

    out = Path(out)
    if not synthetic and not real:
        raise TinyKWSError("distill: the pool holds no audio (give --synthetic and/or --real corpora)")
    config = {
        "teacher": teacher, "synthetic": [str(p) for p in synthetic or []],
        "real": [str(p) for p in real or []], "unlabelled": unlabelled, "noise_clips": noise_clips,
        "filters": filters, "blocks": blocks, "dim": dim, "relation_weight": relation_weight,
        "words_weight": words_weight, "epochs": epochs, "copies": copies, "batch_size": batch_size,
        "learning_rate": learning_rate, "seed": seed, "max_per_root": max_per_root,
        "init": str(init) if init else None,
    }  # fmt: skip
    ckpt = Checkpoints(out, config, resume)  # before any work: a mismatched --resume fails at once
    init_dir = _check_init(init, filters, blocks) if init else None
    t_model = Teacher(teacher)  # before reading any audio: a missing extra fails at once
    noise = pretrain_noise(seed)
    pool = build_pool([Path(p) for p in synthetic or []], [Path(p) for p in real or []],
                      unlabelled, noise_clips, seed, max_per_root, noise)  # fmt: skip
    cdir = Path(cache) if cache else out.parent / f".{out.name}.teacher-cache"
    tc = TeacherCache(cdir, t_model)
    t0 = time.perf_counter()
    targets = tc.embed(pool.audio, desc="teacher outputs")
    teacher_s = time.perf_counter() - t0
    if tc.corrupt:
        notice(f"distill: {tc.corrupt} corrupt teacher cache entries recomputed")

    tr = pool.split == "train"
    dev = (pool.split == "dev") & (pool.source == "real")
    mu, axes = pca_projection(targets[tr], dim)
    dim = axes.shape[1]  # a pool smaller than `dim` has fewer axes
    words = sorted({w for w in pool.label[tr] if w})
    windex = {w: i for i, w in enumerate(words)}
    y_word = np.array([windex.get(w, -1) for w in pool.label], np.int32)

    fe = get_frontend("mlperf")
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    x_tr = fe.dequantize(fe.int8_features(augment(pool.audio[tr], noise, rng, copies)))[..., None]
    t_tr = np.tile(project(targets[tr], mu, axes), (copies, 1))
    w_tr = np.tile(y_word[tr], copies)
    x_dev = fe.dequantize(fe.int8_features(pool.audio[dev]))[..., None]
    t_dev = project(targets[dev], mu, axes)
    feat_s = time.perf_counter() - t0

    tf.keras.utils.set_random_seed(seed)
    n_words = len(words) if words_weight > 0 else 0
    model = student_model(fe.shape, filters, blocks, dim, n_words)
    geometry_loss, words_loss = _losses(relation_weight)
    losses = {"geometry": geometry_loss}
    weights = {"geometry": 1.0}
    y_tr: dict[str, np.ndarray] = {"geometry": t_tr}
    if n_words:
        losses["words"], weights["words"], y_tr["words"] = words_loss, words_weight, w_tr
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate), loss=losses, loss_weights=weights)
    if init_dir is not None:
        _warm_start(model, init_dir)
    epoch0 = ckpt.restore(model)

    def lr_at(epoch: int, _lr: float) -> float:
        return learning_rate * 0.5 * (1 + math.cos(math.pi * epoch / epochs))

    from tinykws.training.pretrain import _EpochNotice

    t0 = time.perf_counter()
    if epoch0 < epochs:
        # seeded by the epoch it starts at: a resumed run is reproducible, though its shuffles
        # are not those the uninterrupted run would have drawn (the recipe is the same)
        tf.keras.utils.set_random_seed(seed + epoch0)
        model.fit(
            x_tr, y_tr, batch_size=batch_size, epochs=epochs, initial_epoch=epoch0, shuffle=True,
            verbose=0, callbacks=[tf.keras.callbacks.LearningRateScheduler(lr_at),
                                  ckpt.callback(), _EpochNotice(epochs, "distill")],
        )  # fmt: skip
    train_s = ckpt.state["train_seconds"] + time.perf_counter() - t0
    dev_cos = None
    if len(x_dev):
        s = model.predict(x_dev, batch_size=256, verbose=0)["geometry"]
        s /= np.linalg.norm(s, axis=1, keepdims=True) + 1e-9
        dev_cos = float(np.mean(np.sum(s * t_dev, axis=1)))
    emb = embedding_model(model)
    size = _deployed(model, fe, x_tr[:200])
    spec = t_model.spec
    meta = {
        "name": out.name,
        "kind": "embedding",
        "embedding_layer": EMBEDDING_LAYER,
        "embedding_dim": int(filters),
        "model": {
            "builder": "dscnn",
            "filters": filters,
            "blocks": blocks,
            "params_embedding": int(emb.count_params()),
            "pretrain_loss": {
                "name": "distillation",
                "geometry_dim": dim,
                "relation_weight": relation_weight,
                "words_weight": words_weight,
            },
        },
        "teacher": {
            "name": spec.name,
            "source": spec.source,
            "license": spec.license,
            "weights_sha256_prefix": t_model.fingerprint,
            "input": f"{spec.window_samples / spec.sample_rate:g} s at {spec.sample_rate} Hz, "
            f"{spec.n_mels}-band log filterbank; the 1 s clip centred",
            "dim": spec.dim,
        },
        "frontend": fe.to_dict(),
        "input_quantization": {"scale": fe.input_scale, "zero_point": fe.input_zero_point},
        "espeak_languages_not_in_pretraining": _espeak_unused(pool),
        "data": {
            "synthetic": False,
            "distillation_pool": pool.counts(),
            "roots": pool.origin,
            "labelled_words_in_training": len(words),
            "languages": languages_doc(pool),
            "n_languages": len({w.split(":")[0] for w in words}),
            "seed": seed,
        },
        "training": {
            "epochs": epochs,
            "augmented_copies": copies,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "teacher_seconds": round(teacher_s, 1),
            "teacher_cache": tc.stats(),
            "feature_seconds": round(feat_s, 1),
            "train_seconds": round(train_s, 1),
            "resumed_at_epoch": epoch0 if resume else None,
            "warm_start": str(init) if init else None,
            "history": ckpt.history(),
        },
        "figures": {
            "measured": True,
            "dev_cosine_to_teacher": dev_cos,
            "dev_clips": int(len(x_dev)),
            "deployed_3class_int8": size,
        },
        "licenses": LICENSES_NOTE,
    }
    with atomic_dir(out) as d:
        emb.save(d / "model.keras")
        (d / "tinykws.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False))
        (d / "NOTICE").write_text(notice_text(meta))
    ckpt.remove()
    return meta


class Checkpoints:
    """Per-epoch checkpoints of a distillation run, beside the output (`.<out>.ckpt/`).

    Each epoch writes the model's and the optimizer's variables to one .npz atomically
    (tinykws.training.variables: the student's losses are closures, which a .keras file cannot
    restore, and Adam's moments must continue), then state.json
    (the commit point). The pool, the teacher targets (cached) and the augmented copies (seeded)
    are rebuilt identically on resume, so only the weights need keeping.
    """

    def __init__(self, out: Path, config: dict[str, Any], resume: bool) -> None:
        import shutil

        from tinykws.fsutil import atomic_write_text

        self.dir = out.parent / f".{out.name}.ckpt"
        self.state: dict[str, Any] = {"epoch": -1, "history": [], "train_seconds": 0.0, "file": None}
        if resume:
            try:
                saved = json.loads((self.dir / "config.json").read_text())
                self.state = json.loads((self.dir / "state.json").read_text())
            except (OSError, ValueError) as exc:
                raise TinyKWSError(f"--resume: no readable distillation checkpoint at {self.dir}") from exc
            if saved != config:
                diff = sorted(k for k in set(saved) | set(config) if saved.get(k) != config.get(k))
                raise TinyKWSError(
                    f"--resume: arguments differ from the checkpointed run in {self.dir} ({', '.join(diff)})"
                )
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
            atomic_write_text(self.dir / "config.json", json.dumps(config, indent=1))

    def restore(self, model: Any) -> int:
        """Load the last epoch's variables into `model` (compiled); the epoch to start from."""
        if not self.state["file"]:
            return 0
        path = self.dir / self.state["file"]
        from tinykws.training.variables import load_variables

        weights, opt = load_variables(path)
        model.set_weights(weights)
        model.optimizer.build(model.trainable_variables)
        if len(opt) != len(model.optimizer.variables):
            raise TinyKWSError(f"--resume: {path} holds another optimizer's state")
        for v, a in zip(model.optimizer.variables, opt, strict=True):
            v.assign(a)
        return int(self.state["epoch"]) + 1

    def callback(self) -> Any:
        import tensorflow as tf

        ck = self
        t_start = [time.perf_counter()]

        class Save(tf.keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
                from tinykws.fsutil import atomic_write_bytes, atomic_write_text
                from tinykws.training.variables import variables_bytes

                name = f"epoch{epoch}.npz"
                atomic_write_bytes(ck.dir / name, variables_bytes(self.model, self.model.optimizer))
                now = time.perf_counter()
                st = ck.state
                st["train_seconds"] += now - t_start[0]
                t_start[0] = now
                st["history"].append({k: round(float(v), 4) for k, v in (logs or {}).items()})
                old, st["epoch"], st["file"] = st["file"], epoch, name
                atomic_write_text(ck.dir / "state.json", json.dumps(st, indent=1))
                if old and old != name:
                    (ck.dir / old).unlink(missing_ok=True)

        return Save()

    def history(self) -> dict[str, list[float]]:
        """Per-metric lists over every epoch run, resumed or not."""
        keys = {k for e in self.state["history"] for k in e if k != "learning_rate"}
        return {k: [e.get(k) for e in self.state["history"]] for k in sorted(keys)}

    def remove(self) -> None:
        import shutil

        shutil.rmtree(self.dir, ignore_errors=True)


def _check_init(init: str | Path, filters: int, blocks: int) -> Path:
    """--init: an embedding directory whose DS-CNN has this run's shape (cheap: no TensorFlow)."""
    from tinykws.training.pretrain import embedding_dir

    try:
        p = embedding_dir(init)
    except TinyKWSError as exc:
        raise TinyKWSError(str(exc).replace("--embedding", "--init", 1)) from exc
    m = json.loads((p / "tinykws.json").read_text()).get("model", {})
    if (m.get("filters"), m.get("blocks")) != (filters, blocks):
        raise TinyKWSError(
            f"--init: {p} is a {m.get('filters')} x {m.get('blocks')} DS-CNN, this run is "
            f"--filters {filters} --blocks {blocks}"
        )
    return p


def _warm_start(model: Any, init_dir: Path) -> None:
    """Copy the embedding's weights, layer by layer (same names), into the student."""
    from tinykws.training.pretrain import load_embedding

    emb, _ = load_embedding(init_dir)
    names = {layer.name for layer in model.layers}
    for layer in emb.layers:
        if layer.weights:
            if layer.name not in names:
                raise TinyKWSError(f"--init: {init_dir} has layer {layer.name!r}, which the student lacks")
            model.get_layer(layer.name).set_weights(layer.get_weights())


LICENSES_NOTE = {
    "teacher": "EfficientWord-Net weights, Apache-2.0 (the teacher is not shipped; its outputs "
    "trained this embedding)",
    "real_training_data": "../shared/realtrain: MIT (DSPSpeech-20), CC BY-SA 4.0 (Free Spoken Digit "
    "Dataset; Malayalam Speech Corpus), public domain (Mycroft Precise Community Data), Apache-2.0 "
    "(Picovoice wake-word-benchmark); see NOTICE",
}


def notice_text(meta: dict[str, Any]) -> str:
    """The NOTICE that travels with a distilled embedding: what it learned from, and whose it is."""
    roots = "\n".join(f"  - {r}" for r in meta["data"]["roots"])
    return f"""This embedding ({meta['name']}) was trained by tinykws (Apache-2.0) by distillation.

Teacher (its outputs were the training targets; its weights are not included):
  {meta['teacher']['source']}. License: {meta['teacher']['license']}.

Training audio:
{roots}

Real recordings from ../shared/realtrain, with the attributions their licenses ask for:
  - DSPSpeech-20, Copyright (c) 2019 Zhongyu Chen, MIT License.
  - Free Spoken Digit Dataset (FSDD), Zohar Jackson and contributors,
    https://github.com/Jakobovski/free-spoken-digit-dataset, CC BY-SA 4.0; changed (trimmed,
    resampled, re-encoded).
  - Malayalam Speech Corpus, Swathanthra Malayalam Computing (SMC) and its contributors,
    https://gitlab.com/smc/msc, CC BY-SA 4.0; changed (single words selected, trimmed, resampled).
  - Mycroft AI Precise Community Data: public domain (contributors' dedications).
  - Picovoice wake-word-benchmark, Copyright 2018 Picovoice Inc., Apache License 2.0; changed
    (trimmed, resampled, re-encoded).
Synthetic speech: espeak-ng, flite, festival voices and piper's en_US-joe-medium (docs/data.md).
"""


def _espeak_unused(pool: Pool) -> list[str] | None:
    """espeak-ng languages no labelled clip of the pool is in (None when espeak-ng is absent)."""
    from tinykws.training.pretrain import espeak_unused

    langs = sorted({lab.split(":", 1)[0] for lab in pool.label if lab})
    try:
        return espeak_unused(langs + (["cmn"] if "zh" in langs else []))
    except TinyKWSError:
        return None


def _deployed(model: Any, fe: Any, calib: np.ndarray) -> dict[str, int]:
    """int8 flash and arena of the embedding with a 3-class head, as a few-shot model deploys."""
    import tensorflow as tf

    from tinykws.training.pretrain import EMBEDDING_LAYER, deployed_size

    emb = model.get_layer(EMBEDDING_LAYER).output
    stub = tf.keras.Model(model.inputs, tf.keras.layers.Dense(3, name="logits_stub")(emb))
    return deployed_size(stub, fe, 3, calib)


def cli_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--teacher", default="efficientword-net", help="known teachers: efficientword-net")
    p.add_argument("--synthetic", nargs="*", default=[], help="synthetic MSWC-layout corpora (tinykws synth)")
    p.add_argument("--real", nargs="*", default=[], help="real MSWC-layout corpora, e.g. ../shared/realtrain")
    p.add_argument("--unlabelled", type=int, default=3000, help="windows across two real clips")
    p.add_argument("--noise-clips", type=int, default=1000)
    p.add_argument("--max-per-root", type=int, default=None, help="a seeded subset of each root")
    p.add_argument("--cache", default=None, help="teacher-output cache (default: beside --out)")
    p.add_argument("--filters", type=int, default=96)
    p.add_argument("--blocks", type=int, default=4)
    p.add_argument("--dim", type=int, default=DEFAULT_DIM, help="teacher principal axes to match")
    p.add_argument("--relation-weight", type=float, default=1.0)
    p.add_argument("--words-weight", type=float, default=0.0)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--copies", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", default=None, help="warm start from this embedding (same --filters/--blocks)")
    p.add_argument("--resume", action="store_true", help="continue the run checkpointed beside --out")
    p.add_argument("--out", required=True)


def cli_run(args: argparse.Namespace) -> int:
    for name in ("filters", "blocks", "dim", "epochs", "copies"):
        if getattr(args, name) < 1:
            raise TinyKWSError(f"--{name}: must be at least 1")
    for name in ("unlabelled", "noise_clips"):
        if getattr(args, name) < 0:
            raise TinyKWSError(f"--{name.replace('_', '-')}: must not be negative")
    meta = distill(
        args.out, teacher=args.teacher, synthetic=args.synthetic, real=args.real,
        unlabelled=args.unlabelled, noise_clips=args.noise_clips, cache=args.cache,
        filters=args.filters, blocks=args.blocks, dim=args.dim,
        relation_weight=args.relation_weight, words_weight=args.words_weight,
        epochs=args.epochs, copies=args.copies, seed=args.seed, max_per_root=args.max_per_root,
        init=args.init, resume=args.resume,
    )  # fmt: skip
    f = meta["figures"]
    print(f"embedding: {args.out} (distilled from {meta['teacher']['name']})")
    print(f"pool: {meta['data']['distillation_pool']}")
    print(f"teacher cache: {meta['training']['teacher_cache']}")
    print(f"dev cosine to the teacher: {f['dev_cosine_to_teacher']}")
    print(f"deployed with a 3-class head: {f['deployed_3class_int8']}")
    return 0
