"""`tinykws listen`: streaming keyword detection on a board (firmware/PROTOCOL.md, "Streaming").

Why the device does the work: on a real board the audio comes from its microphone and nothing
but detections crosses the wire, so the emulated boards run the very same path with the host
as the "microphone": the recording is sent as binary 16 kHz PCM (`audio N`, one hop per block,
2 bytes per sample instead of 4 hex digits, since the emulated UART carries ~40 µs per byte),
and the device keeps a one-second ring buffer, computes the features with its C front end at
every hop, runs the model, smooths the posteriors and prints detections with a timestamp in ms
of audio. `simulate()` is the host twin of that loop (Python front end + tflite_micro), used
by the tests to check the device's features (within 1 LSB), outputs and detections.

Pointed at a real board's port without `--audio`, the command listens live to its microphone.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinykws.data.mlperf import MLPERF_LABELS
from tinykws.errors import TinyKWSError

SR = 16000
SAMPLES_PER_MS = SR // 1000
WINDOW = 16000  # one second: the model's clip
# A recording to play into a board is decoded whole (resampling it in pieces would change its
# samples): an hour bounds that at about 0.7 GB (48 kHz mono float32) and is more than any
# replay on an emulated board gets through.
STREAM_MAX_SECONDS = 3600.0


@dataclass(frozen=True)
class ListenConfig:
    """Posterior smoothing, as the device applies it (defaults are the device's)."""

    hop_ms: int = 250  # one inference per hop
    avg_ms: int = 500  # posteriors of the last avg_ms / hop_ms inferences are averaged
    threshold: float = 0.6  # averaged keyword probability that counts as a detection
    suppress_ms: int = 1000  # no new detection within this time after one

    def validate(self) -> None:
        h, a = self.hop_ms, self.avg_ms
        if not (10 <= h <= 1000) or a < h or a // h > 16:
            raise TinyKWSError(
                f"--hop-ms {h} / --avg-ms {a}: need 10 <= hop <= 1000 and hop <= avg <= 16 x hop"
            )
        if not 0.0 <= self.threshold <= 1.0:
            raise TinyKWSError(f"--threshold {self.threshold}: must be within 0..1")
        if not 0 <= self.suppress_ms <= 60000:
            raise TinyKWSError(f"--suppress-ms {self.suppress_ms}: must be within 0..60000")

    @property
    def threshold_milli(self) -> int:
        return int(round(self.threshold * 1000))


@dataclass
class Detection:
    label: str
    ms: int  # end of the window that triggered it, in ms from the start of the audio
    score: float  # averaged posterior of the keyword


@dataclass
class ListenResult:
    """Detections and, for checking, each hop's figures."""

    detections: list[Detection]
    hops: list[tuple[int, int, float]] = field(default_factory=list)  # (ms, best class, score)
    hop_cost: list[int] = field(default_factory=list)  # device counter units per hop (verbose >= 1)
    features: list[np.ndarray] = field(default_factory=list)  # int8 [490] per hop (verbose 2)
    outputs: list[np.ndarray] = field(default_factory=list)  # int8 model output per hop (verbose 2)
    samples: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"detections": [asdict(d) for d in self.detections]}


