"""Keep TensorFlow's, absl's and the converter's own logs off the user's terminal.

Why this is more than `TF_CPP_MIN_LOG_LEVEL`: with TensorFlow 2.16-2.21 some lines are printed
before the C++ logging is initialized, or by code that no setting reaches (measured on TF 2.21):

- at import: `WARNING: All log messages before absl::InitializeLog() ...`, the oneDNN notice
  (`port.cc ... oneDNN custom operations are on`; turning oneDNN off would change the numbers,
  and with them the byte-identical demo model) and `cpu_feature_guard` with its continuation
  line, whatever TF_CPP_MIN_LOG_LEVEL says;
- in tf.data pipelines: `E0000 ... NodeDef mentions attribute use_unbounded_threadpool which is
  not in the op definition`, logged at *error* level for a harmless version skew between TF's
  Python graph builder and its op registry;
- in the converter: `fully_quantize: 0, inference_type: 6, ...` written straight to fd 2, and
  the Keras export's `Saved artifact at ... TensorSpec(...)` dump on stdout.

So each is silenced where it starts: environment variables before TensorFlow is imported and
Python's `tensorflow`/`absl` loggers (`configure`), Keras' interactive logging and one Python
warning around the conversion (`quiet_conversion`), and, for C++ prints on fd 2 that nothing
configures, a filter on the file descriptor (`filter_stderr`) that drops only lines matching
NOISE and passes every other byte unchanged -- real errors, tracebacks, progress bars.

The filter runs in a small child process reading a pipe that replaces fd 2: if tinykws itself
crashes, the child still forwards everything written before the crash, so no error is lost.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator

# Known noise, one regex per line kind (matched against a whole line without its newline).
NOISE: tuple[str, ...] = (
    # absl's notice that it has not been initialized (printed before the first C++ log line)
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    # TensorFlow C++ info and warning lines (glog format: I0000 00:00:1700000000.123456  123 f.cc:12] ...)
    r"[IW]\d{4} \d\d:\d\d:[\d.]+ +\d+ [\w./-]+:\d+\] .*",
    # the one error-level line known to be harmless (tf.data graph/op-registry version skew)
    r"E\d{4} \d\d:\d\d:[\d.]+ +\d+ [\w./-]+:\d+\] .*NodeDef mentions attribute use_unbounded_threadpool "
    r"which is not in the op definition.*",
    # cpu_feature_guard's continuation line
    r"To enable the following instructions: .*, in other operations, rebuild TensorFlow with the "
    r"appropriate compiler flags\.",
    # the converter's quantization summary, printed to fd 2 by its C++ code
    r"fully_quantize: \d+, inference_type: \d+, input_inference_type: \w+, output_inference_type: \w+",
)

# The filter process: reads the pipe, forwards every line not matching NOISE. A partial line
# (a progress bar redrawn with \r, a prompt) is forwarded as soon as no more bytes arrive for
# 50 ms, so bars stay live; noise lines are written whole, in one write, by their C++ code.
_FILTER_CODE = r"""
import os, re, select, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for tinykws; we end at EOF
noise = re.compile(b"(?:" + b"|".join(p.encode() for p in sys.argv[1:]) + b")\r?\n")
out = 1
buf = b""
def emit(data):
    while data:
        data = data[os.write(out, data):]
while True:
    ready, _, _ = select.select([0], [], [], 0.05)
    if not ready:
        if buf:
            emit(buf)
            buf = b""
        continue
    chunk = os.read(0, 65536)
    if not chunk:
        break
    buf += chunk
    keep = []
    while True:
        i = buf.find(b"\n")
        if i < 0:
            break
        line, buf = buf[: i + 1], buf[i + 1 :]
        if not noise.fullmatch(line):
            keep.append(line)
    j = buf.rfind(b"\r")
    if j >= 0:  # redraws of a progress bar: pass through up to the last carriage return
        keep.append(buf[: j + 1])
        buf = buf[j + 1 :]
    if keep:
        emit(b"".join(keep))
emit(buf)
"""


def configure() -> None:
    """Settings that must be in place before TensorFlow is first imported (idempotent).

    TF_CPP_MIN_LOG_LEVEL=2 keeps C++ errors and drops info and warnings; a value the user set
    is kept. The Python loggers of TensorFlow and absl show errors only.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging
    except ImportError:  # pragma: no cover - absl comes with TensorFlow
        return
    absl_logging.set_verbosity(absl_logging.ERROR)


def drop_noise(text: str) -> str:
    """`text` without the NOISE lines (what filter_stderr does to fd 2), for tests and callers
    that capture a child's output themselves."""
    noise = re.compile("(?:" + "|".join(NOISE) + ")")
    return "".join(ln for ln in text.splitlines(keepends=True) if not noise.fullmatch(ln.rstrip("\r\n")))


@contextlib.contextmanager
def filter_stderr() -> Iterator[None]:
    """Route file descriptor 2 through the noise filter for the duration of the block.

    Everything not matching NOISE reaches the original stderr unchanged. When fd 2 cannot be
    redirected (no fd 2, no way to start the filter), the block runs unfiltered.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    if os.isatty(saved):  # progress bars ask the terminal for its width: it is behind a pipe now
        with contextlib.suppress(OSError):
            os.environ.setdefault("COLUMNS", str(os.get_terminal_size(saved).columns))
    r, w = os.pipe()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _FILTER_CODE, *NOISE],
            stdin=r,
            stdout=saved,
            stderr=saved,
            close_fds=True,
        )
    except OSError:
        os.close(r)
        os.close(w)
        os.close(saved)
        yield
        return
    os.close(r)
    os.dup2(w, 2)
    os.close(w)
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            sys.stderr.flush()
        os.dup2(saved, 2)  # our last handle on the pipe's write end goes: the filter sees EOF
        os.close(saved)
        with contextlib.suppress(subprocess.TimeoutExpired):
            # a child process started in the block (an emulator) may still hold the pipe; the
            # filter then ends when it does
            proc.wait(timeout=5)


@contextlib.contextmanager
def quiet_conversion() -> Iterator[None]:
    """Around `TFLiteConverter.convert()`: no Keras export dump, no converter chatter.

    The Keras export prints its endpoints through Keras' interactive logging, switched off
    for the block (it then goes to absl at info level, which `configure` silences); the
    converter's `fully_quantize` line and C++ logs go through `filter_stderr`; its warning about
    input statistics is expected (the input quantization is pinned and checked afterwards).
    """
    import warnings

    import keras

    configure()
    was_interactive = keras.config.is_interactive_logging_enabled()
    keras.config.disable_interactive_logging()
    try:
        with warnings.catch_warnings(), filter_stderr():
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
            yield
    finally:
        if was_interactive:
            keras.config.enable_interactive_logging()
