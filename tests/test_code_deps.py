"""Rerun exactly what went stale: a rule's code inputs are its wrapper script and every package
module that script reaches (``celeba_gender.codedeps``, derived with ``ast``), and editing a
module reruns exactly the rules whose scripts import it, plus what is downstream of them.

The oracle is not the ``ast`` walker it checks: each wrapper is run with a stub ``snakemake``
object that stops it at its first use, and the package modules in ``sys.modules`` at that point
are the modules the wrapper really imports.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from functools import cache
from pathlib import Path

import pytest

from celeba_gender.codedeps import code_dependencies, imported_modules
from conftest import REPO, planned_jobs, snakemake, touched_plan, tree_of

PACKAGE = REPO / "scripts" / "celeba_gender"
WRAPPERS = sorted((REPO / "scripts").glob("*.py"))

STUB_RUN = """
import json, runpy, sys
class Stop(Exception):
    pass
class Stub:
    def __getattr__(self, name):
        raise Stop(name)
try:
    runpy.run_path(sys.argv[1], init_globals={"snakemake": Stub()}, run_name="__main__")
except Stop:
    pass
else:
    raise SystemExit("the wrapper never used snakemake")
print(json.dumps(sorted(m.__file__ for name, m in sys.modules.items()
                        if name == "celeba_gender" or name.startswith("celeba_gender."))))
