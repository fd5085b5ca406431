"""Which frozen embedding serves real speech best? The real-speech few-shot protocol, side by side.

Since stop 19: any number of real-speech folders (realdev/ar, realtune's MSWC language folders,
realtrain with --split TEST), named embedding arms (NAME=DIR), the teacher arm (the host-only
ceiling, through its cache), real-speech streams scored by the sweep and by MLPerf Tiny's
streaming-wakeword rules, and int8 scoring of the first keywords. The built-in arms:

Why: tinykws's embedding learned from synthetic voices only, and real Arabic is where few-shot
falls short (docs/fewshot.md). This runs `fewshot-eval`'s real-speech protocol (5 shots of one
speaker, test on the others, the other words as unknown; the same head recipe) on three frozen
embeddings in one run, so that the comparison is paired over the same keywords, shots and bank:

- ``tinykws``: the shipped `models/embed-ml` (synthetic speech, 30 languages, 600 words);
- ``mlperf-ref``: the MLPerf Tiny reference DS-CNN from ../shared/peers (real speech from Speech
  Commands, English, 12 classes), its 64-value average-pool output read from the int8 graph;
- ``random``: tinykws's architecture with untrained weights, the floor of what a head gets from
  the architecture alone.

A measurement only: nothing here is trained on or tuned to the real recordings.

    python benchmarks/bench_embedding_probe.py --realdev ../shared/realdev/ar \\
        --out benchmarks/results/embedding_probe.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from tinykws.errors import TinyKWSError
from tinykws.features import get_frontend
from tinykws.fsutil import atomic_write_text
from tinykws.progress import progress


class TFLiteEmbedder:
    """The input to a classifier's last FULLY_CONNECTED op, dequantized: a peer model as embedding.

    The interpreter keeps every tensor (and runs without delegates, which would hide them), so
    the embedding is the int8 graph's own intermediate, not a float re-creation of it.
    """

    def __init__(self, path: Path) -> None:
        import tensorflow as tf

        self.it = tf.lite.Interpreter(
            str(path),
            experimental_preserve_all_tensors=True,
            experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
        self.it.allocate_tensors()
        fcs = [op for op in self.it._get_ops_details() if op["op_name"] == "FULLY_CONNECTED"]
        if not fcs:
            raise TinyKWSError(f"{path}: no FULLY_CONNECTED op, so no embedding to read")
        self.emb_index = int(fcs[-1]["inputs"][0])
        det = {t["index"]: t for t in self.it.get_tensor_details()}[self.emb_index]
        self.emb_scale, self.emb_zp = det["quantization"]
        self.width = int(np.prod(det["shape"]))
        inp = self.it.get_input_details()[0]
        self.in_index, self.in_shape = inp["index"], tuple(inp["shape"])
        self.in_scale, self.in_zp = inp["quantization"]
        self.fe = get_frontend("mlperf")
        if (round(self.fe.input_scale, 6), self.fe.input_zero_point) != (round(self.in_scale, 6), self.in_zp):
            raise TinyKWSError(f"{path}: input quantization differs from the mlperf front end's")

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        q = self.fe.int8_features(audio)
        out = np.empty((len(q), self.width), np.float32)
        for i, x in enumerate(q):
            self.it.set_tensor(self.in_index, x.reshape(self.in_shape).astype(np.int8))
            self.it.invoke()
            v = self.it.get_tensor(self.emb_index).reshape(-1).astype(np.float32)
            out[i] = (v - self.emb_zp) * self.emb_scale
        return out


def random_embedder(embedding: Path, seed: int) -> object:
    """tinykws's embedding architecture with freshly initialised weights (seeded)."""
    import tensorflow as tf

    from tinykws.training.fewshot import Embedder
    from tinykws.training.pretrain import load_embedding

    classifier, meta = load_embedding(embedding)
    tf.keras.utils.set_random_seed(seed)
    fresh = tf.keras.models.clone_model(classifier)
    return Embedder(fresh, get_frontend("mlperf"), meta)


