"""`tinykws synth`: a multilingual keyword corpus spoken by synthetic speakers, in the MSWC layout.

Why the MSWC layout: one corpus reader then serves real MSWC downloads and synthetic corpora,
and splits are by speaker in both. Why so many perturbations: a model trained on plain espeak-ng
speech reaches only ~60% on real recordings; the variety of voices, vocal tracts, tempi, rooms
and microphones is what carries synthetic training over to real speech (docs/data.md).

Reproducibility: every random choice comes from numpy Generators seeded from (seed, language,
speaker, word, take), never from global state or the order in which workers finish, so the same
seed writes byte-identical files with any number of jobs.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
import zlib
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np

from tinykws.data import engines as eng
from tinykws.data import perturb as pt
from tinykws.errors import DOCTOR, TinyKWSError, missing_tool
from tinykws.progress import notice, progress

SR = 16000
CLIP = 16000
MAX_WORD_S = 0.95  # longer words are time-compressed to fit the 1 s clip with a margin
SPLITS_HEADER = ["SET", "LINK", "WORD", "VALID", "SPEAKER", "GENDER"]
MARKER = "tinykws_synth.json"
FORMAT_VERSION = 1

# Default languages: Germanic, Romance, Slavic, Uralic, Turkic, Indo-Aryan, Hellenic and
# Austronesian; Latin, Cyrillic, Devanagari and Greek scripts. Arabic is deliberately absent so
# that few-shot experiments can use it as a language the pretrained embedding never heard.
DEFAULT_LANGUAGES = (
    "en",
    "de",
    "nl",
    "sv",
    "es",
    "fr",
    "it",
    "pt",
    "ru",
    "pl",
    "cs",
    "tr",
    "fi",
    "hi",
    "el",
    "id",
)

# Relative share of English speakers per engine, renormalized over the engines installed. Even:
# the MLPerf Tiny reference model (trained on real speech) recognizes flite and festival words
# far more often than espeak-ng's (docs/data.md), while espeak-ng brings accents and variants.
ENGINE_WEIGHTS = {"espeak": 1.0, "flite": 1.0, "festival": 1.0, "piper": 1.0}
# engines with a handful of recorded voices, whose speakers get WORLD pitch changes (espeak-ng
# sets pitch itself and has ~85 variants)
FEW_VOICES = {"flite", "festival", "piper"}


@dataclass(frozen=True)
class Perturbation:
    """How far synthetic speakers and recordings stray from the synthesizer's defaults.

    `strength` scales everything at once (0 = plain synthesizer output at a fixed level, the
    ~60% baseline; 1 = defaults; up to 2 for more). The other fields are the ranges at
    strength 1; docs/data.md explains each.
    """

    strength: float = 1.0
    vtlp: float = 0.14  # per-speaker vocal-tract factor alpha = exp(U(-vtlp, vtlp))
    clip_vtlp: float = 0.02  # per-clip wobble of alpha (the same person is never identical)
    tempo: float = 0.10  # per-clip tempo factor exp(U(-tempo, tempo)), WSOLA (pitch kept)
    reverb_prob: float = 0.6  # share of speakers recorded in a reverberant room
    rt60: tuple[float, float] = (0.15, 0.9)  # reverberation time range, seconds
    drr_db: tuple[float, float] = (0.0, 15.0)  # direct-to-reverberant ratio range
    mic_prob: float = 0.9  # share of speakers with a coloured microphone/channel
    noise_floor_db: tuple[float, float] = (-50.0, -30.0)  # self-noise RMS below the speech peak
    peak_dbfs: tuple[float, float] = (-25.0, -1.0)  # level of the finished clip
    intonation: bool = True  # random terminator (. ! ? ,) -> statement/exclamation/question
    # share of the speakers of engines with few voices (flite, festival, piper) whose pitch is
    # moved away from their formants by a WORLD vocoder (pyworld), by a factor log-uniform in
    # f0_range: one recorded voice becomes lower and higher speakers, not only a resampled one
    voice_conversion: float = 0.7
    f0_range: tuple[float, float] = (0.8, 1.8)


@dataclass(frozen=True)
class Speaker:
    """A synthetic speaker: one engine voice, its prosody, its vocal tract, room and microphone."""

    id: str
    language: str
    voice: eng.Voice
    alpha: float  # vocal-tract factor (1 = the voice as the engine makes it)
    rt60: float | None  # None: dry room
    drr_db: float
    mic_seed: int | None  # None: ideal microphone
    split: str = "TRAIN"
    f0_factor: float | None = None  # WORLD pitch change (None: the engine's own pitch contour)


@dataclass
class SynthResult:
    """What `synthesize` did: where, how many clips, how long (clips/s is the speed figure)."""

    root: Path
    clips: int
    languages: list[str]
    words: dict[str, list[str]]
    speakers: dict[str, int]  # per language
    seconds: float
    reused: bool = False
    engines: list[str] = field(default_factory=list)

    @property
    def clips_per_s(self) -> float:
        return self.clips / self.seconds if self.seconds > 0 else float("inf")


def _h(*parts: object) -> int:
    """A stable 32-bit hash (Python's hash() is salted per process)."""
    return zlib.crc32("\x1f".join(str(p) for p in parts).encode("utf-8"))


def builtin_words(lang: str) -> list[str]:
    """The built-in word list for `lang` (a dialect such as en-us falls back to en)."""
    base = resources.files("tinykws.data") / "wordlists"
    for code in (lang, lang.split("-")[0]):
        f = base / f"{code}.txt"
        if f.is_file():
            lines = f.read_text(encoding="utf-8").splitlines()
            return [w.strip() for w in lines if w.strip() and not w.lstrip().startswith("#")]
    raise TinyKWSError(f"--languages: no built-in word list for '{lang}'; give the words with --words")


def builtin_languages() -> list[str]:
    base = resources.files("tinykws.data") / "wordlists"
    return sorted(p.name[:-4] for p in base.iterdir() if p.name.endswith(".txt"))


def _check_word(w: str) -> str:
    w = w.strip()
    if not w or "/" in w or "\\" in w or w.startswith(".") or "\x00" in w:
        raise TinyKWSError(f"--words: '{w}' cannot be a word folder name")
    return w


def make_speakers(
    lang: str,
    n: int,
    seed: int,
    engines: list[str],
    perturbation: Perturbation,
    engine_weights: dict[str, float] | None = None,
    accented: float = 0.0,
) -> list[Speaker]:
    """Draw `n` distinct speakers for `lang` and split them 80/10/10 by speaker.

    Distinct means no two share (engine, voice, pitch, speed, amplitude). Deterministic in
    (seed, lang, engines, perturbation, accented).
    `accented`: in a language other than English, this share of the speakers (drawn per
    speaker) are piper's English neural voices reading espeak-ng's IPA of the language, when
    piper is among `engines`. Why: espeak-ng is the only engine of most languages, and a
    formant synthesizer is far from a recorded voice; an accented neural voice is closer.
    """
    if not 0.0 <= accented <= 1.0:
        raise TinyKWSError(f"--accented: must be between 0 and 1, got {accented}")
    if n < 1:
        raise TinyKWSError(f"--speakers: must be at least 1, got {n}")
    rng = np.random.default_rng([seed & 0xFFFFFFFF, _h("speakers", lang)])
    fest = list(eng.festival_voices())
    pipers = list(eng.piper_voices())
    english = lang.split("-")[0] == "en"
    usable = [
        e
        for e in engines
        if (english or e not in eng.ENGLISH_ONLY) and (e != "festival" or fest) and (e != "piper" or pipers)
    ]
    ew = {**ENGINE_WEIGHTS, **(engine_weights or {})}
    weights = np.array([max(0.0, ew.get(e, 0.0)) for e in usable], dtype=np.float64)
    if not usable or weights.sum() <= 0:
        if english and usable:
            raise TinyKWSError("--engine-weights: at least one engine needs a positive weight")
        usable, weights = ["espeak"], np.ones(1)  # the only engine that speaks this language
    weights /= weights.sum()
    phonemizer = ""
    if not english and accented > 0 and "piper" in engines and pipers:
        usable, weights = ["espeak", "piper"], np.array([1.0 - accented, accented])
        phonemizer = lang
    dialects = eng.espeak_dialects(lang)
    variants = [""] + list(eng.espeak_variants())
    s = perturbation.strength
    seen: set[tuple] = set()
    speakers: list[Speaker] = []
    tries = 0
    while len(speakers) < n:
        tries += 1
        if tries > 100 * n + 1000:
            raise TinyKWSError(f"--speakers: cannot draw {n} distinct speakers for '{lang}'")
        engine = str(rng.choice(usable, p=weights))
        if engine == "espeak":
            var = str(rng.choice(variants))
            name = str(rng.choice(dialects)) + (f"+{var}" if var else "")
        elif engine == "flite":
            name = str(rng.choice(eng.FLITE_VOICES))
        elif engine == "piper":
            name = str(rng.choice(pipers))
        else:
            name = str(rng.choice(fest))
        voice = eng.Voice(
            engine=engine,
            name=name,
            pitch=int(rng.integers(20, 81)),
            speed=int(rng.integers(130, 211)),
            amplitude=int(rng.integers(70, 161)),
            phonemizer=phonemizer if engine == "piper" else "",
        )
        alpha = float(np.exp(rng.uniform(-perturbation.vtlp, perturbation.vtlp) * s))
        reverb = rng.random() < perturbation.reverb_prob * min(1.0, s)
        rt60 = float(rng.uniform(*perturbation.rt60)) if reverb else None
        drr = float(rng.uniform(*perturbation.drr_db))
        mic_seed = int(rng.integers(0, 2**31)) if rng.random() < perturbation.mic_prob * min(1.0, s) else None
        key = (voice.engine, voice.name, voice.pitch, voice.speed, voice.amplitude)
        if key in seen:
            continue
        seen.add(key)
        # drawn from its own generator, so that the other draws stay as they were without it
        vrng = np.random.default_rng([seed & 0xFFFFFFFF, _h("voice", lang, len(speakers))])
        f0 = None
        if engine in FEW_VOICES and vrng.random() < perturbation.voice_conversion * min(1.0, s):
            lo, hi = np.log(perturbation.f0_range)
            f0 = float(np.exp(vrng.uniform(lo, hi)))
        speakers.append(
            Speaker(
                id=f"synth-{lang}-{len(speakers):04d}",
                language=lang,
                voice=voice,
                alpha=alpha,
                rt60=rt60,
                drr_db=drr,
                mic_seed=mic_seed,
                f0_factor=f0,
            )
        )
    # split by speaker: a seeded permutation, ~80/10/10, dev and test never empty from 3 speakers
    order = rng.permutation(n)
    n_dev = max(1, round(0.1 * n)) if n >= 3 else 0
    n_test = max(1, round(0.1 * n)) if n >= 3 else 0
    split_of = {}
    for rank, i in enumerate(order):
        split_of[int(i)] = "DEV" if rank < n_dev else "TEST" if rank < n_dev + n_test else "TRAIN"
    return [replace(sp, split=split_of[i]) for i, sp in enumerate(speakers)]


def render_clip(
    raw: np.ndarray, sr_in: int, speaker: Speaker, rng: np.random.Generator, p: Perturbation
) -> np.ndarray:
    """Turn one raw engine utterance into a 1 s, 16 kHz clip with the word at a random offset."""
    s = p.strength
    x = pt.trim_silence(raw, sr_in)
    if len(x) == 0:
        raise TinyKWSError(f"{speaker.voice.engine} {speaker.voice.name}: produced silence")
    if speaker.f0_factor is not None:
        x, sr_in = pt.world_pitch(x, sr_in, speaker.f0_factor)
    alpha = speaker.alpha * float(np.exp(rng.uniform(-p.clip_vtlp, p.clip_vtlp) * s))
    x = pt.vocal_tract_shift(x, sr_in, alpha, SR)
    if s > 0:
        x = pt.time_stretch(x, float(np.exp(rng.uniform(-p.tempo, p.tempo) * s)), SR)
    if len(x) > MAX_WORD_S * SR:
        x = pt.time_stretch(x, len(x) / (0.9 * SR), SR)[: int(MAX_WORD_S * SR)]
    n_word = len(x)
    if speaker.rt60 is not None:
        x = pt.reverberate(x, pt.room_impulse_response(rng, speaker.rt60, speaker.drr_db, SR))
    if speaker.mic_seed is not None:
        x = pt.microphone(x, np.random.default_rng(speaker.mic_seed), min(s, 2.0), SR)
    offset = int(rng.integers(0, CLIP - n_word + 1))
    out = np.zeros(CLIP, dtype=np.float64)
    seg = x[: CLIP - offset]
    out[offset : offset + len(seg)] = seg
    peak = float(np.max(np.abs(out))) or 1.0
    if s > 0:
        floor_db = rng.uniform(*p.noise_floor_db)
        out += pt.colored_noise(CLIP, float(rng.choice([0.0, 1.0, 2.0])), rng) * peak * 10 ** (floor_db / 20)
        level_db = rng.uniform(*p.peak_dbfs)
    else:
        level_db = -1.0
    out *= 10 ** (level_db / 20) / (float(np.max(np.abs(out))) or 1.0)
    return out.astype(np.float32)


def _wav_bytes(x: np.ndarray) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(x, -1.0, 1.0), SR, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def _words_of(
    speaker_id: str, words: list[str], keywords: list[str], others: int | None, seed: int
) -> list[str]:
    """The words one speaker says: every keyword, and all or a seeded sample of the others."""
    if others is None:
        return list(words)
    kw = [w for w in words if w in keywords]
    rest = [w for w in words if w not in keywords]
    if others < len(rest):
        rng = np.random.default_rng([seed & 0xFFFFFFFF, _h("others", speaker_id)])
        chosen = set(rng.choice(len(rest), others, replace=False).tolist())
        rest = [w for i, w in enumerate(rest) if i in chosen]
    return kw + rest


def _synth_speaker(args: tuple) -> list[dict[str, str]]:
    """Worker: every word and take of one speaker, written under clips_dir. Returns CSV rows."""
    clips_dir, speaker, words, takes, seed, p = args
    clips_dir = Path(clips_dir)
    texts, keys = [], []
    for wi, word in enumerate(words):
        for take in range(takes):
            rng = np.random.default_rng([seed & 0xFFFFFFFF, _h("text", speaker.id, word, take)])
            term = str(rng.choice(["", ".", "!", "?", ","])) if (p.intonation and p.strength > 0) else ""
            texts.append(word + term)
            keys.append((wi, word, take))
    audio = eng.synthesize_texts(texts, speaker.voice)
    rows = []
    for (_wi, word, take), (raw, sr_in) in zip(keys, audio, strict=True):
        rng = np.random.default_rng([seed & 0xFFFFFFFF, _h("clip", speaker.id, word, take)])
        clip = render_clip(raw, sr_in, speaker, rng, p)
        link = f"{word}/{speaker.id}_nohash_{take}.wav"
        (clips_dir / word).mkdir(parents=True, exist_ok=True)
        (clips_dir / link).write_bytes(_wav_bytes(clip))
        rows.append({"SET": speaker.split, "LINK": link, "WORD": word, "VALID": "True",
                     "SPEAKER": speaker.id, "GENDER": "NAN"})  # fmt: skip
    return rows


def _config(languages, words, speakers, seed, takes, engines, p) -> dict:
    cfg = {
        "format": FORMAT_VERSION,
        "languages": list(languages),
        "words": {k: list(v) for k, v in words.items()},
        "speakers": speakers,
        "takes": takes,
        "seed": seed,
        "engines": list(engines),
        "perturbation": asdict(p),
    }
    return json.loads(json.dumps(cfg))  # tuples -> lists, as the marker file will hold them


def resolve_engines(requested: list[str] | None) -> list[str]:
    """Requested engines (default: all installed). Unknown or missing ones are errors/notices."""
    have = eng.available_engines()
    if "espeak" not in have:
        raise missing_tool("espeak-ng", "sudo apt-get install espeak-ng")
    if requested is None:
        missing = [e for e in eng.ENGINES if e not in have]
        if missing:
            notice(
                f"synth: engines not installed, English voices will be fewer: {', '.join(missing)} "
                f"(`{DOCTOR}` says how to install them)"
            )
        return have
    for e in requested:
        if e not in eng.ENGINES:
            raise TinyKWSError(f"--engines: unknown engine '{e}' (known: {', '.join(eng.ENGINES)})")
        if e not in have:
            raise TinyKWSError(f"--engines: '{e}' is not installed (`{DOCTOR}` says how to install it)")
    return [e for e in eng.ENGINES if e in requested]


def synthesize(
    out: str | os.PathLike[str],
    languages: list[str] | None = None,
    words: list[str] | None = None,
    speakers: int = 40,
    seed: int = 0,
    jobs: int | None = None,
    takes: int = 1,
    engines: list[str] | None = None,
    perturbation: Perturbation | None = None,
    force: bool = False,
    speakers_per_language: dict[str, int] | None = None,
    engine_weights: dict[str, float] | None = None,
    keywords: list[str] | None = None,
    others_per_speaker: int | None = None,
    accented: float = 0.0,
) -> SynthResult:
    """Write a synthetic corpus in the MSWC layout under `out` (atomically: all or nothing).

    `words` applies to every language; by default each language speaks its built-in list.
    `speakers` is per language; `speakers_per_language` overrides it for some languages (the
    demo gives English many speakers and the unknown-word languages fewer). `engine_weights`
    overrides ENGINE_WEIGHTS, the share of English speakers per engine.
    `others_per_speaker`: every speaker says all `keywords` but only this many of the other
    words (a seeded random choice per speaker), as in MSWC where no speaker says every word.
    A keyword model needs many keyword speakers and only a ~10% share of unknown words, so
    this spends synthesis time where training needs it.
    `accented`: the share of each non-English language's speakers that are piper's English
    neural voices reading that language's IPA (make_speakers); 0, the default, adds none.
    An existing corpus at `out` written with the same settings is reused (unless `force`);
    any other existing non-empty directory that is not a synthetic corpus is refused.
    """
    from tinykws.fsutil import atomic_dir, atomic_write_text

    out = Path(out)
    p = perturbation or Perturbation()
    langs = list(dict.fromkeys(languages or DEFAULT_LANGUAGES))
    if not langs:
        raise TinyKWSError("--languages: no language given")
    if takes < 1:
        raise TinyKWSError(f"--takes: must be at least 1, got {takes}")
    n_speakers = {lang: int((speakers_per_language or {}).get(lang, speakers)) for lang in langs}
    for lang, n in n_speakers.items():
        if n < 1:
            raise TinyKWSError(f"--speakers: must be at least 1, got {n} for '{lang}'")
    extra = sorted(set(speakers_per_language or {}) - set(langs))
    if extra:
        raise TinyKWSError(f"--speakers-per-language: {', '.join(extra)} not among --languages")
    if not 0.0 <= p.strength <= 2.0:
        raise TinyKWSError(f"--perturb: must be between 0 and 2, got {p.strength}")
    eng.espeak_languages()  # raises when espeak-ng is missing
    for lang in langs:
        if not eng.espeak_knows(lang):
            raise TinyKWSError(f"--languages: espeak-ng does not know language '{lang}'")
    used_engines = resolve_engines(engines)
    if p.voice_conversion > 0 and not pt.world_available():
        notice(f"synth: pyworld not installed (see {DOCTOR}), so no WORLD pitch changes")
        p = replace(p, voice_conversion=0.0)
    word_lists = {lang: [_check_word(w) for w in words] if words else builtin_words(lang) for lang in langs}
    word_lists = {k: list(dict.fromkeys(v)) for k, v in word_lists.items()}
    if any(not v for v in word_lists.values()):
        raise TinyKWSError("--words: no words given")
    unknown_engines = sorted(set(engine_weights or {}) - set(eng.ENGINES))
    if unknown_engines:
        raise TinyKWSError(f"--engine-weights: unknown engine {', '.join(unknown_engines)}")
    weights = {
        e: float(w) for e, w in {**ENGINE_WEIGHTS, **(engine_weights or {})}.items() if e in used_engines
    }
    kws = list(dict.fromkeys(_check_word(k) for k in keywords)) if keywords else []
    absent = [k for k in kws if not any(k in v for v in word_lists.values())]
    if absent:
        raise TinyKWSError(f"--keywords: {', '.join(absent)} not among the words to synthesize")
    if others_per_speaker is not None and others_per_speaker < 0:
        raise TinyKWSError(f"--others-per-speaker: must be 0 or more, got {others_per_speaker}")
    config = _config(langs, word_lists, n_speakers, seed, takes, used_engines, p)
    config["engine_weights"] = weights
    if not 0.0 <= accented <= 1.0:
        raise TinyKWSError(f"--accented: must be between 0 and 1, got {accented}")
    if accented > 0:  # recorded only when used, so corpora written before it are reused
        config["accented"] = accented
    if others_per_speaker is not None:
        config["keywords"] = kws
        config["others_per_speaker"] = others_per_speaker

    if out.exists():
        marker = out / MARKER
        if marker.is_file():
            try:
                old = json.loads(marker.read_text(encoding="utf-8")).get("config")
            except (OSError, ValueError):
                old = None
            if old == config and not force:
                n = sum(1 for _ in out.glob("*/clips/*/*.wav"))
                return SynthResult(
                    out, n, langs, word_lists, n_speakers, 0.0, reused=True, engines=used_engines
                )
        elif not out.is_dir() or any(out.iterdir()):
            raise TinyKWSError(
                f"--out: {out} exists and is not a tinykws synthetic corpus; refusing to replace it"
            )

    jobs = max(1, jobs or os.cpu_count() or 1)
    all_speakers = {
        lang: make_speakers(lang, n_speakers[lang], seed, used_engines, p, weights, accented)
        for lang in langs
    }
    said = {
        (lang, sp.id): _words_of(sp.id, word_lists[lang], kws, others_per_speaker, seed)
        for lang in langs
        for sp in all_speakers[lang]
    }
    n_clips = sum(len(w) * takes for w in said.values())
    t0 = time.perf_counter()
    with atomic_dir(out) as tmp:
        tasks = []
        for lang in langs:
            (tmp / lang / "clips").mkdir(parents=True, exist_ok=True)
            for sp in all_speakers[lang]:
                if said[(lang, sp.id)]:
                    tasks.append((str(tmp / lang / "clips"), sp, said[(lang, sp.id)], takes, seed, p))
        rows: dict[str, list[dict[str, str]]] = {lang: [] for lang in langs}

        def results():
            if jobs == 1 or len(tasks) == 1:
                for task in tasks:
                    r = _synth_speaker(task)
                    rows[task[1].language].extend(r)
                    yield from r
                return
            with ThreadPoolExecutor(max_workers=min(jobs, len(tasks))) as ex:
                futs = {ex.submit(_synth_speaker, t): t for t in tasks}
                try:
                    for f in as_completed(futs):
                        r = f.result()
                        rows[futs[f][1].language].extend(r)
                        yield from r
                except BaseException:
                    for f in futs:
                        f.cancel()
                    raise

        for _ in progress(results(), desc="synth", total=n_clips, unit="clip"):
            pass

        meta = {}
        for lang in langs:
            lrows = sorted(rows[lang], key=lambda r: r["LINK"])
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=SPLITS_HEADER, lineterminator="\n")
            w.writeheader()
            w.writerows(lrows)
            atomic_write_text(tmp / lang / f"{lang}_splits.csv", buf.getvalue())
            counts: dict[str, int] = {}
            files: dict[str, list[str]] = {}
            for r in lrows:
                counts[r["WORD"]] = counts.get(r["WORD"], 0) + 1
                files.setdefault(r["WORD"], []).append(r["LINK"].split("/", 1)[1][: -len(".wav")])
            meta[lang] = {
                "language": lang,
                "number_of_words": len(counts),
                "wordcounts": counts,
                "filenames": files,
            }
        atomic_write_text(
            tmp / "metadata.json", json.dumps(meta, ensure_ascii=False, indent=1, sort_keys=True)
        )
        speakers_doc = {
            lang: [
                {
                    "id": sp.id,
                    "split": sp.split,
                    "voice": asdict(sp.voice),
                    "alpha": round(sp.alpha, 4),
                    "rt60": None if sp.rt60 is None else round(sp.rt60, 3),
                    "drr_db": round(sp.drr_db, 2),
                    "microphone": sp.mic_seed is not None,
                    "f0_factor": None if sp.f0_factor is None else round(sp.f0_factor, 3),
                }  # fmt: skip
                for sp in all_speakers[lang]
            ]
            for lang in langs
        }
        atomic_write_text(
            tmp / MARKER,
            json.dumps(
                {"config": config, "speakers": speakers_doc}, ensure_ascii=False, indent=1, sort_keys=True
            ),
        )
    secs = time.perf_counter() - t0
    return SynthResult(out, n_clips, langs, word_lists, n_speakers, secs, engines=used_engines)


