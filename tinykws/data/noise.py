"""Background-noise bank for augmentation: synthesized colored noise plus any folder of recordings.

Why synthesized noise by default: a fresh machine has no noise recordings, and white/pink/brown
noise already teaches a model that keywords come with hiss and rumble. Users add their own
rooms (Speech Commands' `_background_noise_`, MSWC noise, a recording of their fan) as folders.

Normalization: every segment is scaled to peak 1.0 (max |x| = 1), the convention of Speech
Commands' noise files, so a training "background volume" of 0.1 means a noise peak at 10% of
full scale whatever the source.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinykws.data.perturb import colored_noise
from tinykws.errors import TinyKWSError
from tinykws.progress import notice

COLORS = {"white": 0.0, "pink": 1.0, "brown": 2.0}
_MIN_RMS = 1e-4  # chunks quieter than this are digital silence; normalizing them would blow up hiss


class NoiseBank:
    """Noise segments of `length` samples at 16 kHz, each normalized to peak 1.

    folders: directories searched recursively for audio (wav/flac/ogg/opus); each file is cut
    into non-overlapping `length` chunks. n_synth: number of synthesized segments, split evenly
    over white, pink and brown noise, deterministic with `seed`.
    """

    def __init__(
        self,
        folders: list[Path] | tuple = (),
        seed: int = 0,
        length: int = 16000,
        n_synth: int = 30,
        max_chunks_per_file: int = 60,
    ) -> None:
        if length < 2:
            raise TinyKWSError(f"noise length: must be at least 2 samples, got {length}")
        self.length = length
        rng = np.random.default_rng(seed)
        segs: list[np.ndarray] = []
        self.sources: list[str] = []
        colors = list(COLORS)
        for i in range(n_synth):
            color = colors[i % len(colors)]
            segs.append(_peak_normalize(colored_noise(length, COLORS[color], rng)))
            self.sources.append(color)
        for folder in folders:
            segs_f, names = _cut_folder(Path(folder), length, max_chunks_per_file)
            segs.extend(segs_f)
            self.sources.extend(names)
        if not segs:
            raise TinyKWSError("noise bank: empty (n_synth=0 and no noise files found in the folders)")
        self.segments = np.stack(segs).astype(np.float32)

    def __len__(self) -> int:
        return len(self.segments)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """`n` segments [n, length], drawn with replacement, each circularly shifted at random
        (so 30 segments give far more than 30 distinct backgrounds)."""
        idx = rng.integers(0, len(self.segments), size=n)
        shifts = rng.integers(0, self.length, size=n)
        cols = (np.arange(self.length)[None, :] + shifts[:, None]) % self.length
        return self.segments[idx[:, None], cols]


def _peak_normalize(x: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(x)))
    return (x / peak).astype(np.float32) if peak > 0 else x.astype(np.float32)


def _cut_folder(folder: Path, length: int, max_chunks: int) -> tuple[list[np.ndarray], list[str]]:
    from tinykws.audio import load_audio
    from tinykws.data.corpus import AUDIO_EXTENSIONS

    if not folder.is_dir():
        raise TinyKWSError(f"{folder}: noise folder not found")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise TinyKWSError(f"{folder}: no noise files (looked for {', '.join(AUDIO_EXTENSIONS)})")
    segs, names, bad = [], [], []
    for f in files:
        try:
            x = load_audio(f, quiet=True)
        except TinyKWSError as exc:
            bad.append(str(exc))
            continue
        if len(x) < length:  # short recordings are looped to fill one segment
            x = np.tile(x, int(np.ceil(length / len(x))))
        for k in range(min(max_chunks, len(x) // length)):
            chunk = x[k * length : (k + 1) * length]
            if np.sqrt(np.mean(chunk.astype(np.float64) ** 2)) < _MIN_RMS:
                continue
            segs.append(_peak_normalize(chunk))
            names.append(f"{f.name}#{k}")
    if bad:
        notice(f"noise bank: skipped {len(bad)} unreadable file(s) in {folder} (first: {bad[0]})")
    return segs, names
