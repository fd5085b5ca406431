"""Train -> quantize -> evaluate -> export on a tiny tone corpus, through the CLI.

One small model is trained once per module (a few seconds); the tests then check the model
directory contract of DESIGN.md, the int8 path through tflite_micro, and the error paths.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tonecorpus import make_mswc

from tinykws import cli

KEYWORDS = "yes,no,up,down"
FAST = [
    "--embedding",
    "none",
    "--filters",
    "32",
    "--blocks",
    "2",
    "--lr",
    "0.01",
    "--epochs",
    "6",
    "--batch-size",
    "32",
    "--patience",
    "10",
]


def train_args(corpus: Path, out: Path, *extra: str) -> list[str]:
    """`tinykws train` on the tone corpus with the small, fast model settings."""
    return ["train", "--data", str(corpus), "--language", "en", "--keywords", KEYWORDS, "--seed", "1",
            "--out", str(out), *FAST, *extra]  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_mswc(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("models") / "tones"
    rc = cli.main(train_args(corpus, out))
    assert rc == 0
    return out


def test_model_directory_contract(trained):
    names = {p.name for p in trained.iterdir()}
    assert {"model.keras", "model_int8.tflite", "tinykws.json", "c", "report.md", "confusion.png"} <= names
    meta = json.loads((trained / "tinykws.json").read_text())
    assert meta["labels"] == ["_silence_", "_unknown_", "yes", "no", "up", "down"]
    assert meta["frontend"]["name"] == "mlperf"
    assert meta["input_quantization"]["zero_point"] == 83
    counts = meta["data"]["counts"]["train"]
    # unknown and silence are each 10% of the training split (MLPerf Tiny rule)
    total = sum(counts.values())
    assert abs(counts["_unknown_"] / total - 0.1) < 0.02 and abs(counts["_silence_"] / total - 0.1) < 0.02
    m = meta["metrics"]
    assert m["int8"]["top1"] > 0.8, m  # tone words are easy; a broken pipeline scores ~1/6
    # 100 test clips: a few may flip under int8 in a 6-epoch model; a broken int8 path loses far more
    assert abs(m["int8"]["top1"] - m["float"]["top1"]) <= 0.08
    c = trained / "c"
    assert {"model_data.h", "model_data.c", "labels.h", "features_config.h"} <= {p.name for p in c.iterdir()}
    tfl = (trained / "model_int8.tflite").read_bytes()
    assert f"{len(tfl)}" in (c / "model_data.h").read_text()
    assert '"_silence_"' in (c / "labels.h").read_text()


def test_int8_graph_uses_firmware_friendly_ops(trained):
    from tinykws.training.quantize import tflite_ops

    ops = tflite_ops((trained / "model_int8.tflite").read_bytes())
    assert "AVERAGE_POOL_2D" in ops and "MEAN" not in ops
    assert set(ops) <= {
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "AVERAGE_POOL_2D",
        "RESHAPE",
        "FULLY_CONNECTED",
        "SOFTMAX",
    }


def test_evaluate_json_and_plot(trained, corpus, tmp_path, capsys):
    js, png = tmp_path / "e.json", tmp_path / "cm.png"
    rc = cli.main(["evaluate", str(trained), "--data", str(corpus), "--json", str(js), "--plot", str(png)])
    assert rc == 0
    rep = json.loads(js.read_text())
    assert {"top1", "n", "per_class", "float"} <= set(rep)
    assert set(rep["per_class"]["yes"]) == {"precision", "recall", "f1", "support"}
    assert rep["n"] == sum(r["support"] for r in rep["per_class"].values())
    assert png.stat().st_size > 1000
    assert "int8" in capsys.readouterr().out


def test_training_is_deterministic(trained, corpus, tmp_path):
    out = tmp_path / "again"
    assert cli.main(train_args(corpus, out)) == 0
    assert (out / "model_int8.tflite").read_bytes() == (trained / "model_int8.tflite").read_bytes()


def test_resume_after_crash(trained, corpus, tmp_path, monkeypatch):
    import tinykws.training.train as tr

    out = tmp_path / "resumed"
    real = tr._save_keras_atomic
    calls = {"n": 0}

    def crash_after_two_epochs(model, path):
        real(model, path)
        if path.name.startswith("epoch"):
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt  # the user pressed ^C (or the machine died) mid-run

    monkeypatch.setattr(tr, "_save_keras_atomic", crash_after_two_epochs)
    args = train_args(corpus, out)
    assert cli.main(args) == 130
    assert not out.exists()  # no half model
    state = json.loads((tr.checkpoint_dir(out) / "state.json").read_text())
    assert state["epoch"] == 0  # the crash hit while saving epoch 1's checkpoint
    monkeypatch.setattr(tr, "_save_keras_atomic", real)
    assert cli.main([*args, "--resume"]) == 0
    meta = json.loads((out / "tinykws.json").read_text())
    assert [h["epoch"] for h in meta["training"]["history"]] == list(range(6))
    # epoch 0 came from before the crash: identical to the uninterrupted run's first epoch
    first = json.loads((trained / "tinykws.json").read_text())["training"]["history"][0]
    assert meta["training"]["history"][0] == first
    assert meta["metrics"]["int8"]["top1"] > 0.8


def test_absent_keyword_is_one_line_error(corpus, tmp_path, capsys):
    out = tmp_path / "m"
    rc = cli.main(["train", "--data", str(corpus), "--keywords", "yes,banana", "--out", str(out), *FAST])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "banana" in err and "--keywords" in err
    assert not out.exists()


def test_missing_corpus_error(tmp_path, capsys):
    rc = cli.main(
        ["train", "--data", str(tmp_path / "nope"), "--keywords", "yes", "--out", str(tmp_path / "m")]
    )
    assert rc == 2
    assert "nope" in capsys.readouterr().err


def test_evaluate_eembc_inputs_with_reference_model(mlperf_ref_model, mlperf_sample_input, tmp_path):
    from tinykws.training.evaluate import evaluate

    d = tmp_path / "inputs"
    d.mkdir()
    (d / "on_sample.bin").write_bytes(mlperf_sample_input.read_bytes())
    (d / "y_labels.csv").write_text("on_sample.bin,12,5\n")
    labels = "down,go,left,no,off,on,right,stop,up,yes,_silence_,_unknown_".split(",")
    rep = evaluate(mlperf_ref_model, inputs=d, labels=labels)
    assert rep["n"] == 1 and rep["top1"] == 1.0


def test_evaluate_bare_tflite_needs_labels(mlperf_ref_model, tmp_path, capsys):
    rc = cli.main(["evaluate", str(mlperf_ref_model), "--inputs", str(tmp_path)])
    assert rc == 2 and "--labels" in capsys.readouterr().err


def test_export_cli_rewrites_sources(trained, tmp_path):
    out = tmp_path / "c"
    assert cli.main(["export", str(trained), "--out", str(out)]) == 0
    a = (out / "model_data.c").read_text()
    assert a == (trained / "c" / "model_data.c").read_text()
    tfl = (trained / "model_int8.tflite").read_bytes()
    first = ", ".join(f"0x{b:02x}" for b in tfl[:16])
    assert first in a  # the array holds the model's own bytes


def test_quantize_cli_recalibrates_from_training_data(trained, tmp_path, capsys):
    import shutil

    from tinykws.models.tflm import TFLMRunner

    d = tmp_path / "copy"
    shutil.copytree(trained, d)
    (d / "model_int8.tflite").unlink()
    assert cli.main(["quantize", str(d), "--n", "50"]) == 0
    assert "AVERAGE_POOL_2D" in capsys.readouterr().out
    r = TFLMRunner(d / "model_int8.tflite")
    assert r.input_quant[1] == 83
    assert json.loads((d / "tinykws.json").read_text())["quantization"]["calibration_clips"] == 50


def test_model_dir_write_on_full_disk_leaves_nothing(corpus, tmp_path, monkeypatch, capsys):
    import errno

    import tinykws.fsutil as fs

    real_replace = fs.os.replace

    def full(src, dst):
        if str(dst).endswith("tones_full"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(fs.os, "replace", full)
    out = tmp_path / "tones_full"
    rc = cli.main(train_args(corpus, out, "--epochs", "1"))
    assert rc == 2
    assert "disk full" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tones_full.ckpt"]  # checkpoint kept


def test_unknown_resample_draws_a_fresh_unknown_set_each_epoch(corpus):
    """Every epoch uses all keyword and silence rows and exactly `pool_pick` pool rows, and
    the pool rows differ between epochs (that is the point: more unknown words over a run)."""
    import numpy as np

    from tinykws.training.train import TrainConfig, _augment_plan, assemble_splits

    cfg = TrainConfig(data=str(corpus), keywords=KEYWORDS.split(","), out="unused", language="en",
                      unknown_resample=True, unknown_share=0.05, batch_size=32)  # fmt: skip
    splits, summary = assemble_splits(cfg)
    tr = splits["train"]
    assert tr.pool is not None and tr.pool.sum() > tr.pool_pick > 0
    assert (tr.labels[tr.pool] == 1).all()  # the pool is unknown words only
    assert summary["counts"]["train"]["_unknown_"] == tr.pool_pick
    dct = np.eye(40, 10)
    picked = []
    for epoch in range(3):
        order = _augment_plan(cfg, tr, 5, epoch, 49, 10, dct)["order"]
        first = order[: tr.epoch_size()]  # the rest pads the last batch
        assert len(set(first.tolist())) == tr.epoch_size()
        assert set(np.flatnonzero(~tr.pool)) <= set(first.tolist())
        picked.append(frozenset(int(i) for i in first if tr.pool[i]))
        assert len(picked[-1]) == tr.pool_pick
    assert len(set(picked)) == 3


def test_held_out_splits_do_not_depend_on_seed_or_training_share(corpus, capsys):
    """Recipes are compared on one test set: the seed and the training unknown share change the
    training draw only, and --eval-unknown-share sets the dev/test share on its own."""
    import numpy as np

    from tinykws.training.train import TrainConfig, assemble_splits

    def splits_for(**kw):
        cfg = TrainConfig(data=str(corpus), keywords=KEYWORDS.split(","), out="unused", language="en", **kw)
        return assemble_splits(cfg)

    base, base_sum = splits_for(seed=0, unknown_share=0.1)
    other, other_sum = splits_for(seed=1, unknown_share=0.3, eval_unknown_share=0.1)
    for split in ("dev", "test"):
        assert np.array_equal(base[split].audio, other[split].audio)
        assert np.array_equal(base[split].labels, other[split].labels)
    n_unk = {s: c["_unknown_"] for s, c in other_sum["counts"].items()}
    n_kw = {s: sum(v for k, v in c.items() if not k.startswith("_")) for s, c in other_sum["counts"].items()}
    assert n_unk["train"] > base_sum["counts"]["train"]["_unknown_"]  # more unknowns to learn from
    assert n_unk["train"] == round(n_kw["train"] * 0.3 / 0.6)
    assert n_unk["test"] == round(n_kw["test"] * 0.1 / 0.8)
    assert not np.array_equal(base["train"].audio, splits_for(seed=1, unknown_share=0.1)[0]["train"].audio)


def test_share_out_of_range_is_one_line_error(corpus, tmp_path, capsys):
    rc = cli.main(train_args(corpus, tmp_path / "m", "--eval-unknown-share", "1.5"))
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--eval-unknown-share" in err and "1.5" in err
    assert not (tmp_path / "m").exists()


def test_channel_offsets_are_smooth_bounded_spectral_envelopes():
    """The cepstral offsets decode (least squares through the DCT) to log-mel curves made of
    the four smoothest cosines only, bounded by amount * (1 + 1/2 + 1/3 + 1/4)."""
    import numpy as np

    from tinykws.features import get_frontend
    from tinykws.training.train import _channel_offsets

    fe = get_frontend("mlperf")
    dct = fe.dct_matrix()
    off = _channel_offsets(np.random.default_rng(0), 500, 0.7, dct)
    assert off.shape == (500, fe.n_coeffs)
    assert np.allclose(off[:, 0], 0, atol=1e-5)  # no level change: c0 is untouched
    assert np.allclose(off[:, 5:], 0, atol=1e-5)  # nothing sharper than the 4th cosine
    g = off @ np.linalg.pinv(dct)  # back to log-mel curves over the 40 bands
    assert np.abs(g).max() <= 0.7 * (1 + 1 / 2 + 1 / 3 + 1 / 4) + 1e-4
    assert np.abs(g).max() > 0.5  # and it does colour the spectrum
    assert not np.allclose(off, _channel_offsets(np.random.default_rng(1), 500, 0.7, dct))


def test_training_with_smoothing_channel_and_resample_is_deterministic(corpus, tmp_path):
    extra = ["--label-smoothing", "0.1", "--channel-aug", "0.7", "--unknown-resample"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli.main(train_args(corpus, a, *extra, "--epochs", "2")) == 0
    assert cli.main(train_args(corpus, b, *extra, "--epochs", "2")) == 0
    assert (a / "model_int8.tflite").read_bytes() == (b / "model_int8.tflite").read_bytes()
    cfg = json.loads((a / "tinykws.json").read_text())["training"]["config"]
    assert (cfg["label_smoothing"], cfg["channel_aug"], cfg["unknown_resample"]) == (0.1, 0.7, True)


def test_hard_negatives_draw_follows_the_given_probabilities(corpus):
    """With pool probabilities, the epoch's unknown rows come only from rows with p > 0; the
    other rows (keywords, silence) are all still there."""
    import numpy as np

    from tinykws.training.train import TrainConfig, _augment_plan, assemble_splits

    cfg = TrainConfig(data=str(corpus), keywords=KEYWORDS.split(","), out="unused", language="en",
                      unknown_resample=True, unknown_share=0.05, hard_negatives=1.0,
                      batch_size=32)  # fmt: skip
    tr = assemble_splits(cfg)[0]["train"]
    rows = np.flatnonzero(tr.pool)
    p = np.zeros(len(rows))
    p[: 2 * tr.pool_pick] = 1.0 / (2 * tr.pool_pick)  # only the first rows are ever hard
    order = _augment_plan(cfg, tr, 5, 0, 49, 10, np.eye(40, 10), p)["order"][: tr.epoch_size()]
    picked = {int(i) for i in order if tr.pool[i]}
    assert len(picked) == tr.pool_pick and picked <= set(rows[: 2 * tr.pool_pick].tolist())
    assert set(np.flatnonzero(~tr.pool)) <= set(order.tolist())


def test_training_with_hard_negatives_is_deterministic(corpus, tmp_path):
    """--hard-negatives trains one epoch at a time on draws that depend on the model; the same
    seed still gives the same bytes, and the flag implies --unknown-resample."""
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli.main(train_args(corpus, a, "--hard-negatives", "0.5", "--epochs", "2")) == 0
    assert cli.main(train_args(corpus, b, "--hard-negatives", "0.5", "--epochs", "2")) == 0
    assert (a / "model_int8.tflite").read_bytes() == (b / "model_int8.tflite").read_bytes()
    cfg = json.loads((a / "tinykws.json").read_text())["training"]["config"]
    assert (cfg["hard_negatives"], cfg["unknown_resample"]) == (0.5, True)
    assert len(json.loads((a / "tinykws.json").read_text())["training"]["history"]) == 2


def test_prior_log_ratio_turns_training_shares_into_eval_shares():
    """Training shares times exp(correction) are the eval shares, per group (silence, unknown,
    keywords pooled); a group absent from either split is left alone."""
    import numpy as np

    from tinykws.training.train import prior_log_ratio

    train = {"_silence_": 100, "_unknown_": 200, "yes": 330, "no": 370}
    ev = {"_silence_": 10, "_unknown_": 10, "yes": 41, "no": 39}
    delta = prior_log_ratio(train, ev)
    tr_sh = np.array([100, 200, 700, 700]) / 1000
    ev_sh = np.array([10, 10, 80, 80]) / 100
    assert np.allclose(tr_sh * np.exp(delta), ev_sh, rtol=1e-6)
    assert delta[2] == delta[3]  # keywords share one correction
    no_sil = prior_log_ratio({**train, "_silence_": 0}, ev)
    assert no_sil[0] == 0.0 and np.isfinite(no_sil).all()


def test_prior_correction_is_the_uncorrected_model_plus_the_bias_shift(corpus, tmp_path):
    """One epoch (one checkpoint, so both runs keep the same weights): the corrected model equals
    the plain one except for the output bias, shifted by exactly the recorded correction, which
    is what prior_log_ratio gives for the run's own split counts."""
    import numpy as np
    import tensorflow as tf

    from tinykws.training.train import prior_log_ratio

    shares = ["--unknown-share", "0.3", "--eval-unknown-share", "0.1", "--epochs", "1"]
    a, b = tmp_path / "plain", tmp_path / "corrected"
    assert cli.main(train_args(corpus, a, *shares)) == 0
    assert cli.main(train_args(corpus, b, *shares, "--prior-correction")) == 0
    meta = json.loads((b / "tinykws.json").read_text())
    counts = meta["data"]["counts"]
    want = prior_log_ratio(counts["train"], counts["dev"])
    got = np.array([meta["prior_correction"][lab] for lab in meta["labels"]])
    assert np.allclose(got, want) and got[1] < 0 < got[2]  # fewer unknowns at test time
    assert meta["training"]["config"]["prior_correction"] is True
    assert "val_accuracy_corrected" in meta["training"]["history"][0]
    assert "prior_correction" not in json.loads((a / "tinykws.json").read_text())
    la = tf.keras.models.load_model(a / "model.keras").get_layer("logits").get_weights()
    lb = tf.keras.models.load_model(b / "model.keras").get_layer("logits").get_weights()
    assert np.array_equal(la[0], lb[0])
    assert np.allclose(lb[1] - la[1], want, atol=1e-6)


