"""`tinykws pretrain` on a tiny synthetic corpus: the embedding directory and its metadata."""

from __future__ import annotations

import json

from tinykws.cli import main


def test_pretrain_tiny(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYKWS_NO_PROGRESS", "1")
    out = tmp_path / "embed"
    rc = main(["pretrain", "--languages", "de,ka", "--words-per-language", "3", "--speakers", "3",
               "--filters", "8", "--blocks", "1", "--epochs", "1", "--copies", "1",
               "--corpus-dir", str(tmp_path / "corpus"), "--out", str(out)])  # fmt: skip
    assert rc == 0
    meta = json.loads((out / "tinykws.json").read_text())
    assert meta["kind"] == "embedding" and meta["embedding_dim"] == 8
    assert meta["data"]["languages"]["de"]["words"] == sorted(["null", "eins", "zwei"])
    assert meta["data"]["languages"]["ka"]["words"] == ["0", "1", "2"]  # numbers, read in Georgian
    assert meta["data"]["languages"]["ka"]["resource_level"] == "low"
    # two seeded corpora by default (the shipped embedding's recipe): 2 x 3 speakers x 3 words
    assert meta["data"]["corpus_seeds"] == [0, 1] and meta["data"]["speakers_per_language"] == 6
    assert meta["data"]["accented"] == 0.0  # no piper speakers outside English unless asked
    assert meta["data"]["languages"]["de"]["clips"] == 18
    assert sorted(p.name for p in (tmp_path / "corpus").iterdir()) == ["seed0", "seed1"]
    unused = meta["espeak_languages_not_in_pretraining"]
    assert "ar" in unused and "de" not in unused and "ka" not in unused
    size = meta["figures"]["deployed_3class_int8"]
    assert 0 < size["tflite_bytes"] < 100_000 and 0 < size["arena_bytes"] < 65_536

    import tensorflow as tf

    from tinykws.training.pretrain import load_embedding

    model, _ = load_embedding(out)
    assert tuple(model.get_layer("flatten").output.shape)[-1] == 8
    assert isinstance(model, tf.keras.Model)


def test_pretrain_unknown_language(tmp_path, capsys):
    rc = main(
        [
            "pretrain",
            "--languages",
            "de,qqz",
            "--corpus-dir",
            str(tmp_path / "c"),
            "--out",
            str(tmp_path / "e"),
        ]
    )
    assert rc == 2
    assert "espeak-ng does not know language 'qqz'" in capsys.readouterr().err
    assert not (tmp_path / "e").exists() and not (tmp_path / "c").exists()


def test_pretrain_from_data_roots(tmp_path, monkeypatch):
    """Real users pass corpus roots: several MSWC roots, the most frequent words of each language."""
    monkeypatch.setenv("TINYKWS_NO_PROGRESS", "1")
    from tinykws.data.synth import synthesize

    for lang in ("de", "ka"):
        synthesize(tmp_path / "c" / lang, languages=[lang], words=["1", "2", "3"], speakers=3, seed=0)
    out = tmp_path / "emb"
    rc = main(["pretrain", "--data", str(tmp_path / "c" / "de"), str(tmp_path / "c" / "ka"),
               "--words-per-language", "2", "--filters", "8", "--blocks", "1", "--epochs", "1",
               "--copies", "1", "--out", str(out)])  # fmt: skip
    assert rc == 0
    meta = json.loads((out / "tinykws.json").read_text())
    assert sorted(meta["data"]["languages"]) == ["de", "ka"] and meta["data"]["n_classes"] == 4
    assert meta["data"]["synthetic"] is False


def test_am_softmax_loss_and_unit_weights():
    """--loss amsoftmax: the loss is cross-entropy of s * (cos - m on the true class), computed
    here by hand; the cosine layer's class vectors stay unit length through training; only the
    embedding (up to `flatten`) differs from a softmax classifier's graph."""
    import numpy as np
    import tensorflow as tf

    from tinykws.models.dscnn import dscnn
    from tinykws.training.pretrain import AM_SOFTMAX, EMBEDDING_LAYER, am_softmax_classifier

    tf.keras.utils.set_random_seed(0)
    base = dscnn((49, 10), 5, filters=8, blocks=1)
    model, loss = am_softmax_classifier(base, 5)
    s, m = AM_SOFTMAX["scale"], AM_SOFTMAX["margin"]
    cos = np.array([[0.9, 0.1, -0.2, 0.0, 0.3], [0.2, 0.8, 0.1, 0.1, 0.0]], np.float32)
    y = np.array([0, 2])
    z = s * (cos - m * np.eye(5, dtype=np.float32)[y])
    want = np.log(np.exp(z).sum(1)) - z[np.arange(2), y]
    assert np.allclose(loss(tf.constant(y), tf.constant(cos)).numpy(), want, rtol=1e-4, atol=1e-5)
    x = np.random.default_rng(0).normal(size=(32, 49, 10, 1)).astype(np.float32)
    model.compile(tf.keras.optimizers.Adam(0.01), loss)
    model.fit(x, np.arange(32) % 5, epochs=2, verbose=0)
    w = model.get_layer("cosine").get_weights()[0]
    assert np.allclose(np.linalg.norm(w, axis=0), 1.0, atol=1e-5)
    out = model.predict(x, verbose=0)
    assert out.shape == (32, 5) and np.abs(out).max() <= 1.0 + 1e-5  # cosines
    assert model.get_layer(EMBEDDING_LAYER) is base.get_layer(EMBEDDING_LAYER)


def test_pretrain_unknown_loss_is_a_one_line_error(tmp_path, capsys):
    import pytest

    from tinykws.errors import TinyKWSError
    from tinykws.training.pretrain import pretrain

    with pytest.raises(SystemExit) as e:
        main(["pretrain", "--languages", "de", "--loss", "triplet", "--out", str(tmp_path / "e")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "--loss: invalid choice: 'triplet'" in err[-1]
    with pytest.raises(TinyKWSError, match="--loss: one of softmax, amsoftmax, got 'triplet'"):
        pretrain(tmp_path / "e", languages=["de"], loss="triplet")
    assert not (tmp_path / "e").exists()
