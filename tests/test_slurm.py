"""The SLURM profile: static checks, and real runs on a one-node cluster on localhost.

The tests marked ``slurm`` start the cluster of tests/cluster/ (root needed; it installs the
Debian packages if missing) once per session and always stop it. They run a stand-in workflow
(tests/cluster/mini/) through ``--profile profiles/slurm`` unchanged, plus the test-only
overlay tests/cluster/overlay as ``--workflow-profile``. ``run_workflow`` and ``sacct_jobs``
take any Snakefile, so the same checks can be pointed at the real workflow.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CLUSTER_DIR = REPO / "tests" / "cluster"
SLURM_PROFILE = REPO / "profiles" / "slurm"
LOCAL_PROFILE = REPO / "profiles" / "local"
OVERLAY = CLUSTER_DIR / "overlay"
MINI_SNAKEFILE = CLUSTER_DIR / "mini" / "Snakefile"
SNAKEMAKE_TIMEOUT_S = 600
TIMEOUT_EXIT_CODES = (124, 137)
HEAVY_RULES = ("train", "build_feature_cache", "evaluate")
SACCT_FIELDS = ("JobID", "JobName", "State", "ExitCode", "Start", "End", "AllocTRES", "Comment")
# Declared node size for the test cluster: 2 fake GPUs x cpus_per_gpu 4, and room for two
# 16 GB GPU jobs, so that profiles/slurm runs unchanged on a 2-core test machine.
TEST_NODE_ENV = {"SLURM_TEST_CPUS": "8", "SLURM_TEST_MEMORY_MB": "36000"}


@dataclass(frozen=True)
class SlurmCluster:
    """A running test cluster."""

    state_dir: Path
    conf: Path
    node: str


def load_profile(profile_dir: Path) -> dict:
    """Return the parsed config.yaml of a profile folder."""
    return yaml.safe_load((profile_dir / "config.yaml").read_text())


def run_workflow(
    workdir: Path,
    configfile: Path | None,
    extra_args: Sequence[str] = (),
    snakefile: Path = REPO / "Snakefile",
    timeout_s: int = SNAKEMAKE_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """Run Snakemake in ``workdir`` with profiles/slurm and the test overlay, killed after
    ``timeout_s`` (it ignores SIGTERM while it waits on cluster jobs, hence ``timeout -k``)."""
    cmd = [
        "timeout",
        "-k",
        "10",
        str(timeout_s),
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(snakefile),
        "--directory",
        str(workdir),
        "--profile",
        str(SLURM_PROFILE),
        "--workflow-profile",
        str(OVERLAY),
    ]
    if configfile is not None:
        cmd += ["--configfile", str(configfile)]
    cmd += list(extra_args)
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, check=False)


def sacct_jobs(since: datetime) -> list[dict[str, str]]:
    """Return one dict per SLURM job (allocations only, no steps) submitted since ``since``."""
    out = subprocess.run(
        [
            "sacct",
            "--allocations",
            "--noheader",
            "--parsable2",
            "--allusers",
            "--starttime",
            since.strftime("%Y-%m-%dT%H:%M:%S"),
            "--endtime",
            "now",
            "--format",
            ",".join(SACCT_FIELDS),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    # Comment is the last field, so a '|' inside it cannot shift the others.
    return [
        dict(zip(SACCT_FIELDS, line.split("|", len(SACCT_FIELDS) - 1), strict=True))
        for line in out.splitlines()
        if line.strip()
    ]


def jobs_of_run(jobs: list[dict[str, str]], jobname_prefix: str) -> list[dict[str, str]]:
    """Keep the jobs of one Snakemake run started with ``--slurm-jobname-prefix``."""
    return [job for job in jobs if job["JobName"].startswith(f"{jobname_prefix}_")]


def jobs_of_rule(jobs: list[dict[str, str]], rule: str) -> list[dict[str, str]]:
    """Keep the jobs of one rule (the plugin sets the comment to rule_<rule>[_wildcards_...])."""
    return [
        job
        for job in jobs
        if job["Comment"] == f"rule_{rule}" or job["Comment"].startswith(f"rule_{rule}_wildcards_")
    ]


def parse_tres(tres: str) -> dict[str, str]:
    """Split sacct's AllocTRES ('cpu=4,gres/gpu=1,mem=8000M') into a dict."""
    return dict(item.split("=", 1) for item in tres.split(",") if item)


def read_probe(path: Path) -> dict[str, str]:
    """Read the key=value lines a mini-workflow GPU job wrote."""
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def output_tail(proc: subprocess.CompletedProcess[str], chars: int = 4000) -> str:
    """The end of a run's stderr and stdout, for assertion messages."""
    return f"stderr:\n{proc.stderr[-chars:]}\nstdout:\n{proc.stdout[-chars:]}"


