"""TensorFlow's and the converter's logs never reach the user's terminal (tinykws.quiet)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tonecorpus import make_mswc

from tinykws.quiet import drop_noise

ROOT = Path(__file__).resolve().parents[1]

# What a user saw before (issue 15); none of it may be printed.
NOISE_SEEN = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796410505.498435   13959 port.cc:153] oneDNN custom operations are on. You may see "
    "slightly different numerical results due to floating-point round-off errors.",
    "I0000 00:00:1796410505.602322   13959 cpu_feature_guard.cc:227] This TensorFlow binary is optimized "
    "to use available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with "
    "the appropriate compiler flags.",
    "E0000 00:00:1796410728.119185   28223 node_def_util.cc:682] NodeDef mentions attribute "
    "use_unbounded_threadpool which is not in the op definition: Op<name=MapDataset; signature=...>",
    "W0000 00:00:1796410512.278907   13959 tf_tfl_flatbuffer_helpers.cc:364] Ignored output_format.",
    "fully_quantize: 0, inference_type: 6, input_inference_type: INT8, output_inference_type: INT8",
]
# What must still get through: real errors, tracebacks, our own lines.
REAL = [
    "E0000 00:00:1796410728.119185   28223 some_kernel.cc:12] Invalid argument: shapes do not match",
    "F0000 00:00:1796410728.119185   28223 check.cc:1] Check failed: x == y",
    "Traceback (most recent call last):",
    "tinykws: error: corpus: no such folder",
    "fully_quantize failed for layer conv1",
]

# Output of a run, as regexes: any of these in a user's stdout or stderr is a failure.
FORBIDDEN = [
    r"absl::InitializeLog",
    r"^[IWE]\d{4} \d\d:\d\d:",
    r"oneDNN custom operations",
    r"cpu_feature_guard",
    r"use_unbounded_threadpool",
    r"fully_quantize: \d",
    r"TensorSpec\(",
    r"Saved artifact at",
    r"UserWarning",
]


def test_drop_noise_drops_known_lines_only() -> None:
    text = "\n".join(NOISE_SEEN + REAL) + "\n"
    assert drop_noise(text) == "\n".join(REAL) + "\n"


_CHILD = textwrap.dedent(
    r"""
    import os, sys
    from tinykws.quiet import filter_stderr
    noise, real = sys.argv[1].split("|"), sys.argv[2].split("|")
    with filter_stderr():
        for a, b in zip(noise, real):
            os.write(2, (a + "\n").encode())  # written on fd 2, as C++ code does
            os.write(2, (b + "\n").encode())
        os.write(2, b"\rbar  10%\rbar  20%")  # a progress bar: partial lines pass too
        sys.stderr.write("python-level line\n")
        sys.stderr.flush()
        if sys.argv[3] == "crash":
            os.write(2, b"last words before a crash\n")
            os._exit(3)  # no cleanup: the filter process must still forward what was written
    print("done", file=sys.stderr)
    """
)


@pytest.mark.parametrize("how", ["exit", "crash"])
def test_filter_stderr_passes_everything_else(how: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, "|".join(NOISE_SEEN[:5]), "|".join(REAL), how],
        capture_output=True,
        timeout=60,
    )
    err = proc.stderr.decode()  # bytes: text mode would turn the bar's \r into \n
    for line in REAL:
        assert line in err
    for line in NOISE_SEEN[:5]:
        assert line not in err
    assert "\rbar  10%\rbar  20%" in err
    assert "python-level line" in err
    if how == "crash":
        assert proc.returncode == 3
        assert "last words before a crash" in err
    else:
        assert proc.returncode == 0 and err.endswith("done\n")
    # the order of what passes is kept
    assert err.index(REAL[0]) < err.index(REAL[1]) < err.index("python-level line")


@pytest.mark.slow
def test_train_and_quantize_print_no_tensorflow_logs(tmp_path: Path) -> None:
    """`tinykws train` (tf.data pipeline, Keras fit, int8 conversion, tflite_micro) on a tiny
    corpus, as a user runs it: a separate process, TF_CPP_MIN_LOG_LEVEL not set by anyone."""
    corpus = make_mswc(tmp_path / "corpus")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    env["TINYKWS_NO_PROGRESS"] = "1"
    out = tmp_path / "m"
    proc = subprocess.run(
        [sys.executable, "-m", "tinykws.cli", "train", "--data", str(corpus), "--language", "en",
         "--keywords", "yes,no", "--seed", "1", "--out", str(out), "--embedding", "none", "--filters", "16",
         "--blocks", "1",
         "--epochs", "1", "--batch-size", "32"],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "model_int8.tflite").is_file()
    for name, text in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        for pat in FORBIDDEN:
            hits = [ln for ln in text.splitlines() if re.search(pat, ln)]
            assert not hits, f"{name}: {hits[:3]}"
    assert "int8 top-1" in proc.stdout  # the project's own lines are still there
    assert proc.stderr.strip() == ""  # progress bars are off here, and nothing else is printed


@pytest.mark.slow
def test_tensorflow_errors_still_reach_the_user(tmp_path: Path) -> None:
    """A real error inside TensorFlow during a verb: its message is not filtered away."""
    script = tmp_path / "boom.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            from tinykws import cli
            from tinykws.errors import TinyKWSError

            def run(args):
                import tensorflow as tf
                tf.reshape(tf.zeros([6]), [4])  # InvalidArgumentError from the C++ kernel

            import tinykws.export.carrays as mod
            mod.cli_run = run
            sys.argv = ["tinykws", "export", "x"]
            sys.exit(cli.main())
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode != 0
    assert "InvalidArgumentError" in proc.stderr
    assert "Traceback" in proc.stderr
    assert "oneDNN" not in proc.stderr and "absl::InitializeLog" not in proc.stderr
