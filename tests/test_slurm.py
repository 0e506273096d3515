"""The SLURM profile: static checks, and real runs on a one-node cluster on localhost.

The tests marked ``slurm`` start the cluster of tests/cluster/ (root needed; it installs the
Debian packages if missing) once per session and always stop it, and the session fails if a
daemon or the /etc/slurm/slurm.conf link outlives it. They run a stand-in workflow
(tests/cluster/mini/) through ``--profile profiles/slurm`` unchanged, plus the test-only
overlay tests/cluster/overlay as ``--workflow-profile``. ``run_workflow`` and ``sacct_jobs``
take any Snakefile, so the same checks can be pointed at the real workflow.
"""

from __future__ import annotations

import functools
import math
import os
import re
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

from conftest import make_workdir, planned_jobs

REPO = Path(__file__).resolve().parents[1]
CLUSTER_DIR = REPO / "tests" / "cluster"
SLURM_PROFILE = REPO / "profiles" / "slurm"
LOCAL_PROFILE = REPO / "profiles" / "local"
OVERLAY = CLUSTER_DIR / "overlay"
MINI_SNAKEFILE = CLUSTER_DIR / "mini" / "Snakefile"
SNAKEMAKE_TIMEOUT_S = 600
TIMEOUT_EXIT_CODES = (124, 137)
HEAVY_RULES = ("train", "build_feature_cache", "evaluate")
SACCT_FIELDS = (
    "JobID",
    "JobName",
    "State",
    "ExitCode",
    "Start",
    "End",
    "Timelimit",
    "AllocTRES",
    "Comment",
)
# Declared node size for the test cluster: 2 fake GPUs x cpus_per_gpu 4, and room for two
# 16 GB GPU jobs, so that profiles/slurm runs unchanged on a 2-core test machine.
TEST_NODE_ENV = {"SLURM_TEST_CPUS": "8", "SLURM_TEST_MEMORY_MB": "36000"}
# The PID files start.sh writes in STATE_DIR/run, by the process name they must match.
DAEMON_PID_FILES = {
    "slurmd": "slurmd.pid",
    "slurmctld": "slurmctld.pid",
    "slurmdbd": "slurmdbd.pid",
    "mariadbd": "mariadb.pid",
    "munged": "munged.pid",
}
ETC_SLURM_CONF = Path("/etc/slurm/slurm.conf")
# The client commands of slurm-client/slurmctld: none may be reachable for the no-SLURM dry run.
SLURM_COMMANDS = frozenset(
    {
        "sacct",
        "sacctmgr",
        "salloc",
        "sattach",
        "sbatch",
        "sbcast",
        "scancel",
        "scontrol",
        "scrontab",
        "sdiag",
        "sinfo",
        "sprio",
        "squeue",
        "sreport",
        "srun",
        "sshare",
        "sstat",
        "strigger",
        "sview",
    }
)
SACCT_TIMELIMIT = re.compile(
    r"(?:(?P<days>\d+)-)?(?P<hours>\d+):(?P<minutes>\d\d):(?P<seconds>\d\d)"
)
# The resume test: the first attempt of the mini workflow's `train` sleeps past its 1-minute
# limit; slurmctld checks limits every ~30 s, then waits KillWait (5 s) before SIGKILL.
RESUME_TIMEOUT_S = 420


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


def timelimit_minutes(timelimit: str) -> int:
    """sacct's Timelimit ('[days-]hours:minutes:seconds') in whole minutes."""
    match = SACCT_TIMELIMIT.fullmatch(timelimit)
    assert match, f"not a sacct Timelimit: {timelimit!r}"
    days, hours, minutes, seconds = (
        int(match[name] or 0) for name in ("days", "hours", "minutes", "seconds")
    )
    return (days * 24 + hours) * 60 + minutes + math.ceil(seconds / 60)


