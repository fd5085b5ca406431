"""The package's shape: stages import only earlier stages, and no module imports itself back.

Checked with import-linter (`lint-imports`, contracts in pyproject.toml [tool.importlinter]) and
with grimp's import graph directly: every strongly connected component of the module graph,
imports inside functions included, must be a single module. Both checks are shown to fail on a
small package built to break them, so that a passing run means something.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
grimp = pytest.importorskip("grimp", reason="import-linter (and grimp) come with the dev extra")


def import_cycles(package: str) -> list[list[str]]:
    """The module groups of `package` that import each other in a cycle (Tarjan's SCCs)."""
    graph = grimp.build_graph(package, exclude_type_checking_imports=True)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.find_modules_directly_imported_by(w)))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        cycles.append(sorted(comp))
    return cycles


def _lint_imports(cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.skip("lint-imports (import-linter) is not installed")
    return subprocess.run([exe, "--no-cache"], cwd=cwd, capture_output=True, text=True, env=env, timeout=300)


def test_tinykws_has_no_import_cycles():
    assert import_cycles("tinykws") == []


def test_stages_import_only_earlier_stages():
    proc = _lint_imports(ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 kept, 0 broken" in proc.stdout


def _write_bad_package(tmp_path: Path) -> Path:
    """`badpkg`: a data stage that imports training, and two modules that import each other."""
    pkg = tmp_path / "badpkg"
    (pkg / "data").mkdir(parents=True)
    (pkg / "training").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "__init__.py").write_text("")
    (pkg / "training" / "__init__.py").write_text("")
    (pkg / "data" / "corpus.py").write_text("def f():\n    from badpkg.training import train\n")
    (pkg / "training" / "train.py").write_text("from badpkg.training import quantize\n")
    (pkg / "training" / "quantize.py").write_text("def g():\n    from badpkg.training import train\n")
    (tmp_path / ".importlinter").write_text(
        "[importlinter]\nroot_package = badpkg\n\n"
        "[importlinter:contract:1]\nname = layers\ntype = layers\nlayers =\n"
        "    badpkg.training\n    badpkg.data\n\n"
        "[importlinter:contract:2]\nname = acyclic\ntype = acyclic_siblings\nancestors =\n    badpkg\n"
    )
    return pkg


def test_the_checks_catch_a_cycle_and_an_upward_import(tmp_path, monkeypatch):
    _write_bad_package(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles("badpkg") == [["badpkg.training.quantize", "badpkg.training.train"]]
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    proc = _lint_imports(tmp_path, env)
    assert proc.returncode != 0
    assert "0 kept, 2 broken" in proc.stdout
    assert "badpkg.data.corpus -> badpkg.training.train" in proc.stdout
