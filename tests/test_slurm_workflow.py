"""The real workflow on the local SLURM cluster, through ``--profile profiles/slurm`` unchanged.

The tiny config runs once through the cluster (tests/cluster/, started by ``slurm_cluster``)
with the test overlay as ``--workflow-profile``; the checks read ``sacct``, the training logs
and the outputs, and compare the outputs with the local run of the same config
(``workflow_run`` in conftest.py, on CPU). The failing-job case is tested on the mini workflow
in test_slurm.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from test_slurm import (
    SLURM_PROFILE,
    SlurmCluster,
    jobs_of_rule,
    jobs_of_run,
    load_profile,
    output_tail,
    parse_tres,
    run_workflow,
    sacct_jobs,
    shared_cluster,
    timelimit_minutes,
)

from conftest import REPO, make_workdir, planned_jobs, tiny_paths

pytestmark = pytest.mark.slurm

JOBNAME_PREFIX = "wf"
# A shared 2-core test box runs the tiny DAG in about 10 minutes.
WORKFLOW_TIMEOUT_S = 1500
MODELS = ("s1_lr1e-4_seed0", "s2_lr1e-4_seed0")
CHECKPOINTS = ("last", "best")
# Target rules without a script: Snakemake finishes them itself, never as a cluster job.
TARGET_RULES = frozenset({"all"})
EXPECTED_CLUSTER_RULES = {
    "synthesize",
    "ingest",
    "split",
    "decode_images",
    "random_weights",
    "build_feature_cache",
    "train",
    "evaluate",
    "gradcam",
    "calibrate",
}
EXPECTED_LOCAL_RULES = {
    "download",
    "eda",
    "evaluate_groups",
    "compare_reliability",
    "plot_model",
    "plot_loss_curves",
    "roc_curves",
    "subgroups",
    "model_statistics",
    "experiment_config",
    "compare_experiments",
    "report",
    "model_card",
    "fetch_imagenet_weights",
}
EXACT_METRICS = ("n", "tn", "fp", "fn", "tp")
CLOSE_METRICS = ("test_accuracy", "test_loss")
TOLERANCE = 1e-6
LOCALRULES_BLOCK = re.compile(r"^localrules:\n((?:[ \t]+\w+,?[ \t]*\n?)+)", re.MULTILINE)
DEVICES_LINE = re.compile(r"CUDA_VISIBLE_DEVICES=(?P<devices>[^,\s]+), SLURM_JOB_ID=(?P<job>\S+)")

P = tiny_paths()  # where the tiny run puts everything


@dataclass(frozen=True)
class WorkflowRun:
    """One finished run of the real workflow on the cluster, and what it was expected to do."""

    workdir: Path
    proc: subprocess.CompletedProcess[str]
    jobs: list[dict[str, str]]
    planned: dict[str, int]
    local_rules: frozenset[str]


def declared_local_rules(rule_files: list[Path]) -> frozenset[str]:
    """The rule names listed in the ``localrules:`` blocks of the given .smk files."""
    names: set[str] = set()
    for path in rule_files:
        for block in LOCALRULES_BLOCK.findall(path.read_text()):
            names.update(name.strip(" \t,") for name in block.split("\n") if name.strip(" \t,"))
    return frozenset(names)


def cluster_job_counts(planned: dict[str, int], local_rules: frozenset[str]) -> dict[str, int]:
    """Rule -> number of jobs that should go through sbatch."""
    return {
        rule: count
        for rule, count in planned.items()
        if rule not in local_rules and rule not in TARGET_RULES
    }


def rule_of(job: dict[str, str]) -> str:
    """The rule of a SLURM job, from the plugin's comment rule_<rule>[_wildcards_<...>]."""
    return job["Comment"].removeprefix("rule_").split("_wildcards_", 1)[0]