def path_without_slurm(path: str, shadow_root: Path) -> str:
    """``path`` with each folder that holds a SLURM command replaced by a folder of links to
    everything else in it, as on a machine without SLURM."""
    folders = []
    for index, folder in enumerate(path.split(os.pathsep)):
        source = Path(folder)
        if not any((source / command).exists() for command in SLURM_COMMANDS):
            folders.append(folder)
            continue
        shadow = shadow_root / str(index)
        shadow.mkdir(parents=True)
        for entry in source.iterdir():
            if entry.name not in SLURM_COMMANDS:
                (shadow / entry.name).symlink_to(entry)
        folders.append(str(shadow))
    return os.pathsep.join(folders)


def job_counts(snakemake_output: str) -> dict[str, int]:
    """Rule -> count from the 'Job stats' table Snakemake prints."""
    table = snakemake_output.split("Job stats:", 1)[-1]
    counts = {}
    for line in table.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isidentifier() and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    counts.pop("total", None)
    return counts


def daemon_pids(run_dir: Path) -> dict[str, int]:
    """Daemon name -> the PID its PID file in ``run_dir`` names (missing files left out)."""
    pids = {}
    for name, filename in DAEMON_PID_FILES.items():
        path = run_dir / filename
        digits = "".join(filter(str.isdigit, path.read_text())) if path.is_file() else ""
        if digits:
            pids[name] = int(digits)
    return pids


def live_daemons(pids: dict[str, int]) -> dict[str, int]:
    """The entries of ``pids`` whose process still runs under that name (not dead, not a
    zombie, not a reused PID)."""
    alive = {}
    for name, pid in pids.items():
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if comm == name and state != "Z":
            alive[name] = pid
    return alive


def etc_conf_points_to(conf: Path) -> bool:
    """Whether /etc/slurm/slurm.conf is (still) a link to ``conf``."""
    return ETC_SLURM_CONF.is_symlink() and Path(os.readlink(ETC_SLURM_CONF)) == conf


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
    proc = snakemake_dry_run(MINI_SNAKEFILE, tmp_path, profile_args, timeout=120)
    assert proc.returncode == 0, output_tail(proc)


def snakemake_dry_run(
    snakefile: Path, workdir: Path, args: list[str], timeout: int, env: dict | None = None
) -> subprocess.CompletedProcess[str]:
    """``snakemake --dry-run`` of ``snakefile`` in ``workdir`` with ``args``."""
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile)]
        + ["--directory", str(workdir), "--dry-run", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def test_slurm_profile_dry_run_plans_the_workflow_on_a_machine_without_slurm(
    tmp_path: Path,
) -> None:
    # The "Done when": `snakemake --profile profiles/slurm -n`, no overlay, no sbatch.
    workdir = make_workdir(tmp_path / "work")
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}
    env["PATH"] = path_without_slurm(os.environ["PATH"], tmp_path / "path")
    assert shutil.which("sbatch", path=env["PATH"]) is None
    assert shutil.which("sacct", path=env["PATH"]) is None
    args = ["--configfile", str(workdir / "tiny.yaml"), "--profile", str(SLURM_PROFILE)]
    proc = snakemake_dry_run(REPO / "Snakefile", workdir, args, timeout=300, env=env)
    assert proc.returncode == 0, output_tail(proc)
    planned = job_counts(proc.stdout + proc.stderr)
    assert planned["train"] >= 1, output_tail(proc)
    assert planned == planned_jobs(workdir)
    assert not (workdir / "results").exists()


def test_timelimit_minutes_reads_sacct_durations() -> None:
    assert timelimit_minutes("00:01:00") == 1
    assert timelimit_minutes("02:00:00") == 120
    assert timelimit_minutes("1-00:30:00") == 1470


def test_live_daemons_finds_a_running_process_by_pid_and_name() -> None:
    own_name = Path("/proc/self/comm").read_text().strip()
    assert live_daemons({own_name: os.getpid()}) == {own_name: os.getpid()}


