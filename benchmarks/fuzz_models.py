"""Long fuzz run of the model reader (issue 16, item 1): mutants of the MLPerf Tiny reference
model through `tinykws compile`, then the differential rule on every accepted one.

    nice -n 10 .venv/bin/python benchmarks/fuzz_models.py --n 10000 --seed 16

Stage 1: each mutant (byte flips in the tables, truncation, random bytes anywhere, garbage; see
tests/modelfuzz.py) goes through `tinykws.cli.main(["compile", ...])`. A refusal must be exit
code 2 with one line naming the file; a traceback, another exit code or a run past 20 s counts
as a failure.

Stage 2, for every accepted mutant: the tflite_micro interpreter runs it in a separate process
(so that a crash of the interpreter on a model we accepted is counted, not fatal) on seeded
random inputs. It must accept the model (else we accepted what TFLM refuses) and its int8
outputs must equal those of our compiled C, built for the host. Mutants whose generated C is
identical share one build; `--max-builds` bounds the builds (each takes about a second).

Writes benchmarks/results/fuzz_models.md and .json.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from modelfuzz import run_compile  # noqa: E402

REF = ROOT.parent / "shared" / "peers" / "mlperf-tiny-kws" / "kws_ref_model.tflite"
RESULTS = ROOT / "benchmarks" / "results"


def _tflm_outputs(data: bytes, xs: np.ndarray) -> np.ndarray | str:
    """In a worker process: TFLM's outputs, or the reason it refuses the model."""
    from tinykws.errors import TinyKWSError
    from tinykws.models.tflm import TFLMRunner

    try:
        return TFLMRunner(data).invoke_batch(xs)
    except TinyKWSError as exc:
        return f"refused: {exc}"
    except Exception as exc:  # noqa: BLE001 - counted as a refusal by TFLM, reported in the record
        return f"raised {type(exc).__name__}: {exc}"


def differential(accepted: list[tuple[int, bytes]], n_inputs: int, max_builds: int, seed: int) -> dict:
    from tinykws.export._hostbuild import HostModel, build_host_library
    from tinykws.export.compiler import compile_model

    rng = np.random.default_rng(seed)
    xs = rng.integers(-128, 128, size=(n_inputs, 490), dtype=np.int8)
    stats = {"checked": 0, "bitexact": 0, "tflm_refused": 0, "tflm_crashed": 0, "mismatch": 0, "unbuilt": 0}
    stats["builds"] = 0
    bad: list[str] = []
    libs: dict[str, np.ndarray] = {}
    pool = cf.ProcessPoolExecutor(1)
    with tempfile.TemporaryDirectory() as tmp:
        for i, data in accepted:
            d = Path(tmp) / "m"
            res = compile_model(data, d)
            key = hashlib.sha256((d / "tinykws_model.c").read_bytes()).hexdigest()
            try:
                want = pool.submit(_tflm_outputs, data, xs).result(timeout=60)
            except (cf.process.BrokenProcessPool, cf.TimeoutError) as exc:
                stats["tflm_crashed"] += 1
                bad.append(f"mutant {i}: tflite_micro died ({type(exc).__name__})")
                pool.shutdown(wait=False, cancel_futures=True)
                pool = cf.ProcessPoolExecutor(1)
                continue
            if isinstance(want, str):
                stats["tflm_refused"] += 1
                bad.append(f"mutant {i}: accepted by us, tflite_micro {want[:160]}")
                continue
            if key not in libs:
                if stats["builds"] >= max_builds:
                    stats["unbuilt"] += 1
                    continue
                n_out = int(np.prod(res.output_shape))
                lib = HostModel(build_host_library(d, Path(tmp) / f"{key[:16]}.so"), 490, n_out)
                libs[key] = lib.invoke_batch(xs)
                stats["builds"] += 1
            stats["checked"] += 1
            if np.array_equal(libs[key], want):
                stats["bitexact"] += 1
            else:
                stats["mismatch"] += 1
                bad.append(f"mutant {i}: int8 outputs differ from tflite_micro")
    pool.shutdown()
    stats["problems"] = bad
    return stats


