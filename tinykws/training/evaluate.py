"""Accuracy of a keyword model, float and int8 side by side.

The int8 model runs through the `tflite_micro` interpreter, because that is what the MCU
computes; the float model (where a model directory has one) sees the same int8 features,
dequantized, so the two columns differ only by quantization of the network itself.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from tinykws.errors import TinyKWSError

SILENCE_FOLDERS = {"_silence_", "_background_noise_", "silence"}


def classification_metrics(labels: list[str], y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Top-1, per-class precision/recall/F1/support and the confusion matrix (rows = truth)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    k = list(range(len(labels)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=k, zero_division=0)
    return {
        "top1": float(np.mean(y_true == y_pred)) if len(y_true) else 0.0,
        "n": int(len(y_true)),
        "per_class": {
            lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, lab in enumerate(labels)
        },
        "confusion": confusion_matrix(y_true, y_pred, labels=k).tolist(),
    }


def evaluate_features(
    labels: list[str],
    q_features: np.ndarray,
    y_true: np.ndarray,
    tflite: bytes | None,
    keras_model: Any | None = None,
    fe: Any | None = None,
    input_quant: tuple[float, int] | None = None,
) -> dict[str, Any]:
    """Score int8 features with the int8 model (tflite_micro) and, if given, the float model."""
    from tinykws.models.tflm import TFLMRunner
    from tinykws.progress import progress

    out: dict[str, Any] = {}
    if tflite is not None:
        runner = TFLMRunner(tflite)
        n_out = int(np.prod(runner.output_details["shape"]))
        if n_out != len(labels):
            raise TinyKWSError(f"--labels: {len(labels)} labels but the model has {n_out} outputs")
        preds = np.array(
            [
                int(np.argmax(runner.invoke(x)))
                for x in progress(q_features, "int8 (tflite_micro)", len(q_features))
            ],
            np.int64,
        )
        out["int8"] = classification_metrics(labels, y_true, preds)
    if keras_model is not None:
        scale, zp = input_quant or (fe.input_scale, fe.input_zero_point)
        xf = (q_features.astype(np.float32) - zp) * scale
        probs = keras_model.predict(xf[..., None], batch_size=256, verbose=0)
        out["float"] = classification_metrics(labels, y_true, probs.argmax(axis=1))
    return out


def write_confusion_png(path: Path, labels: list[str], metrics: dict[str, Any]) -> None:
    """One heat map per available model (float, int8), side by side, rows normalized."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = [k for k in ("float", "int8") if metrics.get(k)]
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.5 * len(kinds), 5), squeeze=False)
    for ax, kind in zip(axes[0], kinds, strict=True):
        cm = np.array(metrics[kind]["confusion"], dtype=float)
        norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{kind}: top-1 {metrics[kind]['top1']:.3f} (n={metrics[kind]['n']})")
        for i in range(len(labels)):
            for j in range(len(labels)):
                if cm[i, j]:
                    ax.text(
                        j,
                        i,
                        int(cm[i, j]),
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="white" if norm[i, j] > 0.5 else "black",
                    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def map_label(word: str, labels: list[str]) -> int:
    """Folder/word name -> class index: keywords by name, silence folders, else _unknown_."""
    if word in labels:
        return labels.index(word)
    if word in SILENCE_FOLDERS and "_silence_" in labels:
        return labels.index("_silence_")
    if "_unknown_" in labels:
        return labels.index("_unknown_")
    raise TinyKWSError(f"--data: clips of '{word}' match no label and the model has no _unknown_ class")


def _load_model(model: Path, labels: list[str] | None, frontend: str | None) -> dict[str, Any]:
    """A model directory or a bare .tflite (+ --labels) -> tflite bytes, keras model, labels, fe."""
    from tinykws.features import FrontEnd, get_frontend
    from tinykws.models.modelfile import verified_bytes

    if model.is_dir():
        from tinykws.models.modeldir import read_meta

        meta = read_meta(model)
        keras_model = None
        if (model / "model.keras").exists():
            import tensorflow as tf

            keras_model = tf.keras.models.load_model(model / "model.keras")
        fe = get_frontend(frontend) if frontend else FrontEnd.from_dict(meta["frontend"])
        tfl = model / "model_int8.tflite"
        return {
            "tflite": verified_bytes(tfl) if tfl.exists() else None,
            "keras": keras_model,
            "labels": labels or meta["labels"],
            "fe": fe,
        }
    if not model.exists():
        raise TinyKWSError(f"{model}: model not found")
    if model.suffix != ".tflite":
        raise TinyKWSError(f"{model}: expected a model directory or a .tflite file")
    if not labels:
        raise TinyKWSError(f"--labels: required with a bare .tflite ({model})")
    return {
        "tflite": verified_bytes(model),
        "keras": None,
        "labels": labels,
        "fe": get_frontend(frontend or "mlperf"),
    }


def evaluate(
    model: Path,
    data: Path | None = None,
    inputs: Path | None = None,
    labels: list[str] | None = None,
    frontend: str | None = None,
    split: str | None = None,
    plot: Path | None = None,
    json_path: Path | None = None,
) -> dict[str, Any]:
    """Evaluate on a corpus (--data) or on EEMBC int8 inputs (--inputs); return the report dict."""
    from tinykws.fsutil import atomic_write_text

    if (data is None) == (inputs is None):
        raise TinyKWSError("evaluate: give exactly one of --data or --inputs")
    m = _load_model(model, labels, frontend)
    labels_ = m["labels"]
    fe = m["fe"]
    if inputs is not None:
        from tinykws.models.tflm import TFLMRunner

        if m["tflite"] is None:
            raise TinyKWSError(f"{model}: has no model_int8.tflite to run on int8 inputs")
        scale, zp = TFLMRunner(m["tflite"]).input_quant
        n_feat = int(np.prod(fe.shape))
        from tinykws.features.files import load_eembc_inputs

        q, y = load_eembc_inputs(inputs, n_feat)
        result = evaluate_features(labels_, q, y, m["tflite"], m["keras"], fe, (scale, zp))
        source = str(inputs)
    else:
        from tinykws.data.corpus import load_clips, read_corpus

        corpus = read_corpus(data)
        split_ = split or ("test" if corpus.kind == "mswc" else "all")
        clips = corpus.clips if split_ == "all" else corpus.by_split(split_)
        if not clips:
            raise TinyKWSError(f"--data: no clips in split '{split_}' of {data}")
        audio, loaded, skipped = load_clips(clips)
        y = np.array([map_label(clips[i].word, labels_) for i in loaded], np.int64)
        q = fe.int8_features(audio)
        result = evaluate_features(labels_, q, y, m["tflite"], m["keras"], fe)
        result["skipped_clips"] = int(skipped)
        source = f"{data} ({split_})"
    report: dict[str, Any] = dict(result.get("int8") or result["float"])
    if "float" in result and "int8" in result:
        report["float"] = result["float"]
    report["labels"] = labels_
    report["source"] = source
    if plot is not None:
        write_confusion_png(plot, labels_, result)
    if json_path is not None:
        atomic_write_text(json_path, json.dumps(report, indent=2))
    return report


def cli_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", type=Path, help="model directory, or a bare .tflite with --labels")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="MSWC or folder corpus")
    src.add_argument("--inputs", type=Path, help="EEMBC layout: y_labels.csv + int8 .bin files")
    p.add_argument("--labels", help="comma-separated labels in output order (bare .tflite)")
    p.add_argument("--frontend", help="front end for --data with a bare .tflite (default mlperf)")
    p.add_argument(
        "--split", choices=["train", "dev", "test", "all"], help="default: test (MSWC), all (folders)"
    )
    p.add_argument("--plot", type=Path, help="confusion-matrix PNG")
    p.add_argument("--json", type=Path, dest="json_path", help="write the report as JSON")


def cli_run(args: argparse.Namespace) -> int:
    labels = [s.strip() for s in args.labels.split(",")] if args.labels else None
    rep = evaluate(
        args.model, args.data, args.inputs, labels, args.frontend, args.split, args.plot, args.json_path
    )
    head = f"{'label':>14} {'prec':>6} {'recall':>6} {'f1':>6} {'n':>5}"
    print(f"source: {rep['source']}")
    if "float" in rep:
        print(f"top-1  float {rep['float']['top1']:.4f}   int8 {rep['top1']:.4f}   (n={rep['n']})")
    else:
        print(f"top-1  int8 {rep['top1']:.4f}   (n={rep['n']})")
    print(head)
    for lab, r in rep["per_class"].items():
        print(f"{lab:>14} {r['precision']:6.3f} {r['recall']:6.3f} {r['f1']:6.3f} {r['support']:5d}")
    return 0