"""


@cache
def runtime_imports(script: Path) -> frozenset[Path]:
    """The package module files that ``script`` imports when it runs (the oracle)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "scripts")}
    proc = subprocess.run(
        [sys.executable, "-c", STUB_RUN, str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return frozenset(Path(f).resolve() for f in json.loads(proc.stdout.splitlines()[-1]))


def rule_scripts() -> dict[str, Path]:
    """Rule name -> its wrapper script, read from the rules files."""
    scripts = {}
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for name, body in re.findall(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)*)", smk.read_text(), re.M):
            found = re.search(r'script:\s*\n\s*"([^"]+)"', body)
            if found:
                scripts[name] = (smk.parent / found.group(1)).resolve()
    return scripts


# ---------------------------------------------------------------- the ast walker on every form


def test_every_import_form_is_found(tmp_path):
    package = tmp_path / "celeba_gender"
    package.mkdir()
    for name in ("__init__", "a", "b", "c", "d", "e", "f", "g", "unused"):
        (package / f"{name}.py").write_text("")
    (package / "a.py").write_text("from . import b\nfrom .c import thing\n")
    (package / "d.py").write_text(
        textwrap.dedent(
            """
            def later():
                from .e import other  # an import inside a function counts too
            """
        )
    )
    script = tmp_path / "wrapper.py"
    script.write_text(
        textwrap.dedent(
            """
            import os
            import celeba_gender.f
            from celeba_gender import (
                a,
                d,
                __version__,
            )
            from celeba_gender.g import something as other
            """
        )
    )
    direct = {p.name for p in imported_modules(script, package)}
    assert direct == {"__init__.py", "a.py", "d.py", "f.py", "g.py"}
    deps = {p.name for p in code_dependencies(script, package)}
    assert deps == {
        "wrapper.py",
        "__init__.py",
        "a.py",
        "b.py",
        "c.py",
        "d.py",
        "e.py",
        "f.py",
        "g.py",
    }


def test_relative_imports_outside_the_package_are_not_followed(tmp_path):
    package = tmp_path / "celeba_gender"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("")
    script = tmp_path / "wrapper.py"
    script.write_text("from . import a\n")  # relative to the scripts folder, not the package
    assert imported_modules(script, package) == set()


@pytest.mark.parametrize("script", WRAPPERS, ids=lambda p: p.name)
def test_the_walker_finds_what_each_wrapper_imports_at_run_time(script):
    derived = {p.resolve() for p in code_dependencies(script, PACKAGE)} - {script.resolve()}
    assert derived == runtime_imports(script)


def test_the_rules_files_name_a_script_for_the_heavy_rules():
    scripts = rule_scripts()
    assert {"train", "evaluate", "gradcam", "report", "plot_loss_curves"} <= set(scripts)
    assert all(script.is_file() for script in scripts.values())


# ---------------------------------------------------------------- editing each module


def rule_graph(workdir: Path) -> dict[str, set[str]]:
    """Rule -> the rules that consume its outputs, from ``snakemake --rulegraph``."""
    dot = snakemake(workdir, "--rulegraph").stdout
    names = dict(re.findall(r'^\s*(\d+)\[label = "(\w+)"', dot, re.M))
    children: dict[str, set[str]] = {name: set() for name in names.values()}
    for src, dst in re.findall(r"^\s*(\d+) -> (\d+)", dot, re.M):
        children[names[src]].add(names[dst])
    return children


def downstream(rules: set[str], children: dict[str, set[str]]) -> set[str]:
    todo, seen = list(rules), set(rules)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


PLOT_AND_REPORT = ("plots.py", "report.py", "metrics_table.py", "costs.py", "provenance.py")


# The README tier edits these (a figure module, the report, the training loop, the groups the
# training imports, a job that draws, the constants nearly every script reaches, the EDA); the
# heavy tier edits every module of the package.
REPRESENTATIVE = (
    "plots.py", "report.py", "engine.py", "groups.py", "calibrate.py", "constants.py", "eda.py"
)  # fmt: skip


def edit_problems(workflow_run: Path, modules: list[Path]) -> tuple[list[str], dict]:
    """Edit each module in the shared run's copy of the tree (the same bytes as the checkout's,
    whose wrappers are the oracle), never in the checkout: (what went wrong, the plans)."""
    assert planned_jobs(workflow_run) == {}, "the finished run must be up to date"
    tree = tree_of(workflow_run)
    assert tree != REPO
    children = rule_graph(workflow_run)
    scripts = {rule: s for rule, s in rule_scripts().items() if rule in children}
    problems = []
    plans = {}
    for module in modules:
        importers = {rule for rule, s in scripts.items() if module.resolve() in runtime_imports(s)}
        plans[module.name] = touched_plan(workflow_run, tree / module.relative_to(REPO))
        planned = set(plans[module.name]) - {"all"}
        missing = importers - planned
        stray = planned - downstream(importers, children)
        if missing:
            problems.append(f"{module.name}: not rerun although their scripts import it: {missing}")
        if stray:
            problems.append(f"{module.name}: rerun but neither importers nor downstream: {stray}")
        if module.name in PLOT_AND_REPORT and "train" in planned:
            problems.append(f"{module.name}: editing it retrains")
    assert planned_jobs(workflow_run) == {}, "the run must be up to date again"
    return problems, plans


@pytest.mark.slow
def test_editing_a_module_reruns_exactly_the_rules_that_import_it(workflow_run):
    modules = [PACKAGE / name for name in REPRESENTATIVE]
    problems, plans = edit_problems(workflow_run, modules)
    assert not problems, "\n".join(problems)
    assert "train" in plans["engine.py"] and "train" not in plans["plots.py"]
    # Snakemake reruns jobs, not single outputs: the code of one EDA figure reruns the one eda
    # job (all four figures and the null check), and what reads them, nothing upstream.
    # (the model card reads the report's metrics.csv)
    assert plans["eda.py"] == {
        "eda": 1, "report": 1, "model_card": 1, "compare_experiments": 1, "all": 1
    }  # fmt: skip


@pytest.mark.heavy
@pytest.mark.slow
def test_editing_any_module_reruns_exactly_the_rules_that_import_it(workflow_run):
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) > 20 and set(REPRESENTATIVE) <= {m.name for m in modules}
    problems, _ = edit_problems(workflow_run, modules)
    assert not problems, "\n".join(problems)
