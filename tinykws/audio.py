"""Reading users' audio: any sample rate, mono or stereo, WAV/FLAC/Opus/OGG.

Why so forgiving: users' recordings come as 44.1 kHz stereo phone memos. Stereo is mixed down
and other rates are resampled to 16 kHz, each with a notice. What cannot be read at all
(zero-length files, files that are not audio) raises a TinyKWSError that names the file.

Why so suspicious at the same time: a corpus of 100 000 files holds truncated downloads, and a
user's folder can hold anything with a .wav name. Every read goes through `read_mono`, which
checks the header before decoding a sample and refuses (BadAudio, a TinyKWSError) a file that:
is not a regular file, is empty or larger than its duration bound allows; announces zero
channels, an absurd sample rate, or more frames than the caller's bound (`max_seconds`: 30 s
for clips, longer for noise and `listen` recordings); announces a length its data does not
have (a WAV data chunk that runs past the end of the file or stops short of more audio, an Ogg
stream that ends without its end-of-stream page, a FLAC or Opus stream that decodes to fewer
frames than announced); fails to decode; or holds NaN or infinite samples. Decoding runs in
blocks into an array of the announced size, so memory is bounded by the header check, never by
what a file claims later. On valid audio the samples are the ones libsndfile always gave.
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass
from math import gcd
from pathlib import Path
from typing import BinaryIO

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


# Bounds of the verified reader. A clip is a keyword recording: 30 s is far beyond any, yet
# small enough that a thread pool of them stays a few tens of MB.
CLIP_MAX_SECONDS = 30.0
MIN_RATE = 1000  # below this a header's rate is not audio a keyword model can use
MAX_RATE = 768000  # above the highest rate any recorder writes
MAX_RATIO = 20000  # resampling up/down factors beyond this (rates like 767999 Hz) are refused
FRAMES_PER_SECOND_CAP = 96000  # memory bound: frames <= max_seconds * this, whatever the rate
BYTES_PER_SECOND_CAP = 4_000_000  # file size bound: 96 kHz x 8 channels x 32 bit, and more
BLOCK_SAMPLES = 1 << 18  # decode block (frames x channels), ~1 MB of float32
_OGG_MAX_PAGE = 27 + 255 + 255 * 255
_WAV_UNKNOWN_SIZES = (0xFFFFFFFF, 0x7FFFFFFF, 0x7FFFF000)  # streamed WAV: length not patched


class BadAudio(TinyKWSError):
    """A file the verified reader refuses. `reason` is a short kind for counting
    ("unreadable", "truncated", "too long", ...); `why` is the message without the path."""

    def __init__(self, path: str | os.PathLike[str], why: str, reason: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path = str(path)
        self.why = why
        self.reason = reason


@dataclass(frozen=True)
class AudioHeader:
    """What a file's header announces, after `check_header` found it plausible."""

    samplerate: int
    channels: int
    frames: int
    format: str
    subtype: str
    exact: bool  # the format's frame count is exact (WAV, FLAC, Ogg), not an estimate (MP3)


def _wav_structure(f: BinaryIO, size: int, path: Path) -> None:
    """Walk a RIFF/WAVE file's chunks (headers only, at most 256) and refuse what libsndfile
    would quietly mend: zero channels or an absurd rate in `fmt `, a data chunk that announces
    more bytes than the file holds (a truncated file: libsndfile reads what is there), or one
    that stops short of more sample bytes (the rest would be silently ignored)."""
    f.seek(0)
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return  # RF64, RIFX, W64, AIFF...: libsndfile's own checks only
    pos, seen_data = 12, False
    for _ in range(256):
        f.seek(pos)
        ch = f.read(8)
        if len(ch) < 8:
            return  # end of file, or a few pad bytes
        cid, n = ch[:4], struct.unpack("<I", ch[4:])[0]
        if not all(32 <= c < 127 for c in cid):
            if seen_data:
                raise BadAudio(
                    path,
                    "header announces a shorter data chunk than the file holds "
                    f"({size - pos} bytes of something follow it)",
                    "length mismatch",
                )
            raise BadAudio(path, f"corrupt WAV: no chunk header at byte {pos}", "unreadable")
        if cid == b"fmt ":
            fmt = f.read(min(n, 16))
            if len(fmt) >= 8:
                channels, rate = struct.unpack("<HI", fmt[2:8])
                if channels == 0:
                    raise BadAudio(path, "header announces 0 channels", "bad header")
                if not MIN_RATE <= rate <= MAX_RATE:
                    raise BadAudio(
                        path,
                        f"header announces a sample rate of {rate} Hz (expected {MIN_RATE}-{MAX_RATE})",
                        "bad header",
                    )
        if cid == b"data":
            seen_data = True
            left = size - pos - 8
            if n > left and n not in _WAV_UNKNOWN_SIZES:
                raise BadAudio(
                    path,
                    f"truncated: header announces {n} bytes of audio, the file holds {left}",
                    "truncated",
                )
            if n in _WAV_UNKNOWN_SIZES and n > left:
                return  # streamed WAV of unknown length: libsndfile reads to the end
        pos += 8 + n + (n & 1)
        if pos > size:
            return