# --------------------------------------------------------------------------- CLI


def _csv_list(s: str | None) -> list[str] | None:
    if s is None:
        return None
    items = [x.strip() for x in s.split(",") if x.strip()]
    return items or None


def cli_configure(p) -> None:
    p.add_argument("--out", required=True, help="corpus root to write (MSWC layout)")
    p.add_argument(
        "--languages",
        help=f"comma-separated espeak-ng language codes (default: {','.join(DEFAULT_LANGUAGES)})",
    )
    p.add_argument("--words", help="comma-separated words spoken in every language (default: built-in lists)")
    p.add_argument("--speakers", type=int, default=40, help="synthetic speakers per language (default 40)")
    p.add_argument(
        "--speakers-per-language",
        help="per-language overrides of --speakers, e.g. de=12,es=12",
    )
    p.add_argument("--keywords", help="words every speaker says (with --others-per-speaker)")
    p.add_argument(
        "--others-per-speaker",
        type=int,
        default=None,
        help="each speaker says all --keywords but only this many other words (default: all)",
    )
    p.add_argument("--takes", type=int, default=1, help="clips per speaker and word (default 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed writes identical files")
    p.add_argument("--jobs", type=int, default=None, help="parallel synthesis workers (default: all cores)")
    p.add_argument(
        "--engines", help="comma-separated from espeak,flite,festival,piper (default: all installed)"
    )
    p.add_argument(
        "--engine-weights",
        help="relative share of English speakers per engine, e.g. espeak=1,flite=1,festival=1,piper=1"
        " (default even)",
    )
    p.add_argument(
        "--accented",
        type=float,
        default=0.0,
        help="share of each non-English language's speakers given to piper's English neural voice"
        " reading the language's IPA, an accented speaker (0 to 1, default 0)",
    )
    p.add_argument(
        "--perturb",
        type=float,
        default=1.0,
        help="strength of speaker/room/microphone perturbations, 0 (plain synthesizer) to 2 (default 1)",
    )
    p.add_argument("--force", action="store_true", help="re-synthesize even if --out matches these settings")