def test_train_on_a_frozen_embedding(corpus, tmp_path):
    """`train --embedding DIR --backbone frozen`: the embedding's layers and a new head; the
    embedding's weights leave training as they came, and the model directory says what it
    started from. The int8 path is the same as for a DS-CNN from scratch."""
    import numpy as np

    from tinykws.training.pretrain import embedding_model, load_embedding

    emb_dir = Path(__file__).resolve().parents[1] / "models" / "embed-ml"
    out = tmp_path / "on_emb"
    rc = cli.main(["train", "--data", str(corpus), "--language", "en", "--keywords", KEYWORDS,
                   "--embedding", str(emb_dir), "--backbone", "frozen", "--epochs", "2",
                   "--batch-size", "64", "--out", str(out)])  # fmt: skip
    assert rc == 0
    meta = json.loads((out / "tinykws.json").read_text())
    assert meta["model"]["embedding"]["backbone"] == "frozen"
    assert meta["model"]["embedding"]["name"] == "embed-ml"
    assert meta["metrics"]["int8"]["top1"] > 0.3  # above chance (1/6) after 2 epochs on tones
    import tensorflow as tf

    trained = tf.keras.models.load_model(out / "model.keras")
    orig, _ = load_embedding(emb_dir)
    orig = embedding_model(orig)
    for layer in orig.layers:
        for a, b in zip(layer.get_weights(), trained.get_layer(layer.name).get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    assert trained.get_layer("logits").output.shape[-1] == 6


def test_train_embedding_bad_input(corpus, tmp_path, capsys):
    out = tmp_path / "x"
    rc = cli.main(["train", "--data", str(corpus), "--keywords", KEYWORDS, "--embedding", str(tmp_path),
                   "--out", str(out)])  # fmt: skip
    assert rc == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--embedding" in err and "not an embedding model directory" in err
    assert not out.exists() and not (tmp_path / ".x.ckpt").exists()
