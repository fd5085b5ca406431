"""A keyword task's splits: keyword, `_unknown_` and `_silence_` clips of a corpus, with shares.

Why in the data layer: training assembles them, and so does re-quantization (its calibration
clips are a run's training clips) and every benchmark that re-scores a trained model. Each
needs the corpus and the shares, not the training loop; `SplitSpec` says which fields of a run's
configuration (tinykws.training.config.TrainConfig) they read.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tinykws.errors import TinyKWSError
from tinykws.progress import notice

SILENCE = "_silence_"
UNKNOWN = "_unknown_"


class SplitSpec(Protocol):
    """The fields of a run's configuration that choose its clips and its noise."""

    data: str
    keywords: list[str]
    language: str | None
    unknown_languages: list[str]
    seed: int
    unknown_share: float
    silence_share: float
    eval_unknown_share: float | None
    unknown_resample: bool
    max_clips_per_word: int | None
    noise_dirs: list[str]
    noise_kinds: list[str]
    noise_segments: int

    @property
    def labels(self) -> list[str]: ...


@dataclass
class SplitData:
    """Audio and labels of one split, with where they came from."""

    audio: np.ndarray  # float32 [N, 16000]; silence rows are zeros (noise is added later)
    labels: np.ndarray  # int32 [N]
    is_silence: np.ndarray  # bool [N]
    # unknown_resample: rows that form the unknown pool, and how many of them an epoch uses
    pool: np.ndarray | None = None
    pool_pick: int = 0

    def counts(self, labels: list[str]) -> dict[str, int]:
        c = {lab: int((self.labels == i).sum()) for i, lab in enumerate(labels)}
        if self.pool is not None:
            c[UNKNOWN] = self.pool_pick
        return c

    def epoch_size(self) -> int:
        """Clips per epoch (with a resampled unknown pool, not every row is used each epoch)."""
        if self.pool is None:
            return len(self.labels)
        return int((~self.pool).sum()) + self.pool_pick


def _n_extra(n_keyword: int, share: float, other_share: float) -> int:
    """How many unknown/silence clips give them `share` of the whole split (MLPerf Tiny rule)."""
    rest = 1.0 - share - other_share
    if rest <= 0:
        raise TinyKWSError("--unknown-share/--silence-share: together they must be below 1")
    return int(round(n_keyword * share / rest))


