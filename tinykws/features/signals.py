"""Test and benchmark audio for the front ends: noise, speech-like vowels, espeak-ng words.

Why synthetic speech-like signals: agreement tests need audio whose spectra look like speech
(harmonics of a varying pitch shaped by formants, silence around the word, int16 recording
noise), not only white noise, yet must not depend on any corpus. espeak-ng, when installed,
adds real synthesized words.
"""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np

SR = 16000

# (F1, F2, F3) in Hz of a few vowels (adult male averages)
_VOWELS = [(730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410)]


def vowel_like(rng: np.random.Generator, n: int = SR) -> np.ndarray:
    """One clip: a voiced segment at a random offset (glottal-like harmonics, formant peaks,
    pitch glide, onset/offset ramps) in low background noise, rounded to int16 and back."""
    dur = int(rng.uniform(0.25, 0.7) * SR)
    start = int(rng.integers(0, n - dur))
    t = np.arange(dur) / SR
    f0 = rng.uniform(90, 240) * (1 + rng.uniform(-0.2, 0.2) * t / t[-1])
    phase = 2 * np.pi * np.cumsum(f0) / SR
    formants = _VOWELS[int(rng.integers(len(_VOWELS)))]
    sig = np.zeros(dur)
    for h in range(1, int(4000 / f0.max())):
        fh = h * f0
        gain = sum(1.0 / (1.0 + ((fh - f) / (0.1 * f)) ** 2) for f in formants) / h
        sig += gain * np.sin(h * phase)
    env = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.03)
    x = rng.normal(0, 10 ** rng.uniform(-4, -2.5), n)
    x[start : start + dur] += sig * env / np.abs(sig).max() * rng.uniform(0.1, 0.9)
    return (np.round(np.clip(x, -1, 1) * 32767) / 32768).astype(np.float32)


def noise_clip(rng: np.random.Generator, n: int = SR) -> np.ndarray:
    """White, pink-ish or brown-ish noise at a random level (float32)."""
    w = rng.standard_normal(n)
    kind = int(rng.integers(3))
    if kind == 1:
        w = np.cumsum(w) - np.convolve(np.cumsum(w), np.ones(64) / 64, mode="same")
    elif kind == 2:
        w = np.cumsum(w)
        w -= w.mean()
    return (w / np.abs(w).max() * rng.uniform(0.01, 1.0)).astype(np.float32)


def espeak_words(words: list[str], voices: tuple[str, ...] = ("en", "en-us")) -> list[np.ndarray]:
    """espeak-ng renderings of `words` (16 kHz float32, padded/cropped to 1 s); [] without it."""
    import soundfile as sf

    from tinykws.audio import fix_length, resample

    if shutil.which("espeak-ng") is None:
        return []
    out = []
    for v in voices:
        for w in words:
            r = subprocess.run(["espeak-ng", "-v", v, "--stdout", w], capture_output=True, timeout=30)
            if r.returncode != 0 or not r.stdout:
                continue
            x, sr = sf.read(io.BytesIO(r.stdout), dtype="float32")
            x = resample(x, sr, SR)
            pad = np.zeros(SR // 5, np.float32)
            out.append(fix_length(np.concatenate([pad, x])))
    return out


def mixed_clips(seed: int = 0, n_vowel: int = 24, n_noise: int = 12) -> np.ndarray:
    """A fixed mixed batch [N, 16000] float32: speech-like vowels and noise."""
    rng = np.random.default_rng(seed)
    clips = [vowel_like(rng) for _ in range(n_vowel)] + [noise_clip(rng) for _ in range(n_noise)]
    return np.stack(clips)