def _ogg_complete(f: BinaryIO, size: int, path: Path) -> None:
    """Refuse an Ogg file whose last page is cut off or lacks the end-of-stream flag: a
    truncated download. libsndfile decodes such a file to the last whole page, silently."""
    n = min(size, _OGG_MAX_PAGE)
    f.seek(size - n)
    tail = f.read(n)
    i = tail.rfind(b"OggS")
    while i >= 0:
        if i + 27 <= len(tail):
            nseg = tail[i + 26]
            if i + 27 + nseg <= len(tail) and i + 27 + nseg + sum(tail[i + 27 : i + 27 + nseg]) == len(tail):
                if not tail[i + 5] & 0x04:
                    raise BadAudio(path, "truncated: the Ogg stream has no end-of-stream page", "truncated")
                return
        i = tail.rfind(b"OggS", 0, i)
    raise BadAudio(path, "truncated: the Ogg stream's last page is cut off", "truncated")


def _crc8(data: bytes) -> int:
    """FLAC frame-header CRC-8 (polynomial 0x07, initial 0)."""
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _flac_frame_end(hdr: bytes, fixed_block: int) -> int | None:
    """The sample just past a FLAC frame whose header starts `hdr`, or None if `hdr` is not a
    valid frame header (sync, reserved bits, codes, UTF-8 coded number, CRC-8)."""
    if len(hdr) < 6 or hdr[0] != 0xFF or hdr[1] & 0xFE != 0xF8:
        return None
    variable = hdr[1] & 1
    bs_code, rate_code = hdr[2] >> 4, hdr[2] & 0x0F
    if bs_code == 0 or rate_code == 15 or hdr[3] >> 4 > 10 or hdr[3] & 1:
        return None
    lead, i = hdr[4], 5
    extra = next((k for k in range(7) if not lead & (0x80 >> k)), 7)
    if extra == 1 or extra > (7 if variable else 6) or lead == 0xFF:
        return None  # a continuation byte first, or longer than the spec allows
    number = lead & (0x7F >> extra) if extra else lead
    for _ in range(max(0, extra - 1)):
        if i >= len(hdr) or hdr[i] & 0xC0 != 0x80:
            return None
        number = (number << 6) | (hdr[i] & 0x3F)
        i += 1
    if bs_code == 6:
        block, i = hdr[i] + 1 if i < len(hdr) else 0, i + 1
    elif bs_code == 7:
        block, i = int.from_bytes(hdr[i : i + 2], "big") + 1, i + 2
    else:
        block = 192 if bs_code == 1 else 576 << (bs_code - 2) if bs_code <= 5 else 256 << (bs_code - 8)
    i += 1 if rate_code == 12 else 2 if rate_code in (13, 14) else 0
    if i >= len(hdr) or _crc8(hdr[:i]) != hdr[i]:
        return None
    return number + block if variable else number * fixed_block + block


