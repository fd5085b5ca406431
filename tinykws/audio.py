"""Reading users' audio: any sample rate, mono or stereo, WAV/FLAC/Opus/OGG.

Why so forgiving: users' recordings come as 44.1 kHz stereo phone memos. Stereo is mixed down
and other rates are resampled to 16 kHz, each with a notice. What cannot be read at all
(zero-length files, files that are not audio) raises a TinyKWSError that names the file.
"""

from __future__ import annotations

import os
from math import gcd
from pathlib import Path

import numpy as np

from tinykws.errors import TinyKWSError
from tinykws.progress import notice

SAMPLE_RATE = 16000
CLIP_SAMPLES = 16000


def resample(x: np.ndarray, sr_from: int, sr_to: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling (scipy) between integer rates; exact for 48k -> 16k."""
    if sr_from == sr_to:
        return x.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    g = gcd(int(sr_from), int(sr_to))
    return resample_poly(x, sr_to // g, sr_from // g).astype(np.float32)


def load_audio(path: str | os.PathLike[str], sr: int = SAMPLE_RATE, quiet: bool = False) -> np.ndarray:
    """Load a clip as float32 mono in [-1, 1] at `sr` Hz.

    Raises TinyKWSError for an empty file, a file that is not audio, or zero samples.
    `quiet` suppresses the mixdown/resample notices (corpus readers know their format).
    """
    import soundfile as sf

    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise TinyKWSError(f"{p}: cannot read: {exc.strerror}") from exc
    if size == 0:
        raise TinyKWSError(f"{p}: file is empty (0 bytes)")
    try:
        data, file_sr = sf.read(str(p), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError / TypeError
        raise TinyKWSError(f"{p}: not a readable audio file ({str(exc).strip()[:80]})") from exc
    if data.shape[0] == 0:
        raise TinyKWSError(f"{p}: audio has no samples")
    if data.shape[1] > 1:
        if not quiet:
            notice(f"{p}: {data.shape[1]} channels mixed down to mono")
        data = data.mean(axis=1, keepdims=True)
    x = data[:, 0]
    if file_sr != sr:
        if not quiet:
            notice(f"{p}: resampled {file_sr} Hz -> {sr} Hz")
        x = resample(x, file_sr, sr)
    return np.clip(x, -1.0, 1.0).astype(np.float32, copy=False)


def fix_length(x: np.ndarray, n: int = CLIP_SAMPLES) -> np.ndarray:
    """Zero-pad or crop (centered on the loudest 1 s) to exactly `n` samples."""
    if len(x) == n:
        return x
    if len(x) < n:
        return np.pad(x, (0, n - len(x)))
    # crop around the energy peak so a late keyword is not cut off
    energy = np.convolve(x.astype(np.float64) ** 2, np.ones(n // 10), mode="same")
    centre = int(np.argmax(energy))
    start = min(max(0, centre - n // 2), len(x) - n)
    return x[start : start + n]


def write_wav(path: str | os.PathLike[str], x: np.ndarray, sr: int = SAMPLE_RATE) -> None:
    """Write 16-bit PCM WAV atomically."""
    import io

    import soundfile as sf

    from tinykws.fsutil import atomic_write_bytes

    buf = io.BytesIO()
    sf.write(buf, np.clip(x, -1.0, 1.0), sr, subtype="PCM_16", format="WAV")
    atomic_write_bytes(path, buf.getvalue())
