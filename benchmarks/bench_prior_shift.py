"""Unknown-class bias sweep: how trained models trade held-out synthetic accuracy for transfer.

Why: the demo's two figures pull against each other through `_unknown_`. On held-out synthetic
speakers the errors are unknown words taken for keywords; on voices of an unheard synthesizer
(the stand-in of bench_transfer.py) and on real speech they are keywords taken for unknown words.
Any shift of the unknown logit moves a model along that trade-off, so recipes are best compared
as curves. This reads trained model directories (their float model.keras), rebuilds each one's
own test split from its recorded config, and prints float top-1 with a constant added to the
`_unknown_` log-probability, plus the prior correction of `tinykws train --prior-correction`
(log of dev share over training share per class, from the model's own split counts).

    .venv/bin/python benchmarks/bench_prior_shift.py MODEL_DIR [MODEL_DIR ...] [--out FILE.md]

Figures are *measured* (float, 2-core host). Models whose config already has prior_correction
are read as trained (their outputs already include it), so their "prior" column equals shift 0.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

SHIFTS = (-1.5, -1.0, -0.7, -0.3, 0.0, 0.3, 0.7, 1.0)


def test_log_probs(model_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log-probabilities, labels, prior correction) of a model directory on its own test split."""
    import tensorflow as tf

    from tinykws.data.splits import noise_bank
    from tinykws.features import get_frontend
    from tinykws.training.train import (
        TrainConfig,
        assemble_splits,
        evaluation_audio,
        prior_log_ratio,
    )

    meta = json.loads((model_dir / "tinykws.json").read_text())
    cfg = TrainConfig(**{"embedding": None, **meta["training"]["config"]})  # older configs: scratch
    splits, summary = assemble_splits(cfg)
    noise = noise_bank(cfg).segments.astype(np.float32)
    fe = get_frontend(cfg.frontend)
    _, test, audio = evaluation_audio(cfg, splits, noise)
    x = fe.dequantize(fe.int8_features(audio))[..., None]
    p = tf.keras.models.load_model(model_dir / "model.keras").predict(x, batch_size=512, verbose=0)
    counts = summary["counts"]
    delta = np.zeros(p.shape[1]) if cfg.prior_correction else prior_log_ratio(counts["train"], counts["dev"])
    return np.log(np.clip(p, 1e-30, None)), test.labels, delta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    head = "| model | " + " | ".join(f"{s:+.1f}" for s in SHIFTS) + " | prior correction |"
    lines = [head, "|---|" + "---:|" * (len(SHIFTS) + 1)]
    for d in args.models:
        lp, y, delta = test_log_probs(d)
        accs = []
        for s in SHIFTS:
            z = lp.copy()
            z[:, 1] += s
            accs.append((z.argmax(1) == y).mean())
        prior = ((lp + delta).argmax(1) == y).mean()
        lines.append(f"| {d} | " + " | ".join(f"{a:.4f}" for a in accs) + f" | {prior:.4f} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