def pcm16(audio: np.ndarray) -> np.ndarray:
    """float [-1, 1] audio -> int16 PCM the way the host front end reads it back (x / 32768)."""
    a = np.asarray(audio)
    if a.dtype == np.int16:
        return a
    return np.clip(np.round(a.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def load_stream(path: str | os.PathLike[str]) -> np.ndarray:
    """A recording of up to an hour as 16 kHz mono int16 (resampled / mixed down with notices),
    through the verified reader: a longer, truncated or corrupt file is a one-line error."""
    from tinykws.audio import load_audio

    x = pcm16(load_audio(path, max_seconds=STREAM_MAX_SECONDS))
    if x.size == 0:
        raise TinyKWSError(f"{path}: no audio samples")
    return x


def resolve_labels(labels: str | list[str] | None, n_outputs: int | None = None) -> list[str] | None:
    """`--labels a,b,c`, a file with one label per line, or `mlperf` (the reference model's)."""
    if labels is None:
        return None
    if isinstance(labels, list):
        out = labels
    elif labels == "mlperf":
        out = list(MLPERF_LABELS)
    elif Path(labels).is_file():
        out = [ln.strip() for ln in Path(labels).read_text(encoding="utf-8").splitlines() if ln.strip()]
    else:
        out = [s.strip() for s in labels.split(",")]
    if not out or any(not s for s in out):
        raise TinyKWSError(f"--labels {labels!r}: empty label")
    if n_outputs is not None and len(out) != n_outputs:
        raise TinyKWSError(f"--labels: {len(out)} labels given, the model has {n_outputs} outputs")
    return out


def _smooth(
    history: list[np.ndarray], cfg: ListenConfig, keyword: np.ndarray, scale: float
) -> tuple[int, float]:
    """Best keyword class and its score over the last avg/hop outputs, as the device does it
    (sums of q - zero_point in integers, then one float32 multiply)."""
    n = min(len(history), cfg.avg_ms // cfg.hop_ms)
    sums = np.sum(np.stack(history[-n:]), axis=0).astype(np.int64)
    sums = np.where(keyword, sums, np.iinfo(np.int64).min)
    best = int(np.argmax(sums))
    score = np.float32(np.float32(sums[best]) / np.float32(n) * np.float32(scale))
    milli = int(np.floor(np.float32(score * np.float32(1000.0)) + np.float32(0.5)))
    return best, milli / 1000.0


def simulate(
    pcm: np.ndarray,
    model: str | os.PathLike[str],
    frontend: Any,
    labels: list[str] | None = None,
    cfg: ListenConfig | None = None,
) -> ListenResult:
    """The device's streaming loop on the host: Python front end + tflite_micro (the oracles).
    `frontend` is a front end name or a tinykws.features.FrontEnd."""
    from tinykws.features import get_frontend
    from tinykws.models.tflm import TFLMRunner

    cfg = cfg or ListenConfig()
    cfg.validate()
    fe = get_frontend(frontend) if isinstance(frontend, str) else frontend
    runner = TFLMRunner(model)
    scale, zp = runner.output_quant
    hop = cfg.hop_ms * SAMPLES_PER_MS
    padded = np.concatenate([np.zeros(WINDOW, np.int16), pcm16(pcm)])
    ends = list(range(hop, len(pcm) + 1, hop))
    feats: list[np.ndarray] = []
    for s in range(0, len(ends), 256):  # batches: the front end is vectorized, memory bounded
        win = np.stack([padded[e : e + WINDOW] for e in ends[s : s + 256]])
        feats += list(fe.int8_features(win).reshape(len(win), -1))
    outs = [np.asarray(runner.invoke(f), np.int8) for f in feats]
    res = detect(outs, [e // SAMPLES_PER_MS for e in ends], cfg, labels, scale, zp)
    res.features, res.samples = feats, len(pcm)
    return res


def detect(
    outputs: list[np.ndarray],
    ms: list[int],
    cfg: ListenConfig,
    labels: list[str] | None,
    scale: float,
    zero_point: int,
) -> ListenResult:
    """The device's smoothing and detection rule on per-hop int8 outputs (so that a threshold
    or window sweep does not need to run the model again)."""
    n_out = len(outputs[0]) if outputs else 0
    names = labels or [f"class{i}" for i in range(n_out)]
    keyword = np.array([not n.startswith("_") for n in names])
    res = ListenResult([])
    history: list[np.ndarray] = []
    last: int | None = None
    for t, o in zip(ms, outputs, strict=True):
        history.append(o.astype(np.int64) - zero_point)
        best, score = _smooth(history, cfg, keyword, scale)
        res.hops.append((t, best, score))
        res.outputs.append(o)
        if score >= cfg.threshold_milli / 1000.0 - 1e-9 and (last is None or t - last >= cfg.suppress_ms):
            res.detections.append(Detection(names[best], t, score))
            last = t
    return res


def _parse_line(ln: str, res: ListenResult, labels: list[str] | None) -> Detection | None:
    """Fold one streaming line into `res`; returns the detection it carries, if any."""

    def body(prefix: str) -> list[str]:
        return ln[len(prefix) : -1].split(",")

    if ln.startswith("m-detect-["):
        name, idx, ms, score = body("m-detect-[")
        i = int(idx)
        label = labels[i] if labels is not None and i < len(labels) else name
        d = Detection(label, int(ms), float(score))
        res.detections.append(d)
        return d
    if ln.startswith("m-hop-["):
        ms, best, score, cost = body("m-hop-[")
        res.hops.append((int(ms), int(best), float(score)))
        res.hop_cost.append(int(cost))
    elif ln.startswith("m-features-["):
        res.features.append(np.array([int(v) for v in body("m-features-[")], np.int8))
    elif ln.startswith("m-results-int8-["):
        res.outputs.append(np.array([int(v) for v in body("m-results-int8-[")], np.int8))
    elif ln.startswith("m-audio-[") or ln.startswith("m-listen-done-["):
        res.samples = int(body(ln[: ln.index("[") + 1])[0])
    return None


def configure_device(dev: Any, cfg: ListenConfig, verbose: int) -> None:
    cfg.validate()
    dev.command(f"listen cfg {cfg.hop_ms} {cfg.avg_ms} {cfg.threshold_milli} {cfg.suppress_ms} {verbose}")


def stream_to_device(
    dev: Any,
    pcm: np.ndarray,
    cfg: ListenConfig,
    labels: list[str] | None = None,
    verbose: int = 0,
    on_detection: Any = None,
    timeout: float = 30.0,
) -> ListenResult:
    """Play `pcm` into a device in streaming mode, one hop per `audio N` block.

    A serial fault (silence, garbage, a reply that never ends) raises its DeviceError with the
    hops done so far in the message and the detections so far in `exc.partial` (a ListenResult),
    so a long recording's results are not lost to a fault near its end.
    """
    from tinykws.device.protocol import DeviceError, DeviceGarbage

    configure_device(dev, cfg, verbose)
    dev.command("listen start")
    res = ListenResult([])
    hop = cfg.hop_ms * SAMPLES_PER_MS
    data = pcm16(pcm).astype("<i2")
    hops = (len(data) + hop - 1) // hop
    for k, s in enumerate(range(0, len(data), hop)):
        block = data[s : s + hop]
        try:
            for ln in dev.command(f"audio {len(block)}", timeout=timeout, payload=block.tobytes()):
                try:
                    d = _parse_line(ln, res, labels)
                except (ValueError, IndexError):
                    raise DeviceGarbage(f"{dev.name}: malformed streaming line: {ln[:60]!r}") from None
                if d is not None and on_detection is not None:
                    on_detection(d)
        except DeviceError as exc:
            err = type(exc)(f"{exc} [after {k} of {hops} hops; {len(res.detections)} detection(s) kept]")
            err.partial = res  # type: ignore[attr-defined]
            raise err from exc
    dev.command("listen stop")
    return res


def listen_mic(
    dev: Any,
    cfg: ListenConfig,
    labels: list[str] | None = None,
    seconds: int = 0,
    on_detection: Any = None,
) -> ListenResult:
    """Live listening on a board with a microphone, until `seconds` (0: Ctrl-C) have passed."""
    from tinykws.device.protocol import DeviceCommandError

    configure_device(dev, cfg, 0)
    dev.write_raw(f"listen mic {seconds}%".encode("ascii"))
    res = ListenResult([])
    seen: list[str] = []
    try:
        while True:
            ln = dev._readline(time.monotonic() + (seconds + 10 if seconds else 1e9), "'listen mic'", seen)
            seen.append(ln)
            if ln.startswith("e-["):
                dev.read_reply()
                raise DeviceCommandError(f"{dev.name}: 'listen mic' failed: {ln[3:-1]}")
            if ln == "m-ready":
                break
            d = _parse_line(ln, res, labels)
            if d is not None and on_detection is not None:
                on_detection(d)
    except KeyboardInterrupt:
        dev.write_raw(b"%")  # any byte stops the device's live loop
        for ln in dev.read_reply("the end of 'listen mic'"):
            _parse_line(ln, res, labels)
    return res


def listen(
    board: str,
    model: str | os.PathLike[str],
    audio: str | os.PathLike[str] | None = None,
    *,
    labels: str | list[str] | None = None,
    frontend: str | None = None,
    cfg: ListenConfig | None = None,
    port: str | None = None,
    verbose: int = 0,
    seconds: int = 0,
    build_dir: str | os.PathLike[str] | None = None,
    timeout: float = 30.0,
    on_detection: Any = None,
) -> ListenResult:
    """Build a streaming image of `model` for `board` and run a recording (or the mic) through it."""
    from tinykws import resources
    from tinykws.boards import load_board
    from tinykws.device.qemu import open_board
    from tinykws.firmware.build import build_firmware, model_labels, resolve_model

    cfg = cfg or ListenConfig()
    cfg.validate()
    b = load_board(board)
    tflite, model_dir = resolve_model(model)
    lab = resolve_labels(labels) if labels is not None else (model_labels(model_dir) if model_dir else None)
    pcm = load_stream(audio) if audio is not None else None
    if pcm is None and (port is None or b.flash_method == "qemu"):
        raise TinyKWSError(f"{b.name}: no microphone; give --audio FILE.wav to stream a recording into it")
    name = model_dir.name if model_dir is not None else tflite.stem
    out = Path(build_dir) if build_dir is not None else resources.build_root() / b.name / f"{name}-listen"
    res = build_firmware(b, model, out, frontend=frontend, audio=True, labels=lab)
    if res.frontend is None:
        raise TinyKWSError(
            f"{model}: no feature front end: give --frontend mlperf|psf (a bare .tflite has none)"
        )
    with open_board(b, res.elf, port, timeout=timeout) as dev:
        dev.expect_model(res.input_size, res.output_size)
        if pcm is not None:
            return stream_to_device(dev, pcm, cfg, lab, verbose, on_detection, timeout)
        return listen_mic(dev, cfg, lab, seconds, on_detection)


def simulate_file(
    model: str | os.PathLike[str],
    audio: str | os.PathLike[str] | None,
    *,
    labels: str | list[str] | None = None,
    frontend: str | None = None,
    cfg: ListenConfig | None = None,
) -> ListenResult:
    """`listen --simulate`: labels and front end from the model directory or the arguments."""
    from tinykws.firmware.build import _model_frontend, model_labels, resolve_model

    if audio is None:
        raise TinyKWSError("--simulate: needs --audio FILE")
    tflite, model_dir = resolve_model(model)
    fe = _model_frontend(model_dir, frontend)
    if fe is None:
        raise TinyKWSError(
            f"{model}: no feature front end: give --frontend mlperf|psf (a bare .tflite has none)"
        )
    lab = resolve_labels(labels) if labels is not None else (model_labels(model_dir) if model_dir else None)
    return simulate(load_stream(audio), tflite, fe, lab, cfg)


def cli_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--board", default=None, help="board profile name (boards/<name>.toml)")
    p.add_argument("--model", required=True, help="model directory or int8 .tflite")
    p.add_argument("--audio", default=None, help="recording to play into the device (any length)")
    p.add_argument(
        "--simulate", action="store_true",
        help="no board: run the device's loop on the host (Python front end + tflite_micro)",
    )  # fmt: skip
    p.add_argument("--port", default=None, help="serial port of a real board (without --audio: live mic)")
    p.add_argument("--labels", default=None, help="labels of a bare .tflite: a,b,c | file | mlperf")
    p.add_argument("--frontend", default=None, help="feature front end of a bare .tflite (mlperf|psf)")
    p.add_argument("--hop-ms", type=int, default=ListenConfig.hop_ms, help="inference hop (ms)")
    p.add_argument("--avg-ms", type=int, default=ListenConfig.avg_ms, help="posterior averaging window (ms)")
    p.add_argument("--threshold", type=float, default=ListenConfig.threshold, help="detection threshold 0..1")
    p.add_argument(
        "--suppress-ms", type=int, default=ListenConfig.suppress_ms, help="quiet time after a detection"
    )
    p.add_argument("--seconds", type=int, default=0, help="live mic: stop after this long (0: Ctrl-C)")
    p.add_argument("--json", type=Path, default=None, help="write {'detections': [...]} here")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds of silence = error")


def cli_run(args: argparse.Namespace) -> int:
    from tinykws.fsutil import atomic_write_text

    cfg = ListenConfig(args.hop_ms, args.avg_ms, args.threshold, args.suppress_ms)

    def show(d: Detection) -> None:
        print(f"{d.ms / 1000:8.3f} s  {d.label:<12} {d.score:.3f}", flush=True)

    if args.simulate:
        r = simulate_file(args.model, args.audio, labels=args.labels, frontend=args.frontend, cfg=cfg)
        for d in r.detections:
            show(d)
        where = "host simulation (Python front end + tflite_micro), no device"
    else:
        if args.board is None:
            raise TinyKWSError("--board: required (or --simulate to run the device's loop on the host)")
        try:
            r = listen(
                args.board, args.model, args.audio, labels=args.labels, frontend=args.frontend, cfg=cfg,
                port=args.port, seconds=args.seconds, timeout=args.timeout, on_detection=show,
            )  # fmt: skip
        except TinyKWSError as exc:
            partial = getattr(exc, "partial", None)
            if args.json and partial is not None:  # keep what was detected before the fault
                rec = {**partial.to_json(), "complete": False, "error": str(exc)}
                atomic_write_text(args.json, json.dumps(rec, indent=2) + "\n")
            raise
        where = f"on {args.board}"
    print(f"{len(r.detections)} detection(s) in {r.samples / SR:.2f} s of audio ({where})")
    if args.json:
        atomic_write_text(args.json, json.dumps(r.to_json(), indent=2) + "\n")
    return 0
