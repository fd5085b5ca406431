"""Multi-worker training from feature shards: `tinykws train --shards DIR --workers N [--ray ADDRESS]`.

Why this design (docs/scale.md):
- **tf.distribute.MultiWorkerMirroredStrategy through TF_CONFIG.** Each worker is its own
  process with `TF_CONFIG` naming all workers. Without `--ray` they are N local processes on
  127.0.0.1 ports; with `--ray` they are N Ray actors spread over the cluster's nodes, each
  given its node's address and a free port. The training function is the same in both cases,
  and one worker (N = 1) runs it too, so 1 and N workers run one recipe.
- **One recipe for every N.** The global batch (`--batch-size`) is fixed; each worker takes
  global/N per step, the loss is summed over the global batch and divided by its size, and the
  gradients are all-reduced (summed), so a step is a step of the global batch. The learning
  rate follows the same per-epoch cosine as single-machine training, and the steps per epoch
  come from the manifest's counts, not from the worker count.
- **Data straight from the shards.** Worker w of N reads, in epoch e, the train shards at
  positions w, w+N, ... of a permutation drawn from (seed, e), with tf.data's
  FixedLengthRecordDataset; unknown words are kept with the probability that gives them their
  share, and `_silence_` rows (background noise at random volume, as `train` makes them) are
  mixed in at theirs. Features are precomputed, so there is no audio augmentation here.
- **Checkpoints as `train` has them, by hand.** The chief (worker 0) writes the model's and
  Adam's variables after every epoch (atomically), keeps the best on the dev split, and writes
  `state.json` last (the commit point). `--resume` reloads them on every worker.
- **A dead worker stops the run.** The launcher watches every worker; when one dies it stops the
  rest and ends with one line that says how to resume. The model directory is written by the
  launcher only after all workers have finished, atomically, so it never exists half-written.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinykws.data.splits import SILENCE, UNKNOWN
from tinykws.errors import TinyKWSError
from tinykws.training.variables import load_variables, variables_bytes

FAULT_ENV = "TINYKWS_FAULT_WORKER_EXIT"  # tests: "worker:epoch:step" makes that worker exit there
SILENCE_FOLDERS = ("_silence_", "_background_noise_")


@dataclass
class ShardTrainConfig:
    """Everything that determines a shard training run (stored in tinykws.json and config.json)."""

    shards: str
    keywords: list[str]
    out: str
    workers: int = 1
    language: str | None = None
    model: str = "dscnn-s"
    filters: int | None = None
    blocks: int | None = None
    epochs: int = 30
    batch_size: int = 100  # the global batch: each of N workers takes batch_size / N
    learning_rate: float = 3e-3
    seed: int = 0
    unknown_share: float = 0.1
    silence_share: float = 0.1
    eval_unknown_share: float | None = None
    max_eval_clips: int = 4000
    calibration_clips: int = 300
    shuffle_buffer: int = 8192
    noise_kinds: list[str] = field(
        default_factory=lambda: ["white", "pink", "brown", "hum", "machine", "water", "clatter", "murmur"]
    )
    noise_segments: int = 80
    # what the shards are: filled from their manifest, so that --resume refuses a re-ingested folder
    frontend_digest: str = ""
    corpus_fingerprint: str = ""

    @property
    def labels(self) -> list[str]:
        return [SILENCE, UNKNOWN, *self.keywords]


# --------------------------------------------------------------------------- the data


def class_table(cfg: ShardTrainConfig, manifest: dict[str, Any]) -> np.ndarray:
    """The class of every vocabulary entry: a keyword's index, `_silence_` or `_unknown_`."""
    index = {k: i + 2 for i, k in enumerate(cfg.keywords)}
    out = np.full(len(manifest["vocabulary"]), 1, np.int32)
    found = set()
    for i, (lang, word) in enumerate(manifest["vocabulary"]):
        if word in SILENCE_FOLDERS:
            out[i] = 0
        elif word in index and (cfg.language is None or lang == cfg.language):
            out[i] = index[word]
            found.add(word)
    missing = [k for k in cfg.keywords if k not in found]
    if missing:
        where = f" (language {cfg.language})" if cfg.language else ""
        raise TinyKWSError(f"--keywords: {', '.join(missing)} not in the shards' vocabulary{where}")
    return out


