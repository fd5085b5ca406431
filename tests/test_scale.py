"""Scale-out (docs/scale.md) on a local two-node Ray cluster, loopback only.

The cluster is a head and one worker node, each started with `ray start --num-cpus 1` on its
own loopback address (Ray rewrites 127.0.0.1 to the host's network address, so the nodes use
127.0.0.2 and 127.0.0.3, which are loopback too), with a small object store, a temporary
folder, and a token of its own (RAY_AUTH_TOKEN). The fixture's finalizer stops every process
of that cluster by pid and checks none is left.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from tonecorpus import make_mswc

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'tinykws[scale]')")

from tinykws.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RAY_BIN = Path(sys.executable).parent / "ray"
HEAD, NODE = "127.0.0.2", "127.0.0.3"
KEYWORDS = "yes,no,up,down"
# tiny DS-CNN, 2 epochs of ~75 steps of the global batch 8 on the tone corpus
RECIPE = ["--keywords", KEYWORDS, "--epochs", "2", "--batch-size", "8", "--lr", "0.01",
          "--filters", "16", "--blocks", "1"]  # fmt: skip
# 1 and 2 workers run the same recipe but read the data in another order (file-sharded input):
# their test accuracies after 2 epochs differ by chance, measured at up to ~0.1 here
TOLERANCE = 0.2


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _cluster_processes(tmp: str) -> list:
    import psutil  # ray's own copy

    found = set()
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(tmp in a for a in p.info["cmdline"] or []):
                found.add(p)
                found.update(p.children(recursive=True))
        except psutil.Error:
            continue
    return list(found)


@pytest.fixture(scope="module")
def cluster():
    """A head and a worker node on loopback; yields the head's address."""
    import psutil

    tmp = tempfile.mkdtemp(prefix="tkr.", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "RAY_USAGE_STATS_ENABLED": "0",
        "TINYKWS_NO_PROGRESS": "1",
    }
    port = _free_port(HEAD)
    common = ["--num-cpus", "1", "--object-store-memory", str(80 * 1024 * 1024), "--disable-usage-stats"]
    mp = pytest.MonkeyPatch()
    try:
        subprocess.run([str(RAY_BIN), "start", "--head", "--node-ip-address", HEAD, "--port", str(port),
                        "--temp-dir", tmp, "--include-dashboard=false", *common],
                       env=env, check=True, capture_output=True, timeout=120)  # fmt: skip
        subprocess.run([str(RAY_BIN), "start", "--address", f"{HEAD}:{port}", "--node-ip-address", NODE,
                        *common], env=env, check=True, capture_output=True, timeout=120)  # fmt: skip
        for k in ("PYTHONPATH", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_USAGE_STATS_ENABLED",
                  "TINYKWS_NO_PROGRESS"):  # fmt: skip
            mp.setenv(k, env[k])
        yield f"{HEAD}:{port}"
    finally:
        mp.undo()
        procs = _cluster_processes(tmp)
        for p in procs:
            try:
                p.terminate()
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(procs, timeout=5)
        for p in alive:
            p.kill()
        psutil.wait_procs(alive, timeout=5)
        left = _cluster_processes(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        assert not left, f"Ray processes left behind: {[p.pid for p in left]}"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The tone corpus with one clip emptied (corrupt) and one listed but deleted (missing)."""
    root = make_mswc(tmp_path_factory.mktemp("scale") / "corpus", speakers=10, takes=20)
    (root / "en" / "clips" / "cat" / "spk00_0.wav").write_bytes(b"")
    (root / "en" / "clips" / "dog" / "spk00_1.wav").unlink()
    return root


@pytest.fixture(scope="module")
def shards(corpus, tmp_path_factory):
    """Shards computed in this process (no Ray), the reference every other path must equal."""
    out = tmp_path_factory.mktemp("shards") / "single"
    assert main(["features", "--shards", "4", "--out", str(out), str(corpus)]) == 0
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir())}


def _one_line_error(capsys, what: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("tinykws: error: ") and "\n" not in err, err
    assert what in err, err
    return err


def test_ray_features_equal_single_process(cluster, corpus, shards, tmp_path, capsys):
    out = tmp_path / "ray"
    assert main(["features", "--shards", "4", "--ray", cluster, "--out", str(out), str(corpus)]) == 0
    assert "12 computed, 0 kept" in capsys.readouterr().out
    assert _files(out) == _files(shards)  # every shard and the manifest, byte for byte
    m = json.loads((shards / "manifest.json").read_text())
    assert m["complete"] and m["counts"] == {"clips": 1400, "records": 1398, "missing": 1, "corrupt": 1,
                                             "skipped": 2}  # fmt: skip
    assert len(m["shards"]) == 12 and sum(s["records"] for s in m["shards"]) == 1398
    from tinykws.features.shards import read_shard, sha256_file

    for s in m["shards"]:
        assert sha256_file(shards / s["file"]) == s["sha256"]
    # a record is the clip's int8 features, as the front end computes them from the file
    from tinykws.audio import fix_length, load_audio
    from tinykws.features import get_frontend
    from tinykws.features.shards import plan_corpus, shard_of

    fe = get_frontend("mlperf")
    assert m["frontend"] == fe.to_dict() and m["frontend_digest"] == fe.digest()
    plan = plan_corpus([corpus])
    key, path, split, label = next(c for c in plan["clips"] if c[2] == "train" and shard_of(c[0], 4) == 1)
    labels, feats = read_shard(shards / "train-00001-of-00004.tks", fe)
    assert labels[0] == label
    np.testing.assert_array_equal(feats[0], fe.int8_features(fix_length(load_audio(path)))[0])


def test_killed_ingest_resumes_to_the_same_manifest(cluster, corpus, shards, tmp_path):
    out = tmp_path / "killed"
    env = {**os.environ, "TINYKWS_FAULT_INGEST_KILL_AFTER": "5"}
    cmd = [sys.executable, "-m", "tinykws.cli", "features", "--shards", "4", "--out", str(out), str(corpus)]
    r = subprocess.run([*cmd, "--ray", cluster], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == -9, r.stderr  # SIGKILL after 5 shards
    m = json.loads((out / "manifest.json").read_text())
    assert not m["complete"] and len(m["shards"]) == 5
    done = m["shards"][0]["file"]
    data = bytearray((out / done).read_bytes())
    data[-1] ^= 0x01  # and a committed shard damaged since: its checksum no longer matches
    (out / done).write_bytes(bytes(data))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)  # resumed without Ray
    assert r.returncode == 0, r.stderr
    assert "(8 computed, 4 kept)" in r.stdout  # the 7 never written and the damaged one
    assert _files(out) == _files(shards)


def test_teacher_cache_filled_on_the_cluster_serves_distill(cluster, corpus, tmp_path):
    from test_distill import FakeTeacher

    from tinykws.training.distill import build_pool
    from tinykws.training.teacher import TeacherCache
    from tinykws.training.teacher_fill import fill_teacher_cache

    cache = tmp_path / "cache"
    r = fill_teacher_cache(
        [corpus], cache, "fake", shards=4, ray_address=cluster, teacher_factory=FakeTeacher
    )
    assert r["clips"] == 1400 and r["skipped"] == 2 and r["computed"] == 1398 and r["hits"] == 0
    assert len(list((cache / "fake-0").rglob("*.emb"))) == 1398
    # distill's own pool of the same corpus finds every clip's entry
    pool = build_pool([], [corpus], unlabelled=0, noise_clips=0, seed=0)
    t = FakeTeacher()
    tc = TeacherCache(cache, t)
    got = tc.embed(pool.audio)
    assert tc.stats() == {"hits": 1398, "computed": 0, "corrupt_recomputed": 0} and t.calls == 0
    np.testing.assert_allclose(got, FakeTeacher()(pool.audio), atol=2e-3)  # float16 entries
    again = fill_teacher_cache(
        [corpus], cache, "fake", shards=4, ray_address=cluster, teacher_factory=FakeTeacher
    )
    assert again["computed"] == 0 and again["hits"] == 1398


def _accuracy(model_dir: Path) -> float:
    return json.loads((model_dir / "tinykws.json").read_text())["metrics"]["int8"]["top1"]


def test_two_workers_die_resume_and_match_one(cluster, shards, tmp_path, capsys, monkeypatch):
    one = tmp_path / "one"
    assert main(["train", "--shards", str(shards), *RECIPE, "--out", str(one)]) == 0
    acc1 = _accuracy(one)
    two = tmp_path / "two"
    cmd = ["train", "--shards", str(shards), *RECIPE, "--workers", "2", "--ray", cluster, "--out", str(two)]
    monkeypatch.setenv("TINYKWS_FAULT_WORKER_EXIT", "1:1:3")  # worker 1 dies at step 3 of epoch 1
    capsys.readouterr()
    assert main(cmd) == 2
    _one_line_error(capsys, "training worker 1 of 2 died")
    assert not two.exists()  # never a half-written model
    state = json.loads((tmp_path / ".two.ckpt" / "state.json").read_text())
    assert state["epoch"] == 0 and (tmp_path / ".two.ckpt" / state["file"]).is_file()
    monkeypatch.delenv("TINYKWS_FAULT_WORKER_EXIT")
    assert main([*cmd, "--resume"]) == 0
    meta = json.loads((two / "tinykws.json").read_text())
    assert meta["training"]["workers"] == 2 and len(meta["training"]["history"]) == 2
    assert meta["training"]["config"]["batch_size"] == 8  # the global batch: 4 per worker
    acc2 = _accuracy(two)
    assert acc1 > 0.5 and acc2 > 0.5, (acc1, acc2)  # chance is 1/6
    assert abs(acc2 - acc1) <= TOLERANCE, (acc1, acc2)
    assert not (tmp_path / ".two.ckpt").exists()


def test_bad_input_is_one_line_with_exit_code_2(cluster, corpus, shards, tmp_path, capsys):
    dead = f"{HEAD}:{_free_port(HEAD)}"  # nothing listens there
    assert main(["features", "--shards", "2", "--ray", dead, "--out", str(tmp_path / "x"), str(corpus)]) == 2
    _one_line_error(capsys, "no Ray cluster answers there")
    assert not (tmp_path / "x").exists()
    train = ["train", "--shards", str(shards), *RECIPE, "--out", str(tmp_path / "m")]
    assert main([*train, "--workers", "2", "--ray", dead]) == 2
    _one_line_error(capsys, "no Ray cluster answers there")
    # shards of another front end than the run's, or of another corpus
    assert main([*train, "--frontend", "psf"]) == 2
    _one_line_error(capsys, "were computed by front end 'mlperf'")
    other = make_mswc(tmp_path / "other", speakers=3, takes=1, seed=5)
    assert main([*train, "--data", str(other)]) == 2
    _one_line_error(capsys, "are of another corpus")
    # a shard whose bytes do not match the manifest
    bad = tmp_path / "bad"
    shutil.copytree(shards, bad)
    f = bad / "train-00002-of-00004.tks"
    data = bytearray(f.read_bytes())
    data[100] ^= 0xFF
    f.write_bytes(bytes(data))
    assert main(["train", "--shards", str(bad), *RECIPE, "--out", str(tmp_path / "m")]) == 2
    _one_line_error(capsys, "train-00002-of-00004.tks: checksum does not match")
    # more workers than the cluster (2 CPUs) or this machine has
    assert main([*train, "--workers", "4", "--batch-size", "8", "--ray", cluster]) == 2
    _one_line_error(capsys, "--workers 4: the cluster")
    n = (os.cpu_count() or 1) + 1
    assert main([*train, "--workers", str(n), "--batch-size", str(8 * n)]) == 2
    _one_line_error(capsys, f"--workers {n}: this machine has")
    assert not (tmp_path / "m").exists()