def test_live_daemons_ignores_a_finished_process() -> None:
    child = subprocess.Popen(["sleep", "0"])
    child.wait()
    assert live_daemons({"sleep": child.pid}) == {}


def test_live_daemons_ignores_a_pid_now_used_by_another_program() -> None:
    assert live_daemons({"slurmctld": os.getpid()}) == {}


# --- runs on the local cluster ----------------------------------------------------------------


@dataclass
class ClusterStart:
    """What starting the test cluster gave: the cluster, or why it did not start; and whether
    it was stopped without leftovers (None: not stopped yet)."""

    cluster: SlurmCluster
    error: str | None
    stopped_cleanly: bool | None = None


CLUSTER_KEY = pytest.StashKey[ClusterStart]()


def stop_cluster(start: ClusterStart, env: dict[str, str], patch: pytest.MonkeyPatch) -> None:
    """Stop the test cluster with tests/cluster/stop.sh, then check that no daemon named in its
    PID files still runs and that the /etc/slurm/slurm.conf link is gone; fail loudly if not."""
    state_dir = start.cluster.state_dir
    start.stopped_cleanly = False
    patch.undo()
    pids = daemon_pids(state_dir / "run")
    stopped = cluster_script("stop.sh", state_dir, env, timeout=300)
    problems = [f"{name} (pid {pid}) still runs" for name, pid in live_daemons(pids).items()]
    if etc_conf_points_to(start.cluster.conf):
        problems.append(f"{ETC_SLURM_CONF} still links to {start.cluster.conf}")
    if stopped.returncode != 0:
        problems.append(f"tests/cluster/stop.sh exited with status {stopped.returncode}")
    if problems:
        pytest.fail(
            f"stopping the SLURM test cluster in {state_dir} left: {'; '.join(problems)}\n"
            f"{output_tail(stopped)}",
            pytrace=False,
        )
    start.stopped_cleanly = True