def _non_default(p: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """The options given that differ from their defaults, as typed: run with the defaults, the
    record's command reads the same on every machine."""
    defaults = vars(p.parse_args([]))

    def shown(v: object) -> str:
        return " ".join(map(str, v)) if isinstance(v, list) else str(v)

    return "".join(f" --{k.replace('_', '-')} {shown(v)}" for k, v in vars(args).items() if v != defaults[k])


TRAINED = {
    "tinykws": "synthetic speech, 30 languages, 600 words",
    "mlperf-ref": "real speech (Speech Commands), English, 12 classes",
    "random": "nothing (untrained weights)",
    "teacher": "real speech (MSWC), EfficientWord-Net ResNet-50 ArcFace, host only",
}


def _parse_arms(spec: list[str]) -> list[tuple[str, str | None]]:
    """`name` (a built-in arm) or `name=PATH` (an embedding directory under that name)."""
    out = []
    for a in spec:
        name, _, path = a.partition("=")
        if not path and name not in TRAINED:
            raise SystemExit(f"--arms: unknown arm '{name}' (built-in: {', '.join(TRAINED)}; or NAME=DIR)")
        out.append((name, path or None))
    return out


def _stream_cell(r: dict[str, object]) -> str:
    st = r.get("stream")
    if not st:
        return "-"

    def frr(row: object) -> str:
        return f"{row['frr']:.2f}" if row else "n/a"  # type: ignore[index]

    return f"{frr(st['frr_at_1_fa_per_hour'])} / {frr(st['sww_frr_at_1_fa_per_hour'])}"  # type: ignore[index]


def main(argv: list[str] | None = None) -> int:
    from tinykws.demo import shared_dir
    from tinykws.training.fewshot import DEFAULT_EMBEDDING
    from tinykws.training.fewshot_eval import (
        eval_noise,
        load_embedder,
        paired_difference,
        real_language,
        realdev_eval,
    )

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--realdev", type=Path, nargs="+", default=[shared_dir() / "realdev" / "ar"],
                   help="real-speech folders: realdev/ar, or MSWC language folders such as realtune/lt")
    p.add_argument("--embedding", type=Path, default=DEFAULT_EMBEDDING)
    p.add_argument("--arms", nargs="+", default=["tinykws", "mlperf-ref", "random"],
                   help="built-in arms (tinykws, mlperf-ref, random, teacher) or NAME=EMBEDDING_DIR")
    p.add_argument(
        "--reference", type=Path, default=shared_dir() / "peers" / "mlperf-tiny-kws" / "kws_ref_model.tflite"
    )
    p.add_argument("--teacher-cache", type=Path, default=None, help="default: ~/.cache/tinykws/teacher")
    p.add_argument("--stream-words", type=int, default=0,
                   help="per keyword, a real-speech stream with this many other words (0: no streams)")
    p.add_argument("--stream-arms", nargs="*", default=None,
                   help="arms that get the streams (default: all; the teacher's cost 13-25 ms a window)")
    p.add_argument("--split", default=None,
                   help="MSWC folders: keep one split (TEST: realtrain speakers no embedding heard)")
    p.add_argument("--int8-keywords", type=int, default=0,
                   help="the first N keywords of each folder also scored int8 (tinykws embeddings)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/embedding_probe.md"))
    args = p.parse_args(argv)
    for what, path in [("--realdev", r) for r in args.realdev] + [("--reference", args.reference)]:
        if not path.exists():
            raise SystemExit(f"{what}: {path} not found")
    arms = _parse_arms(args.arms)
    noise = eval_noise(args.seed)  # fewshot-eval's noise for the same seed

    def make(name: str, path: str | None) -> object:
        if path:
            return load_embedder(path)
        if name == "tinykws":
            return load_embedder(args.embedding)
        if name == "mlperf-ref":
            return TFLiteEmbedder(args.reference)
        if name == "teacher":
            from tinykws.training.teacher import TeacherEmbedder

            return TeacherEmbedder(cache=args.teacher_cache)
        return random_embedder(args.embedding, args.seed)

    trained = dict(TRAINED)
    for name, path in arms:
        if path:
            meta = json.loads((Path(path) / "tinykws.json").read_text())
            t = meta.get("teacher", {}).get("name")
            trained[name] = f"{path}" + (f" (distilled from {t})" if t else "")
    base = arms[0][0]
    lines = [
        "# Frozen embeddings on real speech: the real-speech few-shot protocol (measured)",
        "",
        f"Command: `python benchmarks/bench_embedding_probe.py{_non_default(p, args)}` "
        "(from the repository root, ../shared beside it).",
        "Per keyword, 5 shots of one speaker (where no speaker has 5 takes: one take of each of 5 "
        "speakers), test on the other speakers' clips with the other words as unknown; the head recipe of "
        "`tinykws fewshot` (defaults), float. Same keywords, shots, bank and noise for every embedding, so "
        f"the differences are paired (against `{base}`, the first arm).",
    ]
    res: dict[str, dict[str, object]] = {}
    for root in args.realdev:
        lang = real_language(root)
        res[str(root)] = {}
        width = {}
        for name, path in progress(arms, f"embeddings on {root.name}", len(arms)):
            embedder = make(name, path)
            width[name] = int(embedder(np.zeros((1, 16000), np.float32)).shape[1])
            res[str(root)][name] = realdev_eval(
                embedder, root, noise, args.seed, 5, 40, language=lang,
                stream_words=args.stream_words if args.stream_arms is None or name in args.stream_arms else 0,
                split=args.split, int8_keywords=args.int8_keywords,
            )  # fmt: skip
        r0 = res[str(root)]
        first = r0[base]
        lines += [
            "",
            f"## {root} ({lang}): {first['clips']} clips of {len(first['speakers'])} speakers, "
            f"{len(first['keywords'])} keywords",
            "",
            "| embedding | trained on | width | F1, real shots | precision / recall | F1, tts shots | "
            f"paired vs {base} (better / worse) | stream FRR at 1 FA/h: sweep / MLPerf SWW rules |",
            "|---|---|---|---|---|---|---|---|",
        ]
        f1 = {n: {k["keyword"]: k["f1_clips"] for k in r["keywords"]} for n, r in r0.items()}
        for name, r in r0.items():
            d = paired_difference(f1[base], f1[name]) if name != base else None
            pr = r["mean_precision_recall_clips"]
            diff = f"{d['mean']:+.3f} ± {d['se']:.3f} ({d['better']} / {d['worse']})" if d else "-"
            tts = f"{r['mean_f1_tts']:.3f}" if r["mean_f1_tts"] is not None else "-"
            lines.append(
                f"| {name} | {trained[name]} | {width[name]} | "
                f"{r['mean_f1_clips']:.3f} | {pr[0]:.3f} / {pr[1]:.3f} | {tts} | {diff} | {_stream_cell(r)} |"
            )
        for name, r in r0.items():
            q = r.get("int8")
            if q:
                lines.append(
                    f"\n`{name}` int8 (tflite_micro) on the first {q['keywords']} keywords: F1 "
                    f"{q['mean_f1_int8']:.3f} against {q['mean_f1_float_same']:.3f} float."
                )
        if args.stream_words and "stream" in first:
            st = first["stream"]
            hours = f"{st['hours']:.2f}"
            lines.append(f"\nStreams: {st['keywords']} keyword occurrences in {hours} h of real speech.")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, "\n".join(lines) + "\n")
    atomic_write_text(args.out.with_suffix(".json"), json.dumps(res, indent=1, ensure_ascii=False))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
