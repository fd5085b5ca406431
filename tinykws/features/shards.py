"""Sharded int8 features of whole corpora, for training beyond one machine (docs/scale.md).

`tinykws features --shards N [--ray ADDRESS|local] --out DIR CORPUS...` reads corpus roots (MSWC
layout, folder corpora, `tinykws synth` output: tinykws.data.corpus.read_corpus), decodes and
resamples every clip, computes its int8 features, and writes per split N shard files plus
`manifest.json`.

Why this shape:
- **Shard of a clip = a pure function of its key.** A clip's key is `<root name>/<path under the
  root>`; its shard is `sha1(key) mod N`, and records inside a shard are sorted by key. So a
  shard's bytes depend on the corpus and N only: never on how many workers computed it, or in
  which order, and the single-process path writes the same bytes as a cluster.
- **A format tf.data streams natively.** A shard is a 64-byte header followed by fixed-size
  records (int32 little-endian vocabulary index, then frames x coeffs int8), which
  `tf.data.FixedLengthRecordDataset(header_bytes=64, record_bytes=4 + 490)` reads without any
  Python in the loop, and numpy reads with one `np.frombuffer`. Writing needs neither
  TensorFlow nor protobuf on the workers.
- **Resumable.** Each shard is written atomically and only then entered, with its SHA-256, into
  the manifest (itself written atomically after every shard). A rerun keeps the shards whose
  bytes match their recorded checksum and redoes the missing or mismatched ones; the finished
  manifest is the same whichever way it was reached.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from tinykws.errors import TinyKWSError

MAGIC = b"TKWSHRD1"
HEADER = struct.Struct("<8sIIIIQ16s16s")  # magic, version, record bytes, frames, coeffs, records, digest, 0
HEADER_BYTES = HEADER.size  # 64
VERSION = 1
MANIFEST = "manifest.json"
SUFFIX = ".tks"
FORMAT = "tinykws-shards"
SPLITS = ("train", "dev", "test")
FAULT_ENV = "TINYKWS_FAULT_INGEST_KILL_AFTER"  # tests: SIGKILL the driver after k new shards


def shard_of(key: str, n: int) -> int:
    """The shard of a clip key: sha1(key) mod n (stable on every machine, unlike hash())."""
    return int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") % n


def shard_name(split: str, index: int, n: int) -> str:
    return f"{split}-{index:05d}-of-{n:05d}{SUFFIX}"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- the plan


def plan_corpus(roots: list[Path]) -> dict[str, Any]:
    """The clip list of `roots` and everything derived from it alone: keys, vocabulary, fingerprint.

    Returns {"clips": [(key, path, split, vocab index)] sorted by key, "vocabulary": [[language,
    word]], "fingerprint", "roots", "kinds"}. Two roots whose names and files collide are refused,
    because their keys would collide.
    """
    from tinykws.data.corpus import read_corpus

    if not roots:
        raise TinyKWSError("features --shards: give at least one corpus root")
    rows: list[tuple[str, Path, str, str, str]] = []
    kinds = []
    for r in roots:
        root = Path(r)
        corpus = read_corpus(root)
        kinds.append(corpus.kind)
        for c in corpus.clips:
            try:
                rel = c.path.relative_to(root)
            except ValueError:
                rel = Path(c.path.name)
            rows.append((f"{root.resolve().name}/{rel.as_posix()}", c.path, c.split, c.language, c.word))
    rows.sort(key=lambda t: t[0])
    for a, b in zip(rows, rows[1:], strict=False):
        if a[0] == b[0]:
            raise TinyKWSError(f"features --shards: clip key {a[0]} appears twice (two roots of one name?)")
    vocab = sorted({(lang, word) for _, _, _, lang, word in rows})
    index = {v: i for i, v in enumerate(vocab)}
    h = hashlib.sha256()
    for key, _, split, lang, word in rows:
        h.update(f"{key}\t{split}\t{lang}\t{word}\n".encode())
    return {
        "clips": [(key, path, split, index[(lang, word)]) for key, path, split, lang, word in rows],
        "vocabulary": [list(v) for v in vocab],
        "fingerprint": h.hexdigest(),
        "roots": [str(Path(r).resolve()) for r in roots],
        "kinds": kinds,
    }


def shard_tasks(plan: dict[str, Any], n: int, fe_dict: dict[str, Any]) -> list[dict[str, Any]]:
    """One task per (split, shard index) that holds clips, in name order."""
    groups: dict[tuple[str, int], list[tuple[str, str, int]]] = {}
    for key, path, split, label in plan["clips"]:
        groups.setdefault((split, shard_of(key, n)), []).append((key, str(path), label))
    tasks = []
    for split in SPLITS:
        for i in range(n):
            clips = groups.get((split, i))
            if clips:
                tasks.append({"name": shard_name(split, i, n), "split": split, "index": i,
                              "clips": clips, "frontend": fe_dict})  # fmt: skip
    return tasks


# --------------------------------------------------------------------------- one shard


def make_shard(task: dict[str, Any]) -> dict[str, Any]:
    """Decode, resample and featurize one shard's clips (sorted by key): its bytes and counts.

    Runs as a Ray task or in-process; it depends on its argument only. A missing clip and a
    corrupt one (empty, not audio, NaN) are left out and counted, never fatal.
    """
    from tinykws.audio import fix_length, load_audio
    from tinykws.features.frontend import FrontEnd

    fe = FrontEnd.from_dict(task["frontend"])
    frames, coeffs = fe.shape
    audio, labels = [], []
    missing = corrupt = 0
    first_error = ""
    for key, path, label in task["clips"]:
        if not os.path.exists(path):
            missing += 1
            first_error = first_error or f"{key}: file not found"
            continue
        try:
            x = load_audio(path, sr=fe.sample_rate, quiet=True)
            if not np.all(np.isfinite(x)):
                raise TinyKWSError(f"{path}: audio has NaN or infinite samples")
        except TinyKWSError as exc:
            corrupt += 1
            first_error = first_error or f"{key}: {str(exc).split(': ', 1)[-1]}"
            continue
        audio.append(fix_length(x, fe.clip_samples))
        labels.append(label)
    n = len(labels)
    feats = np.zeros((n, frames, coeffs), np.int8)
    for s in range(0, n, 256):
        feats[s : s + 256] = fe.int8_features(np.stack(audio[s : s + 256]))
    rec = np.zeros(n, np.dtype([("label", "<i4"), ("x", np.int8, (frames * coeffs,))]))
    rec["label"] = labels
    rec["x"] = feats.reshape(n, -1)
    head = HEADER.pack(MAGIC, VERSION, rec.dtype.itemsize, frames, coeffs, n, fe.digest().encode(), b"")
    data = head + rec.tobytes()
    return {
        "data": data,
        "records": n,
        "missing": missing,
        "corrupt": corrupt,
        "first_error": first_error,
        "per_label": {str(k): v for k, v in sorted(Counter(labels).items())},
    }


def read_shard(path: Path, fe: Any | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(vocabulary indices [N] int32, features [N, frames, coeffs] int8) of one shard file."""
    data = Path(path).read_bytes()
    if len(data) < HEADER_BYTES:
        raise TinyKWSError(f"{path}: not a tinykws shard (shorter than its header)")
    magic, version, rb, frames, coeffs, n, digest, _ = HEADER.unpack_from(data)
    if (
        magic != MAGIC
        or version != VERSION
        or len(data) != HEADER_BYTES + n * rb
        or rb != 4 + frames * coeffs
    ):
        raise TinyKWSError(f"{path}: not a tinykws shard of format {VERSION}, or truncated")
    if fe is not None and digest.decode() != fe.digest():
        raise TinyKWSError(
            f"{path}: computed by another front end (digest {digest.decode()}, not {fe.digest()})"
        )
    dt = np.dtype([("label", "<i4"), ("x", np.int8, (frames * coeffs,))])
    rec = np.frombuffer(data, dt, count=n, offset=HEADER_BYTES)
    return rec["label"].astype(np.int32), rec["x"].reshape(n, frames, coeffs).copy()


