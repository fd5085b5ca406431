"""Realism score: the MLPerf Tiny reference model (trained on real speech) judging synthetic words."""

from __future__ import annotations

import shutil

import pytest

from tinykws.data.synth import synthesize
from tinykws.training.realism import reference_agreement


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_reference_agreement_counts_and_labels(tmp_path, mlperf_ref_model) -> None:
    root = tmp_path / "c"
    synthesize(
        root, languages=["en"], words=["yes", "no", "cat"], speakers=4, seed=2, jobs=1, engines=["espeak"]
    )
    r = reference_agreement(root, mlperf_ref_model)
    assert r["n"] == 8  # "cat" is not one of the model's labels
    assert sum(n for _, n in r["by"]["engine"].values()) == 8 and set(r["by"]["engine"]) == {"espeak"}
    assert 0 < r["top1"] <= 1
    # swap the labels of yes and no: a clip can match at most one of its two labels
    csv = root / "en" / "en_splits.csv"
    text = (
        csv.read_text(encoding="utf-8")
        .replace(",yes,", ",tmp,")
        .replace(",no,", ",yes,")
        .replace(",tmp,", ",no,")
    )
    csv.write_text(text, encoding="utf-8")
    swapped = reference_agreement(root, mlperf_ref_model)
    assert swapped["n"] == 8 and r["top1"] + swapped["top1"] <= 1.0 + 1e-9
