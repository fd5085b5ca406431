"""Signal processing that turns a clean synthetic word into a plausible recording.

Why: a synthesizer speaks every word with the same vocal tract, in an anechoic room, through a
perfect microphone. Real keyword recordings (Speech Commands: phones and laptops in people's
rooms) differ in all three. Each function here changes one of those, and all take their
randomness from a numpy Generator, so a corpus is reproducible from its seed.
"""

from __future__ import annotations

import threading

import numpy as np

SR = 16000
_WORLD_LOCK = threading.Lock()


def trim_silence(x: np.ndarray, sr: int, top_db: float = 35.0, margin_s: float = 0.015) -> np.ndarray:
    """Cut leading/trailing silence: frames 35 dB below the loudest frame, keeping a margin.

    espeak-ng and flite pad words with up to ~300 ms of silence, which would otherwise decide
    where in the 1 s clip the word can go.
    """
    if len(x) == 0:
        return x
    frame = max(1, int(0.005 * sr))
    n = len(x) // frame
    if n == 0:
        return x
    e = np.sqrt(np.mean(x[: n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1))
    thr = max(e.max() * 10 ** (-top_db / 20), 1e-5)
    idx = np.nonzero(e > thr)[0]
    if len(idx) == 0:
        return x[:0]
    m = int(margin_s * sr)
    return x[max(0, idx[0] * frame - m) : min(len(x), (idx[-1] + 1) * frame + m)]


def resample_to(x: np.ndarray, n_out: int) -> np.ndarray:
    """Band-limited resampling to exactly n_out samples (FFT method; the signals are < 2 s)."""
    from scipy.signal import resample

    if n_out == len(x):
        return x.astype(np.float32, copy=False)
    pad = 64  # zero guard so the FFT method's circular wrap does not fold the ends together
    y = resample(np.pad(x.astype(np.float64), pad), int(round((len(x) + 2 * pad) * n_out / len(x))))
    g = int(round(pad * n_out / len(x)))
    return y[g : g + n_out].astype(np.float32)


def vocal_tract_shift(x: np.ndarray, sr_in: int, alpha: float, sr_out: int = SR) -> np.ndarray:
    """Resample from sr_in to sr_out while scaling every frequency by `alpha`.

    Playing audio back `alpha` times faster multiplies pitch AND formants by alpha, like a
    smaller (alpha > 1) or larger (alpha < 1) vocal tract; the duration changes by 1/alpha,
    which the speed settings absorb. This is the resampling form of vocal-tract-length
    perturbation (VTLP), done once on the waveform so the front end needs nothing special.
    """
    n_out = max(1, int(round(len(x) * sr_out / (sr_in * alpha))))
    return resample_to(x, n_out)


def time_stretch(x: np.ndarray, rate: float, sr: int = SR) -> np.ndarray:
    """WSOLA time-scale modification: `rate` > 1 shortens, keeping pitch and formants.

    Used when a slow speaker's word does not fit in the clip (~0.95 s), and for per-clip tempo
    jitter, where resampling would also move the pitch.
    """
    if abs(rate - 1.0) < 1e-3 or len(x) < int(0.05 * sr):
        return x
    win = int(0.030 * sr)
    hop_out = win // 2
    tol = int(0.008 * sr)
    w = np.hanning(win).astype(np.float64)
    xp = np.pad(x.astype(np.float64), (tol + win, tol + win))
    n_out = int(len(x) / rate)
    n_frames = n_out // hop_out + 1
    out = np.zeros(n_frames * hop_out + win)
    norm = np.zeros_like(out)
    prev = tol + win  # start of the previously copied segment in xp
    for k in range(n_frames):
        nominal = int(k * hop_out * rate) + tol + win
        if k == 0:
            start = nominal
        else:
            target = xp[prev + hop_out : prev + hop_out + win]  # natural continuation
            lo = max(0, nominal - tol)
            hi = min(len(xp) - win, nominal + tol)
            if hi <= lo:
                start = min(max(0, nominal), len(xp) - win)
            else:
                region = xp[lo : hi + win]
                corr = np.correlate(region, target, mode="valid")
                start = lo + int(np.argmax(corr))
        seg = xp[start : start + win]
        if len(seg) < win:
            break
        out[k * hop_out : k * hop_out + win] += seg * w
        norm[k * hop_out : k * hop_out + win] += w
        prev = start
    norm[norm < 1e-3] = 1.0
    y = out / norm
    return y[:n_out].astype(np.float32)


def room_impulse_response(rng: np.random.Generator, rt60: float, drr_db: float, sr: int = SR) -> np.ndarray:
    """A synthetic room: a direct path, a few early reflections, then exponentially decaying noise.

    The decay constant gives the reverberation time `rt60` (60 dB down after rt60 seconds);
    `drr_db` is the direct-to-reverberant energy ratio (near speakers: high, far: low).
    """
    n = int(min(rt60, 1.0) * sr)
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)  # ln(1000) = 6.9078: -60 dB at rt60
    tail[: int(0.0025 * sr)] = 0.0  # reverberation starts after the first reflections
    for _ in range(rng.integers(2, 6)):  # early reflections 1-20 ms after the direct sound
        d = int(rng.uniform(0.001, 0.02) * sr)
        tail[d] += rng.uniform(-0.6, 0.6)
    rev_e = float(np.sum(tail**2)) + 1e-12
    h = tail * np.sqrt(10 ** (-drr_db / 10) / rev_e)  # direct energy 1
    h[0] = 1.0
    return h.astype(np.float64)


