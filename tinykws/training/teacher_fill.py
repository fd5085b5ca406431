"""`tinykws teacher-cache`: fill the teacher-output cache of `tinykws distill` on a cluster.

Why: the teacher (a ResNet-50, 13-25 ms per clip here) is the slow part of distillation, and its
outputs are a pure function of each clip's samples. `TeacherCache` keys every entry by clip
content, crop and teacher, and writes each one atomically, so disjoint sets of clips can be
filled by independent Ray tasks without coordination. A later `tinykws distill --cache DIR`
with the same corpora then finds every corpus clip's entry and computes only what it derives
itself (the unlabelled windows and the noise clips, a few thousand).

The clips are read with the same reader as distill's pool (tinykws.data.corpus.load_clips), so
their samples, and therefore their keys, are the same. Tasks write into the cache folder
directly: on a multi-node cluster it must be storage every node mounts at the same path
(docs/scale.md). Shards are `sha1(key) mod N` over the corpus's clip keys, as for features.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tinykws.errors import TinyKWSError


def _fill_shard(task: dict[str, Any]) -> dict[str, int]:
    """One shard: read its clips, embed the ones the cache lacks, write their entries."""
    from tinykws.data.corpus import Clip, load_clips
    from tinykws.training import teacher as teacher_mod

    factory = task["factory"] or teacher_mod.Teacher
    t = factory(task["teacher"])
    clips = [Clip(Path(p), "", "train", "", "") for p in task["paths"]]
    audio, _, skipped = load_clips(clips, jobs=1)
    cache = teacher_mod.TeacherCache(task["cache"], t)
    if len(audio):
        cache.embed(audio, crop=task["crop"], desc=task["name"])
    return {"clips": len(clips), "skipped": skipped, **cache.stats()}


def fill_teacher_cache(
    roots: list[Path],
    cache: str | Path,
    teacher: str = "efficientword-net",
    shards: int = 16,
    ray_address: str | None = None,
    crop: int | None = None,
    teacher_factory: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """Embed every clip of `roots` with `teacher` into `cache`, shard by shard (Ray tasks when
    `ray_address`), and return the summed counts (hits, computed, corrupt_recomputed, skipped).

    `teacher_factory(name)` builds the teacher inside each task (default: the real Teacher);
    it travels to the workers by value, which is how tests use a stand-in.
    """
    from tinykws.cluster import check_reachable, connect, import_ray, run_sharded
    from tinykws.features.shards import plan_corpus, shard_of

    if shards < 1:
        raise TinyKWSError(f"--shards: must be at least 1, got {shards}")
    if ray_address is not None:
        import_ray()
        check_reachable(ray_address)
    if teacher_factory is None:  # a missing extra or unknown teacher fails here, not in a task
        from tinykws.training.teacher import get_spec, weights_path

        weights_path(get_spec(teacher))
    plan = plan_corpus([Path(r) for r in roots])
    groups: dict[int, list[str]] = {}
    for key, path, _split, _label in plan["clips"]:
        groups.setdefault(shard_of(key, shards), []).append(str(path))
    tasks = [
        {"name": f"teacher shard {i}", "paths": groups[i], "teacher": teacher, "cache": str(cache),
         "crop": crop, "factory": teacher_factory}
        for i in sorted(groups)
    ]  # fmt: skip
    Path(cache).mkdir(parents=True, exist_ok=True)
    total: Counter[str] = Counter()

    def done(_task: dict[str, Any], res: dict[str, int]) -> None:
        total.update(res)

    if ray_address is None:
        run_sharded(_fill_shard, tasks, None, done)
    else:
        with connect(ray_address) as ray:
            if teacher_factory is not None:  # a class defined outside tinykws goes by value
                import inspect

                mod = inspect.getmodule(teacher_factory)
                if mod is not None and not mod.__name__.startswith("tinykws"):
                    ray.cloudpickle.register_pickle_by_value(mod)
            run_sharded(_fill_shard, tasks, ray, done)
    keys = ("clips", "skipped", "hits", "computed", "corrupt_recomputed")
    return {"shards": len(tasks), **{k: int(total[k]) for k in keys}, "cache": str(cache)}


def cli_configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("roots", nargs="+", type=Path, metavar="CORPUS", help="corpus roots (as distill's --real)")
    p.add_argument("--cache", required=True, type=Path, help="the cache folder to give distill --cache")
    p.add_argument("--teacher", default="efficientword-net")
    p.add_argument("--shards", type=int, default=16, help="work items (clips hashed by key)")
    p.add_argument("--ray", metavar="ADDRESS", help="local | auto | HOST:PORT | ray://HOST:PORT")


def cli_run(args: argparse.Namespace) -> int:
    r = fill_teacher_cache(args.roots, args.cache, args.teacher, args.shards, args.ray)
    print(
        f"teacher cache {r['cache']}: {r['clips']} clips in {r['shards']} shards; {r['computed']} computed, "
        f"{r['hits']} already there, {r['corrupt_recomputed']} corrupt recomputed, {r['skipped']} unreadable"
    )
    return 0
