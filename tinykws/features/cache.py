"""A disk cache of int8 features, one raw file per clip and front end.

Why: feature extraction is the slow part of re-running training or evaluation on the same
corpus; the cache is keyed by every front-end parameter (FrontEnd.digest) and by each file's
path, size and mtime, so an edited clip or a changed parameter misses.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from tinykws.errors import TinyKWSError
from tinykws.features.frontend import FrontEnd


def default_cache_dir() -> Path:
    """$TINYKWS_CACHE/features, else ~/.cache/tinykws/features (XDG_CACHE_HOME honoured)."""
    base = os.environ.get("TINYKWS_CACHE")
    if base:
        return Path(base) / "features"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg or Path.home() / ".cache") / "tinykws" / "features"


def _clip_key(path: Path) -> str:
    st = path.stat()
    blob = f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode()
    return hashlib.sha1(blob).hexdigest()


def cached_int8_features(
    frontend: FrontEnd,
    paths: list[Path],
    cache_dir: Path | None = None,
    batch: int = 256,
) -> np.ndarray:
    """int8 features [len(paths), frames, coeffs] for audio files, cached on disk.

    Why: feature extraction is the slow part of re-running training/evaluation on the same
    corpus. Each clip is cached as one raw int8 file under <cache>/<front-end digest>/, keyed by
    the file's resolved path, size and mtime, so an edited clip or a changed parameter misses.
    Clips load through tinykws.audio.load_audio + fix_length; misses are computed in batches.
    Cache files are written via rename (no fsync: a torn file has the wrong size and is redone).
    """
    from tinykws.audio import fix_length, load_audio
    from tinykws.progress import progress

    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    sub = root / frontend.digest()
    size = int(np.prod(frontend.shape))
    out = np.zeros((len(paths), *frontend.shape), dtype=np.int8)
    missing: list[tuple[int, Path, Path]] = []
    for i, p in enumerate(paths):
        p = Path(p)
        try:
            key = _clip_key(p)
        except OSError as exc:
            raise TinyKWSError(f"{p}: cannot read: {exc.strerror}") from exc
        f = sub / key[:2] / f"{key}.i8"
        try:
            data = f.read_bytes()
        except OSError:
            data = b""
        if len(data) == size:
            out[i] = np.frombuffer(data, dtype=np.int8).reshape(frontend.shape)
        else:
            missing.append((i, p, f))
    chunks = [missing[k : k + batch] for k in range(0, len(missing), batch)]
    for chunk in progress(chunks, desc=f"features ({frontend.name})", total=len(chunks), unit="batch"):
        audio = np.stack(
            [fix_length(load_audio(p, sr=frontend.sample_rate, quiet=True)) for _, p, _ in chunk]
        )
        q = frontend.int8_features(audio)
        for (i, _, f), qi in zip(chunk, q, strict=True):
            out[i] = qi
            _write_cache_file(f, qi.tobytes())
    return out


def _write_cache_file(f: Path, data: bytes) -> None:
    try:
        f.parent.mkdir(parents=True, exist_ok=True)
        tmp = f.with_name(f"{f.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, f)
    except OSError:  # a cache that cannot be written only costs time later
        return