def _epoch_sizes(cfg: ShardTrainConfig, manifest: dict[str, Any], classes: np.ndarray) -> dict[str, float]:
    """Expected rows per training epoch: keywords, unknowns kept, silence; the unknown keep rate."""
    from tinykws.features.shards import label_counts

    counts = label_counts(manifest, "train")
    n_kw = sum(n for v, n in counts.items() if classes[v] >= 2)
    n_sil_data = sum(n for v, n in counts.items() if classes[v] == 0)
    n_unk = sum(n for v, n in counts.items() if classes[v] == 1)
    rest = 1.0 - cfg.unknown_share - cfg.silence_share
    if rest <= 0:
        raise TinyKWSError("--unknown-share/--silence-share: together they must be below 1")
    if n_kw == 0:
        raise TinyKWSError(f"--shards {cfg.shards}: no training clips of the keywords")
    want_unk = n_kw * cfg.unknown_share / rest
    keep = min(1.0, want_unk / n_unk) if n_unk else 0.0
    n_sil = n_kw * cfg.silence_share / rest
    total = n_kw + keep * n_unk + n_sil_data + n_sil
    return {"keywords": n_kw, "unknown": keep * n_unk, "unknown_keep": keep, "silence": n_sil, "total": total}


def silence_features(cfg: ShardTrainConfig, fe: Any, n: int, seed: int) -> np.ndarray:
    """int8 features of `n` silence rows: background noise at a random volume up to 0.1."""
    from tinykws.data.noise import NoiseBank

    segs = NoiseBank([], seed=cfg.seed, n_synth=cfg.noise_segments, kinds=cfg.noise_kinds).segments
    rng = np.random.default_rng([cfg.seed, seed])
    audio = segs[rng.integers(0, len(segs), n)] * rng.uniform(0.0, 0.1, n)[:, None]
    return fe.int8_features(audio.astype(np.float32))


def eval_set(
    cfg: ShardTrainConfig, folder: Path, manifest: dict[str, Any], classes: np.ndarray, split: str, fe: Any
) -> tuple[np.ndarray, np.ndarray]:
    """(int8 features, labels) of a held-out split: its keyword clips, unknowns at the eval share
    and silence rows, at most max_eval_clips, drawn from the split's name (the same every run)."""
    from tinykws.features.shards import read_shard

    xs, ys = [], []
    for s in manifest["shards"]:
        if s["split"] == split:
            v, q = read_shard(folder / s["file"])
            xs.append(q)
            ys.append(classes[v])
    if not xs:
        return np.zeros((0, *fe.shape), np.int8), np.zeros(0, np.int32)
    x, y = np.concatenate(xs), np.concatenate(ys)
    rng = np.random.default_rng(zlib.crc32(split.encode()))
    share = cfg.unknown_share if cfg.eval_unknown_share is None else cfg.eval_unknown_share
    kw = np.flatnonzero(y != 1)
    unk = np.flatnonzero(y == 1)
    rest = 1.0 - share - cfg.silence_share
    n_unk = min(len(unk), int(round(len(kw) * share / rest)))
    n_sil = int(round(len(kw) * cfg.silence_share / rest))
    pick = np.concatenate([kw, rng.choice(unk, n_unk, replace=False)]).astype(np.int64)
    x = np.concatenate([x[pick], silence_features(cfg, fe, n_sil, 1 if split == "dev" else 4)])
    y = np.concatenate([y[pick], np.zeros(n_sil, np.int32)]).astype(np.int32)
    if len(y) > cfg.max_eval_clips:
        keep = np.sort(rng.permutation(len(y))[: cfg.max_eval_clips])
        x, y = x[keep], y[keep]
    return x, y


