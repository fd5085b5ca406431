"""`tinykws features`: EEMBC/MLPerf Tiny layout, labels from folders, unique names, bad input."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf

from tinykws import cli
from tinykws.audio import fix_length, load_audio
from tinykws.features import get_frontend
from tinykws.features.signals import vowel_like


def _corpus(root, layout: dict[str, list[str]]):
    rng = np.random.default_rng(0)
    for folder, stems in layout.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for s in stems:
            sf.write(root / folder / f"{s}.wav", vowel_like(rng), 16000, subtype="PCM_16")
    return root


def test_features_with_labels(tmp_path, capsys):
    data = _corpus(
        tmp_path / "data", {"yes": ["a", "b"], "no": ["a"], "cat": ["c"], "_background_noise_": ["n"]}
    )
    out = tmp_path / "out"
    rc = cli.main(
        [
            "features",
            "--frontend",
            "mlperf",
            "--labels",
            "_silence_,_unknown_,yes,no",
            "--out",
            str(out),
            str(data),
        ]
    )
    assert rc == 0
    assert "wrote 5" in capsys.readouterr().out
    rows = list(csv.reader((out / "y_labels.csv").open()))
    by_name = {r[0]: (int(r[1]), int(r[2])) for r in rows}
    assert by_name == {
        "_silence__n.bin": (4, 0),
        "_unknown__c.bin": (4, 1),
        "yes_a.bin": (4, 2),
        "yes_b.bin": (4, 2),
        "no_a.bin": (4, 3),
    }
    assert sorted(p.name for p in out.iterdir()) == sorted([*by_name, "y_labels.csv"])
    fe = get_frontend("mlperf")
    x = np.fromfile(out / "yes_b.bin", dtype=np.int8)
    assert x.size == 490
    np.testing.assert_array_equal(
        x, fe.int8_features(fix_length(load_audio(data / "yes" / "b.wav")))[0].ravel()
    )


def test_features_without_labels_dedupes_names(tmp_path):
    a = _corpus(tmp_path / "a", {"w": ["x"]})
    b = _corpus(tmp_path / "b", {"w": ["x"]})
    out = tmp_path / "out"
    assert cli.main(["features", "--frontend", "psf", "--out", str(out), str(a), str(b / "w" / "x.wav")]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["w_x-2.bin", "w_x.bin"]
    # a previous output is replaced whole
    assert cli.main(["features", "--out", str(out), str(a)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["w_x.bin"]


@pytest.mark.parametrize("case", ["missing", "not_audio", "empty", "empty_folder", "no_label"])
def test_bad_input_is_one_line_and_leaves_nothing(tmp_path, capsys, case):
    data = _corpus(tmp_path / "data", {"yes": ["a"]})
    args = ["features", "--out", str(tmp_path / "out")]
    if case == "missing":
        args += [str(data), str(tmp_path / "nope.wav")]
    elif case == "not_audio":
        (data / "yes" / "bad.wav").write_text("hello, I am text")
        args += [str(data)]
    elif case == "empty":
        (data / "yes" / "zero.wav").write_bytes(b"")
        args += [str(data)]
    elif case == "empty_folder":
        (tmp_path / "void").mkdir()
        args += [str(tmp_path / "void")]
    else:
        args += ["--labels", "yes", str(_corpus(tmp_path / "data", {"no": ["b"]}))]
    rc = cli.main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("tinykws: error:")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"] + (
        ["void"] if case == "empty_folder" else []
    )


def test_refuses_to_overwrite_other_files(tmp_path, capsys):
    data = _corpus(tmp_path / "data", {"yes": ["a"]})
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert cli.main(["features", "--out", str(out), str(data)]) == 2
    assert "holds other files" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "mine"


def test_frontend_from_a_model_directory(tmp_path):
    import json

    data = _corpus(tmp_path / "data", {"yes": ["a"]})
    model = tmp_path / "model"
    model.mkdir()
    (model / "tinykws.json").write_text(json.dumps({"frontend": get_frontend("psf").to_dict()}))
    assert cli.main(["features", "--frontend", str(model), "--out", str(tmp_path / "o"), str(data)]) == 0
    x = np.fromfile(tmp_path / "o" / "yes_a.bin", dtype=np.int8)
    ref = get_frontend("psf").int8_features(fix_length(load_audio(data / "yes" / "a.wav")))[0].ravel()
    np.testing.assert_array_equal(x, ref)
