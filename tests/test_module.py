"""The workflow as a Snakemake module of another project: a host Snakefile imports it by a local
path (``module ...: snakefile: ...; config: ...``, ``use rule * from ... as cg_*``) and runs the
tiny study end to end, the way catalog workflows are deployed (docs/running.md). Deployment
from GitHub (``snakefile: github(...)``) needs the network and is not tested here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, TINY, parse_job_stats

HOST_SNAKEFILE = """
configfile: "tiny.yaml"


module celeba_gender:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from celeba_gender as cg_*


rule host_all:
    default_target: True
    input:
        rules.cg_all.input,
"""


def host_project(path: Path) -> Path:
    """A project of its own: a Snakefile that imports the workflow, the tiny config, no copy of
    the workflow's config/ folder (the module reads its schema from its own folder)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "Snakefile").write_text(HOST_SNAKEFILE.format(snakefile=REPO / "Snakefile"))
    (path / "tiny.yaml").write_text(TINY.read_text())
    return path


def run_host(host: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--resources", "gpu=1", *args]
    return subprocess.run(cmd, cwd=host, capture_output=True, text=True, timeout=1800)


def test_the_module_plans_every_rule_under_its_prefix(tmp_path):
    host = host_project(tmp_path / "host")
    proc = run_host(host, "-n", "--quiet", "rules")
    assert proc.returncode == 0, proc.stderr[-4000:]
    jobs = parse_job_stats(proc.stdout)
    assert {"cg_ingest", "cg_train", "cg_report", "cg_eda"} <= set(jobs), jobs
    assert jobs["cg_train"] == 2 and jobs["cg_evaluate"] == 4
    assert not any(name in jobs for name in ("ingest", "train", "report")), jobs


@pytest.mark.heavy
def test_a_host_project_runs_the_tiny_study_end_to_end(tmp_path):
    host = host_project(tmp_path / "host")
    proc = run_host(host)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    report = host / "results/experiments/tiny/report"
    assert (report / "report.html").stat().st_size > 10_000
    assert len((report / "metrics.csv").read_text().splitlines()) == 1 + 4  # 2 models x 2
    # the workflow's code is tracked in the module too: nothing is stale after the run
    again = run_host(host, "-n", "--quiet", "rules")
    assert again.returncode == 0, again.stderr[-4000:]
    assert parse_job_stats(again.stdout) == {}