def on_qemu(accepted: list[tuple[int, bytes]], k: int, n_inputs: int) -> dict:
    """Stage 3: the first `k` accepted mutants with distinct generated C, built for qemu-m4 and
    benched there (`tinykws bench`: the device's own seeded inputs, each checked against
    tflite_micro). Emulated: this checks the DSP-path kernels the board runs, not time."""
    import shutil

    from tinykws.device.bench import bench
    from tinykws.errors import TinyKWSError
    from tinykws.export.compiler import compile_model

    stats = {"benched": 0, "inputs_bitexact": 0, "inputs": 0, "refused": 0}
    bad: list[str] = []
    if k <= 0:
        return {**stats, "problems": bad}
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        return {**stats, "skipped": "needs qemu-system-arm and arm-none-eabi-gcc", "problems": bad}
    seen: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        for i, data in accepted:
            if stats["benched"] >= k:
                break
            d = Path(tmp) / "m"
            compile_model(data, d)
            key = hashlib.sha256((d / "tinykws_model.c").read_bytes()).hexdigest()
            if key in seen:
                continue
            seen.add(key)
            model = Path(tmp) / f"mutant{i}.tflite"
            model.write_bytes(data)
            try:
                res = bench("qemu-m4", model, n=n_inputs, build_dir=Path(tmp) / f"b{i}", timeout=60.0)
            except TinyKWSError as exc:
                stats["refused"] += 1
                bad.append(f"mutant {i}: qemu-m4 bench failed: {str(exc)[:160]}")
                continue
            stats["benched"] += 1
            stats["inputs"] += res.n
            stats["inputs_bitexact"] += res.bitexact
            if res.bitexact != res.n:
                bad.append(f"mutant {i}: {res.bitexact}/{res.n} bit-exact on qemu-m4")
    return {**stats, "problems": bad}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10000, help="mutants")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--inputs", type=int, default=16, help="random inputs per accepted mutant")
    ap.add_argument("--max-builds", type=int, default=400, help="host builds of distinct generated C")
    ap.add_argument("--qemu", type=int, default=24, help="distinct accepted mutants benched on qemu-m4")
    ap.add_argument("--out", type=Path, default=RESULTS / "fuzz_models")
    args = ap.parse_args()
    if not REF.is_file():
        print(f"skipped: peer model not present: {REF}")
        return 0
    buf = REF.read_bytes()
    t0 = time.monotonic()
    out = run_compile(buf, args.n, args.seed, keep_accepted=args.n)
    t1 = time.monotonic()
    diff = differential(out.accepted_models, args.inputs, args.max_builds, args.seed)
    t2 = time.monotonic()
    qemu = on_qemu(out.accepted_models, args.qemu, args.inputs)
    t3 = time.monotonic()
    rec = {
        "command": f"nice .venv/bin/python benchmarks/fuzz_models.py --n {args.n} --seed {args.seed} "
        f"--inputs {args.inputs} --max-builds {args.max_builds} --qemu {args.qemu}",
        "model": str(REF.relative_to(ROOT.parent)),
        "tried": out.tried,
        "refused_cleanly": out.refused,
        "accepted": out.accepted,
        "by_kind": out.by_kind,
        "failures": [f"{k} #{i}: {what}" for k, i, what in out.failures],
        "differential": diff,
        "qemu_m4": qemu,
        "seconds": {"compile_stage": round(t1 - t0, 1), "differential_stage": round(t2 - t1, 1),
                    "qemu_stage": round(t3 - t2, 1)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(rec, indent=2) + "\n")
    tb = sum(1 for f in rec["failures"] if ": traceback" in f)
    hangs = sum(1 for f in rec["failures"] if ": hang" in f)
    other = len(rec["failures"]) - tb - hangs
    rows = "\n".join(f"| {k} | {v[0]} | {v[1]} | {v[2]} |" for k, v in sorted(out.by_kind.items()))
    md = f"""# Fuzzing the model reader: `tinykws compile` on mutants of the MLPerf Tiny reference model

Measured on the 2-core x86 host (shared with other jobs, run niced), {time.strftime("%Y-%m-%d")}.
Command: `{rec["command"]}`. Mutants are seeded (tests/modelfuzz.py): byte flips in the
flatbuffer's tables (every byte that is not constant tensor data), truncation at a random point,
1-16 random bytes anywhere, and random garbage (half of it with a `TFL3` identifier and a
plausible root offset, to get past the first check).

| | count |
|---|---|
| inputs tried | {out.tried} |
| refused cleanly (exit 2, one line naming the file) | {out.refused} |
| accepted (compiled) | {out.accepted} |
| accepted and bit-exact with tflite_micro (host build, {args.inputs} inputs each) | {diff["bitexact"]} |
| accepted, bit-exactness not checked (over `--max-builds` distinct C sources) | {diff["unbuilt"]} |
| Python tracebacks | **{tb}** |
| hangs (over 20 s) | **{hangs}** |
| other failures (wrong exit code, multi-line message) | **{other}** |
| accepted by us but refused by tflite_micro | **{diff["tflm_refused"]}** |
| tflite_micro crashed on a model we accepted | **{diff["tflm_crashed"]}** |
| int8 output mismatches with tflite_micro | **{diff["mismatch"]}** |
| qemu-m4 (*emulated*): distinct accepted mutants benched | {qemu["benched"]} {qemu.get("skipped", "")} |
| qemu-m4: their inputs bit-exact with tflite_micro | {qemu["inputs_bitexact"]} / {qemu["inputs"]} |

By kind (tried, refused, accepted):

| kind | tried | refused | accepted |
|---|---|---|---|
{rows}

Distinct generated C sources built: {diff["builds"]}. Stage times: compile
{rec["seconds"]["compile_stage"]} s, differential {rec["seconds"]["differential_stage"]} s, qemu-m4
{rec["seconds"]["qemu_stage"]} s.
Accepted mutants are mostly flips in names, quantization values and option fields that stay
valid; truncation and garbage are always refused. Details: fuzz_models.json.
"""
    problems = [*rec["failures"], *diff["problems"], *qemu["problems"]]
    if problems:
        md += "\nProblems:\n\n" + "\n".join(f"- {p}" for p in problems[:50]) + "\n"
    args.out.with_suffix(".md").write_text(md)
    print(md)
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