def train_job_of(jobs: list[dict[str, str]], model: str) -> dict[str, str]:
    """The one sacct job that trained ``model``."""
    matches = [job for job in jobs_of_rule(jobs, "train") if job["Comment"].endswith(f"_{model}")]
    assert len(matches) == 1, (model, jobs_of_rule(jobs, "train"))
    return matches[0]


def job_environment(log_path: Path) -> dict[str, str]:
    """The CUDA_VISIBLE_DEVICES and SLURM_JOB_ID a training job logged (its last attempt)."""
    found = DEVICES_LINE.findall(log_path.read_text())
    assert found, f"{log_path} has no 'CUDA_VISIBLE_DEVICES=..., SLURM_JOB_ID=...' line"
    devices, job = found[-1]
    return {"CUDA_VISIBLE_DEVICES": devices, "SLURM_JOB_ID": job}


def read_metrics(workdir: Path, model: str, checkpoint: str) -> dict:
    """A model's test metrics for one checkpoint."""
    path = workdir / P.evaluation_dir(model, checkpoint) / "metrics.json"
    return json.loads(path.read_text())


def read_history(workdir: Path, model: str) -> pd.DataFrame:
    """A model's training history without the wall-clock column."""
    history = pd.read_csv(workdir / P.model_dir(model) / "history.csv")
    return history.drop(columns=["seconds"])


@pytest.fixture(scope="session")
def slurm_cluster(request: pytest.FixtureRequest) -> SlurmCluster:
    """The test cluster, shared with test_slurm.py (one per pytest run)."""
    return shared_cluster(request)


@pytest.fixture(scope="module")
def slurm_workflow(
    slurm_cluster: SlurmCluster, tmp_path_factory: pytest.TempPathFactory
) -> WorkflowRun:
    """Run the workflow's default target on the tiny config through profiles/slurm, once."""
    workdir = make_workdir(tmp_path_factory.mktemp("slurm_workflow"))
    planned = planned_jobs(workdir)
    local_rules = declared_local_rules(sorted((REPO / "rules").glob("*.smk")))
    since = datetime.now() - timedelta(seconds=2)
    started = time.monotonic()
    proc = run_workflow(
        workdir,
        workdir / "tiny.yaml",
        ["--slurm-jobname-prefix", JOBNAME_PREFIX],
        timeout_s=WORKFLOW_TIMEOUT_S,
    )
    seconds = time.monotonic() - started
    assert proc.returncode == 0, (
        f"workflow failed on SLURM after {seconds:.0f} s:\n{output_tail(proc)}"
    )
    jobs = jobs_of_run(sacct_jobs(since), JOBNAME_PREFIX)
    return WorkflowRun(workdir, proc, jobs, planned, local_rules)


def test_dag_has_the_expected_cluster_and_local_rules(slurm_workflow: WorkflowRun) -> None:
    # Guards the expectations below against a localrules parse that finds nothing.
    assert slurm_workflow.local_rules >= EXPECTED_LOCAL_RULES
    cluster_rules = set(cluster_job_counts(slurm_workflow.planned, slurm_workflow.local_rules))
    assert cluster_rules == EXPECTED_CLUSTER_RULES


def test_workflow_writes_the_report(slurm_workflow: WorkflowRun) -> None:
    report = slurm_workflow.workdir / P.report
    assert report.is_file()
    assert report.stat().st_size > 0


def test_every_cluster_job_of_the_dag_completed_once_in_sacct(
    slurm_workflow: WorkflowRun,
) -> None:
    expected = cluster_job_counts(slurm_workflow.planned, slurm_workflow.local_rules)
    assert Counter(rule_of(job) for job in slurm_workflow.jobs) == Counter(expected)
    assert {job["State"] for job in slurm_workflow.jobs} == {"COMPLETED"}


def test_local_rules_are_not_submitted(slurm_workflow: WorkflowRun) -> None:
    submitted = {rule_of(job) for job in slurm_workflow.jobs}
    assert submitted.isdisjoint(slurm_workflow.local_rules | TARGET_RULES)


