"""Corpus readers: the MSWC layout (real downloads and `tinykws synth` output) and word folders.

Why one reader for both MSWC and synthetic corpora: the synthesizer writes the MSWC layout, so
training code sees one kind of object (a list of Clips with word, split, speaker, language)
whatever the source. Splits are always by speaker, so no voice is in train and test at once.
Reading the audio is separate (`load_clips`), so selecting words and splits costs nothing.
"""

from __future__ import annotations

import csv
import os
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinykws.audio import CLIP_SAMPLES, SAMPLE_RATE, BadAudio, fix_length, read_mono, resample
from tinykws.errors import TinyKWSError
from tinykws.progress import notice, progress

SPLITS_HEADER = ["SET", "LINK", "WORD", "VALID", "SPEAKER", "GENDER"]
_SET_TO_SPLIT = {"TRAIN": "train", "DEV": "dev", "VALIDATION": "dev", "TEST": "test"}
AUDIO_EXTENSIONS = (".wav", ".flac", ".opus", ".ogg", ".mp3")
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class Clip:
    """One utterance: where it is, which word, which split, who said it, in which language."""

    path: Path
    word: str
    split: str  # "train" | "dev" | "test"
    speaker: str
    language: str


@dataclass
class Corpus:
    """A selection of clips from one corpus root. `kind` is "mswc" or "folder"."""

    root: Path
    kind: str
    clips: list[Clip] = field(default_factory=list)

    def words(self) -> list[str]:
        """Distinct words, sorted (so label order never depends on file-system order)."""
        return sorted({c.word for c in self.clips})

    def languages(self) -> list[str]:
        return sorted({c.language for c in self.clips})

    def by_split(self, split: str) -> list[Clip]:
        if split not in SPLITS:
            raise TinyKWSError(f"split: must be one of {', '.join(SPLITS)}, got '{split}'")
        return [c for c in self.clips if c.split == split]

    def by_word(self, word: str) -> list[Clip]:
        return [c for c in self.clips if c.word == word]

    def summary(self) -> dict:
        """Counts for a model's training-data summary (tinykws.json) and for reports."""
        return {
            "root": str(self.root),
            "kind": self.kind,
            "languages": self.languages(),
            "clips": len(self.clips),
            "speakers": len({c.speaker for c in self.clips}),
            "per_split": {s: sum(1 for c in self.clips if c.split == s) for s in SPLITS},
            "per_word": dict(sorted(Counter(c.word for c in self.clips).items())),
        }


# --------------------------------------------------------------------------- layout detection


def _mswc_language_dirs(root: Path) -> dict[str, Path]:
    """Language -> directory holding `<lang>_splits.csv`. `root` may also be one language dir."""
    if (root / f"{root.name}_splits.csv").is_file():
        return {root.name: root}
    found = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if (d / f"{d.name}_splits.csv").is_file():
            found[d.name] = d
    return found


def _describe(root: Path, languages: list[str] | None, words: list[str] | None) -> str:
    parts = [f"root {root}"]
    if languages:
        parts.append(f"languages {','.join(languages)}")
    if words:
        parts.append(f"words {','.join(words)}")
    return "; ".join(parts)


