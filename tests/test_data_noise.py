"""Noise bank: colored noise has the right spectral slope; folders of wavs are cut into segments."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from tinykws.data.noise import NoiseBank
from tinykws.data.perturb import colored_noise
from tinykws.errors import TinyKWSError


def _slope_db_per_octave(segments: np.ndarray, sr: int = 16000) -> float:
    """Least-squares fit of 10*log10(PSD) against log2(f) over 50 Hz - 7 kHz (Welch, averaged)."""
    from scipy.signal import welch

    f, p = welch(segments, fs=sr, nperseg=1024, axis=-1)
    p = p.mean(axis=0)
    band = (f >= 50) & (f <= 7000)
    slope, _ = np.polyfit(np.log2(f[band]), 10 * np.log10(p[band]), 1)
    return float(slope)


@pytest.mark.parametrize(("color", "expected"), [("white", 0.0), ("pink", -3.01), ("brown", -6.02)])
def test_colored_noise_slopes(color: str, expected: float) -> None:
    bank = NoiseBank(seed=1, n_synth=60)
    segs = bank.segments[[i for i, s in enumerate(bank.sources) if s == color]]
    assert len(segs) == 20
    assert abs(_slope_db_per_octave(segs) - expected) < 0.5
    assert np.allclose(np.max(np.abs(segs), axis=1), 1.0)  # peak-normalized


def test_slope_check_can_fail() -> None:
    """The fit separates the colors: pink noise is not within tolerance of white or brown."""
    rng = np.random.default_rng(0)
    pink = np.stack([colored_noise(16000, 1.0, rng) for _ in range(10)])
    s = _slope_db_per_octave(pink)
    assert abs(s - 0.0) > 2 and abs(s + 6.02) > 2


def test_deterministic_and_sample(tmp_path) -> None:
    a, b, c = NoiseBank(seed=5), NoiseBank(seed=5), NoiseBank(seed=6)
    assert a.segments.shape == (30, 16000) and a.segments.dtype == np.float32
    assert np.array_equal(a.segments, b.segments) and not np.array_equal(a.segments, c.segments)
    s1 = a.sample(7, np.random.default_rng(0))
    s2 = a.sample(7, np.random.default_rng(0))
    assert s1.shape == (7, 16000) and np.array_equal(s1, s2)
    # each sample is a rotation of some bank segment
    row = s1[0]
    assert any(np.allclose(np.sort(row), np.sort(seg)) for seg in a.segments)


def test_folder_noise_chunks(tmp_path) -> None:
    d = tmp_path / "noise"
    d.mkdir()
    rng = np.random.default_rng(0)
    sf.write(d / "fan.wav", 0.05 * rng.standard_normal((44100 * 3, 2)), 44100)  # 3 s stereo 44.1 kHz
    sf.write(d / "silence.wav", np.zeros(16000), 16000)  # digital silence is not noise
    (d / "bad.wav").write_bytes(b"not audio")
    bank = NoiseBank([d], n_synth=0)
    assert len(bank) == 3 and all(s.startswith("fan.wav#") for s in bank.sources)
    assert np.allclose(np.max(np.abs(bank.segments), axis=1), 1.0)
    with pytest.raises(TinyKWSError, match="noise folder not found"):
        NoiseBank([tmp_path / "nope"])


def test_environment_kinds() -> None:
    from tinykws.data.noise import ALL_KINDS, ENVIRONMENTS

    bank = NoiseBank(seed=3, n_synth=2 * len(ALL_KINDS), kinds=ALL_KINDS)
    assert sorted(set(bank.sources)) == sorted(ALL_KINDS)
    assert np.all(np.isfinite(bank.segments)) and np.allclose(np.max(np.abs(bank.segments), axis=1), 1.0)
    assert np.all(np.sqrt(np.mean(bank.segments**2, axis=1)) > 0.01)
    # mains hum: the strongest low-frequency line sits on a multiple of 50 or 60 Hz
    for seg in bank.segments[[i for i, s in enumerate(bank.sources) if s == "hum"]]:
        spec = np.abs(np.fft.rfft(seg))  # 1 Hz bins for a 1 s segment
        peak = int(np.argmax(spec[:1000]))
        assert peak % 50 == 0 or peak % 60 == 0, peak
    # the default bank is only the three colors
    assert set(NoiseBank(seed=0).sources) == {"white", "pink", "brown"}
    assert set(ENVIRONMENTS).isdisjoint({"white", "pink", "brown"})
    with pytest.raises(TinyKWSError, match="noise kinds: unknown thunder"):
        NoiseBank(kinds=("white", "thunder"))