def cluster_script(
    name: str, state_dir: Path, env: dict[str, str], timeout: int
) -> subprocess.CompletedProcess[str]:
    """Run tests/cluster/<name> on the cluster state folder ``state_dir``; never raises."""
    return subprocess.run(
        [str(CLUSTER_DIR / name), str(state_dir)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def forget_cluster(
    start: ClusterStart, env: dict[str, str], patch: pytest.MonkeyPatch, session: pytest.Session
) -> None:
    """When pytest exits: stop the cluster again unless the session teardown stopped it
    cleanly, and delete its state after a session without failures."""
    if not start.stopped_cleanly:
        subprocess.run(
            [str(CLUSTER_DIR / "stop.sh"), str(start.cluster.state_dir)],
            env=env,
            check=False,
            timeout=300,
        )
    patch.undo()
    if start.stopped_cleanly and session.testsfailed == 0:
        shutil.rmtree(start.cluster.state_dir, ignore_errors=True)


def shared_cluster(request: pytest.FixtureRequest) -> SlurmCluster:
    """Start the test cluster once per pytest run, whichever test module asks first.

    A session fixture imported into another module would be a second fixture and start a
    second cluster on the same ports, so each module's ``slurm_cluster`` fixture calls this,
    and the cluster is kept in the pytest config. It is stopped and checked at the end of the
    session (a finalizer of the session fixture that started it, so that leftovers fail the
    run as a teardown error), and, should that not have run, when pytest exits. The state
    folder is not under pytest's tmp_path: munged refuses a socket below a directory others
    cannot enter. It is deleted after a session without failures.
    """
    config = request.config
    if CLUSTER_KEY not in config.stash:
        state_dir = Path(tempfile.mkdtemp(prefix="celeba-gender-slurm-"))
        state_dir.chmod(0o755)
        env = {**os.environ, **TEST_NODE_ENV}
        patch = pytest.MonkeyPatch()
        conf = state_dir / "etc" / "slurm.conf"
        cluster = SlurmCluster(
            state_dir=state_dir, conf=conf, node=socket.gethostname().split(".")[0]
        )
        start = ClusterStart(cluster, "tests/cluster/start.sh did not finish")
        config.stash[CLUSTER_KEY] = start
        config.add_cleanup(functools.partial(forget_cluster, start, env, patch, request.session))
        request.addfinalizer(functools.partial(stop_cluster, start, env, patch))
        started = cluster_script("start.sh", state_dir, env, timeout=900)
        patch.setenv("SLURM_CONF", str(conf))
        start.error = None
        if started.returncode != 0:
            start.error = f"tests/cluster/start.sh failed:\n{output_tail(started)}"
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


def run_mini(
    workdir: Path, jobname_prefix: str, *targets: str, timeout_s: int = SNAKEMAKE_TIMEOUT_S
) -> MiniRun:
    """Run the mini workflow's ``targets`` (default: its first rule) through profiles/slurm;
    the run's jobs are the sacct jobs named with ``jobname_prefix``."""
    since = datetime.now() - timedelta(seconds=2)
    args = ["--slurm-jobname-prefix", jobname_prefix, *targets]
    proc = run_workflow(workdir, None, args, MINI_SNAKEFILE, timeout_s=timeout_s)
    return MiniRun(workdir, proc, jobs_of_run(sacct_jobs(since), jobname_prefix))


@pytest.fixture(scope="module")
def mini_run(slurm_cluster: SlurmCluster, tmp_path_factory: pytest.TempPathFactory) -> MiniRun:
    """Run the mini workflow's default target once through profiles/slurm."""
    run = run_mini(tmp_path_factory.mktemp("mini_ok"), "mini-ok")
    assert run.proc.returncode == 0, f"mini workflow failed on SLURM:\n{output_tail(run.proc)}"
    return run


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
    run = run_mini(tmp_path, "mini-fail", "results/fail.txt")
    assert run.proc.returncode not in (0, *TIMEOUT_EXIT_CODES), output_tail(run.proc)
    failed = jobs_of_rule(run.jobs, "always_fails")
    assert [job["State"] for job in failed] == ["FAILED"]


@pytest.fixture(scope="module")
def resume_run(slurm_cluster: SlurmCluster, tmp_path_factory: pytest.TempPathFactory) -> MiniRun:
    """Run the mini workflow's `train`, which times out once, through profiles/slurm; its
    jobs are the rule's sacct jobs in submission order."""
    run = run_mini(
        tmp_path_factory.mktemp("mini_resume"),
        "mini-resume",
        "results/trained.txt",
        timeout_s=RESUME_TIMEOUT_S,
    )
    jobs = sorted(jobs_of_rule(run.jobs, "train"), key=lambda job: int(job["JobID"]))
    return MiniRun(run.workdir, run.proc, jobs)


@pytest.mark.slurm
def test_training_job_killed_at_its_time_limit_is_resubmitted(resume_run: MiniRun) -> None:
    states = [job["State"] for job in resume_run.jobs]
    assert states == ["TIMEOUT", "COMPLETED"], f"{resume_run.jobs}\n{output_tail(resume_run.proc)}"


@pytest.mark.slurm
def test_resubmitted_training_job_gets_the_longer_runtime_of_its_attempt(
    resume_run: MiniRun,
) -> None:
    assert [job["Timelimit"] for job in resume_run.jobs] == ["00:01:00", "00:05:00"]


@pytest.mark.slurm
def test_run_with_a_timed_out_training_job_succeeds_on_the_retry(resume_run: MiniRun) -> None:
    assert resume_run.proc.returncode == 0, output_tail(resume_run.proc)


@pytest.mark.slurm
def test_resubmitted_training_job_resumes_from_the_checkpoint(resume_run: MiniRun) -> None:
    assert len(resume_run.jobs) == 2, resume_run.jobs
    first, second = resume_run.jobs
    assert read_probe(resume_run.workdir / "results" / "trained.txt") == {
        "resumed_from": first["JobID"],
        "slurm_job_id": second["JobID"],
        "runtime_minutes": "5",
    }