# --------------------------------------------------------------------------- the whole run


def _manifest_head(plan: dict[str, Any], fe: Any, n: int) -> dict[str, Any]:
    frames, coeffs = fe.shape
    return {
        "format": FORMAT,
        "version": VERSION,
        "complete": False,
        "frontend": fe.to_dict(),
        "frontend_digest": fe.digest(),
        "corpus": {
            "roots": plan["roots"],
            "kinds": plan["kinds"],
            "fingerprint": plan["fingerprint"],
            "clips": len(plan["clips"]),
        },
        "vocabulary": plan["vocabulary"],
        "record": {
            "header_bytes": HEADER_BYTES,
            "record_bytes": 4 + frames * coeffs,
            "label": "int32 little-endian index into vocabulary",
            "features": [frames, coeffs],
            "dtype": "int8",
        },  # fmt: skip
        "shards_per_split": n,
        "shards": [],
    }


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """A shard folder's manifest, or a one-line error."""
    path = Path(folder) / MANIFEST
    try:
        m = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise TinyKWSError(
            f"{folder}: no {MANIFEST} (not a shard folder of `tinykws features --shards`)"
        ) from exc
    except (OSError, ValueError) as exc:
        raise TinyKWSError(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise TinyKWSError(f"{path}: not a tinykws shard manifest")
    if m.get("version") != VERSION:
        raise TinyKWSError(f"{path}: shard format {m.get('version')}, this tinykws reads {VERSION}")
    return m


def _prepare_out(out: Path, head: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Create or reuse `out`; the entries of a previous run of the same ingest, by file name."""
    if not out.exists():
        out.mkdir(parents=True)
        return {}
    if not out.is_dir():
        raise TinyKWSError(f"--out {out}: exists and is not a folder")
    for f in out.iterdir():  # temporaries of a write that was killed
        if f.name.startswith(".") and f.name.endswith(".tmp"):
            f.unlink(missing_ok=True)
    names = [f.name for f in out.iterdir()]
    if not names:
        return {}
    if MANIFEST not in names:
        raise TinyKWSError(f"--out {out}: holds other files; give a new or empty folder")
    old = read_manifest(out)
    for what, key in (("front end", "frontend_digest"), ("shard count", "shards_per_split")):
        if old.get(key) != head[key]:
            raise TinyKWSError(f"--out {out}: holds shards of another {what}; give a new folder")
    if old.get("corpus", {}).get("fingerprint") != head["corpus"]["fingerprint"]:
        raise TinyKWSError(f"--out {out}: holds shards of another corpus; give a new folder")
    return {s["file"]: s for s in old.get("shards", [])}


def write_shards(
    frontend: Any,
    roots: list[Path],
    out: Path,
    shards: int,
    ray_address: str | None = None,
    local_cpus: int | None = None,
) -> dict[str, Any]:
    """Ingest `roots` into `shards` shards per split under `out`; returns the manifest.

    `ray_address` None computes here, one shard after another; otherwise each shard is a Ray
    task (tinykws.cluster.connect) and the driver writes the returned bytes. Either way the
    files are the same. `local_cpus`: the CPUs of a `local` instance (default: all).
    """
    from tinykws.cluster import check_reachable, connect, import_ray, run_sharded
    from tinykws.fsutil import atomic_write_bytes, atomic_write_text

    if shards < 1:
        raise TinyKWSError(f"--shards: must be at least 1, got {shards}")
    if ray_address is not None:  # before anything is read or written
        import_ray()
        check_reachable(ray_address)
    out = Path(out)
    plan = plan_corpus([Path(r) for r in roots])
    head = _manifest_head(plan, frontend, shards)
    previous = _prepare_out(out, head)
    tasks = shard_tasks(plan, shards, frontend.to_dict())
    entries: dict[str, dict[str, Any]] = {}
    todo = []
    for t in tasks:  # keep what a previous run finished and whose bytes still match
        old = previous.get(t["name"])
        f = out / t["name"]
        if (
            old
            and old.get("clips") == len(t["clips"])
            and f.is_file()
            and sha256_file(f) == old.get("sha256")
        ):
            entries[t["name"]] = old
        else:
            todo.append(t)
    for f in out.glob(f"*{SUFFIX}"):  # files of shards this plan does not have
        if f.name not in {t["name"] for t in tasks}:
            f.unlink()
    kill_after = int(os.environ.get(FAULT_ENV, "0") or 0)
    new = [0]

    def commit() -> None:
        m = dict(head)
        m["shards"] = [entries[t["name"]] for t in tasks if t["name"] in entries]
        m["complete"] = len(entries) == len(tasks)
        tot = Counter()
        for e in m["shards"]:
            tot.update({k: e[k] for k in ("clips", "records", "missing", "corrupt")})
        m["counts"] = {"clips": tot["clips"], "records": tot["records"], "missing": tot["missing"],
                       "corrupt": tot["corrupt"], "skipped": tot["missing"] + tot["corrupt"]}  # fmt: skip
        atomic_write_text(out / MANIFEST, json.dumps(m, indent=1) + "\n")

    def done(task: dict[str, Any], res: dict[str, Any]) -> None:
        data = res.pop("data")
        atomic_write_bytes(out / task["name"], data)
        entries[task["name"]] = {"file": task["name"], "split": task["split"], "index": task["index"],
                                 "clips": len(task["clips"]), "bytes": len(data),
                                 "sha256": hashlib.sha256(data).hexdigest(), **res}  # fmt: skip
        commit()
        new[0] += 1
        if kill_after and new[0] >= kill_after:
            import signal

            os.kill(os.getpid(), signal.SIGKILL)

    commit()
    if todo:
        if ray_address is None:
            run_sharded(make_shard, todo, None, done)
        else:
            with connect(ray_address, num_cpus=local_cpus) as ray:
                run_sharded(make_shard, todo, ray, done)
    manifest = read_manifest(out)
    manifest["_run"] = {"computed": len(todo), "reused": len(tasks) - len(todo)}
    return manifest


# --------------------------------------------------------------------------- reading for training


def check_shards(folder: Path, manifest: dict[str, Any], fe: Any | None = None) -> None:
    """Refuse an unfinished ingest, a shard of another front end, and any shard whose bytes do not
    match the SHA-256 in the manifest (one line naming the file)."""
    if not manifest.get("complete"):
        raise TinyKWSError(
            f"{folder}: the ingest did not finish; rerun the same `tinykws features --shards` command"
        )
    if fe is not None and manifest.get("frontend_digest") != fe.digest():
        raise TinyKWSError(
            f"{folder}: shards of front end '{manifest['frontend'].get('name')}' "
            f"({manifest.get('frontend_digest')}), not this model's '{fe.name}' ({fe.digest()})"
        )
    for s in manifest["shards"]:
        f = Path(folder) / s["file"]
        if not f.is_file():
            raise TinyKWSError(f"{f}: listed in the manifest but missing; rerun the ingest to redo it")
        if sha256_file(f) != s["sha256"]:
            raise TinyKWSError(f"{f}: checksum does not match the manifest; rerun the ingest to redo it")


def label_counts(manifest: dict[str, Any], split: str) -> Counter[int]:
    """Records per vocabulary index in one split."""
    c: Counter[int] = Counter()
    for s in manifest["shards"]:
        if s["split"] == split:
            c.update({int(k): v for k, v in s["per_label"].items()})
    return c
