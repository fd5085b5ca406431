"""`tinykws features`: int8 feature files in the EEMBC / MLPerf Tiny layout.

The layout is what MLPerf Tiny's runner and `tinykws bench` / `evaluate --inputs` load: one
raw int8 file per clip (frames x coefficients, 490 bytes for 49x10) and, when the classes are
known, `y_labels.csv` with rows `file,classes,label` (no header; classes = number of labels,
label = index). Labels come from each clip's folder name: a folder named like a label maps to
it, `_silence_` / `_background_noise_` to `_silence_`, any other word to `_unknown_` when that
label exists. The whole directory is built in a temporary sibling and renamed into place, so a
bad clip or a full disk leaves nothing behind.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
from pathlib import Path

import numpy as np

from tinykws.data.mlperf import MLPERF_LABELS
from tinykws.errors import TinyKWSError

AUDIO_EXTS = {".wav", ".flac", ".ogg", ".opus", ".mp3", ".aif", ".aiff"}
SILENCE_FOLDERS = ("_silence_", "_background_noise_")
LABEL_SETS = {"mlperf": MLPERF_LABELS}


def parse_labels(text: str | None) -> list[str] | None:
    """'l1,l2,...' or a named set ('mlperf': the reference model's 12 classes in its order)."""
    if text is None:
        return None
    if text in LABEL_SETS:
        return list(LABEL_SETS[text])
    labels = [s.strip() for s in text.split(",")]
    if not all(labels):
        raise TinyKWSError(f"--labels {text!r}: empty label name")
    if len(set(labels)) != len(labels):
        raise TinyKWSError(f"--labels {text!r}: a label is listed twice")
    return labels


def collect_clips(inputs: list[Path]) -> list[Path]:
    """Files as given; folders searched recursively for audio files (sorted)."""
    clips: list[Path] = []
    for p in inputs:
        p = Path(p)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_EXTS)
            if not found:
                raise TinyKWSError(f"{p}: folder holds no audio files ({', '.join(sorted(AUDIO_EXTS))})")
            clips.extend(found)
        elif p.is_file():
            clips.append(p)
        else:
            raise TinyKWSError(f"{p}: no such file or folder")
    if not clips:
        raise TinyKWSError("features: no clips given")
    return clips


def label_of(clip: Path, labels: list[str]) -> int:
    """Index of the clip's class from its folder name (see module docstring)."""
    word = clip.parent.name
    if word in labels:
        return labels.index(word)
    if word in SILENCE_FOLDERS:
        if "_silence_" in labels:
            return labels.index("_silence_")
        raise TinyKWSError(f"{clip}: silence clip but --labels has no _silence_")
    if "_unknown_" in labels:
        return labels.index("_unknown_")
    raise TinyKWSError(f"{clip}: folder '{word}' matches no label and --labels has no _unknown_")