# --- static checks of the profiles (fast, no cluster) ---------------------------------------


def test_slurm_profile_gives_heavy_rules_one_gpu_with_cpus_per_gpu() -> None:
    set_resources = load_profile(SLURM_PROFILE)["set-resources"]
    for rule in HEAVY_RULES:
        assert set_resources[rule]["gpu"] == 1, rule
        assert set_resources[rule]["cpus_per_gpu"] >= 1, rule


def test_slurm_profile_default_resources_leave_cpus_to_threads() -> None:
    # cpus_per_task in default-resources would win over the GPU rules' cpus_per_gpu.
    assert "cpus_per_task" not in load_profile(SLURM_PROFILE)["default-resources"]


def test_slurm_profile_leaves_train_runtime_to_the_rule() -> None:
    # The train rule grows its runtime per retry; a set-resources runtime would replace that.
    assert "runtime" not in load_profile(SLURM_PROFILE)["set-resources"]["train"]


def test_slurm_profile_requests_gpus_only_through_resources() -> None:
    profile = load_profile(SLURM_PROFILE)
    assert "gpu" not in (profile.get("resources") or {})
    extras = [profile["default-resources"].get("slurm_extra", "")] + [
        resources.get("slurm_extra", "") for resources in profile["set-resources"].values()
    ]
    assert not any("--gres" in extra or "--gpus" in extra for extra in extras)


def test_overlay_does_not_replace_profile_keys() -> None:
    # A workflow profile replaces whole top-level keys of the profile it is layered on.
    overlay_keys = set(load_profile(OVERLAY))
    assert overlay_keys.isdisjoint(load_profile(SLURM_PROFILE))


def test_no_default_workflow_profile_exists() -> None:
    # Snakemake would load profiles/default as a workflow profile on top of --profile.
    assert not (REPO / "profiles" / "default").exists()


