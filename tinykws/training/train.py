"""Train a DS-CNN keyword model from a corpus (MSWC layout, folder corpus, or synthesized).

Labels are `_silence_`, `_unknown_`, then the keywords (DESIGN.md). Augmentation runs on the fly
inside tf.data on raw audio, before the front end, because that is where the real world varies:
time shift (up to +-100 ms), background noise (probability 0.8, volume up to 0.1, always for
silence), then the front end, the device's int8 input rounding, and SpecAugment masks.

Why the int8 rounding in the loop: the device feeds the model trunc(feature / scale + zp), so
the float model trains on exactly the values it will see after quantization.

Resumable and deterministic: the shuffle order and every augmentation draw are a function of
(seed, global step), precomputed per epoch, so `--resume` continues the same run after a crash.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinykws.data.splits import (
    SILENCE,
    UNKNOWN,
    SplitData,
    assemble_splits,
    fill_silence,
    noise_bank,
)
from tinykws.errors import TinyKWSError
from tinykws.training.config import DEFAULT_EMBEDDING, TrainConfig


def evaluation_audio(
    cfg: TrainConfig, splits: dict[str, SplitData], noise: np.ndarray
) -> tuple[str, SplitData, np.ndarray]:
    """The split a model directory's figures come from (test, else dev) and its audio, silence
    rows filled with seeded noise: one definition, so benchmarks re-scoring a trained model see
    exactly the clips its tinykws.json was measured on."""
    name = "test" if "test" in splits else "dev"
    return name, splits[name], fill_silence(splits[name], noise, cfg.seed + 4)


def prior_log_ratio(train_counts: dict[str, int], eval_counts: dict[str, int]) -> np.ndarray:
    """Per-label log(eval share / training share), in label order (silence, unknown, keywords).

    Why: a softmax classifier's outputs carry its training priors. When training holds more
    unknown words than deployment (to learn them better), adding this to the logits restores the
    deployment shares without retraining. Keywords are pooled into one group, so chance
    differences between keyword counts do not move single keywords. A group absent from either
    split gets no correction.
    """
    labels = list(train_counts)
    groups = [lab if lab in (SILENCE, UNKNOWN) else "keywords" for lab in labels]

    def shares(counts: dict[str, int]) -> dict[str, float]:
        total = sum(counts.values())
        g: dict[str, float] = {}
        for lab, grp in zip(labels, groups, strict=True):
            g[grp] = g.get(grp, 0.0) + counts.get(lab, 0) / max(total, 1)
        return g

    tr, ev = shares(train_counts), shares(eval_counts)
    return np.array([math.log(ev[g] / tr[g]) if tr[g] > 0 and ev[g] > 0 else 0.0 for g in groups], np.float32)


def fold_output_bias(model: Any, delta: np.ndarray) -> None:
    """Add `delta` to the bias of the softmax layer `logits` (in place): logits + delta, exactly."""
    layer = model.get_layer("logits")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel, bias + delta.astype(bias.dtype)])


def _channel_offsets(rng: np.random.Generator, m: int, amount: float, dct: np.ndarray) -> np.ndarray:
    """Cepstral offsets [m, coeffs] of `m` random smooth spectral envelopes.

    Why in the cepstrum: a microphone or room multiplies the spectrum by a fixed response, which
    adds a constant curve g(mel band) to every frame's log-mel energies, and the DCT turns that
    into a constant offset g @ dct on every frame's coefficients. The synthesizer colours each
    speaker once; this draws a new colouring for every clip in every epoch, for free. g is a
    sum of the four smoothest cosines over the mel bands with amplitudes U(-amount, amount)/k,
    so it tilts and bends the spectrum but never adds narrow peaks.
    """
    n_mels = dct.shape[0]
    band = (np.arange(n_mels) + 0.5) / n_mels
    ks = np.arange(1, 5)
    basis = np.cos(np.pi * ks[:, None] * band[None, :])  # [4, n_mels]
    amp = rng.uniform(-amount, amount, (m, len(ks))) / ks[None, :]
    return ((amp @ basis) @ dct).astype(np.float32)


def _augment_plan(
    cfg: TrainConfig,
    split: SplitData,
    n_noise: int,
    epoch: int,
    frames: int,
    coeffs: int,
    dct: np.ndarray,
    pool_p: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """All random draws of one epoch, from (seed, epoch) only: order, shift, noise, masks.

    `pool_p`: the probability of drawing each unknown-pool row (hard negatives), else uniform.
    """
    rng = np.random.default_rng([cfg.seed, epoch])
    n = split.epoch_size()
    steps = math.ceil(n / cfg.batch_size)
    rows = np.arange(n)  # the rows this epoch draws from
    if split.pool is not None:
        pick = rng.choice(np.flatnonzero(split.pool), split.pool_pick, replace=False, p=pool_p)
        rows = np.concatenate([np.flatnonzero(~split.pool), pick])
    order = rows[np.concatenate([rng.permutation(n), rng.choice(n, steps * cfg.batch_size - n)])]
    m = len(order)
    max_shift = int(cfg.time_shift_ms * 16)
    plan = {
        "order": order.astype(np.int32),
        "speed": np.exp(rng.uniform(-cfg.speed_perturb, cfg.speed_perturb, m)).astype(np.float32),
        "shift": rng.integers(-max_shift, max_shift + 1, m).astype(np.int32),
        "noise_idx": rng.integers(0, n_noise, m).astype(np.int32),
        "noise_vol": rng.uniform(0, cfg.noise_volume, m).astype(np.float32),
        "noise_on": (rng.random(m) < cfg.noise_prob),
        "t_width": rng.integers(0, cfg.specaugment_time + 1, m).astype(np.int32),
        "t_start": rng.integers(0, frames, m).astype(np.int32),
        "f_width": rng.integers(0, cfg.specaugment_freq + 1, m).astype(np.int32),
        "f_start": rng.integers(0, coeffs, m).astype(np.int32),
    }
    if cfg.channel_aug > 0:  # drawn last so that the other draws do not depend on it
        plan["channel"] = _channel_offsets(rng, m, cfg.channel_aug, dct)
    return plan


def make_train_dataset(
    cfg: TrainConfig,
    split: SplitData,
    noise: np.ndarray,
    fe: Any,
    epoch0: int,
    epoch1: int | None = None,
    pool_p: np.ndarray | None = None,
    tensors: tuple[Any, Any] | None = None,
) -> Any:
    """tf.data pipeline over epochs [epoch0, epoch1 or cfg.epochs): gather, shift, noise, features, masks.

    `tensors`: (audio, noise) as TensorFlow constants made once, for a caller that builds one
    pipeline per epoch (a new 1 GB constant per epoch would pile up in memory).
    """
    import tensorflow as tf

    length = split.audio.shape[1]
    frames, coeffs = fe.shape
    n_classes = len(cfg.labels)
    dct = fe.dct_matrix()
    epochs = range(epoch0, cfg.epochs if epoch1 is None else epoch1)
    plans = [_augment_plan(cfg, split, len(noise), e, frames, coeffs, dct, pool_p) for e in epochs]
    plan = {k: np.concatenate([p[k] for p in plans]) for k in plans[0]}
    plan["noise_on"] = plan["noise_on"] | split.is_silence[plan["order"]]
    plan["label"] = split.labels[plan["order"]]
    audio_t, noise_t = tensors or (tf.constant(split.audio), tf.constant(noise.astype(np.float32)))
    max_shift = int(cfg.time_shift_ms * 16)
    # autograph must not rewrite the front end's own Python (it trips on properties)
    features = tf.autograph.experimental.do_not_convert(fe.tf_features)
    fake_quant = tf.autograph.experimental.do_not_convert(fe.tf_fake_quant)

    def augment(b: dict[str, Any]) -> tuple[Any, Any]:
        x = tf.gather(audio_t, b["order"])
        if cfg.speed_perturb > 0:
            # read the clip at `speed` samples per output sample, about its centre (linear
            # interpolation): like a different vocal tract and speaking rate at once
            t = (tf.range(length, dtype=tf.float32)[None, :] - length / 2) * b["speed"][:, None] + length / 2
            t0 = tf.clip_by_value(tf.floor(t), 0.0, length - 2.0)
            frac = tf.clip_by_value(t - t0, 0.0, 1.0)
            i0 = tf.cast(t0, tf.int32)
            inside = tf.cast((t >= 0) & (t <= length - 1), tf.float32)
            a0 = tf.gather(x, i0, batch_dims=1)
            a1 = tf.gather(x, i0 + 1, batch_dims=1)
            x = (a0 * (1 - frac) + a1 * frac) * inside
        x = tf.pad(x, [[0, 0], [max_shift, max_shift]])
        pos = tf.range(length)[None, :] + max_shift - b["shift"][:, None]
        x = tf.gather(x, pos, batch_dims=1)
        nz = tf.gather(noise_t, b["noise_idx"])
        vol = b["noise_vol"] * tf.cast(b["noise_on"], tf.float32)
        x = tf.clip_by_value(x + vol[:, None] * nz, -1.0, 1.0)
        f = features(x)
        if cfg.channel_aug > 0:
            f = f + b["channel"][:, None, :]
        f = fake_quant(f)  # the device's int8 input rounding
        t = tf.range(frames)[None, :, None]
        c = tf.range(coeffs)[None, None, :]
        tmask = (t >= b["t_start"][:, None, None]) & (t < (b["t_start"] + b["t_width"])[:, None, None])
        fmask = (c >= b["f_start"][:, None, None]) & (c < (b["f_start"] + b["f_width"])[:, None, None])
        f = tf.where(tmask | fmask, tf.zeros_like(f), f)
        y = b["label"]
        if cfg.label_smoothing > 0:
            y = tf.one_hot(y, n_classes)
        return f[..., None], y

    ds = tf.data.Dataset.from_tensor_slices(plan).batch(cfg.batch_size, drop_remainder=True)
    ds = ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(2)


def _checkpoint_and_stop(
    ckpt_dir: Path,
    patience: int,
    state: dict[str, Any],
    bar: Any,
    corrected_dev: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Any:
    """Keras callback: checkpoint every epoch (atomic), early stopping on dev, resumable.

    `corrected_dev` = (dev features, dev labels, prior correction): the dev accuracy that picks
    the checkpoint is then that of the corrected outputs, the model that will be shipped.

    A factory rather than a module-level class so that importing tinykws.training.train does not import
    TensorFlow.
    """
    import tensorflow as tf

    class Impl(tf.keras.callbacks.Callback):
        def __init__(self, ckpt_dir: Path, patience: int, state: dict[str, Any], bar: Any):
            super().__init__()
            self.ckpt_dir = ckpt_dir
            self.patience = patience
            self.state = state
            self.bar = bar

        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            from tinykws.fsutil import atomic_write_text

            logs = logs or {}
            st = self.state
            acc = float(logs.get("val_accuracy", 0.0))
            if corrected_dev is not None:
                x, y, delta = corrected_dev
                p = self.model.predict(x, batch_size=512, verbose=0)
                pred = (np.log(np.clip(p, 1e-30, None)) + delta).argmax(1)
                acc = float((pred == (y.argmax(1) if y.ndim > 1 else y)).mean())
                logs["val_accuracy_corrected"] = acc
            st["history"].append({"epoch": epoch, **{k: float(v) for k, v in logs.items()}})
            st["last_file"] = f"epoch{epoch}.keras"
            _save_keras_atomic(self.model, self.ckpt_dir / st["last_file"])
            if acc > st["best_val_accuracy"]:
                st["best_val_accuracy"] = acc
                st["best_epoch"] = epoch
                st["best_file"] = f"best{epoch}.keras"
                st["wait"] = 0
                _save_keras_atomic(self.model, self.ckpt_dir / st["best_file"])
            else:
                st["wait"] += 1
            st["epoch"] = epoch
            # state.json is the commit point: a crash before it leaves the previous epoch's
            # state, whose files are still on disk; stale files are removed only after it.
            atomic_write_text(self.ckpt_dir / "state.json", json.dumps(st, indent=1))
            keep = {st["last_file"], st.get("best_file"), "state.json", "config.json"}
            for f in self.ckpt_dir.iterdir():
                if f.name not in keep and not f.name.startswith("."):
                    f.unlink()
            if self.bar is not None:
                self.bar.update(1)
                self.bar.set_postfix(loss=f"{logs.get('loss', 0):.3f}", val_acc=f"{acc:.3f}")
            if st["wait"] >= self.patience:
                self.model.stop_training = True

    return Impl(ckpt_dir, patience, state, bar)


def _save_keras_atomic(model: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp.keras")
    model.save(tmp)
    tmp.replace(path)


def checkpoint_dir(out: Path) -> Path:
    """Checkpoints live beside the model directory, so a crash leaves the model dir untouched."""
    return out.parent / f".{out.name}.ckpt"


@dataclass
class TrainResult:
    """What `train` produced: the model directory and its headline figures."""

    out: Path
    metrics: dict[str, Any]
    clips_per_second: float


def train(cfg: TrainConfig, resume: bool = False) -> TrainResult:
    """Train, quantize, evaluate and write the model directory (atomically)."""
    import tensorflow as tf

    from tinykws.features import get_frontend

    fe = get_frontend(cfg.frontend)
    check_embedding(cfg)
    out = Path(cfg.out)
    ckpt = checkpoint_dir(out)
    state: dict[str, Any] = {
        "epoch": -1,
        "best_val_accuracy": -1.0,
        "best_epoch": -1,
        "wait": 0,
        "history": [],
    }
    if resume:
        if not (ckpt / "state.json").exists():
            raise TinyKWSError(f"--resume: no checkpoint at {ckpt}")
        state = json.loads((ckpt / "state.json").read_text())
        saved = json.loads((ckpt / "config.json").read_text())
        if saved != asdict(cfg):
            raise TinyKWSError(f"--resume: arguments differ from the checkpointed run in {ckpt}/config.json")
    else:
        import shutil

        shutil.rmtree(ckpt, ignore_errors=True)
        ckpt.mkdir(parents=True)
        from tinykws.fsutil import atomic_write_text

        atomic_write_text(ckpt / "config.json", json.dumps(asdict(cfg), indent=1))

    tf.keras.utils.set_random_seed(cfg.seed)
    tf.config.experimental.enable_op_determinism()
    splits, data_summary = assemble_splits(cfg)
    bank = noise_bank(cfg)
    noise = bank.segments.astype(np.float32)

    dev_audio = fill_silence(splits["dev"], noise, cfg.seed + 1)
    dev_x = fe.dequantize(fe.int8_features(dev_audio))[..., None]
    dev_y = splits["dev"].labels
    if cfg.label_smoothing > 0:
        dev_y = np.eye(len(cfg.labels), dtype=np.float32)[dev_y]

    prior_delta = None
    corrected_dev = None
    if cfg.prior_correction:
        prior_delta = prior_log_ratio(splits["train"].counts(cfg.labels), splits["dev"].counts(cfg.labels))
        corrected_dev = (dev_x, dev_y, prior_delta)

    epoch0 = state["epoch"] + 1
    if resume and state.get("last_file"):
        model = tf.keras.models.load_model(ckpt / state["last_file"])
    else:
        model = _initial_model(cfg, fe)
        if cfg.label_smoothing > 0:  # smoothing needs one-hot targets (dataset and dev set)
            loss = tf.keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing)
            acc = tf.keras.metrics.CategoricalAccuracy(name="accuracy")
        else:
            loss = tf.keras.losses.SparseCategoricalCrossentropy()
            acc = tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        model.compile(optimizer=tf.keras.optimizers.Adam(cfg.learning_rate), loss=loss, metrics=[acc])
    n_train = splits["train"].epoch_size()
    steps = math.ceil(n_train / cfg.batch_size)
    stopped_early = state["wait"] >= cfg.patience
    seconds = 0.0
    hard = cfg.hard_negatives > 0 and splits["train"].pool is not None
    if epoch0 < cfg.epochs and not stopped_early:

        def lr_at(epoch: int, _lr: float) -> float:  # cosine decay, a pure function of epoch
            return cfg.learning_rate * 0.5 * (1 + math.cos(math.pi * epoch / cfg.epochs))

        from tinykws.progress import enabled

        bar = None
        if enabled():
            import sys

            from tqdm import tqdm

            bar = tqdm(total=cfg.epochs, initial=epoch0, desc="train", unit="epoch", file=sys.stderr)
        callbacks = [
            tf.keras.callbacks.LearningRateScheduler(lr_at),
            _checkpoint_and_stop(ckpt, cfg.patience, state, bar, corrected_dev),
        ]
        t0 = time.perf_counter()
        if hard:  # one epoch at a time: each draw of unknowns depends on the model so far
            split = splits["train"]
            pool_rows = np.flatnonzero(split.pool)
            pool_x = fe.dequantize(fe.int8_features(split.audio[pool_rows]))[..., None]
            tensors = (tf.constant(split.audio), tf.constant(noise.astype(np.float32)))
            for epoch in range(epoch0, cfg.epochs):
                if state["wait"] >= cfg.patience:
                    break
                p = model.predict(pool_x, batch_size=512, verbose=0)
                p_kw = np.clip(1.0 - p[:, 0] - p[:, 1], 0.0, None).astype(np.float64) + 1e-6
                pool_p = (1 - cfg.hard_negatives) / len(p_kw) + cfg.hard_negatives * p_kw / p_kw.sum()
                ds_e = make_train_dataset(
                    cfg, split, noise, fe, epoch, epoch + 1, pool_p / pool_p.sum(), tensors
                )
                model.fit(ds_e, epochs=epoch + 1, initial_epoch=epoch, steps_per_epoch=steps, shuffle=False,
                          validation_data=(dev_x, dev_y), callbacks=callbacks, verbose=0)  # fmt: skip
        else:
            model.fit(
                make_train_dataset(cfg, splits["train"], noise, fe, epoch0),
                epochs=cfg.epochs,
                initial_epoch=epoch0,
                steps_per_epoch=steps,
                shuffle=False,  # a tf.data pipeline shuffles itself; Keras would ignore it and warn
                validation_data=(dev_x, dev_y),
                callbacks=callbacks,
                verbose=0,
            )
        seconds = time.perf_counter() - t0
        if bar is not None:
            bar.close()
    epochs_run = state["epoch"] + 1 - epoch0
    cps = epochs_run * steps * cfg.batch_size / seconds if seconds > 0 else 0.0
    best = tf.keras.models.load_model(ckpt / state["best_file"])
    extra = None
    if prior_delta is not None:
        fold_output_bias(best, prior_delta)
        extra = {"prior_correction": dict(zip(cfg.labels, map(float, prior_delta), strict=True))}
    result = write_model_dir(cfg, best, fe, splits, noise, data_summary, state, cps, extra)
    import shutil

    shutil.rmtree(ckpt, ignore_errors=True)
    return result


BACKBONES = ("finetune", "frozen")


def embedding_setting(value: str | None) -> str | None:
    """An --embedding argument as TrainConfig holds it: the directory a shipped name or a path
    resolves to (tinykws.resources.find_model), or None for 'none' (a DS-CNN from scratch)."""
    if not value or value == "none":
        return None
    from tinykws.resources import find_model

    return str(find_model(value))


def check_embedding(cfg: TrainConfig) -> None:
    """Refuse an embedding setting that cannot train, before anything is written: a backbone mode
    that is not one, DS-CNN shape options beside an embedding, a directory that is no embedding."""
    if not cfg.embedding:
        return
    from tinykws.training.pretrain import embedding_dir

    if cfg.backbone not in BACKBONES:
        raise TinyKWSError(f"--backbone: one of {', '.join(BACKBONES)}, got '{cfg.backbone}'")
    if cfg.model != "dscnn-s" or cfg.filters or cfg.blocks:
        raise TinyKWSError(
            "--model/--filters/--blocks: they shape a DS-CNN from scratch; with --embedding (default "
            f"{DEFAULT_EMBEDDING}) the classifier is the embedding's layers: add --embedding none"
        )
    embedding_dir(cfg.embedding)


def _initial_model(cfg: TrainConfig, fe: Any) -> Any:
    """A DS-CNN from scratch, or (cfg.embedding) a new head on a pretrained embedding."""
    from tinykws.models import build_model, on_embedding

    if not cfg.embedding:
        return build_model(cfg.model, fe.shape, len(cfg.labels), cfg.filters, cfg.blocks)
    from tinykws.training.pretrain import embedding_model, load_embedding

    classifier, meta = load_embedding(cfg.embedding)
    if meta.get("frontend", {}).get("name") != fe.name:
        raise TinyKWSError(
            f"--embedding: {cfg.embedding} was trained on the '{meta.get('frontend', {}).get('name')}' "
            f"front end, not --frontend {fe.name}"
        )
    return on_embedding(embedding_model(classifier), len(cfg.labels), frozen=cfg.backbone == "frozen")


def write_model_dir(
    cfg: TrainConfig,
    model: Any,
    fe: Any,
    splits: dict[str, SplitData],
    noise: np.ndarray,
    data_summary: dict[str, Any],
    state: dict[str, Any],
    clips_per_second: float,
    extra_meta: dict[str, Any] | None = None,
) -> TrainResult:
    """Quantize, evaluate float and int8 on the test split, export C, write the directory.

    `extra_meta` is merged into tinykws.json (few-shot models record their shots and embedding).
    """
    from tinykws.export.carrays import export_c
    from tinykws.fsutil import atomic_dir
    from tinykws.training.evaluate import evaluate_features, write_confusion_png
    from tinykws.training.quantize import quantize_keras, representative_from

    train_split = splits["train"]
    calib_audio = fill_silence(train_split, noise, cfg.seed + 2)
    rng = np.random.default_rng(cfg.seed + 3)
    pick = rng.permutation(len(calib_audio))[: cfg.calibration_clips]
    calib = fe.dequantize(fe.int8_features(calib_audio[pick]))
    tflite = quantize_keras(
        model, representative_from(calib, seed=cfg.seed), fe.input_scale, fe.input_zero_point
    )

    split_name, eval_split, test_audio = evaluation_audio(cfg, splits, noise)
    test_q = fe.int8_features(test_audio)
    metrics = evaluate_features(cfg.labels, test_q, eval_split.labels, tflite, model, fe)
    metrics["split"] = split_name

    out = Path(cfg.out)
    meta = {
        "name": out.name,
        "labels": cfg.labels,
        "model": {
            "builder": cfg.model,
            "filters": cfg.filters,
            "blocks": cfg.blocks,
            "params": int(model.count_params()),
            "embedding": _embedding_record(cfg),
        },
        "frontend": fe.to_dict(),
        "input_quantization": {"scale": fe.input_scale, "zero_point": fe.input_zero_point},
        "data": data_summary,
        "training": {
            "config": asdict(cfg),
            "best_epoch": state["best_epoch"],
            "best_dev_accuracy": state["best_val_accuracy"],
            "history": state["history"],
            "clips_per_second": clips_per_second,
        },
        "metrics": {"float": metrics.get("float"), "int8": metrics["int8"], "split": metrics["split"]},
        "tflite_bytes": len(tflite),
    }
    meta.update(extra_meta or {})
    with atomic_dir(out) as d:
        model.save(d / "model.keras")
        (d / "model_int8.tflite").write_bytes(tflite)
        (d / "tinykws.json").write_text(json.dumps(meta, indent=2))
        export_c(d, tflite, cfg.labels, fe, name=out.name)
        write_confusion_png(d / "confusion.png", cfg.labels, metrics)
        _write_history_png(d / "training.png", state["history"])
        (d / "report.md").write_text(_report_md(meta))
    return TrainResult(out, meta["metrics"], clips_per_second)


def _embedding_record(cfg: TrainConfig) -> dict[str, Any] | None:
    """What the classifier started from: the embedding's directory, teacher and data."""
    if not cfg.embedding:
        return None
    from tinykws.training.pretrain import embedding_dir

    meta = json.loads((embedding_dir(cfg.embedding) / "tinykws.json").read_text())
    return {
        "path": str(cfg.embedding),
        "name": meta.get("name"),
        "backbone": cfg.backbone,
        "teacher": (meta.get("teacher") or {}).get("name"),
    }