def worker_files(manifest: dict[str, Any], epoch: int, seed: int, index: int, n: int) -> list[str]:
    """The train shards worker `index` of `n` reads in `epoch`: a (seed, epoch) permutation, dealt."""
    files = sorted(s["file"] for s in manifest["shards"] if s["split"] == "train")
    order = np.random.default_rng([seed, epoch, 17]).permutation(len(files))
    return [files[i] for i in order[index::n]]


def make_dataset(
    cfg: ShardTrainConfig,
    folder: Path,
    manifest: dict[str, Any],
    classes: np.ndarray,
    sizes: dict[str, float],
    silence: np.ndarray,
    fe: Any,
    epoch: int,
    index: int,
    n: int,
    steps: int,
) -> Any:
    """One worker's tf.data pipeline of one epoch: `steps` batches of batch_size / n."""
    import tensorflow as tf

    rec = manifest["record"]
    frames, coeffs = rec["features"]
    files = [str(folder / f) for f in worker_files(manifest, epoch, cfg.seed, index, n)]
    table = tf.constant(classes, tf.int32)
    seed_e = (cfg.seed * 1_000_003 + epoch * 1009 + index) % (2**31)
    keep = float(sizes["unknown_keep"])

    def decode(r: Any) -> tuple[Any, Any]:
        lab = tf.io.decode_raw(tf.strings.substr(r, 0, 4), tf.int32)[0]
        x = tf.io.decode_raw(tf.strings.substr(r, 4, frames * coeffs), tf.int8)
        return tf.reshape(x, [frames, coeffs]), tf.gather(table, lab)

    def kept(i: Any, xy: tuple[Any, Any]) -> Any:
        u = tf.random.stateless_uniform([], seed=tf.stack([tf.constant(seed_e, tf.int64), i]))
        return (xy[1] != 1) | (u < keep)

    ds = tf.data.FixedLengthRecordDataset(files, rec["record_bytes"], header_bytes=rec["header_bytes"])
    ds = ds.map(decode).enumerate().filter(kept).map(lambda i, xy: xy)
    ds = ds.shuffle(cfg.shuffle_buffer, seed=seed_e, reshuffle_each_iteration=False).repeat()
    sil_w = sizes["silence"] / sizes["total"]
    if sil_w > 0 and len(silence):
        sil = tf.data.Dataset.from_tensor_slices((silence, np.zeros(len(silence), np.int32)))
        sil = sil.shuffle(len(silence), seed=seed_e).repeat()
        ds = tf.data.Dataset.sample_from_datasets([ds, sil], [1.0 - sil_w, sil_w], seed=seed_e)
    scale, zp = np.float32(fe.input_scale), np.float32(fe.input_zero_point)

    def dequant(q: Any, y: Any) -> tuple[Any, Any]:
        return ((tf.cast(q, tf.float32) - zp) * scale)[..., None], y

    ds = ds.map(dequant).batch(cfg.batch_size // n, drop_remainder=True).take(steps)
    return ds.prefetch(2)


def steps_per_epoch(sizes: dict[str, float], batch_size: int) -> int:
    return max(1, math.ceil(sizes["total"] / batch_size))


def lr_at(cfg: ShardTrainConfig, epoch: int) -> float:
    """The per-epoch cosine of single-machine training, a pure function of the epoch."""
    return cfg.learning_rate * 0.5 * (1 + math.cos(math.pi * epoch / cfg.epochs))


# --------------------------------------------------------------------------- one worker


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """The training loop of worker `spec['index']` of `spec['n']` (TF_CONFIG already set when n > 1).

    Every worker builds the same model from the same seed, takes part in every step, and the
    chief (index 0) alone evaluates on dev and writes checkpoints.
    """
    import tensorflow as tf

    from tinykws.features import FrontEnd
    from tinykws.features.shards import read_manifest
    from tinykws.fsutil import atomic_write_bytes, atomic_write_text
    from tinykws.models import build_model

    cfg = ShardTrainConfig(**spec["config"])
    index, n = int(spec["index"]), int(spec["n"])
    ckpt = Path(spec["ckpt"])
    folder = Path(cfg.shards)
    threads = max(1, int(spec.get("threads", 1)))
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    fault = os.environ.get(FAULT_ENV, "")
    f_worker, f_epoch, f_step = (int(v) for v in fault.split(":")) if fault else (-1, -1, -1)

    comm = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.RING
    )
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=comm)
    manifest = read_manifest(folder)
    fe = FrontEnd.from_dict(manifest["frontend"])
    classes = class_table(cfg, manifest)
    sizes = _epoch_sizes(cfg, manifest, classes)
    steps = steps_per_epoch(sizes, cfg.batch_size)
    silence = silence_features(cfg, fe, 512, 0)
    chief = index == 0
    dev = eval_set(cfg, folder, manifest, classes, "dev", fe) if chief else None

    tf.keras.utils.set_random_seed(cfg.seed)
    with strategy.scope():
        model = build_model(cfg.model, fe.shape, len(cfg.labels), cfg.filters, cfg.blocks)
        opt = tf.keras.optimizers.Adam(cfg.learning_rate)
        opt.build(model.trainable_variables)
    state = json.loads((ckpt / "state.json").read_text())
    if state.get("file"):
        w, o = load_variables(ckpt / state["file"])
        model.set_weights(w)
        if len(o) != len(opt.variables):
            raise TinyKWSError(f"--resume: {ckpt / state['file']} holds another optimizer's state")
        for v, a in zip(opt.variables, o, strict=True):
            v.assign(a)
    global_batch = (cfg.batch_size // n) * n

    @tf.function
    def train_step(iterator: Any) -> Any:
        def step_fn(x: Any, y: Any) -> tuple[Any, Any]:
            with tf.GradientTape() as tape:
                p = model(x, training=True)
                per = tf.keras.losses.sparse_categorical_crossentropy(y, p)
                loss = tf.reduce_sum(per) / global_batch
                if model.losses:
                    loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            right = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(p, 1, output_type=tf.int32), y), tf.float32))
            return loss, right

        loss, right = strategy.run(step_fn, args=next(iterator))
        return (strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None),
                strategy.reduce(tf.distribute.ReduceOp.SUM, right, axis=None))  # fmt: skip

    step_times: list[float] = []
    for epoch in range(int(state["epoch"]) + 1, cfg.epochs):
        opt.learning_rate.assign(lr_at(cfg, epoch))
        dist = strategy.distribute_datasets_from_function(
            lambda _ctx, e=epoch: make_dataset(
                cfg, folder, manifest, classes, sizes, silence, fe, e, index, n, steps
            )
        )
        it = iter(dist)
        t0 = time.perf_counter()
        tot_loss = tot_right = 0.0
        for step in range(steps):
            if index == f_worker and epoch == f_epoch and step == f_step:
                os._exit(3)
            ts = time.perf_counter()
            loss, right = train_step(it)
            tot_loss += float(loss)
            tot_right += float(right)
            if step > 0 or epoch > 0:  # the first step of a run traces the graph
                step_times.append(time.perf_counter() - ts)
        seconds = time.perf_counter() - t0
        if not chief:
            continue
        assert dev is not None
        x = fe.dequantize(dev[0])[..., None]
        pred = np.concatenate([model(x[i : i + 512], training=False).numpy().argmax(1)
                               for i in range(0, len(x), 512)]) if len(x) else np.zeros(0)  # fmt: skip
        acc = float((pred == dev[1]).mean()) if len(x) else 0.0
        rec = {"epoch": epoch, "loss": tot_loss / steps, "accuracy": tot_right / (steps * global_batch),
               "val_accuracy": acc, "learning_rate": lr_at(cfg, epoch), "seconds": seconds,
               "clips_per_second": steps * global_batch / seconds if seconds > 0 else 0.0}  # fmt: skip
        blob = variables_bytes(model, opt)
        name = f"epoch{epoch}.npz"
        atomic_write_bytes(ckpt / name, blob)
        if acc > state["best_val_accuracy"]:
            state["best_val_accuracy"], state["best_epoch"] = acc, epoch
            atomic_write_bytes(ckpt / "best.npz", blob)
        old = state.get("file")
        state["history"].append(rec)
        state["epoch"], state["file"] = epoch, name
        if step_times:
            state["step_seconds_median"] = float(np.median(step_times))
        atomic_write_text(ckpt / "state.json", json.dumps(state, indent=1))  # the commit point
        if old and old != name:
            (ckpt / old).unlink(missing_ok=True)
    return {"index": index, "step_seconds_median": float(np.median(step_times)) if step_times else None}