def _per_language(s: str | None) -> dict[str, int] | None:
    if not s:
        return None
    out = {}
    for item in _csv_list(s) or []:
        lang, sep, n = item.partition("=")
        if not sep or not n.strip().lstrip("-").isdigit():
            raise TinyKWSError(f"--speakers-per-language: '{item}' is not LANG=N")
        out[lang.strip()] = int(n)
    return out


def _weights(s: str | None) -> dict[str, float] | None:
    if not s:
        return None
    out = {}
    for item in _csv_list(s) or []:
        name, sep, w = item.partition("=")
        try:
            out[name.strip()] = float(w) if sep else float("nan")
        except ValueError:
            out[name.strip()] = float("nan")
        if not out[name.strip()] >= 0:
            raise TinyKWSError(f"--engine-weights: '{item}' is not ENGINE=WEIGHT with WEIGHT >= 0")
    return out


def cli_run(args) -> int:
    r = synthesize(
        args.out,
        languages=_csv_list(args.languages),
        words=_csv_list(args.words),
        speakers=args.speakers,
        seed=args.seed,
        jobs=args.jobs,
        takes=args.takes,
        engines=_csv_list(args.engines),
        perturbation=Perturbation(strength=args.perturb),
        force=args.force,
        accented=args.accented,
        speakers_per_language=_per_language(args.speakers_per_language),
        engine_weights=_weights(args.engine_weights),
        keywords=_csv_list(args.keywords),
        others_per_speaker=args.others_per_speaker,
    )
    if r.reused:
        print(f"{r.root}: already holds this corpus ({r.clips} clips); use --force to re-synthesize")
        return 0
    print(
        f"wrote {r.clips} clips ({len(r.languages)} languages, "
        f"{sum(len(v) for v in r.words.values())} words, "
        f"{sum(r.speakers.values())} speakers; engines {','.join(r.engines)}) to {r.root} "
        f"in {r.seconds:.1f} s ({r.clips_per_s:.1f} clips/s)"
    )
    return 0
