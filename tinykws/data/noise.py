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
# Procedural stand-ins for everyday rooms, opt-in (kinds=ALL_KINDS): see _environment().
ENVIRONMENTS = ("hum", "machine", "water", "clatter", "murmur")
DEFAULT_KINDS = tuple(COLORS)
ALL_KINDS = (*COLORS, *ENVIRONMENTS)
_MIN_RMS = 1e-4  # chunks quieter than this are digital silence; normalizing them would blow up hiss
# Noise recordings may be hours long, but only their first `max_chunks` segments are used: the
# verified reader decodes that much plus one second (the resampling filter's reach, so the used
# samples are the ones a whole-file read gives) and refuses only headers beyond a day.
NOISE_MAX_SECONDS = 24 * 3600.0


class NoiseBank:
    """Noise segments of `length` samples at 16 kHz, each normalized to peak 1.

    folders: directories searched recursively for audio (wav/flac/ogg/opus); each file is cut
    into non-overlapping `length` chunks. n_synth: number of synthesized segments, split evenly
    over `kinds` (default white, pink and brown; ALL_KINDS adds procedural room sounds),
    deterministic with `seed`.
    """

    def __init__(
        self,
        folders: list[Path] | tuple = (),
        seed: int = 0,
        length: int = 16000,
        n_synth: int = 30,
        max_chunks_per_file: int = 60,
        kinds: tuple[str, ...] | list[str] = DEFAULT_KINDS,
    ) -> None:
        if length < 2:
            raise TinyKWSError(f"noise length: must be at least 2 samples, got {length}")
        bad = [k for k in kinds if k not in ALL_KINDS]
        if bad or not kinds:
            raise TinyKWSError(
                f"noise kinds: unknown {', '.join(bad) or '(none given)'} (known: {', '.join(ALL_KINDS)})"
            )
        self.length = length
        rng = np.random.default_rng(seed)
        segs: list[np.ndarray] = []
        self.sources: list[str] = []
        for i in range(n_synth):
            kind = kinds[i % len(kinds)]
            if kind in COLORS:
                seg = colored_noise(length, COLORS[kind], rng)
            else:
                seg = _environment(kind, length, rng)
            segs.append(_peak_normalize(seg))
            self.sources.append(kind)
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


def _environment(kind: str, n: int, rng: np.random.Generator, sr: int = 16000) -> np.ndarray:
    """Procedural everyday noise, so that 'silence' is not only stationary hiss.

    hum: mains at 50 or 60 Hz with random harmonics over faint pink noise (fridges, chargers).
    machine: brown noise with a slowly wobbling tonal component (fans, an exercise bike).
    water: high-passed noise with fast random amplitude modulation (a running tap).
    clatter: decaying resonant knocks at random times over pink noise (dishes, typing).
    murmur: speech-shaped noise modulated at syllable rate, several voices (distant talk).
    """
    from scipy.signal import butter, sosfilt

    t = np.arange(n) / sr
    if kind == "hum":
        f0 = 50.0 if rng.random() < 0.5 else 60.0
        x = sum(rng.uniform(0.1, 1.0) / k * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi))
                for k in range(1, int(rng.integers(3, 12))))  # fmt: skip
        x = x + 10 ** (rng.uniform(-40, -20) / 20) * colored_noise(n, 1.0, rng)
    elif kind == "machine":
        f = rng.uniform(80, 400) * (1 + 0.02 * np.sin(2 * np.pi * rng.uniform(0.2, 2) * t))
        tone = np.sin(2 * np.pi * np.cumsum(f) / sr)
        x = colored_noise(n, 2.0, rng) + rng.uniform(0.05, 0.5) * tone
    elif kind == "water":
        base = sosfilt(
            butter(2, rng.uniform(800, 3000), "highpass", fs=sr, output="sos"), rng.standard_normal(n)
        )
        env = np.abs(sosfilt(butter(1, rng.uniform(10, 60), fs=sr, output="sos"), rng.standard_normal(n)))
        x = base * (0.3 + env / (env.max() + 1e-12))
    elif kind == "clatter":
        x = 10 ** (rng.uniform(-30, -15) / 20) * colored_noise(n, 1.0, rng)
        for _ in range(int(rng.integers(2, 10))):
            start = int(rng.integers(0, n))
            m = min(n - start, int(rng.uniform(0.02, 0.2) * sr))
            tt = np.arange(m) / sr
            knock = np.sin(2 * np.pi * rng.uniform(300, 5000) * tt) * np.exp(-tt * rng.uniform(30, 200))
            x[start : start + m] += rng.uniform(0.2, 1.0) * knock
    elif kind == "murmur":
        x = np.zeros(n)
        shape = butter(2, [200, 3500], "bandpass", fs=sr, output="sos")
        for _ in range(int(rng.integers(2, 7))):
            env = sosfilt(butter(2, rng.uniform(3, 7), fs=sr, output="sos"), rng.standard_normal(n))
            x += sosfilt(shape, colored_noise(n, 1.0, rng)) * np.maximum(env, 0) * rng.uniform(0.3, 1.0)
    else:  # pragma: no cover - guarded by the constructor
        raise TinyKWSError(f"noise kinds: unknown {kind}")
    return np.asarray(x, dtype=np.float32)


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
            x = load_audio(
                f, quiet=True, max_seconds=NOISE_MAX_SECONDS, head_seconds=max_chunks * length / 16000 + 1.0
            )
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