def assemble_splits(cfg: SplitSpec) -> tuple[dict[str, SplitData], dict[str, Any]]:
    """Read the corpus and build train/dev/test arrays with the configured shares.

    Returns the splits and a data summary for tinykws.json. Raises TinyKWSError for a missing
    corpus, an unknown language, or a keyword absent from the corpus.
    """
    from tinykws.data.corpus import load_clips, read_corpus

    languages = [cfg.language, *cfg.unknown_languages] if cfg.language else None
    corpus = read_corpus(cfg.data, languages=languages)
    words = {c.word for c in corpus.clips if cfg.language is None or c.language == cfg.language}
    missing = [k for k in cfg.keywords if k not in words]
    if missing:
        where = f"{cfg.data}" + (f" (language {cfg.language})" if cfg.language else "")
        raise TinyKWSError(f"--keywords: {', '.join(missing)} not found in corpus {where}")
    labels = cfg.labels
    index = {k: i for i, k in enumerate(labels)}
    splits: dict[str, SplitData] = {}
    skipped_total = 0
    summary_counts: dict[str, dict[str, int]] = {}
    for split in ("train", "dev", "test"):
        clips = corpus.by_split(split)
        # the training draw follows the seed; dev and test draws are a property of the corpus, so
        # runs with other seeds or shares are measured on the same held-out clips
        rng = np.random.default_rng(cfg.seed if split == "train" else zlib.crc32(split.encode()))
        in_lang = [cfg.language is None or c.language == cfg.language for c in clips]
        kw = [c for c, ok in zip(clips, in_lang, strict=True) if ok and c.word in index]
        if cfg.max_clips_per_word:
            per: dict[str, int] = {}
            kept = []
            for c in kw:
                if per.get(c.word, 0) < cfg.max_clips_per_word:
                    per[c.word] = per.get(c.word, 0) + 1
                    kept.append(c)
            kw = kept
        # unknowns: other words of the keyword language, and words of the extra languages that
        # are not spelled like a keyword (Spanish "no" must not teach that "no" is unknown)
        unk_pool = [c for c in clips if c.word not in index]
        u_share = cfg.unknown_share
        if split != "train" and cfg.eval_unknown_share is not None:
            u_share = cfg.eval_unknown_share
        n_unk = min(len(unk_pool), _n_extra(len(kw), u_share, cfg.silence_share))
        n_sil = _n_extra(len(kw), cfg.silence_share, u_share)
        resample = cfg.unknown_resample and split == "train" and n_unk > 0
        if resample:  # the whole pool, capped so memory stays bounded (8x one epoch's draw)
            n_load = min(len(unk_pool), 8 * n_unk)
            unk = [unk_pool[i] for i in rng.choice(len(unk_pool), n_load, replace=False)]
        else:
            unk = [unk_pool[i] for i in rng.choice(len(unk_pool), n_unk, replace=False)] if n_unk else []
        chosen = kw + unk
        if not chosen:
            if split == "train":
                raise TinyKWSError(f"--data: no training clips for the keywords in {cfg.data}")
            continue
        audio, loaded, skipped = load_clips(chosen)
        skipped_total += skipped
        y = np.array([index[chosen[i].word] if i < len(kw) else index[UNKNOWN] for i in loaded], np.int32)
        audio = np.concatenate([audio.astype(np.float32), np.zeros((n_sil, audio.shape[1]), np.float32)])
        y = np.concatenate([y, np.full(n_sil, index[SILENCE], np.int32)])
        sil = np.zeros(len(y), bool)
        sil[len(y) - n_sil :] = True
        if resample:  # the unknown rows (audio row i is loaded clip i; silence rows follow)
            pool = np.zeros(len(y), bool)
            pool[: len(loaded)] = np.asarray(loaded) >= len(kw)
            splits[split] = SplitData(audio, y, sil, pool=pool, pool_pick=min(n_unk, int(pool.sum())))
        else:
            splits[split] = SplitData(audio, y, sil)
        summary_counts[split] = splits[split].counts(labels)
    if skipped_total:
        notice(f"skipped {skipped_total} unreadable clips")
    if "dev" not in splits:
        raise TinyKWSError(
            f"--data: corpus {cfg.data} has no dev clips for the keywords (needed for early stopping)"
        )
    summary = {
        "root": str(Path(cfg.data).resolve()),
        "kind": corpus.kind,
        "language": cfg.language,
        "counts": summary_counts,
        "skipped_clips": skipped_total,
    }
    return splits, summary


def fill_silence(split: SplitData, noise: np.ndarray, seed: int, max_volume: float = 0.1) -> np.ndarray:
    """Evaluation audio: silence rows become background noise at a seeded random volume."""
    rng = np.random.default_rng(seed)
    audio = split.audio.copy()
    idx = np.flatnonzero(split.is_silence)
    if len(idx):
        pick = rng.integers(0, len(noise), len(idx))
        vol = rng.uniform(0.0, max_volume, len(idx)).astype(np.float32)
        audio[idx] = noise[pick] * vol[:, None]
    return audio


def noise_bank(cfg: SplitSpec) -> Any:
    from tinykws.data.noise import NoiseBank

    return NoiseBank(
        [Path(d) for d in cfg.noise_dirs], seed=cfg.seed, n_synth=cfg.noise_segments, kinds=cfg.noise_kinds
    )


def calibration_audio(spec: SplitSpec, n: int, seed: int) -> np.ndarray:
    """Up to `n` training clips of a run's corpus (silence rows filled with its noise), for
    re-quantizing a model: the same draw as the run's own calibration, from its recorded spec."""
    splits, _ = assemble_splits(spec)
    audio = fill_silence(splits["train"], noise_bank(spec).segments, seed)
    pick = np.random.default_rng(seed).permutation(len(audio))[:n]
    return audio[pick]