def reverberate(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    from scipy.signal import fftconvolve

    return fftconvolve(x.astype(np.float64), h)[: len(x) + len(h) - 1].astype(np.float32)


def _peaking_sos(f0: float, gain_db: float, q: float, sr: int = SR) -> np.ndarray:
    """One peaking-EQ biquad (the audio-EQ-cookbook form) as a second-order section."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * f0 / sr
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w0), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w0), 1 - alpha / a])
    return np.concatenate([b / den[0], den / den[0]])[None, :]


def microphone(x: np.ndarray, rng: np.random.Generator, strength: float = 1.0, sr: int = SR) -> np.ndarray:
    """A random microphone/channel: high-pass (small capsules lose bass), often a low-pass
    (phone codecs, cheap ADCs), and one or two resonances of up to ±6 dB."""
    from scipy.signal import butter, sosfilt

    sos = [butter(2, rng.uniform(50, 50 + 300 * strength), "highpass", fs=sr, output="sos")]
    if rng.random() < 0.5 * strength:
        sos.append(butter(int(rng.integers(2, 5)), rng.uniform(3400, 7800), "lowpass", fs=sr, output="sos"))
    for _ in range(int(rng.integers(1, 3))):
        sos.append(
            _peaking_sos(rng.uniform(250, 5000), rng.uniform(-6, 6) * strength, rng.uniform(0.7, 2.5), sr)
        )
    return sosfilt(np.concatenate(sos), x.astype(np.float64)).astype(np.float32)


def colored_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with power spectral density ∝ 1/f**exponent (0 white, 1 pink, 2 brown).

    Shaped in the frequency domain so the slope is exact across the band (pink: -3 dB/octave,
    brown: -6 dB/octave); the DC bin is zeroed. Returned with unit RMS.
    """
    spec = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.fft.rfftfreq(n)
    f[0] = f[1]
    spec *= f ** (-exponent / 2)
    spec[0] = 0.0
    y = np.fft.irfft(spec, n)
    return (y / (np.sqrt(np.mean(y**2)) + 1e-12)).astype(np.float32)


def world_available() -> bool:
    try:
        import pyworld  # noqa: F401
    except ImportError:
        return False
    return True


def world_pitch(x: np.ndarray, sr: int, factor: float) -> tuple[np.ndarray, int]:
    """Multiply the pitch (F0) by `factor`, keeping the spectral envelope (the formants).

    Why: resampling (vocal_tract_shift) moves pitch and formants together, so it turns a male
    voice into a smaller male voice, never into a voice with a higher pitch over a similar vocal
    tract. A WORLD vocoder analysis (DIO + StoneMask F0, CheapTrick envelope, D4C aperiodicity)
    and resynthesis with a scaled F0 does that. WORLD draws noise from one process-wide
    generator (CheapTrick adds a tiny noise floor, synthesis an aperiodic excitation) that it
    reseeds per call, so calls are serialized by a lock: otherwise concurrent synthesis threads
    would interleave its state and a corpus would depend on thread timing. Audio below 16 kHz
    (flite's 8 kHz voices) is upsampled first: at 8 kHz pyworld 0.3.5 gave different output for
    the same input from call to call (measured), at 16 kHz and above it is reproducible.
    Returns the audio and its sample rate.
    """
    import pyworld as pw
    from scipy.signal import resample_poly

    if sr < SR:
        x, sr = resample_poly(np.asarray(x, np.float64), SR, sr), SR
    y = np.ascontiguousarray(x, dtype=np.float64)
    with _WORLD_LOCK:
        f0, t = pw.dio(y, sr, frame_period=5.0)
        f0 = pw.stonemask(y, f0, t, sr)
        sp = pw.cheaptrick(y, f0, t, sr)
        ap = pw.d4c(y, f0, t, sr)
        out = pw.synthesize(f0 * factor, sp, ap, sr, frame_period=5.0)
    peak_in = float(np.max(np.abs(y))) or 1.0
    peak_out = float(np.max(np.abs(out))) or 1.0
    return (out[: len(x)] * (peak_in / peak_out)).astype(np.float32), sr