def read_corpus(
    root: str | os.PathLike[str],
    languages: list[str] | None = None,
    words: list[str] | None = None,
    min_clips: int = 1,
) -> Corpus:
    """Read a corpus index (no audio): MSWC layout if `<root>/<lang>/<lang>_splits.csv` exists,
    else a folder corpus `<root>/<word>/*.wav|flac|...`.

    languages: MSWC languages to keep (default: all found); ignored for folder corpora, which
    have no language. words: words to keep; each must be present. min_clips: drop words with
    fewer clips in the selection (a requested word that falls below it is an error).
    """
    root = Path(root)
    if not root.is_dir():
        raise TinyKWSError(
            f"{root}: corpus not found (looked for {root}/<lang>/<lang>_splits.csv or {root}/<word>/*.wav)"
        )
    langs = list(dict.fromkeys(languages)) if languages else None
    wanted = list(dict.fromkeys(words)) if words else None
    lang_dirs = _mswc_language_dirs(root)
    if lang_dirs:
        kind = "mswc"
        if langs:
            missing = [lang for lang in langs if lang not in lang_dirs]
            if missing:
                raise TinyKWSError(
                    f"{root}: language {', '.join(missing)} not in this corpus "
                    f"(looked for {root}/<lang>/<lang>_splits.csv; it has {', '.join(lang_dirs) or 'none'})"
                )
            lang_dirs = {lang: lang_dirs[lang] for lang in langs}
        clips = []
        for lang, d in lang_dirs.items():
            clips.extend(_read_mswc_language(lang, d, set(wanted) if wanted else None))
    else:
        kind = "folder"
        clips = _read_folder_corpus(root, set(wanted) if wanted else None)
        if not clips and not wanted:
            raise TinyKWSError(
                f"{root}: no corpus here (looked for {root}/<lang>/<lang>_splits.csv "
                f"and for audio files in {root}/<word>/)"
            )

    if wanted:
        have = {c.word for c in clips}
        absent = [w for w in wanted if w not in have]
        if absent:
            all_words = sorted(have | _all_words(root, kind, lang_dirs))
            shown = ", ".join(all_words[:30]) + (" ..." if len(all_words) > 30 else "")
            raise TinyKWSError(
                f"{root}: word {', '.join(repr(w) for w in absent)} not in the corpus "
                f"({_describe(root, langs, None)}; it has {len(all_words)} words: {shown or 'none'})"
            )
    if min_clips > 1:
        counts = Counter(c.word for c in clips)
        few = sorted(w for w, n in counts.items() if n < min_clips)
        if wanted:
            bad = [w for w in wanted if w in few]
            if bad:
                raise TinyKWSError(
                    f"{root}: word {', '.join(repr(w) for w in bad)} has fewer than {min_clips} clips "
                    f"({', '.join(f'{w}: {counts[w]}' for w in bad)})"
                )
        clips = [c for c in clips if c.word not in few]
    if not clips:
        raise TinyKWSError(
            f"{root}: empty selection, no clips for {_describe(root, langs, wanted)}"
            + (f" with at least {min_clips} clips per word" if min_clips > 1 else "")
        )
    return Corpus(root=root, kind=kind, clips=clips)


def _all_words(root: Path, kind: str, lang_dirs: dict[str, Path]) -> set[str]:
    if kind == "folder":
        return {c.word for c in _read_folder_corpus(root, None)}
    out: set[str] = set()
    for lang, d in lang_dirs.items():
        out |= {c.word for c in _read_mswc_language(lang, d, None)}
    return out


