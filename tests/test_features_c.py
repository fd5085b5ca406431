"""C front end (firmware/features/): host build with gcc, called through ctypes, against the
Python front ends; the committed default headers; the Cortex-M4F compile check."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tinykws.features import FRONTENDS, FrontEnd, get_frontend
from tinykws.features import emulator as _features_qemu
from tinykws.features.cheader import render_header
from tinykws.features.signals import espeak_words, mixed_clips

ROOT = Path(__file__).resolve().parents[1]
FEATURES_DIR = ROOT / "firmware" / "features"
CFLAGS = ["-O2", "-std=c99", "-Wall", "-Wextra", "-Werror"]
M4_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", *CFLAGS]


def _build(name: str, out_dir: Path, fe: FrontEnd | None = None) -> ctypes.CDLL:
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    cfg = out_dir / name
    (fe or get_frontend(name)).write_c_header(cfg / "features_config.h")
    so = out_dir / f"libtinykws_features_{name}.so"
    cmd = [
        "gcc",
        *CFLAGS,
        "-pedantic",
        "-shared",
        "-fPIC",
        f"-I{cfg}",
        str(FEATURES_DIR / "tinykws_features.c"),
    ]
    subprocess.run([*cmd, "-o", str(so), "-lm"], check=True, capture_output=True, text=True)
    lib = ctypes.CDLL(str(so))
    lib.tinykws_features_name.restype = ctypes.c_char_p
    return lib


@pytest.fixture(scope="module")
def libs(tmp_path_factory) -> dict[str, ctypes.CDLL]:
    d = tmp_path_factory.mktemp("cfe")
    return {name: _build(name, d) for name in FRONTENDS}


def c_int8(lib: ctypes.CDLL, pcm: np.ndarray) -> np.ndarray:
    pcm = np.ascontiguousarray(pcm, dtype=np.int16)
    out = np.zeros(490, np.int8)
    lib.tinykws_features_int8(
        pcm.ctypes.data_as(ctypes.c_void_p), len(pcm), out.ctypes.data_as(ctypes.c_void_p)
    )
    return out.reshape(49, 10)


def c_float(lib: ctypes.CDLL, pcm: np.ndarray) -> np.ndarray:
    pcm = np.ascontiguousarray(pcm, dtype=np.int16)
    out = np.zeros(490, np.float32)
    lib.tinykws_features_float(
        pcm.ctypes.data_as(ctypes.c_void_p), len(pcm), out.ctypes.data_as(ctypes.c_void_p)
    )
    return out.reshape(49, 10)


def _pcm_clips(micro_speech: Path | None) -> list[np.ndarray]:
    """Random, speech-like, espeak-ng, real (micro_speech wavs) and edge-case int16 clips."""
    rng = np.random.default_rng(21)
    clips = [np.round(x * 32767).astype(np.int16) for x in mixed_clips(seed=17)]
    clips += [rng.integers(-32768, 32768, 16000).astype(np.int16) for _ in range(2)]
    clips += [np.round(x * 32767).astype(np.int16) for x in espeak_words(["yes", "stop", "right"])]
    if micro_speech is not None:
        clips += [sf.read(p, dtype="int16")[0] for p in sorted(micro_speech.glob("*.wav"))]
    clips += [
        np.zeros(16000, np.int16),  # digital silence
        np.zeros(0, np.int16),  # nothing at all
        (rng.standard_normal(7000) * 300).astype(np.int16),  # short: zero-padded
        -np.abs(rng.standard_normal(16000) * 900).astype(np.int16) - 1,  # all negative
        np.full(16000, -32768, np.int16),  # full-scale DC
        np.where(np.arange(16000) % 40 < 20, 32767, -32768).astype(np.int16),  # clipped square wave
    ]
    return clips


@pytest.mark.parametrize("name", FRONTENDS)
def test_c_matches_python_within_one_lsb(libs, name, request):
    try:
        micro = request.getfixturevalue("micro_speech_wavs")
    except pytest.skip.Exception:
        micro = None
    lib, fe = libs[name], get_frontend(name)
    assert lib.tinykws_features_name().decode() == name
    assert lib.tinykws_features_size() == 490
    diffs, ferr = [], []
    for pcm in _pcm_clips(micro):
        ref = fe.int8_features(pcm if len(pcm) else np.zeros(1, np.int16))[0].astype(int)
        diffs.append(c_int8(lib, pcm).astype(int) - ref)
        ferr.append(
            np.abs(c_float(lib, pcm) - fe.float_features(pcm if len(pcm) else np.zeros(1, np.int16))[0])
        )
    d = np.stack(diffs)
    identical = float((d == 0).mean())
    print(f"{name}: {d.size} values, max |C - Python| = {np.abs(d).max()} LSB, identical {identical:.5f}")
    assert np.abs(d).max() <= 1
    assert identical >= 0.999
    assert max(e.max() for e in ferr) < 0.05


def test_c_real_fft_matches_numpy(libs):
    lib = libs["mlperf"]
    rng = np.random.default_rng(3)
    for x in [rng.standard_normal(512), np.eye(512)[1], np.ones(512), rng.integers(-32768, 32767, 512)]:
        buf = np.ascontiguousarray(x, dtype=np.float32)
        ref = np.fft.rfft(buf.astype(np.float64))
        lib.tinykws_rfft(buf.ctypes.data_as(ctypes.c_void_p))
        got = np.empty(257, complex)
        got[0], got[256] = buf[0], buf[1]
        got[1:256] = buf[2::2] + 1j * buf[3::2]
        assert np.abs(got - ref).max() <= 2e-6 * max(1.0, np.abs(ref).max())


def test_radix2_fft_path(tmp_path):
    """N/2 not a power of 4 (here 512 complex points) takes the radix-2 FFT code."""
    fe = FrontEnd(name="fft1024", fft_size=1024)
    assert "TINYKWS_FE_FFT_RADIX 2" in render_header(fe)
    lib = _build("fft1024", tmp_path, fe)
    x = np.round(mixed_clips(seed=2, n_vowel=3, n_noise=1) * 32767).astype(np.int16)
    got = np.stack([c_int8(lib, c) for c in x]).astype(int)
    d = np.abs(got - fe.int8_features(x).astype(int))
    assert d.max() <= 1 and (d == 0).mean() >= 0.999


def test_c_quantize_is_the_host_rule(libs):
    for name in FRONTENDS:
        lib, fe = libs[name], get_frontend(name)
        lib.tinykws_features_quantize.restype = ctypes.c_int8
        lib.tinykws_features_quantize.argtypes = [ctypes.c_float]
        v = np.concatenate([np.linspace(-200, 200, 4001), [np.nan]]).astype(np.float32)
        got = np.array([lib.tinykws_features_quantize(float(x)) for x in v[:-1]])
        np.testing.assert_array_equal(got, fe.quantize(v[:-1]))
        assert lib.tinykws_features_quantize(float("nan")) == -128


def test_committed_default_headers_are_current():
    """firmware/features/config/<name>/features_config.h must equal what the front end writes."""
    for name in FRONTENDS:
        path = FEATURES_DIR / "config" / name / "features_config.h"
        assert path.read_text() == render_header(get_frontend(name)), f"regenerate {path}"


@pytest.mark.parametrize("name", FRONTENDS)
def test_compiles_for_cortex_m4f(tmp_path, name):
    cc = shutil.which("arm-none-eabi-gcc")
    if cc is None:
        pytest.skip("arm-none-eabi-gcc not installed")
    cfg = FEATURES_DIR / "config" / name
    for src in sorted(FEATURES_DIR.glob("*.c")):
        obj = tmp_path / f"{src.stem}.o"
        r = subprocess.run(
            [cc, *M4_FLAGS, f"-I{cfg}", "-c", str(src), "-o", str(obj)], capture_output=True, text=True
        )
        assert r.returncode == 0, r.stderr
        # no heap, no writable initialized data: tables are const (flash), scratch is .bss
        nm = subprocess.run(["arm-none-eabi-nm", str(obj)], capture_output=True, text=True).stdout
        assert "malloc" not in nm and " D " not in nm


@pytest.mark.parametrize("name", FRONTENDS)
def test_cortex_m4f_build_on_qemu(name, micro_speech_wavs):
    """The cross-compiled front end, run on an emulated Cortex-M4F (mps2-an386), gives the
    host's int8 values; its emulated instruction count is guarded against regressions."""
    reason = _features_qemu.available()
    if reason:
        pytest.skip(reason)
    fe = get_frontend(name)
    clips = [sf.read(p, dtype="int16")[0] for p in sorted(micro_speech_wavs.glob("*.wav"))]
    clips += [np.round(x * 32767).astype(np.int16) for x in mixed_clips(seed=4, n_vowel=2, n_noise=1)]
    q, instructions = _features_qemu.run_on_m4(fe, clips)
    d = np.abs(q.astype(int) - fe.int8_features(np.stack(clips)).astype(int))
    print(f"{name}: {instructions.mean() / 1e6:.3f} M emulated instructions per clip, max diff {d.max()}")
    assert d.max() <= 1 and (d == 0).mean() >= 0.999
    # measured 2.18 M (mlperf) and 2.03 M (psf) per 1 s clip; 10% headroom
    assert instructions.max() < {"mlperf": 2.45e6, "psf": 2.25e6}[name]