def _flac_length(f: BinaryIO, size: int, path: Path, announced: int) -> None:
    """Refuse a FLAC file whose STREAMINFO announces fewer samples than its last frame ends at:
    libsndfile stops at the announced count and drops the rest without a word. The last frame
    header is found from the end (a few kB back), and must match the first frame's rate,
    channel and sample-size codes, so that a look-alike inside compressed data is not taken."""
    f.seek(0)
    head = f.read(42)
    if len(head) < 42 or head[:4] != b"fLaC" or head[4] & 0x7F != 0:
        return
    fixed_block = int.from_bytes(head[10:12], "big")  # STREAMINFO max block size
    max_frame = int.from_bytes(head[15:18], "big")  # max frame size, 0 if unknown
    n = min(size, (max_frame + 64) if max_frame else 1 << 18)
    f.seek(size - n)
    tail = f.read(n)
    # the first frame: after the metadata blocks
    pos = 4
    for _ in range(1024):
        f.seek(pos)
        mh = f.read(4)
        if len(mh) < 4:
            return
        pos += 4 + int.from_bytes(mh[1:4], "big")
        if mh[0] & 0x80:
            break
    f.seek(pos)
    first = f.read(16)
    if _flac_frame_end(first, fixed_block) is None:
        return
    for sync in sorted({m for pat in (b"\xff\xf8", b"\xff\xf9") for m in _find_all(tail, pat)}, reverse=True):
        hdr = tail[sync : sync + 16]
        end = _flac_frame_end(hdr, fixed_block)
        if end is None or hdr[1] != first[1] or hdr[2] & 0x0F != first[2] & 0x0F:
            continue
        if hdr[3] & 0x0F != first[3] & 0x0F or _flac_channels(hdr[3] >> 4) != _flac_channels(first[3] >> 4):
            continue  # stereo frames pick left/side, mid/side... each on its own
        if end > announced:
            raise BadAudio(
                path, f"header announces {announced} frames, the data holds {end}", "length mismatch"
            )
        return


def _flac_channels(assignment: int) -> int:
    return assignment + 1 if assignment < 8 else 2


def _find_all(data: bytes, pat: bytes) -> list[int]:
    out, i = [], data.find(pat)
    while i >= 0:
        out.append(i)
        i = data.find(pat, i + 1)
    return out


def check_header(
    path: str | os.PathLike[str], max_seconds: float = CLIP_MAX_SECONDS, target_rate: int = SAMPLE_RATE
) -> AudioHeader:
    """Check a file before decoding anything: regular, non-empty, bounded size, a header that
    libsndfile opens and whose channels, rate and length are plausible and within bounds.

    Why first: a header that announces 10 hours (or a 10-hour file) must be refused before an
    array of its size exists. Raises BadAudio naming the file and what is wrong."""
    import soundfile as sf

    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise BadAudio(p, "file not found", "missing") from None
    except OSError as exc:
        raise BadAudio(p, f"cannot read: {exc.strerror}", "unreadable") from exc
    if not stat.S_ISREG(st.st_mode):
        raise BadAudio(p, "not a regular file", "unreadable")
    if st.st_size == 0:
        raise BadAudio(p, "file is empty (0 bytes)", "empty")
    max_bytes = int(2**20 + max_seconds * BYTES_PER_SECOND_CAP)
    if st.st_size > max_bytes:
        raise BadAudio(
            p,
            f"file is {st.st_size / 2**20:.0f} MB, more than {max_seconds:g} s of audio "
            f"can take (at most {max_bytes / 2**20:.0f} MB)",
            "too long",
        )
    try:
        with p.open("rb") as f:
            magic = f.read(4)
            if magic == b"RIFF":
                _wav_structure(f, st.st_size, p)
            elif magic == b"OggS":
                _ogg_complete(f, st.st_size, p)
    except OSError as exc:
        raise BadAudio(p, f"cannot read: {exc.strerror}", "unreadable") from exc
    try:
        info = sf.info(str(p))
    except Exception as exc:  # LibsndfileError, RuntimeError, TypeError, ValueError...
        raise BadAudio(p, f"not a readable audio file ({str(exc).strip()[:80]})", "unreadable") from exc
    sr, ch, frames = int(info.samplerate), int(info.channels), int(info.frames)
    if ch < 1:
        raise BadAudio(p, f"header announces {ch} channels", "bad header")
    if not MIN_RATE <= sr <= MAX_RATE:
        raise BadAudio(
            p, f"header announces a sample rate of {sr} Hz (expected {MIN_RATE}-{MAX_RATE})", "bad header"
        )
    g = gcd(sr, int(target_rate))
    if max(sr, int(target_rate)) // g > MAX_RATIO:
        raise BadAudio(
            p,
            f"sample rate {sr} Hz cannot be resampled to {target_rate} Hz "
            f"(ratio {target_rate // g}/{sr // g})",
            "bad header",
        )
    if frames <= 0:
        raise BadAudio(p, "audio has no samples", "empty")
    if frames >= 1 << 62:  # libsndfile's answer for a FLAC STREAMINFO total of 0 (unknown)
        raise BadAudio(p, "header does not announce a length (a streamed file); re-encode it", "bad header")
    limit = int(max_seconds * min(sr, FRAMES_PER_SECOND_CAP))
    if frames > limit:
        secs = frames / sr
        what = f"{secs / 3600:.1f} h" if secs >= 3600 else f"{secs:.1f} s"
        raise BadAudio(
            p,
            f"too long: header announces {what} at {sr} Hz, this reader takes at most {max_seconds:g} s",
            "too long",
        )
    if str(info.format) == "FLAC":
        try:
            with p.open("rb") as f:
                _flac_length(f, st.st_size, p, frames)
        except OSError as exc:
            raise BadAudio(p, f"cannot read: {exc.strerror}", "unreadable") from exc
    exact = str(info.format) in ("WAV", "WAVEX", "FLAC", "OGG", "AIFF", "W64", "RF64", "CAF")
    return AudioHeader(sr, ch, frames, str(info.format), str(info.subtype), exact)