def _read_mswc_language(lang: str, d: Path, words: set[str] | None) -> list[Clip]:
    csv_path = d / f"{d.name}_splits.csv"
    clips_dir = d / "clips"
    out = []
    try:
        with open(csv_path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None or [h.strip() for h in header] != SPLITS_HEADER:
                raise TinyKWSError(
                    f"{csv_path}: header must be {','.join(SPLITS_HEADER)}, found {','.join(header or [])}"
                )
            for lineno, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != 6:
                    raise TinyKWSError(f"{csv_path}:{lineno}: expected 6 fields, found {len(row)}")
                s, link, word, valid, speaker, _gender = row
                split = _SET_TO_SPLIT.get(s.strip().upper())
                if split is None:
                    raise TinyKWSError(f"{csv_path}:{lineno}: SET must be TRAIN, DEV or TEST, found '{s}'")
                if valid.strip().lower() in ("false", "0", "no"):
                    continue
                if words is not None and word not in words:
                    continue
                out.append(Clip(clips_dir / link, word, split, speaker, lang))
    except UnicodeDecodeError as exc:
        raise TinyKWSError(f"{csv_path}: not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise TinyKWSError(f"{csv_path}: cannot read: {exc.strerror}") from exc
    return out


def speaker_of(stem: str) -> str:
    """Speaker id from a file stem: before '_nohash_' (Speech Commands; a `<word>_` prefix, as
    in folders of mixed unknown words, is dropped), else before the first '_' (e.g. Arabic
    Speech Commands `<speaker>_NO_<n>`), else the whole stem."""
    if "_nohash_" in stem:
        return stem.split("_nohash_", 1)[0].rsplit("_", 1)[-1]
    if "_" in stem:
        return stem.split("_", 1)[0]
    return stem


def split_of_speaker(speaker: str) -> str:
    """Deterministic ~80/10/10 split from a stable hash of the speaker id (CRC-32, not Python's
    salted hash), so a speaker's clips all land in one split, on every machine and run."""
    b = zlib.crc32(speaker.encode("utf-8")) % 100
    return "train" if b < 80 else "dev" if b < 90 else "test"


def _read_list(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    return {ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()}


def _read_folder_corpus(root: Path, words: set[str] | None) -> list[Clip]:
    """`<root>/<word>/*.wav` etc. Speech Commands' validation_list.txt / testing_list.txt, when
    present at the root, decide the split (they are by speaker too); otherwise the speaker hash."""
    dev_list = _read_list(root / "validation_list.txt")
    test_list = _read_list(root / "testing_list.txt")
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if words is not None and d.name not in words:
            continue
        for f in sorted(d.iterdir()):
            if f.suffix.lower() not in AUDIO_EXTENSIONS or f.name.startswith(".") or not f.is_file():
                continue
            rel = f"{d.name}/{f.name}"
            spk = speaker_of(f.stem)
            if dev_list or test_list:
                split = "dev" if rel in dev_list else "test" if rel in test_list else "train"
            else:
                split = split_of_speaker(spk)
            out.append(Clip(f, d.name, split, spk, ""))
    return out


# --------------------------------------------------------------------------- audio


def _read_clip(path: Path) -> tuple[np.ndarray | None, str, int, int, str]:
    """(audio at 16 kHz, error message or '', file rate, channels, refusal kind or ''). Never
    raises: the verified reader (`audio.read_mono`, 30 s bound) refuses hostile files."""
    try:
        x, h = read_mono(path)
    except BadAudio as exc:
        return None, exc.why, 0, 0, exc.reason
    sr = h.samplerate
    if sr != SAMPLE_RATE:
        x = resample(x, sr, SAMPLE_RATE)
    return fix_length(np.clip(x, -1.0, 1.0), CLIP_SAMPLES).astype(np.float32), "", int(sr), h.channels, ""


def load_clips(clips: list[Clip], jobs: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Read clips as float32 [N, 16000] (16 kHz mono, padded/cropped to 1 s).

    Returns (audio of the readable clips, indices into `clips` of those rows, skipped count).
    A corrupt, truncated, empty, missing, non-finite or over-long (> 30 s) clip is refused by
    the verified reader (`audio.read_mono`), skipped, counted and reported in one notice (counts
    per kind, the first file and why) rather than stopping a run over thousands of files.
    Other sample rates are resampled and stereo is mixed down, summarized in one notice each.
    Reading runs in threads: libsndfile decoding releases the GIL, and threads are safe when
    TensorFlow is already loaded (fork is not).
    """
    n = len(clips)
    audio = np.zeros((n, CLIP_SAMPLES), dtype=np.float32)
    ok = np.zeros(n, dtype=bool)
    failures: list[tuple[Path, str]] = []
    kinds: Counter[str] = Counter()
    rates: Counter[int] = Counter()
    multi = 0
    jobs = max(1, jobs or min(8, (os.cpu_count() or 1) * 2))

    def work(i: int):
        return i, _read_clip(clips[i].path)

    with ThreadPoolExecutor(max_workers=jobs) as ex:
        results = ex.map(work, range(n), chunksize=1) if n else iter(())
        for i, (x, err, sr, ch, kind) in progress(results, desc="load", total=n, unit="clip"):
            if x is None:
                failures.append((clips[i].path, err))
                kinds[kind] += 1
                continue
            audio[i] = x
            ok[i] = True
            if sr != SAMPLE_RATE:
                rates[sr] += 1
            if ch > 1:
                multi += 1
    for sr, k in sorted(rates.items()):
        notice(f"resampled {k} clip{'s' if k > 1 else ''} from {sr} Hz to {SAMPLE_RATE} Hz")
    if multi:
        notice(f"mixed down {multi} multi-channel clip{'s' if multi > 1 else ''} to mono")
    if failures:
        p, why = failures[0]
        per = ", ".join(f"{k} {kind}" for kind, k in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))
        notice(
            f"skipped {len(failures)} unreadable clip{'s' if len(failures) > 1 else ''} of {n}: {per} "
            f"(first: {p}: {why})"
        )
    idx = np.nonzero(ok)[0]
    return audio[idx], idx.astype(np.int64), len(failures)
