"""The package works wherever it is installed, not only from this checkout (issue 15, item 1).

A wheel is built the way a release is (`python -m build`: the sdist first, then the wheel from
the unpacked sdist, so both must carry firmware/, boards/ and the shipped models), installed
into a fresh virtual environment under tmp_path, and the verbs are run from an empty
directory with that environment's `tinykws`.

Why `--no-deps` and a .pth file instead of a plain `pip install`: the dependencies
(TensorFlow, tflite-micro, onnxruntime, ...) are about 2 GB; installing them again would take
minutes and need a package index, and they are not what this test is about. The fresh
environment is created without system site-packages and without the project's .venv on its
path; one .pth line appends the project .venv's site-packages *directory* to sys.path, after
the fresh environment's own site-packages. A plain path line in a .pth is not a site
directory, so the .pth files inside it -- among them the editable install's finder that maps
`tinykws` to this checkout -- are not run. `import tinykws` therefore finds only the installed
wheel, which the tests check (`tinykws.__file__` inside the fresh environment), and every
command runs from an empty working directory with PYTHONPATH removed.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from conftest import PEERS

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | dict[str, str]]:
    """Build the wheel (from the sdist), install it into a fresh venv, return paths and env."""
    tmp = tmp_path_factory.mktemp("install")
    dist = tmp / "dist"
    if importlib.util.find_spec("build") is not None:
        cmd = [sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)]
    else:  # an older .venv without the dev extra's `build`: the wheel straight from the tree
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dist), str(ROOT)]
    proc = _run(cmd, ROOT, dict(os.environ), timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheels = sorted(dist.glob("tinykws-*.whl"))
    assert len(wheels) == 1, list(dist.iterdir())

    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    proc = _run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(wheels[0])],
        tmp,
        dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    site = Path(
        subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       capture_output=True, text=True, check=True).stdout.strip()
    )  # fmt: skip
    deps = Path(sysconfig.get_paths()["purelib"])  # the project .venv's site-packages
    (site / "zz_tinykws_test_deps.pth").write_text(f"{deps}\n")

    drop = ("PYTHONPATH", "VIRTUAL_ENV", "TF_CPP_MIN_LOG_LEVEL", "TINYKWS_SHARED", "TINYKWS_BOARDS_DIR")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["TINYKWS_NO_PROGRESS"] = "1"
    work = tmp / "empty"
    work.mkdir()
    return {"venv": venv, "site": site, "wheel": wheels[0], "sdist": dist, "work": work, "env": env}


def _tinykws(inst: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    exe = Path(inst["venv"]) / "bin" / "tinykws"
    return _run([str(exe), *args], Path(inst["work"]), inst["env"], timeout=timeout)


def test_wheel_and_sdist_carry_the_run_time_files(installed: dict) -> None:
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    for must in (
        "tinykws/_data/boards/qemu-m4.toml",
        "tinykws/_data/boards/nano33.toml",
        "tinykws/_data/firmware/core/tinykws_runner.c",
        "tinykws/_data/firmware/kernels/conv_s8.c",
        "tinykws/_data/firmware/features/tinykws_features.c",
        "tinykws/_data/firmware/ports/qemu/mps2-an386.ld",
        "tinykws/_data/firmware/arduino/tinykws_detector.c",
        "tinykws/_data/models/demo/model_int8.tflite",
        "tinykws/_data/models/embed-ml/model.keras",
        "tinykws/_data/models/embed-rt/model.keras",
        "tinykws/_data/models/embed-rt/NOTICE",  # the attributions travel with the distilled model
        "tinykws/data/wordlists/es.txt",
    ):
        assert must in names, must
    # every shipped model directory (one with a tinykws.json) is in, whatever its name
    for meta in ROOT.glob("models/*/tinykws.json"):
        assert f"tinykws/_data/models/{meta.parent.name}/tinykws.json" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    sdists = list(Path(installed["sdist"]).glob("tinykws-*.tar.gz"))
    if sdists:  # built with `python -m build`: the wheel above came from this sdist
        import tarfile

        members = {m.split("/", 1)[1] for m in tarfile.open(sdists[0]).getnames() if "/" in m}
        assert {"setup.py", "boards/qemu-m4.toml", "firmware/core/tinykws_runner.c",
                "models/demo/model_int8.tflite", "models/embed-ml/model.keras"} <= members  # fmt: skip


def test_version_and_package_location(installed: dict) -> None:
    from tinykws import __version__

    r = _tinykws(installed, "--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"tinykws {__version__}"
    py = Path(installed["venv"]) / "bin" / "python"
    code = "import tinykws, tinykws.resources as r; print(tinykws.__file__); print(r.data_root())"
    out = _run([str(py), "-c", code], Path(installed["work"]), installed["env"])
    assert out.returncode == 0, out.stderr
    mod_file, data_root = (Path(x) for x in out.stdout.split())
    assert mod_file.is_relative_to(Path(installed["site"])), mod_file
    assert not mod_file.is_relative_to(ROOT)
    assert data_root == Path(installed["site"]) / "tinykws" / "_data"


def test_doctor_runs_from_the_installed_package(installed: dict) -> None:
    r = _tinykws(installed, "doctor")
    assert r.returncode == 0, r.stderr
    assert "firmware:" in r.stdout and "extra [voices]:" in r.stdout
    assert str(Path(installed["venv"]) / "bin" / "python") in r.stdout  # the installed environment's


def test_arduino_library_of_the_shipped_model(installed: dict) -> None:
    # `models/demo` is found inside the installed package from an empty directory
    r = _tinykws(installed, "export", "models/demo", "--arduino-library", "demo.zip")
    assert r.returncode == 0, r.stderr
    names = zipfile.ZipFile(Path(installed["work"]) / "demo.zip").namelist()
    assert "TinyKWS_demo/library.properties" in names
    assert "TinyKWS_demo/src/tinykws_detector.c" in names


def test_unknown_board_lists_packaged_boards(installed: dict) -> None:
    r = _tinykws(installed, "build", "--board", "no-such-board", "--model", "x.tflite")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("tinykws: error: board 'no-such-board': unknown board")
    assert "qemu-m4" in lines[0] and "nano33" in lines[0]


@pytest.mark.qemu
def test_build_and_bench_from_an_empty_directory(installed: dict, tmp_path: Path) -> None:
    if not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")):
        pytest.skip("needs arm-none-eabi-gcc and qemu-system-arm")
    ref = PEERS / "mlperf-tiny-kws" / "kws_ref_model.tflite"
    if ref.is_file():
        model = ref
    else:  # no peer artifacts: the shipped demo model, as a bare .tflite outside the checkout
        model = tmp_path / "demo_int8.tflite"
        shutil.copyfile(ROOT / "models" / "demo" / "model_int8.tflite", model)
    work = Path(installed["work"])
    r = _tinykws(installed, "build", "--board", "qemu-m4", "--model", str(model))
    assert r.returncode == 0, r.stderr[-3000:]
    assert (work / "build" / "qemu-m4" / model.stem / "firmware.elf").is_file()
    assert "flash" in r.stdout and "RAM" in r.stdout
    r = _tinykws(installed, "bench", "--board", "qemu-m4", "--model", str(model), "--n", "3",
                 "--json", "bench.json")  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    import json

    res = json.loads((work / "bench.json").read_text())
    assert res["n"] == 3
    assert res["bitexact"] == 3  # every output equal to tflite_micro's
    assert res["instructions_per_inference"] > 1e5  # emulated: qemu-m4 counts instructions


def test_fewshot_tts_and_synth_from_an_empty_directory(installed: dict) -> None:
    if not shutil.which("espeak-ng"):
        pytest.skip("needs espeak-ng")
    work = Path(installed["work"])
    r = _tinykws(installed, "fewshot", "--keyword", "hola", "--language", "es", "--tts", "--shots", "5",
                 "--out", "m")  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert (work / "m" / "model_int8.tflite").is_file()
    assert (work / "m" / "tinykws.json").is_file()
    r = _tinykws(installed, "synth", "--out", "corpus", "--languages", "es", "--words", "hola,casa",
                 "--speakers", "2", "--engines", "espeak", "--jobs", "1")  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    clips = list((work / "corpus" / "es" / "clips").rglob("*.wav")) + list(
        (work / "corpus" / "es" / "clips").rglob("*.opus")
    )
    assert len(clips) >= 4, clips
    assert (work / "corpus" / "es" / "es_splits.csv").is_file()
