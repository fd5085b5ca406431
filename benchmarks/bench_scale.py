"""Scale-out figures (docs/scale.md): ingest and training throughput with 1 and 2 workers, and a
projection to all of MSWC.

    PYTHONPATH=. nice -n 10 .venv/bin/python benchmarks/bench_scale.py --out benchmarks/results/scale.json

What it measures, on this host only:
1. Ingest + features: a tone corpus written as an MSWC-layout copy in 48 kHz Opus (as MSWC ships),
   ingested by `write_shards` in this process, then on a local Ray instance of 1 and of 2 CPUs
   (wall time including Ray's start, and the per-clip cost inside the tasks).
2. Training: `train --shards` with 1 worker at the global batch B, 1 worker at B/2, and 2
   workers at B (B/2 each, MultiWorkerMirroredStrategy over 127.0.0.1). The communication
   overhead per step is the 2-worker step time minus the 1-worker step time at the same
   per-worker batch.
3. A projection, from those per-clip costs and that overhead, of wall time for MSWC (23.4 M
   clips) on 8, 32 and 128 workers. It is arithmetic on measured figures plus stated
   assumptions, not a measurement.

On a 2-core host shared with other jobs, 2 workers measure overhead, not speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

MSWC_CLIPS = 23_400_000


def opus_copy(src: Path, dst: Path) -> tuple[int, float]:
    """An MSWC-layout copy of `src` with every clip as 48 kHz Opus; (clips, mean bytes per clip)."""
    import soundfile as sf

    from tinykws.audio import load_audio, resample

    lang = next(p for p in src.iterdir() if p.is_dir())
    out_lang = dst / lang.name
    rows = (lang / f"{lang.name}_splits.csv").read_text().splitlines()
    new = [rows[0]]
    sizes = []
    for row in rows[1:]:
        s, link, *rest = row.split(",")
        opus_link = link.rsplit(".", 1)[0] + ".opus"
        x = resample(load_audio(lang / "clips" / link), 16000, 48000)
        p = out_lang / "clips" / opus_link
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, x, 48000, format="OGG", subtype="OPUS")
        sizes.append(p.stat().st_size)
        new.append(",".join([s, opus_link, *rest]))
    (out_lang / f"{lang.name}_splits.csv").write_text("\n".join(new) + "\n")
    return len(sizes), float(np.mean(sizes))


def bench_ingest(corpus: Path, work: Path, n_clips: int) -> dict:
    from tinykws.features import get_frontend
    from tinykws.features.shards import make_shard, plan_corpus, shard_tasks, write_shards

    fe = get_frontend("mlperf")
    res = {}
    ref = None
    for name, address, cpus in (("in-process", None, None), ("ray local, 1 CPU", "local", 1),
                                ("ray local, 2 CPUs", "local", 2)):  # fmt: skip
        out = work / f"ingest-{cpus or 0}"
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        write_shards(fe, [corpus], out, 8, address, local_cpus=cpus)
        wall = time.perf_counter() - t0
        files = {f.name: f.read_bytes() for f in sorted(out.iterdir())}
        ref = ref or files
        res[name] = {"wall_s": wall, "clips_per_s": n_clips / wall, "identical_to_in_process": files == ref}
    # the per-clip cost inside one task, without Ray or the driver: decode + resample + features
    tasks = shard_tasks(plan_corpus([corpus]), 8, fe.to_dict())
    t0 = time.perf_counter()
    n = 0
    for t in tasks:
        n += make_shard(t)["records"]
    per = (time.perf_counter() - t0) / n
    res["per_clip_s_one_core"] = per
    return res


def bench_train(shards: Path, work: Path, batch: int, epochs: int) -> dict:
    from tinykws.training.multiworker import ShardTrainConfig, train_shards

    res = {}
    for name, workers, b in (("1 worker, batch B", 1, batch), ("1 worker, batch B/2", 1, batch // 2),
                             ("2 workers, batch B (B/2 each)", 2, batch)):  # fmt: skip
        cfg = ShardTrainConfig(shards=str(shards), keywords=["yes", "no", "up", "down"],
                               out=str(work / f"m{workers}{b}"), workers=workers, epochs=epochs,
                               batch_size=b, learning_rate=0.01)  # fmt: skip
        meta = train_shards(cfg)
        t = meta["training"]
        steady = t["history"][1:] or t["history"]
        res[name] = {
            "workers": workers,
            "global_batch": b,
            "clips_per_s": float(np.median([h["clips_per_second"] for h in steady])),
            "step_ms_median": 1000 * t["step_seconds_median"],
            "int8_top1": meta["metrics"]["int8"]["top1"],
            "params": meta["model"]["params"],
        }
    one_half = res["1 worker, batch B/2"]["step_ms_median"]
    two = res["2 workers, batch B (B/2 each)"]["step_ms_median"]
    res["allreduce_overhead_ms_per_step"] = two - one_half
    return res


def project(ingest: dict, train: dict, opus_bytes: float, batch: int) -> dict:
    """Wall time for MSWC on W workers: labelled a projection everywhere it is shown.

    Ingest: max(decode time spread over W cores, reading the Opus corpus from shared storage).
    Training step: max(compute of batch/W clips, reading their shard records) + a ring
    all-reduce: 2 (W - 1) hops, each costing a latency, plus 2 (W - 1) / W of the gradient bytes
    over the link. Two latencies are shown: the overhead measured here at W = 2 (half of it per
    hop; on a shared 2-core host, so contention included: pessimistic), and 0.1 ms per hop, an
    assumed datacentre network.
    """
    c_ingest = ingest["per_clip_s_one_core"]
    t1 = train["1 worker, batch B"]
    c_train = t1["step_ms_median"] / 1000 / t1["global_batch"]  # s per clip, one worker
    hop_measured = max(train["allreduce_overhead_ms_per_step"], 0.0) / 1000 / 2
    hop_assumed = 1e-4
    grad_bytes = 4 * t1["params"]
    storage_bps = 1e9  # assumed: aggregate reads from shared storage
    link_bps = 10e9 / 8  # assumed: 10 Gbit/s between nodes
    read_s = MSWC_CLIPS * opus_bytes / storage_bps
    steps = MSWC_CLIPS / batch
    out = {}
    for w in (8, 32, 128):
        decode = MSWC_CLIPS * c_ingest / w
        compute = max(c_train * batch / w, batch / w * 494 / storage_bps)
        wire = 2 * (w - 1) / w * grad_bytes / link_bps
        row = {"ingest_h": max(decode, read_s) / 3600,
               "ingest_bound_by": "decoding" if decode >= read_s else "storage reads",
               "compute_ms": 1000 * compute}  # fmt: skip
        for name, hop in (("measured", hop_measured), ("assumed", hop_assumed)):
            allreduce = 2 * (w - 1) * hop + wire
            row[f"allreduce_ms_{name}"] = 1000 * allreduce
            row[f"epoch_h_{name}"] = steps * (compute + allreduce) / 3600
            row[f"epoch_bound_by_{name}"] = "gradient all-reduce" if allreduce > compute else "compute"
        out[str(w)] = row

    def crossover(hop: float) -> int:  # the smallest W at which the all-reduce costs more than compute
        def over(w: int) -> bool:
            return 2 * (w - 1) * hop + 2 * (w - 1) / w * grad_bytes / link_bps > c_train * batch / w

        return next(w for w in range(2, 100_000) if over(w))

    return {"assumptions": {"storage_bytes_per_s": storage_bps, "link_bytes_per_s": link_bps,
                            "opus_bytes_per_clip": opus_bytes, "global_batch": batch,
                            "gradient_bytes": grad_bytes, "hop_ms_measured": 1000 * hop_measured,
                            "hop_ms_assumed": 1000 * hop_assumed},
            "storage_bound_from_workers": int(MSWC_CLIPS * c_ingest / read_s) + 1,
            "allreduce_bound_from_workers": {"measured": crossover(hop_measured),
                                             "assumed": crossover(hop_assumed)},
            "workers": out}  # fmt: skip


def write_md(path: Path, r: dict, cmd: str) -> None:
    ing, tr, pj = r["ingest"], r["train"], r["projection"]
    lines = [
        "# Scale-out figures (issue 17)",
        "",
        f"Measured on this 2-core host ({r['host']['cpus']} CPUs, shared with other jobs), {r['date']}:",
        "",
        f"    {cmd}",
        "",
        "**Two workers on two cores measure overhead, not speed-up**: both workers share the",
        "cores with the driver, Ray's daemons and the other jobs on this host.",
        "",
        f"## Ingest + features ({r['corpus']['clips']} clips, 48 kHz Opus, MSWC layout, "
        f"{r['corpus']['opus_bytes_per_clip']:.0f} B per clip)",
        "",
        "| run | wall s | clips/s | shards identical to in-process |",
        "|---|---:|---:|---|",
    ]
    for k in ("in-process", "ray local, 1 CPU", "ray local, 2 CPUs"):
        v = ing[k]
        lines.append(f"| {k} | {v['wall_s']:.1f} | {v['clips_per_s']:.0f} | {v['identical_to_in_process']} |")
    lines += [
        "",
        f"Per clip inside a task (decode 48 kHz Opus, resample to 16 kHz, int8 features), one core: "
        f"**{1000 * ing['per_clip_s_one_core']:.2f} ms**. The Ray runs include starting Ray (seconds),",
        "which a corpus this small cannot amortize.",
        "",
        f"## Training from shards (DS-CNN-S, {r['train_epochs']} epochs, B = {r['batch']})",
        "",
        "clips/s is over whole epochs (each epoch starts its input pipelines); the step time is the",
        "median step.",
        "",
        "| run | clips/s | median step ms |",
        "|---|---:|---:|",
    ]
    for k, v in tr.items():
        if isinstance(v, dict):
            lines.append(f"| {k} | {v['clips_per_s']:.0f} | {v['step_ms_median']:.1f} |")
    lines += [
        "",
        f"Communication overhead per step (2 workers at B/2 each minus 1 worker at B/2): "
        f"**{tr['allreduce_overhead_ms_per_step']:.1f} ms** over loopback, with the two workers",
        "competing for two cores, so it includes contention as well as the all-reduce.",
        "",
        "Accuracy is not a figure here: a few dozen steps of DS-CNN-S on a tone corpus say nothing of",
        "quality. That 1 and 2 workers train to the same accuracy is checked by tests/test_scale.py.",
        "",
        "## Projection (not a measurement): all of MSWC, 23.4 M clips",
        "",
        "Arithmetic on the per-clip costs and the overhead above, one worker per core at this host's",
        f"per-core speed, global batch {pj['assumptions']['global_batch']}, and these assumptions: "
        f"{pj['assumptions']['storage_bytes_per_s'] / 1e9:.0f} GB/s of aggregate reads from shared storage;",
        f"{8 * pj['assumptions']['link_bytes_per_s'] / 1e9:.0f} Gbit/s links for a ring all-reduce of "
        f"{pj['assumptions']['gradient_bytes'] / 1e3:.0f} kB of gradients in 2 (W - 1) hops; a hop costs",
        f"either half the overhead measured here ({pj['assumptions']['hop_ms_measured']:.1f} ms, contention "
        f"on 2 cores included: pessimistic) or {pj['assumptions']['hop_ms_assumed']:.1f} ms (an assumed "
        "datacentre network).",
        "",
        "| workers | ingest h | ingest bound by | compute ms/step | epoch h, measured hop "
        "| epoch h, 0.1 ms hop | epoch bound by (measured / 0.1 ms hop) |",
        "|---:|---:|---|---:|---:|---:|---|",
    ]
    for w, v in pj["workers"].items():
        lines.append(f"| {w} | {v['ingest_h']:.2f} | {v['ingest_bound_by']} | {v['compute_ms']:.2f} | "
                     f"{v['epoch_h_measured']:.2f} | {v['epoch_h_assumed']:.2f} | "
                     f"{v['epoch_bound_by_measured']} / {v['epoch_bound_by_assumed']} |")  # fmt: skip
    ab = pj["allreduce_bound_from_workers"]
    lines += [
        "",
        "Where it stops scaling (projected):",
        f"- **Ingest** is parallel per shard and bound by decoding up to about "
        f"{pj['storage_bound_from_workers']} workers; beyond that, reading the Opus corpus "
        f"({pj['assumptions']['opus_bytes_per_clip'] * 23.4e6 / 1e9:.0f} GB) from storage at 1 GB/s binds.",
        f"- **Training** at a fixed global batch gives each worker a smaller share of every step, while the "
        f"ring all-reduce grows with the number of workers. It costs more than the compute from about "
        f"{ab['measured']} workers with the hop measured here, and from about {ab['assumed']} "
        "with a 0.1 ms hop.",
        "  Past that point, more workers make an epoch slower unless the global batch grows, and a larger",
        "  global batch changes the recipe.",
        "- Reading the shards (494 bytes a clip, 11.6 GB an epoch) is never the bound at 1 GB/s.",
        "",
    ]
    path.write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--speakers", type=int, default=10)
    ap.add_argument("--takes", type=int, default=20)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/scale.json"))
    ap.add_argument("--from-json", action="store_true", help="redo the projection and the page from --out")
    args = ap.parse_args()
    cmd = "PYTHONPATH=. nice -n 10 .venv/bin/python benchmarks/bench_scale.py --out " + str(args.out)
    if args.from_json:
        r = json.loads(args.out.read_text())
        r["projection"] = project(r["ingest"], r["train"], r["corpus"]["opus_bytes_per_clip"], 1024)
        args.out.write_text(json.dumps(r, indent=1))
        write_md(args.out.with_suffix(".md"), r, cmd)
        print(args.out.with_suffix(".md").read_text())
        return
    os.environ.setdefault("TINYKWS_NO_PROGRESS", "1")
    from tonecorpus import make_mswc

    from tinykws.features import get_frontend
    from tinykws.features.shards import write_shards

    work = Path(tempfile.mkdtemp(prefix="tkbench."))
    try:
        wav = make_mswc(work / "wav", speakers=args.speakers, takes=args.takes)
        n, opus_bytes = opus_copy(wav, work / "opus")
        ingest = bench_ingest(work / "opus", work, n)
        shards = work / "shards"
        write_shards(get_frontend("mlperf"), [wav], shards, 4)
        train = bench_train(shards, work, args.batch, args.epochs)
        r = {
            "date": time.strftime("%Y-%m-%d"),
            "host": {"cpus": os.cpu_count(), "note": "2-core host shared with other jobs"},
            "corpus": {"clips": n, "opus_bytes_per_clip": opus_bytes},
            "batch": args.batch,
            "train_epochs": args.epochs,
            "ingest": ingest,
            "train": train,
            "projection": project(ingest, train, opus_bytes, 1024),
        }
        args.out.write_text(json.dumps(r, indent=1))
        write_md(args.out.with_suffix(".md"), r, cmd)
        print(args.out.with_suffix(".md").read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