def _write_history_png(path: Path, history: list[dict[str, float]]) -> None:
    if not history:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ax[0].plot(ep, [h.get("loss") for h in history], label="train")
    ax[0].plot(ep, [h.get("val_loss") for h in history], label="dev")
    ax[0].set_title("loss")
    ax[1].plot(ep, [h.get("accuracy") for h in history], label="train (augmented)")
    ax[1].plot(ep, [h.get("val_accuracy") for h in history], label="dev")
    ax[1].set_title("accuracy")
    for a in ax:
        a.set_xlabel("epoch")
        a.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _report_md(meta: dict[str, Any]) -> str:
    m = meta["metrics"]
    lines = [
        f"# {meta['name']}",
        "",
        f"Labels: {', '.join(meta['labels'])}",
        f"Model: {meta['model']['builder']} ({meta['model']['params']} parameters), "
        f"front end `{meta['frontend']['name']}`, int8 .tflite {meta['tflite_bytes']} bytes.",
        f"Data: {meta['data']['root']} ({meta['data']['kind']}), counts {meta['data']['counts']}.",
        "",
        f"Top-1 on the {m['split']} split (measured on the host; int8 through the tflite_micro interpreter):",
        "",
        "| | float | int8 |",
        "|---|---|---|",
        f"| top-1 | {m['float']['top1']:.4f} | {m['int8']['top1']:.4f} |",
        "",
        "| label | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for lab, r in m["int8"]["per_class"].items():
        lines.append(f"| {lab} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['support']} |")
    lines += ["", "![confusion](confusion.png)", "", "![training](training.png)", ""]
    return "\n".join(lines)


def cli_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data", type=Path, help="corpus root (MSWC layout or <root>/<word>/*.wav); needed without --shards"
    )
    p.add_argument("--language", help="MSWC language code (default: all languages in the corpus)")
    p.add_argument("--keywords", required=True, help="comma-separated keywords")
    p.add_argument(
        "--unknown-languages",
        default="",
        help="comma-separated extra languages whose words serve as _unknown_ (default: none)",
    )
    p.add_argument("--model", default="dscnn-s", help="dscnn-s | dscnn-m | dscnn-l")
    p.add_argument("--filters", type=int, help="override the model width")
    p.add_argument("--blocks", type=int, help="override the number of depthwise-separable blocks")
    p.add_argument("--frontend", default="mlperf", help="mlperf | psf")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--unknown-share", type=float, default=0.1)
    p.add_argument("--silence-share", type=float, default=0.1)
    p.add_argument(
        "--eval-unknown-share",
        type=float,
        help="unknown share of dev and test (default: --unknown-share)",
    )
    p.add_argument("--patience", type=int, default=8, help="early stopping: epochs without dev improvement")
    p.add_argument(
        "--noise", action="append", default=[], help="folder of background-noise wavs (repeatable)"
    )
    p.add_argument("--max-clips-per-word", type=int)
    d = TrainConfig(data="", keywords=[], out="")  # the recipe's defaults live in TrainConfig
    p.add_argument(
        "--speed-perturb", type=float, default=d.speed_perturb, help="per-clip resampling exp(U(-x, x))"
    )
    p.add_argument(
        "--channel-aug",
        type=float,
        default=d.channel_aug,
        help="per-clip random spectral envelope, log units",
    )
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    p.add_argument(
        "--unknown-resample",
        action=argparse.BooleanOptionalAction,
        default=d.unknown_resample,
        help="draw the unknown clips afresh every epoch",
    )
    p.add_argument(
        "--hard-negatives",
        type=float,
        default=d.hard_negatives,
        help="share of each epoch's unknown draw that favours words the model takes for keywords "
        "(implies --unknown-resample)",
    )
    p.add_argument(
        "--prior-correction",
        action=argparse.BooleanOptionalAction,
        default=d.prior_correction,
        help="shift the output layer's bias by log(dev share / training share) of each class, so "
        "that training on more unknown words than the test holds does not bias decisions",
    )
    p.add_argument(
        "--embedding",
        default=d.embedding,
        help="start from a pretrained embedding (a shipped name or a directory from tinykws distill or "
        f"pretrain) with a new head; 'none' trains a DS-CNN from scratch (default: {d.embedding})",
    )
    p.add_argument("--backbone", choices=BACKBONES, default=d.backbone, help="with --embedding")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument(
        "--shards",
        type=Path,
        help="instead of --data: train from the feature shards of `tinykws features --shards` with "
        "MultiWorkerMirroredStrategy (docs/scale.md); --batch-size is then the global batch",
    )
    p.add_argument("--workers", type=int, default=1, help="with --shards: training workers (default 1)")
    p.add_argument(
        "--ray", metavar="ADDRESS", help="with --shards: run the workers on this Ray cluster (HOST:PORT|auto)"
    )
    p.add_argument("--out", required=True, type=Path, help="model directory to write")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Validate CLI arguments into a TrainConfig (errors name the argument)."""
    keywords = [k.strip() for k in args.keywords.split(",") if k.strip()]
    if not keywords:
        raise TinyKWSError("--keywords: give at least one keyword")
    if len(set(keywords)) != len(keywords):
        raise TinyKWSError("--keywords: a keyword is repeated")
    if args.epochs < 1:
        raise TinyKWSError("--epochs: must be at least 1")
    if not args.data.exists():
        raise TinyKWSError(f"--data: corpus not found: {args.data}")
    for flag, share in (
        ("--unknown-share", args.unknown_share),
        ("--silence-share", args.silence_share),
        ("--eval-unknown-share", args.eval_unknown_share),
    ):
        if share is not None and not 0.0 <= share < 1.0:
            raise TinyKWSError(f"{flag}: must be at least 0 and below 1, got {share}")
    if not 0.0 <= args.hard_negatives <= 1.0:
        raise TinyKWSError(f"--hard-negatives: must be between 0 and 1, got {args.hard_negatives}")
    return TrainConfig(
        data=str(args.data),
        keywords=keywords,
        out=str(args.out),
        language=args.language,
        unknown_languages=[x.strip() for x in args.unknown_languages.split(",") if x.strip()],
        model=args.model,
        filters=args.filters,
        blocks=args.blocks,
        frontend=args.frontend,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        seed=args.seed,
        unknown_share=args.unknown_share,
        silence_share=args.silence_share,
        eval_unknown_share=args.eval_unknown_share,
        patience=args.patience,
        noise_dirs=[str(d) for d in args.noise],
        max_clips_per_word=args.max_clips_per_word,
        speed_perturb=args.speed_perturb,
        channel_aug=args.channel_aug,
        label_smoothing=args.label_smoothing,
        unknown_resample=args.unknown_resample or args.hard_negatives > 0,
        hard_negatives=args.hard_negatives,
        prior_correction=args.prior_correction,
        embedding=embedding_setting(args.embedding),
        backbone=args.backbone,
    )


def cli_run(args: argparse.Namespace) -> int:
    if args.shards is not None:
        from tinykws.training.multiworker import cli_run_shards

        return cli_run_shards(args)
    if args.data is None:
        raise TinyKWSError("--data: required (or --shards DIR)")
    if args.workers != 1 or args.ray:
        raise TinyKWSError("--workers/--ray: only with --shards (training from --data runs in this process)")
    res = train(config_from_args(args), resume=args.resume)
    m = res.metrics
    print(f"float top-1 {m['float']['top1']:.4f}  int8 top-1 {m['int8']['top1']:.4f}  ({m['split']} split)")
    print(f"training throughput {res.clips_per_second:.0f} clips/s; model written to {res.out}")
    return 0
