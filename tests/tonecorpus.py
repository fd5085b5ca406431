"""A tiny, fast, learnable corpus for pipeline tests: each 'word' is a distinct tone pattern.

Why not espeak-ng: pipeline tests need separable classes in seconds, not realistic speech.
Speakers differ by a pitch factor and amplitude, so splits by speaker are meaningful.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

WORD_TONES = {
    "yes": (400, 900),
    "no": (1200, 500),
    "up": (700, 700),
    "down": (300, 1500),
    "cat": (1800, 1800),
    "dog": (2500, 1000),
    "tree": (600, 2200),
}


def tone_word(word: str, speaker: int, rng: np.random.Generator, sr: int = 16000) -> np.ndarray:
    f0, f1 = WORD_TONES[word]
    k = 1.0 + 0.04 * (speaker % 5 - 2)
    n = int(sr * rng.uniform(0.35, 0.55))
    freq = np.linspace(f0 * k, f1 * k, n)
    x = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.hanning(n) * rng.uniform(0.3, 0.8)
    out = np.zeros(sr, np.float32)
    start = int(rng.integers(0, sr - n))
    out[start : start + n] = x + 0.01 * rng.standard_normal(n)
    return out


def make_mswc(root: Path, lang: str = "en", speakers: int = 10, takes: int = 10, seed: int = 0) -> Path:
    """Write an MSWC-layout corpus of tone words (WAV clips) with a by-speaker split."""
    rng = np.random.default_rng(seed)
    rows = ["SET,LINK,WORD,VALID,SPEAKER,GENDER"]
    for s in range(speakers):
        split = "TRAIN" if s < int(speakers * 0.6) else ("DEV" if s < int(speakers * 0.8) else "TEST")
        for word in WORD_TONES:
            for t in range(takes):
                link = f"{word}/spk{s:02d}_{t}.wav"
                p = root / lang / "clips" / link
                p.parent.mkdir(parents=True, exist_ok=True)
                sf.write(p, tone_word(word, s, rng), 16000, subtype="PCM_16")
                rows.append(f"{split},{link},{word},True,spk{s:02d},NAN")
    (root / lang / f"{lang}_splits.csv").write_text("\n".join(rows) + "\n")
    return root