def read_mono(
    path: str | os.PathLike[str],
    max_seconds: float = CLIP_MAX_SECONDS,
    target_rate: int = SAMPLE_RATE,
    head_seconds: float | None = None,
) -> tuple[np.ndarray, AudioHeader]:
    """(float32 mono at the file's rate, its header): the one verified, bounded decoder.

    Channels are averaged block by block (the same row means as over the whole array).
    `head_seconds`: a caller that uses only the start (the noise bank) reads at most that much
    of a longer file, which `max_seconds` then bounds instead of refusing. Raises BadAudio.
    """
    import soundfile as sf

    p = Path(path)
    h = check_header(p, max_seconds, target_rate)
    want = h.frames
    if head_seconds is not None:
        want = min(want, int(head_seconds * h.samplerate))
    out = np.empty(want, dtype=np.float32)
    block = max(1, BLOCK_SAMPLES // h.channels)
    got = 0
    try:
        with sf.SoundFile(str(p)) as f:
            buf = np.empty((min(block, want + 1), h.channels), dtype=np.float32)
            while got < want:
                d = f.read(
                    min(block, want - got), dtype="float32", always_2d=True, out=buf[: min(block, want - got)]
                )
                if len(d) == 0:
                    break
                if not np.isfinite(d).all():
                    raise BadAudio(p, "audio has NaN or infinite samples", "non-finite")
                out[got : got + len(d)] = d[:, 0] if h.channels == 1 else d.mean(axis=1)
                got += len(d)
            more = (
                len(f.read(1, dtype="float32", always_2d=True, out=buf[:1]))
                if h.exact and want == h.frames
                else 0
            )
    except BadAudio:
        raise
    except Exception as exc:  # LibsndfileError ("flac decoder lost sync"), RuntimeError, ValueError...
        raise BadAudio(p, f"corrupt audio data ({str(exc).strip()[:80]})", "unreadable") from exc
    if got < want and h.exact:
        raise BadAudio(p, f"truncated: header announces {h.frames} frames, {got} decode", "truncated")
    if got == 0:
        raise BadAudio(p, "audio has no samples", "empty")
    if more:
        raise BadAudio(p, f"header announces {h.frames} frames, the data holds more", "length mismatch")
    return out[:got], h


def load_audio(
    path: str | os.PathLike[str],
    sr: int = SAMPLE_RATE,
    quiet: bool = False,
    max_seconds: float = CLIP_MAX_SECONDS,
    head_seconds: float | None = None,
) -> np.ndarray:
    """Load a clip as float32 mono in [-1, 1] at `sr` Hz, through the verified reader.

    Raises TinyKWSError (BadAudio) for an empty, corrupt, truncated or non-finite file, or one
    longer than `max_seconds` (see `read_mono`, also for `head_seconds`).
    `quiet` suppresses the mixdown/resample notices (corpus readers know their format).
    """
    p = Path(path)
    x, h = read_mono(p, max_seconds=max_seconds, target_rate=sr, head_seconds=head_seconds)
    if h.channels > 1 and not quiet:
        notice(f"{p}: {h.channels} channels mixed down to mono")
    if h.samplerate != sr:
        if not quiet:
            notice(f"{p}: resampled {h.samplerate} Hz -> {sr} Hz")
        x = resample(x, h.samplerate, sr)
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