@pytest.mark.parametrize(
    ("profile_args"),
    [
        ["--profile", str(SLURM_PROFILE), "--workflow-profile", str(OVERLAY)],
        ["--profile", str(LOCAL_PROFILE)],
    ],
    ids=["slurm+overlay", "local"],
)
def test_profiles_are_accepted_by_snakemake(profile_args: list[str], tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(MINI_SNAKEFILE)]
        + ["--directory", str(tmp_path), "--dry-run", *profile_args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, output_tail(proc)


# --- runs on the local cluster ----------------------------------------------------------------


@dataclass(frozen=True)
class ClusterStart:
    """What starting the test cluster gave: the cluster, or why it did not start."""

    cluster: SlurmCluster
    error: str | None


CLUSTER_KEY = pytest.StashKey[ClusterStart]()


def stop_cluster(
    state_dir: Path, env: dict[str, str], patch: pytest.MonkeyPatch, session: pytest.Session
) -> None:
    """Stop the test cluster (tests/cluster/stop.sh); delete its state after a clean session."""
    patch.undo()
    stopped = subprocess.run(
        [str(CLUSTER_DIR / "stop.sh"), str(state_dir)], check=False, timeout=300, env=env
    )
    if stopped.returncode == 0 and session.testsfailed == 0:
        shutil.rmtree(state_dir, ignore_errors=True)


def shared_cluster(request: pytest.FixtureRequest) -> SlurmCluster:
    """Start the test cluster once per pytest run, whichever test module asks first.

    A session fixture imported into another module would be a second fixture and start a
    second cluster on the same ports, so each module's ``slurm_cluster`` fixture calls this,
    and the cluster is kept in the pytest config and stopped when pytest exits (always). The
    state folder is not under pytest's tmp_path: munged refuses a socket below a directory
    others cannot enter. It is deleted after a session without failures.
    """
    config = request.config
    if CLUSTER_KEY not in config.stash:
        state_dir = Path(tempfile.mkdtemp(prefix="celeba-gender-slurm-"))
        state_dir.chmod(0o755)
        env = {**os.environ, **TEST_NODE_ENV}
        patch = pytest.MonkeyPatch()
        config.add_cleanup(lambda: stop_cluster(state_dir, env, patch, request.session))
        started = subprocess.run(
            [str(CLUSTER_DIR / "start.sh"), str(state_dir)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        conf = state_dir / "etc" / "slurm.conf"
        patch.setenv("SLURM_CONF", str(conf))
        cluster = SlurmCluster(
            state_dir=state_dir, conf=conf, node=socket.gethostname().split(".")[0]
        )
        error = None
        if started.returncode != 0:
            error = f"tests/cluster/start.sh failed:\n{output_tail(started)}"
        config.stash[CLUSTER_KEY] = ClusterStart(cluster, error)
    start = config.stash[CLUSTER_KEY]
    if start.error is not None:
        pytest.fail(start.error)
    return start.cluster


@pytest.fixture(scope="session")
def slurm_cluster(request: pytest.FixtureRequest) -> SlurmCluster:
    """The test cluster of tests/cluster/start.sh, shared by the run (see ``shared_cluster``)."""
    return shared_cluster(request)


@dataclass(frozen=True)
class MiniRun:
    """One finished run of the mini workflow and its SLURM jobs."""

    workdir: Path
    proc: subprocess.CompletedProcess[str]
    jobs: list[dict[str, str]]


@pytest.fixture(scope="module")
def mini_run(slurm_cluster: SlurmCluster, tmp_path_factory: pytest.TempPathFactory) -> MiniRun:
    """Run the mini workflow's default target once through profiles/slurm."""
    workdir = tmp_path_factory.mktemp("mini_ok")
    since = datetime.now() - timedelta(seconds=2)
    proc = run_workflow(workdir, None, ["--slurm-jobname-prefix", "mini-ok"], MINI_SNAKEFILE)
    assert proc.returncode == 0, f"mini workflow failed on SLURM:\n{output_tail(proc)}"
    return MiniRun(workdir, proc, jobs_of_run(sacct_jobs(since), "mini-ok"))


@pytest.mark.slurm
def test_every_cluster_job_completed_in_sacct(mini_run: MiniRun) -> None:
    assert sorted(job["Comment"] for job in mini_run.jobs) == [
        "rule_evaluate_wildcards_1",
        "rule_evaluate_wildcards_2",
    ]
    assert {job["State"] for job in mini_run.jobs} == {"COMPLETED"}


@pytest.mark.slurm
def test_local_rules_are_not_submitted(mini_run: MiniRun) -> None:
    assert (mini_run.workdir / "results" / "gathered.txt").is_file()
    assert jobs_of_rule(mini_run.jobs, "gather") == []
    assert jobs_of_rule(mini_run.jobs, "all") == []


@pytest.mark.slurm
def test_job_outputs_come_from_their_slurm_jobs(
    mini_run: MiniRun, slurm_cluster: SlurmCluster
) -> None:
    probes = [read_probe(mini_run.workdir / "results" / f"probe_{i}.txt") for i in (1, 2)]
    assert sorted(probe["slurm_job_id"] for probe in probes) == sorted(
        job["JobID"] for job in mini_run.jobs
    )
    assert {probe["hostname"] for probe in probes} == {slurm_cluster.node}


@pytest.mark.slurm
def test_gpu_jobs_see_distinct_cuda_visible_devices(mini_run: MiniRun) -> None:
    devices = [
        read_probe(mini_run.workdir / "results" / f"probe_{i}.txt")["cuda_visible_devices"]
        for i in (1, 2)
    ]
    assert all(device not in ("", "unset") for device in devices), devices
    assert len(set(devices)) == 2, devices


@pytest.mark.slurm
def test_gpu_jobs_get_the_profile_resources(mini_run: MiniRun) -> None:
    wanted = load_profile(SLURM_PROFILE)["set-resources"]["evaluate"]
    for job in jobs_of_rule(mini_run.jobs, "evaluate"):
        tres = parse_tres(job["AllocTRES"])
        assert tres["gres/gpu"] == str(wanted["gpu"])
        assert tres["cpu"] == str(wanted["gpu"] * wanted["cpus_per_gpu"])
        assert tres["mem"] == f"{wanted['mem_mb']}M"


@pytest.mark.slurm
def test_gpu_jobs_overlap_in_time(mini_run: MiniRun) -> None:
    gpu_jobs = jobs_of_rule(mini_run.jobs, "evaluate")
    starts = [datetime.fromisoformat(job["Start"]) for job in gpu_jobs]
    ends = [datetime.fromisoformat(job["End"]) for job in gpu_jobs]
    assert len(gpu_jobs) == 2
    assert max(starts) < min(ends), gpu_jobs


@pytest.mark.slurm
def test_failing_job_makes_snakemake_exit_nonzero(
    slurm_cluster: SlurmCluster, tmp_path: Path
) -> None:
    since = datetime.now() - timedelta(seconds=2)
    proc = run_workflow(
        tmp_path,
        None,
        ["--slurm-jobname-prefix", "mini-fail", "results/fail.txt"],
        MINI_SNAKEFILE,
    )
    assert proc.returncode not in (0, *TIMEOUT_EXIT_CODES), output_tail(proc)
    failed = jobs_of_rule(jobs_of_run(sacct_jobs(since), "mini-fail"), "always_fails")
    assert [job["State"] for job in failed] == ["FAILED"]
