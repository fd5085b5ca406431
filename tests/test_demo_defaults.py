"""A clean clone stays clean: `make demo` and `tinykws demo` write into build/, never into the
shipped models/demo, which `make flash` and `make bench` keep using (issue 15, item 4).

The demo itself takes ~10 minutes of CPU, so these tests check the defaults (Makefile dry runs,
the CLI's parsed defaults) and run `tinykws demo` with synthesis and training replaced by stubs.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tinykws import cli

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "models" / "demo"


def _make_n(*args: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    proc = subprocess.run(["make", "-n", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _line(out: str, needle: str) -> str:
    lines = [ln for ln in out.splitlines() if needle in ln]
    assert len(lines) == 1, out
    return lines[0]


def test_make_demo_writes_into_build() -> None:
    assert _line(_make_n("demo"), "tinykws demo").endswith("demo --out build/demo-model")
    assert _line(_make_n("demo", "MODEL=build/mine"), "tinykws demo").endswith("demo --out build/mine")


def test_make_bench_and_flash_use_the_shipped_model() -> None:
    assert "--model models/demo" in _line(_make_n("bench"), "tinykws bench-table")
    assert "--model models/demo" in _line(_make_n("flash"), "tinykws flash")
    own = _make_n("bench", "MODEL=build/demo-model")
    assert "--model build/demo-model" in _line(own, "tinykws bench-table")


def test_cli_demo_defaults_are_under_build() -> None:
    args = cli.build_parser().parse_args(["demo"])
    assert args.out == ROOT / "build" / "demo-model"
    assert args.work == ROOT / "build" / "demo"
    assert not args.out.is_relative_to(ROOT / "models")


def test_demo_run_leaves_models_demo_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import tinykws.demo as demo
    import tinykws.training.train as train_mod

    before = {p: p.stat().st_mtime_ns for p in DEMO.rglob("*")}
    monkeypatch.setattr(demo, "build_root", lambda: tmp_path / "build")
    monkeypatch.setenv("TINYKWS_SHARED", str(tmp_path / "no-shared"))
    monkeypatch.setattr(demo, "synthesize_demo_corpus", lambda cfg: cfg.work / "corpus")

    def fake_train(cfg, resume=False):
        out = Path(cfg.out)
        out.mkdir(parents=True)
        (out / "model_int8.tflite").write_bytes(b"stub")
        metrics = {"float": {"top1": 0.5}, "int8": {"top1": 0.5}}
        return train_mod.TrainResult(out=out, metrics=metrics, clips_per_second=1.0)

    monkeypatch.setattr(train_mod, "train", fake_train)
    assert cli.main(["demo"]) == 0
    out = tmp_path / "build" / "demo-model"
    assert (out / "demo.json").is_file() and (out / "model_int8.tflite").read_bytes() == b"stub"
    assert f"model: {out}/" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in DEMO.rglob("*")} == before