def test_training_jobs_saw_the_gpu_slurm_gave_them(slurm_workflow: WorkflowRun) -> None:
    for model in MODELS:
        env = job_environment(
            slurm_workflow.workdir / P.experiment / "logs" / "train" / f"{model}.log"
        )
        assert re.fullmatch(r"\d+(,\d+)*", env["CUDA_VISIBLE_DEVICES"]), (model, env)
        assert env["SLURM_JOB_ID"] == train_job_of(slurm_workflow.jobs, model)["JobID"]


def test_training_jobs_got_the_profile_resources(slurm_workflow: WorkflowRun) -> None:
    wanted = load_profile(SLURM_PROFILE)["set-resources"]["train"]
    for model in MODELS:
        tres = parse_tres(train_job_of(slurm_workflow.jobs, model)["AllocTRES"])
        assert tres["gres/gpu"] == "1", (model, tres)
        assert tres["cpu"] == str(wanted["cpus_per_gpu"]), (model, tres)
        assert tres["mem"] == f"{wanted['mem_mb']}M", (model, tres)


def training_jobs_overlap(jobs: list[dict[str, str]]) -> bool:
    """Whether the training jobs of MODELS were all running at one moment."""
    train = [train_job_of(jobs, model) for model in MODELS]
    starts = [datetime.fromisoformat(job["Start"]) for job in train]
    ends = [datetime.fromisoformat(job["End"]) for job in train]
    return max(starts) < min(ends)


def test_training_jobs_ran_at_the_same_time(slurm_workflow: WorkflowRun) -> None:
    assert training_jobs_overlap(slurm_workflow.jobs), jobs_of_rule(slurm_workflow.jobs, "train")


def test_training_jobs_running_together_saw_different_gpus(slurm_workflow: WorkflowRun) -> None:
    logs = slurm_workflow.workdir / P.experiment / "logs" / "train"
    devices = [job_environment(logs / f"{model}.log")["CUDA_VISIBLE_DEVICES"] for model in MODELS]
    assert training_jobs_overlap(slurm_workflow.jobs), jobs_of_rule(slurm_workflow.jobs, "train")
    assert len(set(devices)) == len(MODELS), devices


def test_feature_cache_jobs_got_the_profile_runtime(slurm_workflow: WorkflowRun) -> None:
    wanted = load_profile(SLURM_PROFILE)["set-resources"]["build_feature_cache"]["runtime"]
    cache_jobs = jobs_of_rule(slurm_workflow.jobs, "build_feature_cache")
    assert cache_jobs, "no build_feature_cache job in sacct"
    assert [timelimit_minutes(job["Timelimit"]) for job in cache_jobs] == [wanted] * len(cache_jobs)


@pytest.mark.parametrize("checkpoint", CHECKPOINTS)
@pytest.mark.parametrize("model", MODELS)
def test_test_metrics_equal_the_local_run(
    slurm_workflow: WorkflowRun, workflow_run: Path, model: str, checkpoint: str
) -> None:
    cluster = read_metrics(slurm_workflow.workdir, model, checkpoint)
    local = read_metrics(workflow_run, model, checkpoint)
    assert {key: cluster[key] for key in EXACT_METRICS} == {
        key: local[key] for key in EXACT_METRICS
    }
    for key in CLOSE_METRICS:
        assert cluster[key] == pytest.approx(local[key], rel=0, abs=TOLERANCE), key


@pytest.mark.parametrize("model", MODELS)
def test_training_history_equals_the_local_run(
    slurm_workflow: WorkflowRun, workflow_run: Path, model: str
) -> None:
    pd.testing.assert_frame_equal(
        read_history(slurm_workflow.workdir, model),
        read_history(workflow_run, model),
        check_exact=False,
        rtol=0,
        atol=TOLERANCE,
    )