def worker_main(argv: list[str]) -> int:
    """`python -m tinykws.training.multiworker SPEC.json INDEX`: one local worker process."""
    from tinykws import quiet

    quiet.configure()
    spec = json.loads(Path(argv[0]).read_text())
    spec["index"] = int(argv[1])
    try:
        res = run_worker(spec)
    except TinyKWSError as exc:
        print(f"tinykws: error: {exc}", file=sys.stderr)
        return 2
    Path(spec["ckpt"], f"worker{spec['index']}.json").write_text(json.dumps(res))
    return 0


# --------------------------------------------------------------------------- the launcher


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def tf_config(addresses: list[str], index: int) -> str:
    return json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})


def _tail(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    errs = [ln for ln in lines if "error" in ln.lower()]
    return (errs or lines or [""])[-1].strip()[:200]


def _launch_local(spec_path: Path, ckpt: Path, n: int) -> None:
    """N worker processes on 127.0.0.1; stop them all and raise one line if any dies."""
    addrs = [f"127.0.0.1:{_free_port('127.0.0.1')}" for _ in range(n)]
    procs = []
    for i in range(n):
        env = dict(os.environ)
        if n > 1:
            env["TF_CONFIG"] = tf_config(addrs, i)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        log = open(ckpt / f"worker{i}.log", "wb")  # noqa: SIM115 (closed below, after the process)
        p = subprocess.Popen([sys.executable, "-m", "tinykws.training.multiworker", str(spec_path), str(i)],
                             env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        procs.append((p, log))
    try:
        while True:
            codes = [p.poll() for p, _ in procs]
            bad = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
            if bad:
                i, c = bad[0]
                raise _worker_died(ckpt, i, n, f"exit code {c}", _tail(ckpt / f"worker{i}.log"))
            if all(c == 0 for c in codes):
                return
            time.sleep(0.2)
    finally:
        for p, _log in procs:
            if p.poll() is None:
                p.terminate()
        for p, log in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            log.close()


def _worker_died(ckpt: Path, i: int, n: int, how: str, why: str) -> TinyKWSError:
    try:
        st = json.loads((ckpt / "state.json").read_text())
    except (OSError, ValueError):
        st = {"epoch": -1}
    last = int(st.get("epoch", -1))
    saved = f"epoch {last} is checkpointed" if last >= 0 else "no epoch was checkpointed"
    detail = f": {why}" if why and why.startswith("tinykws: error") else ""
    return TinyKWSError(
        f"training worker {i} of {n} died ({how}) in epoch {last + 1}{detail}; {saved} in {ckpt}: "
        "rerun the same command with --resume"
    )


def _launch_ray(spec: dict[str, Any], ckpt: Path, n: int, address: str) -> None:
    """N workers as Ray actors spread over the nodes; TF_CONFIG from their nodes' addresses."""
    from tinykws.cluster import cluster_cpus, connect

    with connect(address) as ray:
        have = cluster_cpus(ray)
        if n > have:
            raise TinyKWSError(f"--workers {n}: the cluster at {address} has {have} CPUs (one per worker)")

        @ray.remote(num_cpus=1, max_restarts=0)
        class Worker:
            def address(self) -> str:
                host = ray.util.get_node_ip_address()
                return f"{host}:{_free_port(host)}"

            def run(self, spec: dict[str, Any], config: str | None) -> dict[str, Any]:
                if config:
                    os.environ["TF_CONFIG"] = config
                return run_worker(spec)

        actors = [Worker.options(scheduling_strategy="SPREAD").remote() for _ in range(n)]
        try:
            addrs = ray.get([a.address.remote() for a in actors], timeout=120)
        except Exception as exc:
            raise TinyKWSError(f"--workers {n}: could not place the workers on the cluster ({exc})") from exc
        refs = {a.run.remote({**spec, "index": i}, tf_config(addrs, i) if n > 1 else None): i
                for i, a in enumerate(actors)}  # fmt: skip
        try:
            pending = list(refs)
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                try:
                    ray.get(ready[0])
                except ray.exceptions.RayTaskError as exc:
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, TinyKWSError):
                        raise TinyKWSError(str(cause)) from exc
                    raise _worker_died(
                        ckpt, refs[ready[0]], n, "an exception", str(exc).splitlines()[0]
                    ) from exc
                except ray.exceptions.RayError as exc:
                    raise _worker_died(ckpt, refs[ready[0]], n, "its process ended", "") from exc
        finally:
            for a in actors:
                ray.kill(a)


def train_shards(cfg: ShardTrainConfig, resume: bool = False, ray_address: str | None = None) -> Any:
    """Check the shards, run the workers, then quantize, evaluate and write the model directory."""
    import shutil

    from tinykws.cluster import check_reachable, import_ray
    from tinykws.features import FrontEnd
    from tinykws.features.shards import check_shards, read_manifest
    from tinykws.fsutil import atomic_write_text

    folder = Path(cfg.shards)
    n = cfg.workers
    if n < 1:
        raise TinyKWSError(f"--workers: must be at least 1, got {n}")
    if cfg.batch_size % n:
        raise TinyKWSError(f"--batch-size {cfg.batch_size}: must be a multiple of --workers {n}")
    if ray_address is not None:
        import_ray()
        check_reachable(ray_address)
    elif n > (os.cpu_count() or 1):
        raise TinyKWSError(
            f"--workers {n}: this machine has {os.cpu_count()} CPUs (one per worker); use --ray"
        )
    manifest = read_manifest(folder)
    fe = FrontEnd.from_dict(manifest["frontend"])
    check_shards(folder, manifest, fe)
    cfg.frontend_digest = manifest["frontend_digest"]
    cfg.corpus_fingerprint = manifest["corpus"]["fingerprint"]
    classes = class_table(cfg, manifest)
    n_train = sum(1 for s in manifest["shards"] if s["split"] == "train")
    if n > n_train:
        raise TinyKWSError(
            f"--workers {n}: the shards hold only {n_train} train shards (one at least per worker)"
        )
    out = Path(cfg.out)
    ckpt = out.parent / f".{out.name}.ckpt"
    config = asdict(cfg)
    state0 = {"epoch": -1, "file": None, "best_val_accuracy": -1.0, "best_epoch": -1, "history": []}
    if resume:
        try:
            saved = json.loads((ckpt / "config.json").read_text())
            json.loads((ckpt / "state.json").read_text())
        except (OSError, ValueError) as exc:
            raise TinyKWSError(f"--resume: no readable checkpoint at {ckpt}") from exc
        for key, what in (("frontend_digest", "front end"), ("corpus_fingerprint", "corpus")):
            if saved.get(key) != config.get(key):
                raise TinyKWSError(
                    f"--resume: {folder} now holds shards of another {what} than the run in {ckpt}"
                )
        if saved != config:
            diff = sorted(k for k in set(saved) | set(config) if saved.get(k) != config.get(k))
            raise TinyKWSError(
                f"--resume: arguments differ from the checkpointed run in {ckpt} ({', '.join(diff)})"
            )
    else:
        shutil.rmtree(ckpt, ignore_errors=True)
        ckpt.mkdir(parents=True)
        atomic_write_text(ckpt / "config.json", json.dumps(config, indent=1))
        atomic_write_text(ckpt / "state.json", json.dumps(state0, indent=1))
    threads = max(1, (os.cpu_count() or 1) // n) if ray_address is None else 1
    spec = {"config": config, "n": n, "ckpt": str(ckpt), "threads": threads}
    spec_path = ckpt / "spec.json"
    atomic_write_text(spec_path, json.dumps(spec))
    t0 = time.perf_counter()
    if ray_address is None:
        _launch_local(spec_path, ckpt, n)
    else:
        _launch_ray(spec, ckpt, n, ray_address)
    wall = time.perf_counter() - t0
    state = json.loads((ckpt / "state.json").read_text())
    if state["epoch"] + 1 < cfg.epochs or not (ckpt / "best.npz").exists():
        raise TinyKWSError(f"training stopped before its last epoch; rerun with --resume ({ckpt})")
    result = _write_model_dir(cfg, folder, manifest, classes, fe, ckpt, state, wall)
    shutil.rmtree(ckpt, ignore_errors=True)
    return result


def _write_model_dir(
    cfg: ShardTrainConfig,
    folder: Path,
    manifest: dict[str, Any],
    classes: np.ndarray,
    fe: Any,
    ckpt: Path,
    state: dict[str, Any],
    wall: float,
) -> dict[str, Any]:
    import tensorflow as tf

    from tinykws.export.carrays import export_c
    from tinykws.features.shards import read_shard
    from tinykws.fsutil import atomic_dir
    from tinykws.models import build_model
    from tinykws.training.evaluate import evaluate_features, write_confusion_png
    from tinykws.training.quantize import quantize_keras, representative_from

    tf.keras.utils.set_random_seed(cfg.seed)
    model = build_model(cfg.model, fe.shape, len(cfg.labels), cfg.filters, cfg.blocks)
    w, _ = load_variables(ckpt / "best.npz")
    model.set_weights(w)
    calib = []
    for s in sorted((s for s in manifest["shards"] if s["split"] == "train"), key=lambda s: s["file"]):
        calib.append(read_shard(folder / s["file"])[1])
        if sum(len(c) for c in calib) >= cfg.calibration_clips:
            break
    calib_q = np.concatenate([*calib, silence_features(cfg, fe, max(1, cfg.calibration_clips // 10), 2)])
    rep = representative_from(fe.dequantize(calib_q), cfg.calibration_clips, cfg.seed)
    tflite = quantize_keras(model, rep, fe.input_scale, fe.input_zero_point)
    split = "test" if any(s["split"] == "test" for s in manifest["shards"]) else "dev"
    tx, ty = eval_set(cfg, folder, manifest, classes, split, fe)
    metrics = evaluate_features(cfg.labels, tx, ty, tflite, model, fe)
    out = Path(cfg.out)
    hist = state["history"]
    cps = float(np.median([h["clips_per_second"] for h in hist])) if hist else 0.0
    meta = {
        "name": out.name,
        "labels": cfg.labels,
        "model": {
            "builder": cfg.model,
            "filters": cfg.filters,
            "blocks": cfg.blocks,
            "params": int(model.count_params()),
            "embedding": None,
        },  # fmt: skip
        "frontend": fe.to_dict(),
        "input_quantization": {"scale": fe.input_scale, "zero_point": fe.input_zero_point},
        "data": {
            "shards": str(folder.resolve()),
            "corpus": manifest["corpus"],
            "frontend_digest": manifest["frontend_digest"],
            "counts": manifest["counts"],
        },  # fmt: skip
        "training": {
            "config": asdict(cfg),
            "workers": cfg.workers,
            "strategy": "MultiWorkerMirroredStrategy",
            "best_epoch": state["best_epoch"],
            "best_dev_accuracy": state["best_val_accuracy"],
            "history": hist,
            "clips_per_second": cps,
            "step_seconds_median": state.get("step_seconds_median"),
            "wall_seconds": wall,
        },
        "metrics": {"float": metrics.get("float"), "int8": metrics["int8"], "split": split},
        "tflite_bytes": len(tflite),
    }
    with atomic_dir(out) as d:
        model.save(d / "model.keras")
        (d / "model_int8.tflite").write_bytes(tflite)
        (d / "tinykws.json").write_text(json.dumps(meta, indent=2))
        export_c(d, tflite, cfg.labels, fe, name=out.name)
        write_confusion_png(d / "confusion.png", cfg.labels, metrics)
    return meta


# argument defaults of `train` that shard training cannot honour: (dest, default, why)
_NOT_WITH_SHARDS = (
    ("unknown_languages", "", "pick the unknown words at ingest"),
    ("noise", [], "silence is synthesized noise"),
    ("max_clips_per_word", None, "ingest the clips to use"),
    ("speed_perturb", 0.0, "features are precomputed"),
    ("channel_aug", 0.0, "features are precomputed"),
    ("label_smoothing", 0.0, "not implemented for shards"),
    ("unknown_resample", False, "unknowns are drawn afresh every epoch anyway"),
    ("hard_negatives", 0.0, "not implemented for shards"),
    ("prior_correction", False, "not implemented for shards"),
)


def cli_run_shards(args: Any) -> int:
    """`tinykws train --shards DIR`: check the arguments against the shards, train, print."""
    from tinykws.features.files import frontend_from_arg
    from tinykws.features.shards import plan_corpus, read_manifest
    from tinykws.training.config import DEFAULT_EMBEDDING

    for dest, default, why in _NOT_WITH_SHARDS:
        if getattr(args, dest, default) not in (default, None if default is None else default):
            raise TinyKWSError(f"--{dest.replace('_', '-')}: not with --shards ({why})")
    if args.embedding not in (None, "none", DEFAULT_EMBEDDING) or args.backbone != "finetune":
        raise TinyKWSError(
            "--embedding/--backbone: not with --shards (shard training builds a DS-CNN from scratch)"
        )
    keywords = [k.strip() for k in args.keywords.split(",") if k.strip()]
    if not keywords or len(set(keywords)) != len(keywords):
        raise TinyKWSError("--keywords: give distinct keywords")
    if args.epochs < 1:
        raise TinyKWSError("--epochs: must be at least 1")
    manifest = read_manifest(args.shards)
    fe = frontend_from_arg(args.frontend)
    if fe.digest() != manifest["frontend_digest"]:  # type: ignore[attr-defined]
        raise TinyKWSError(
            f"--frontend {args.frontend}: the shards in {args.shards} were computed by front end "
            f"'{manifest['frontend']['name']}' ({manifest['frontend_digest']}), not this one "
            f"({fe.digest()}); give --frontend {manifest['frontend']['name']} or re-ingest"  # type: ignore[attr-defined]
        )
    if args.data is not None and plan_corpus([args.data])["fingerprint"] != manifest["corpus"]["fingerprint"]:
        raise TinyKWSError(f"--data {args.data}: the shards in {args.shards} are of another corpus")
    cfg = ShardTrainConfig(
        shards=str(args.shards), keywords=keywords, out=str(args.out), workers=args.workers,
        language=args.language, model=args.model, filters=args.filters, blocks=args.blocks,
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed,
        unknown_share=args.unknown_share, silence_share=args.silence_share,
        eval_unknown_share=args.eval_unknown_share,
    )  # fmt: skip
    meta = train_shards(cfg, resume=args.resume, ray_address=args.ray)
    m, t = meta["metrics"], meta["training"]
    print(f"float top-1 {m['float']['top1']:.4f}  int8 top-1 {m['int8']['top1']:.4f}  ({m['split']} split)")
    print(
        f"{cfg.workers} worker{'s' if cfg.workers > 1 else ''}: {t['clips_per_second']:.0f} clips/s, "
        f"median step {1000 * (t['step_seconds_median'] or 0):.1f} ms; model written to {cfg.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
