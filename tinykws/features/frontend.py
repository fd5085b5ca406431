"""Feature front ends: audio clip -> MFCC matrix -> int8 model input.

Why one spec object: the same `FrontEnd` computes features on the host (numpy for data
preparation and evaluation, TensorFlow for training inside tf.data), is stored in the model's
tinykws.json, and writes `features_config.h` so that the C front end in `firmware/features/`
computes the same int8 values on the device (at most 1 LSB apart). Every parameter that changes
a single output value is a field, so the disk cache and the firmware are keyed by all of them.

Two front ends (exact definitions in docs/features.md):

- ``mlperf`` (default): the MLPerf Tiny KWS MFCC (tf.signal conventions), 49x10, int8 with the
  reference model's input quantization (scale 0.5847029, zero point 83).
- ``psf``: ``python_speech_features.mfcc`` defaults at 16 kHz with 30 ms windows and a 20 ms
  hop, first 10 cepstra (c0 = log frame energy), the 49 frames that lie inside the clip.

Audio convention: float32 in [-1, 1]; int16 PCM (the device's input) is ``pcm / 32768``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tinykws.errors import TinyKWSError

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

# Value that python_speech_features substitutes for an exactly-zero energy (numpy float64 eps).
PSF_EPS = float(np.finfo(np.float64).eps)

_WINDOWS = ("hann", "rect")
_NORMALIZE = ("max", "none")
_SPECTRA = ("magnitude", "power")
_MEL_SCALES = ("tf", "psf")
_DCTS = ("tf", "ortho")


@dataclass(frozen=True)
class FrontEnd:
    """All parameters of one feature front end (see docs/features.md for the exact pipeline).

    Defaults are the ``mlperf`` front end; ``get_frontend("psf")`` gives the other one.
    """

    name: str = "mlperf"
    sample_rate: int = 16000
    clip_samples: int = 16000
    window_samples: int = 480  # frame length (30 ms)
    hop_samples: int = 320  # frame step (20 ms)
    fft_size: int = 512
    window: str = "hann"  # "hann": periodic Hann (tf.signal.hann_window); "rect": none (psf)
    normalize: str = "max"  # "max": divide the clip by its maximum value (MLPerf); "none"
    preemphasis: float = 0.0  # y[n] = x[n] - a*x[n-1] over the whole clip (psf: 0.97)
    spectrum: str = "magnitude"  # "magnitude": |X|; "power": |X|^2 / fft_size (psf)
    mel_scale: str = "tf"  # "tf": linear_to_mel_weight_matrix; "psf": get_filterbanks
    n_mels: int = 40
    fmin: float = 20.0
    fmax: float = 4000.0
    log_offset: float = 1e-6  # log(mel + log_offset)
    log_floor: float = 0.0  # > 0: an exactly-zero energy is replaced by this (psf: float64 eps)
    dct: str = "tf"  # "tf": mfccs_from_log_mel_spectrograms scaling; "ortho": scipy norm="ortho"
    n_coeffs: int = 10
    lifter: int = 0  # psf ceplifter (22); 0 = none
    energy_c0: bool = False  # psf appendEnergy: c0 = log(frame power sum)
    input_scale: float = 0.5847029089927673  # int8 model input: q = trunc(f / scale + zp)
    input_zero_point: int = 83

    # ------------------------------------------------------------------ validation / shape
    def __post_init__(self) -> None:
        bad = None
        if self.window not in _WINDOWS:
            bad = f"window={self.window!r} (known: {', '.join(_WINDOWS)})"
        elif self.normalize not in _NORMALIZE:
            bad = f"normalize={self.normalize!r} (known: {', '.join(_NORMALIZE)})"
        elif self.spectrum not in _SPECTRA:
            bad = f"spectrum={self.spectrum!r} (known: {', '.join(_SPECTRA)})"
        elif self.mel_scale not in _MEL_SCALES:
            bad = f"mel_scale={self.mel_scale!r} (known: {', '.join(_MEL_SCALES)})"
        elif self.dct not in _DCTS:
            bad = f"dct={self.dct!r} (known: {', '.join(_DCTS)})"
        elif self.fft_size < 4 or self.fft_size & (self.fft_size - 1):
            bad = f"fft_size={self.fft_size} (must be a power of two, the C FFT is radix-2)"
        elif not 0 < self.window_samples <= self.fft_size:
            bad = f"window_samples={self.window_samples} (must be 1..fft_size)"
        elif self.hop_samples <= 0 or self.clip_samples < self.window_samples:
            bad = f"hop_samples={self.hop_samples}, clip_samples={self.clip_samples}"
        elif not 0 < self.n_coeffs <= self.n_mels:
            bad = f"n_coeffs={self.n_coeffs} (must be 1..n_mels={self.n_mels})"
        elif not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            bad = f"fmin={self.fmin}, fmax={self.fmax} (need 0 <= fmin < fmax <= sample_rate/2)"
        elif not self.input_scale > 0 or not -128 <= self.input_zero_point <= 127:
            bad = f"input_scale={self.input_scale}, input_zero_point={self.input_zero_point}"
        if bad:
            raise TinyKWSError(f"front end {self.name!r}: bad parameter {bad}")

    @property
    def n_frames(self) -> int:
        """Frames that lie entirely inside the clip (tf.signal.stft without padding)."""
        return 1 + (self.clip_samples - self.window_samples) // self.hop_samples

    @property
    def shape(self) -> tuple[int, int]:
        """(frames, coefficients) of one clip's feature matrix: (49, 10) for both built-ins."""
        return (self.n_frames, self.n_coeffs)

    # ------------------------------------------------------------------ serialization
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every parameter (stored in the model's tinykws.json)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FrontEnd:
        """Inverse of to_dict. Missing fields take the named built-in's values (older files)."""
        if not isinstance(d, dict) or "name" not in d:
            raise TinyKWSError("front end: expected a dict with a 'name' (from tinykws.json)")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise TinyKWSError(f"front end {d['name']!r}: unknown parameters {', '.join(unknown)}")
        base = _BUILTIN.get(str(d["name"]))
        values = base.to_dict() if base is not None else {}
        values.update(d)
        return cls(**values)

    def digest(self) -> str:
        """Short hash of all parameters: keys caches and names generated headers."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha1(blob).hexdigest()[:16]

    # ------------------------------------------------------------------ constant tables
    def window_table(self) -> np.ndarray:
        """Analysis window [window_samples] (float64)."""
        n = np.arange(self.window_samples)
        if self.window == "hann":  # periodic, as tf.signal.hann_window(periodic=True)
            return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / self.window_samples)
        return np.ones(self.window_samples)

    def mel_matrix(self) -> np.ndarray:
        """Filterbank [fft_size//2 + 1, n_mels] (float64), applied as spectrum @ matrix."""
        n_bins = self.fft_size // 2 + 1
        if self.mel_scale == "tf":
            return _tf_mel_matrix(self.n_mels, n_bins, self.sample_rate, self.fmin, self.fmax)
        return _psf_filterbank(self.n_mels, self.fft_size, self.sample_rate, self.fmin, self.fmax).T

    def dct_matrix(self) -> np.ndarray:
        """[n_mels, n_coeffs] (float64): log-mel @ matrix = cepstra, lifter included."""
        m = self.n_mels
        n = np.arange(m)[:, None]
        k = np.arange(self.n_coeffs)[None, :]
        basis = np.cos(np.pi * k * (2 * n + 1) / (2.0 * m))
        if self.dct == "tf":  # tf.signal.dct(type=2, norm=None) * rsqrt(2 * n_mels)
            mat = 2.0 * basis / np.sqrt(2.0 * m)
        else:  # scipy.fftpack.dct(type=2, norm="ortho")
            mat = basis * np.where(k == 0, np.sqrt(1.0 / m), np.sqrt(2.0 / m))
        if self.lifter > 0:
            mat = mat * (1.0 + (self.lifter / 2.0) * np.sin(np.pi * k / self.lifter))
        return mat

    # ------------------------------------------------------------------ numpy front end
    def _check(self, audio: np.ndarray) -> np.ndarray:
        """`audio` as [N, samples] (a view), shape-checked; conversion happens per chunk."""
        x = np.asarray(audio)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2:
            raise TinyKWSError(f"audio: expected [samples] or [clips, samples], got shape {x.shape}")
        if x.shape[1] > self.clip_samples:
            raise TinyKWSError(
                f"audio: {x.shape[1]} samples is longer than a clip ({self.clip_samples}); "
                "crop it first (tinykws.audio.fix_length)"
            )
        return x

    def _to_float64(self, x: np.ndarray) -> np.ndarray:
        """float64 [n, clip_samples]: int16 PCM -> pcm / 32768, zero-padded at the end."""
        y = x.astype(np.float64) / 32768.0 if x.dtype == np.int16 else x.astype(np.float64)
        if y.shape[1] < self.clip_samples:
            y = np.pad(y, ((0, 0), (0, self.clip_samples - y.shape[1])))
        return y

    def float_features(self, audio: np.ndarray) -> np.ndarray:
        """[N, samples] or [samples] audio -> [N, frames, coeffs] float32 (vectorized).

        The reference pipeline of docs/features.md, computed in float64 and rounded to float32
        at the end; shorter clips are zero-padded. A single clip gives [1, frames, coeffs].
        Works through the batch in chunks, so memory stays bounded for large corpora.
        """
        x = self._check(audio)
        out = np.empty((x.shape[0], *self.shape), np.float32)
        for s in range(0, x.shape[0], _CHUNK):  # chunks: bounded memory, cache-friendly
            out[s : s + _CHUNK] = self._float_chunk(self._to_float64(x[s : s + _CHUNK]))
        return out

    def _float_chunk(self, x: np.ndarray) -> np.ndarray:
        win, mel_w, lo, hi, dct = _tables(self)
        if self.normalize == "max":
            x = x / _normalizer(x)[:, None]
        if self.preemphasis:
            x = np.concatenate([x[:, :1], x[:, 1:] - self.preemphasis * x[:, :-1]], axis=1)
        view = sliding_window_view(x, self.window_samples, axis=1)[:, :: self.hop_samples][:, : self.n_frames]
        spec = np.fft.rfft(view * win, n=self.fft_size, axis=-1)  # [N, F, bins]
        if self.energy_c0:  # needs every bin; otherwise only the filterbank's bins
            lo, hi = 0, spec.shape[-1]
        spec = np.abs(spec[..., lo:hi])
        if self.spectrum == "power":
            spec = spec * spec / self.fft_size
        mel = spec @ mel_w[lo:hi]  # [N, F, M]
        if self.log_floor > 0:
            mel = np.where(mel == 0, self.log_floor, mel)
        ceps = np.log(mel + self.log_offset) @ dct
        if self.energy_c0:
            energy = spec.sum(axis=-1)
            if self.log_floor > 0:
                energy = np.where(energy == 0, self.log_floor, energy)
            ceps[..., 0] = np.log(energy + self.log_offset)
        return ceps

    def quantize(self, feats: np.ndarray) -> np.ndarray:
        """float -> int8 exactly as the device does: trunc(f / scale + zp) in float32, clipped.

        Truncation toward zero is what MLPerf Tiny's test inputs use (numpy astype(int8) of
        x / scale + zp); we clip to [-128, 127] first so out-of-range values saturate.
        """
        f = np.asarray(feats, dtype=np.float32)
        q = f / np.float32(self.input_scale) + np.float32(self.input_zero_point)
        return np.clip(np.trunc(q), -128, 127).astype(np.int8)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        """int8 -> float32 model input: (q - zero_point) * scale."""
        qq = np.asarray(q).astype(np.float32)
        return ((qq - np.float32(self.input_zero_point)) * np.float32(self.input_scale)).astype(np.float32)

    def int8_features(self, audio: np.ndarray) -> np.ndarray:
        """quantize(float_features(audio)): [N, frames, coeffs] int8."""
        return self.quantize(self.float_features(audio))

    # ------------------------------------------------------------------ TensorFlow front end
    @property
    def tf_native(self) -> bool:
        """True when tf.signal can express this front end directly (mlperf-like ones)."""
        return (
            self.window == "hann"
            and self.spectrum == "magnitude"
            and self.mel_scale == "tf"
            and self.dct == "tf"
            and not self.preemphasis
            and not self.energy_c0
            and not self.lifter
            and not self.log_floor
        )

    def tf_features(self, audio: tf.Tensor) -> tf.Tensor:
        """[B, samples] (or [samples]) float32 tensor -> [B, frames, coeffs] (or [frames, coeffs]).

        Graph-mode safe (tf.data.map). mlperf uses tf.signal, as MLPerf Tiny trains; other
        front ends run the numpy pipeline through tf.numpy_function.
        """
        import tensorflow as tf

        x = tf.convert_to_tensor(audio, dtype=tf.float32)
        rank1 = x.shape.rank == 1
        if rank1:
            x = x[None, :]
        if self.tf_native:
            out = self._tf_signal(x)
        else:

            def _np(a: np.ndarray) -> np.ndarray:
                return self.float_features(a)

            out = tf.numpy_function(_np, [x], tf.float32, stateful=False)
        out = tf.ensure_shape(out, [None, *self.shape])
        return out[0] if rank1 else out

    def tf_fake_quant(self, feats: tf.Tensor) -> tf.Tensor:
        """dequantize(quantize(feats)) in TensorFlow, with the device's rule (truncation toward
        zero, saturation), so training sees exactly the values the int8 model will get."""
        import tensorflow as tf

        scale = tf.constant(self.input_scale, tf.float32)
        zp = tf.constant(float(self.input_zero_point), tf.float32)
        y = tf.convert_to_tensor(feats, tf.float32) / scale + zp
        q = tf.clip_by_value(tf.math.sign(y) * tf.math.floor(tf.abs(y)), -128.0, 127.0)  # trunc
        return (q - zp) * scale

    def _tf_signal(self, x: tf.Tensor) -> tf.Tensor:
        import tensorflow as tf

        x = x[:, : self.clip_samples]
        x = tf.pad(x, [[0, 0], [0, self.clip_samples - tf.shape(x)[1]]])
        if self.normalize == "max":
            mx = tf.reduce_max(x, axis=1, keepdims=True)
            amax = tf.reduce_max(tf.abs(x), axis=1, keepdims=True)
            d = tf.where(mx > 0, mx, tf.where(mx < 0, -mx, tf.where(amax > 0, amax, tf.ones_like(mx))))
            x = x / d
        stft = tf.signal.stft(
            x,
            frame_length=self.window_samples,
            frame_step=self.hop_samples,
            fft_length=self.fft_size,
            window_fn=tf.signal.hann_window,
        )
        mag = tf.abs(stft)
        w = tf.signal.linear_to_mel_weight_matrix(
            self.n_mels, self.fft_size // 2 + 1, self.sample_rate, self.fmin, self.fmax
        )
        mel = tf.tensordot(mag, w, 1)
        logmel = tf.math.log(mel + self.log_offset)
        return tf.signal.mfccs_from_log_mel_spectrograms(logmel)[..., : self.n_coeffs]

    # ------------------------------------------------------------------ C header
    def write_c_header(self, path: str | os.PathLike[str]) -> Path:
        """Write features_config.h (all constants of this front end) atomically."""
        from tinykws.features.cheader import render_header
        from tinykws.fsutil import atomic_write_text

        return atomic_write_text(path, render_header(self))


_CHUNK = 16  # clips per numpy pass: keeps the [clips, 49, 512] spectra in cache


@functools.lru_cache(maxsize=16)
def _tables(fe: FrontEnd) -> tuple[np.ndarray, np.ndarray, int, int, np.ndarray]:
    """Window, filterbank (and the span of bins it uses), DCT of a front end, computed once."""
    mel_w = fe.mel_matrix()
    used = np.nonzero(mel_w.any(axis=1))[0]
    lo, hi = (int(used[0]), int(used[-1]) + 1) if len(used) else (0, 1)
    return fe.window_table(), mel_w, lo, hi, fe.dct_matrix()


def _normalizer(x: np.ndarray) -> np.ndarray:
    """Per-clip divisor of the 'max' normalization, guarded.

    MLPerf divides by max(x) (not max |x|). For max < 0 we divide by -max: the magnitude
    spectrum is the same as TF's x / max. max == 0 (TF gives inf/NaN) falls back to max |x|,
    and an all-zero clip is left as it is.
    """
    mx = x.max(axis=1)
    amax = np.abs(x).max(axis=1)
    return np.where(mx > 0, mx, np.where(mx < 0, -mx, np.where(amax > 0, amax, 1.0)))


def _tf_mel_matrix(n_mels: int, n_bins: int, sr: int, fmin: float, fmax: float) -> np.ndarray:
    """tf.signal.linear_to_mel_weight_matrix in numpy: HTK mel (1127 ln(1 + f/700)), triangles
    evaluated at the FFT bins' own frequencies, no area normalization, DC row zero."""

    def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
        return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)

    freqs = np.linspace(0.0, sr / 2.0, n_bins)[1:]
    bins_mel = hz_to_mel(freqs)[:, None]
    edges = np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    lo = (bins_mel - lower) / (center - lower)
    up = (upper - bins_mel) / (upper - center)
    w = np.maximum(0.0, np.minimum(lo, up))
    return np.concatenate([np.zeros((1, n_mels)), w], axis=0)


def _psf_filterbank(nfilt: int, nfft: int, sr: int, fmin: float, fmax: float) -> np.ndarray:
    """python_speech_features.get_filterbanks: [nfilt, nfft//2+1], triangles on integer bins."""

    def hz2mel(hz: np.ndarray | float) -> np.ndarray:
        return 2595 * np.log10(1 + np.asarray(hz, dtype=np.float64) / 700.0)

    def mel2hz(mel: np.ndarray) -> np.ndarray:
        return 700 * (10 ** (mel / 2595.0) - 1)

    points = np.linspace(hz2mel(fmin), hz2mel(fmax), nfilt + 2)
    b = np.floor((nfft + 1) * mel2hz(points) / sr)
    fb = np.zeros((nfilt, nfft // 2 + 1))
    for j in range(nfilt):
        for i in range(int(b[j]), int(b[j + 1])):
            fb[j, i] = (i - b[j]) / (b[j + 1] - b[j])
        for i in range(int(b[j + 1]), int(b[j + 2])):
            fb[j, i] = (b[j + 2] - i) / (b[j + 2] - b[j + 1])
    return fb


# --------------------------------------------------------------------------- built-ins
MLPERF = FrontEnd(name="mlperf")

# python_speech_features.mfcc defaults (nfilt 26, preemph 0.97, ceplifter 22, appendEnergy,
# rectangular window, nfft 512, 0..sr/2) at 16 kHz with winlen 0.03 / winstep 0.02; 10 cepstra.
# int8: scale/zero point cover the range measured on speech, noise and silence (docs/features.md).
PSF = FrontEnd(
    name="psf",
    window="rect",
    normalize="none",
    preemphasis=0.97,
    spectrum="power",
    mel_scale="psf",
    n_mels=26,
    fmin=0.0,
    fmax=8000.0,
    log_offset=0.0,
    log_floor=PSF_EPS,
    dct="ortho",
    n_coeffs=10,
    lifter=22,
    energy_c0=True,
    input_scale=0.75,
    input_zero_point=0,
)

_BUILTIN: dict[str, FrontEnd] = {"mlperf": MLPERF, "psf": PSF}
FRONTENDS: tuple[str, ...] = tuple(_BUILTIN)


def get_frontend(name: str) -> FrontEnd:
    """The built-in front end called `name` ("mlperf" or "psf")."""
    fe = _BUILTIN.get(name)
    if fe is None:
        raise TinyKWSError(f"--frontend {name!r}: unknown front end (known: {', '.join(FRONTENDS)})")
    return fe
