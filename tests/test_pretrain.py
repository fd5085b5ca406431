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

    from tinykws.pretrain import load_embedding

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