def _safe(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip(".") or "clip"


def _is_previous_output(d: Path) -> bool:
    """True for an empty folder or one holding only .bin files and y_labels.csv."""
    return all(f.is_file() and (f.suffix == ".bin" or f.name == "y_labels.csv") for f in d.iterdir())


def write_feature_files(
    frontend: object,
    inputs: list[Path],
    out: Path,
    labels: list[str] | None = None,
    batch: int = 128,
) -> dict[str, object]:
    """Write `<label>_<stem>.bin` int8 features (and y_labels.csv when `labels`) into `out`.

    `out` must not exist, be empty, or hold a previous output of this command (.bin files and
    y_labels.csv only), which is then replaced whole. Returns a summary dict.
    """
    from tinykws.audio import fix_length, load_audio
    from tinykws.features import FrontEnd
    from tinykws.fsutil import atomic_dir
    from tinykws.progress import progress

    assert isinstance(frontend, FrontEnd)
    out = Path(out)
    if out.exists() and (not out.is_dir() or not _is_previous_output(out)):
        raise TinyKWSError(f"--out {out}: exists and holds other files; give a new or empty folder")
    clips = collect_clips(inputs)
    ys = [label_of(c, labels) for c in clips] if labels is not None else None
    names: list[str] = []
    used: set[str] = set()
    for i, c in enumerate(clips):
        prefix = labels[ys[i]] if labels is not None and ys is not None else c.parent.name
        base = f"{_safe(prefix)}_{_safe(c.stem)}" if prefix else _safe(c.stem)
        name, k = f"{base}.bin", 2
        while name in used:
            name, k = f"{base}-{k}.bin", k + 1
        used.add(name)
        names.append(name)
    counts: dict[str, int] = {}
    with atomic_dir(out) as tmp:
        chunks = [list(range(s, min(s + batch, len(clips)))) for s in range(0, len(clips), batch)]
        for chunk in progress(chunks, desc=f"features ({frontend.name})", total=len(chunks), unit="batch"):
            audio = np.stack([fix_length(load_audio(clips[i], sr=frontend.sample_rate)) for i in chunk])
            q = frontend.int8_features(audio)
            for i, qi in zip(chunk, q, strict=True):
                (tmp / names[i]).write_bytes(qi.tobytes())
        if labels is not None and ys is not None:
            rows = [f"{n},{len(labels)},{y}\n" for n, y in zip(names, ys, strict=True)]
            (tmp / "y_labels.csv").write_text("".join(rows))
            for y in ys:
                counts[labels[y]] = counts.get(labels[y], 0) + 1
    return {
        "out": str(out),
        "n": len(clips),
        "frontend": frontend.name,
        "bytes_per_clip": int(np.prod(frontend.shape)),
        "labels": labels,
        "per_label": counts,
    }


def frontend_from_arg(value: str) -> object:
    """A built-in name, or a model directory / tinykws.json whose front end to use."""
    import json

    from tinykws.features import FrontEnd, get_frontend

    p = Path(value)
    meta = p / "tinykws.json" if p.is_dir() else p
    if meta.is_file() and meta.suffix == ".json":
        try:
            d = json.loads(meta.read_text())["frontend"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise TinyKWSError(f"--frontend {value}: no front end in {meta} ({exc})") from exc
        return FrontEnd.from_dict(d)
    return get_frontend(value)


def load_eembc_inputs(folder: str | os.PathLike[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs in the EEMBC / MLPerf Tiny layout: y_labels.csv (`file,classes,label`) + .bin files."""
    folder = Path(folder)
    labels_csv = folder / "y_labels.csv"
    if not labels_csv.is_file():
        raise TinyKWSError(f"{folder}: no y_labels.csv (expected EEMBC layout: y_labels.csv + .bin)")
    xs, ys = [], []
    with labels_csv.open(newline="", encoding="utf-8") as f:
        for lineno, row in enumerate(csv.reader(f), 1):
            if not row or not row[0].strip() or row[0].strip().lower() in ("file", "filename"):
                continue
            if len(row) < 3:
                raise TinyKWSError(f"{labels_csv}:{lineno}: expected 'file,classes,label', got {row}")
            path = folder / row[0].strip()
            try:
                label = int(row[2])
            except ValueError as exc:
                raise TinyKWSError(f"{labels_csv}:{lineno}: label '{row[2].strip()}' not an integer") from exc
            if not path.is_file():
                raise TinyKWSError(f"{path}: listed in y_labels.csv but missing")
            data = np.fromfile(path, dtype=np.int8)
            if data.size != size:
                raise TinyKWSError(f"{path}: {data.size} bytes, the model input needs {size}")
            xs.append(data)
            ys.append(label)
    if not xs:
        raise TinyKWSError(f"{labels_csv}: lists no inputs")
    return np.stack(xs), np.array(ys)


def cli_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("clips", nargs="+", type=Path, metavar="CLIPS_OR_FOLDERS", help="audio files or folders")
    p.add_argument(
        "--frontend", default="mlperf", help="mlperf (default) | psf | a model directory (its front end)"
    )
    p.add_argument(
        "--labels",
        help="class names in model output order, l1,l2,...; 'mlperf' = the MLPerf Tiny order. "
        "With labels, y_labels.csv is written from the clips' folder names",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder (EEMBC/MLPerf Tiny layout)")
    p.add_argument(
        "--shards",
        type=int,
        help="instead: ingest corpus roots (MSWC layout, folder or synth corpora) into N shards per split "
        "of int8 features + labels and a manifest, for training at scale (docs/scale.md); resumable",
    )
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="with --shards: compute shards as Ray tasks; local | auto | HOST:PORT | ray://HOST:PORT",
    )


def cli_run(args: argparse.Namespace) -> int:
    fe = frontend_from_arg(args.frontend)
    if args.shards is not None:
        return _cli_run_shards(args, fe)
    if args.ray:
        raise TinyKWSError("--ray: only with --shards (the EEMBC files are written in this process)")
    summary = write_feature_files(fe, args.clips, args.out, parse_labels(args.labels))
    per = summary["per_label"]
    extra = f"; y_labels.csv: {', '.join(f'{k} {v}' for k, v in per.items())}" if per else ""  # type: ignore[union-attr]
    print(
        f"wrote {summary['n']} x {summary['bytes_per_clip']}-byte int8 files ({fe.name}) to {args.out}{extra}"
    )
    return 0


def _cli_run_shards(args: argparse.Namespace, fe: object) -> int:
    from tinykws.features.shards import write_shards

    if args.labels:
        raise TinyKWSError("--labels: not with --shards (shards keep every word; train picks the keywords)")
    m = write_shards(fe, args.clips, args.out, args.shards, args.ray)
    c, run = m["counts"], m["_run"]
    print(
        f"wrote {len(m['shards'])} shards ({run['computed']} computed, {run['reused']} kept) of "
        f"{c['records']} clips to {args.out}; skipped {c['skipped']} ({c['missing']} missing, "
        f"{c['corrupt']} corrupt); manifest {args.out}/manifest.json"
    )
    return 0
