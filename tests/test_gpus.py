"""One GPU per job: the file-lock slot allocator (celeba_gender.gpus) and the GPU jobs using it.

No GPU here: the ids are simulated. A job claims an id, sets CUDA_VISIBLE_DEVICES to it and logs
it, then runs on the CPU (train.device auto finds no CUDA), which is what is checked. Every test
uses its own lock folder (CELEBA_GENDER_GPU_LOCK_DIR), so parallel runs do not interfere.
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from celeba_gender import engine, gpus, jobs
from celeba_gender.grid import TrainSettings
from conftest import REPO, make_workdir, planned_jobs, tiny_paths

VISIBLE = gpus.VISIBLE

# A job holding a slot: claims from the ids in argv[1], prints the id it got, holds it until
# its stdin closes (or it is killed).
HOLDER = """
import json, os, sys
from celeba_gender import gpus
slot = gpus.claim_gpu(json.loads(sys.argv[1]), poll_s=0.05)
print(os.environ.get("CUDA_VISIBLE_DEVICES", "unset"), flush=True)
sys.stdin.read()
"""


@pytest.fixture
def lock_env(tmp_path, monkeypatch) -> dict[str, str]:
    """os.environ of a machine outside SLURM with no CUDA_VISIBLE_DEVICES, and its own lock
    folder (as the jobs see it; subprocesses inherit it)."""
    monkeypatch.setenv(gpus.LOCK_DIR_VARIABLE, str(tmp_path / "locks"))
    path = [str(REPO / "scripts"), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path))
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv(VISIBLE, raising=False)
    return os.environ


def start_holder(ids: list[int]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, json.dumps(ids)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def claimed_id(holder: subprocess.Popen) -> str:
    line = holder.stdout.readline().strip()
    assert line, (
        f"the holder printed no id: {holder.stderr.read() if holder.poll() is not None else ''}"
    )
    return line


def stop(holder: subprocess.Popen) -> None:
    if holder.poll() is None:
        holder.stdin.close()
        holder.wait(timeout=30)


# ---------------------------------------------------------------- the allocator


def test_two_jobs_claiming_from_two_ids_get_different_ids(lock_env) -> None:
    holders = [start_holder([0, 1]) for _ in range(2)]
    try:
        assert sorted(claimed_id(h) for h in holders) == ["0", "1"]
    finally:
        for h in holders:
            stop(h)


def test_a_third_job_waits_until_one_id_is_released(lock_env) -> None:
    first, second = start_holder([0, 1]), start_holder([0, 1])
    third = None
    try:
        ids = {claimed_id(first): first, claimed_id(second): second}
        third = start_holder([0, 1])
        time.sleep(1.5)
        assert third.poll() is None and ids.keys() == {"0", "1"}
        assert not _has_output(third), "the third job got an id while both were held"
        stop(ids["1"])
        assert claimed_id(third) == "1"
        stop(third)
        assert "waiting for a free GPU" in third.stderr.read()
    finally:
        for h in (first, second, third):
            if h is not None:
                stop(h)


def _has_output(proc: subprocess.Popen) -> bool:
    import select

    ready, _, _ = select.select([proc.stdout], [], [], 0)
    return bool(ready)


def test_a_job_killed_by_sigkill_frees_its_id_at_once(lock_env) -> None:
    holder = start_holder([0])
    assert claimed_id(holder) == "0"
    holder.kill()  # SIGKILL: no Python code runs; the kernel drops the process's flock
    holder.wait(timeout=30)
    environ = {gpus.LOCK_DIR_VARIABLE: lock_env[gpus.LOCK_DIR_VARIABLE]}
    with gpus.claim_gpu([0], environ=environ, timeout_s=0) as slot:  # one try, no waiting
        assert slot.device == "0" and environ[VISIBLE] == "0"
    assert VISIBLE not in environ  # released: the variable is as it was


def test_under_slurm_the_allocations_devices_are_kept(tmp_path) -> None:
    environ = {"SLURM_JOB_ID": "4242", VISIBLE: "3", gpus.LOCK_DIR_VARIABLE: str(tmp_path / "l")}
    slot = gpus.claim_gpu([0, 1], environ=environ, count=lambda: 8)
    assert slot.device is None
    assert environ[VISIBLE] == "3"
    assert not (tmp_path / "l").exists()  # no lock taken
    assert "SLURM_JOB_ID=4242" in gpus.host_line(slot, environ)


def test_without_a_gpu_and_with_gpus_null_nothing_changes(tmp_path) -> None:
    environ = {gpus.LOCK_DIR_VARIABLE: str(tmp_path / "l")}
    slot = gpus.claim_gpu(None, environ=environ, count=lambda: 0)
    assert slot.device is None
    assert environ == {gpus.LOCK_DIR_VARIABLE: str(tmp_path / "l")}
    assert not (tmp_path / "l").exists()


@pytest.mark.parametrize("device", ["cpu", "mps", "cuda:1"])
def test_a_job_not_on_auto_or_cuda_claims_nothing(tmp_path, device) -> None:
    environ = {gpus.LOCK_DIR_VARIABLE: str(tmp_path / "l")}
    assert gpus.claim_gpu([0, 1], device, environ=environ).device is None
    assert VISIBLE not in environ


@pytest.mark.parametrize(
    ("gpus_config", "visible", "count", "expected"),
    [
        ([2, 5], "0,1", 8, ["2", "5"]),  # the config wins over the variable
        (None, "2,3", 8, ["2", "3"]),  # the user's CUDA_VISIBLE_DEVICES
        (None, "GPU-8f3a,GPU-11bc", 8, ["GPU-8f3a", "GPU-11bc"]),
        (None, "-1", 8, []),  # hides every GPU
        (None, "", 8, []),
        (None, None, 3, ["0", "1", "2"]),  # every GPU of the machine
        (None, None, 0, []),
    ],
)
def test_candidate_ids(gpus_config, visible, count, expected) -> None:
    environ = {} if visible is None else {VISIBLE: visible}
    assert gpus.candidate_ids(gpus_config, environ, lambda: count)[0] == expected


def test_the_lock_folder_and_files_are_shared_by_every_user(tmp_path) -> None:
    environ = {gpus.LOCK_DIR_VARIABLE: str(tmp_path / "locks")}
    with gpus.claim_gpu([0], environ=environ) as slot:
        assert (tmp_path / "locks").stat().st_mode & 0o7777 == 0o1777
        assert slot.lock_path.stat().st_mode & 0o777 == 0o666


def test_the_id_is_set_before_torch_initialises_cuda_in_a_fresh_job_process(
    lock_env, tmp_path
) -> None:
    """A real job function in a new process: at the moment it first touches torch.cuda
    (engine.pick_device), CUDA_VISIBLE_DEVICES is the claimed id and CUDA is not initialised;
    the host line with the id is the log's first line; the id is released at the end."""
    log_file = tmp_path / "job.log"
    script = f"""
import json, logging, os
import torch
from celeba_gender import engine, jobs
from celeba_gender.runlog import FORMAT

handler = logging.FileHandler({str(log_file)!r})
handler.setFormatter(logging.Formatter(FORMAT))
logging.getLogger().addHandler(handler)
logging.getLogger().setLevel(logging.INFO)
seen = {{}}

class Stop(Exception):
    pass

def pick_device(name):
    seen.update(initialised=torch.cuda.is_initialized(), visible=os.environ.get("{VISIBLE}"))
    raise Stop

engine.pick_device = pick_device
job = jobs.EvaluateJob("m.pt", "w.pth", "t.csv", "t.npy", "features", 8, "auto", 1, "last",
                       "metrics.json", "predictions.csv", gpus=[7, 3])
try:
    jobs.evaluate(job)
except Stop:
    pass
seen["after"] = os.environ.get("{VISIBLE}")
print(json.dumps(seen))
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen == {"initialised": False, "visible": "7", "after": None}
    first = log_file.read_text().splitlines()[0]
    assert re.search(
        r"celeba_gender\.jobs: host \S+, CUDA_VISIBLE_DEVICES=7, SLURM_JOB_ID=none", first
    )
    environ = {gpus.LOCK_DIR_VARIABLE: lock_env[gpus.LOCK_DIR_VARIABLE]}
    assert gpus.claim_gpu([7], environ=environ, timeout_s=0).device == "7"  # released


def test_every_gpu_job_claims_before_it_picks_its_device(lock_env, monkeypatch) -> None:
    """The three GPU jobs, in this process: CUDA_VISIBLE_DEVICES is the claimed id when the job
    picks its device, and the variable is restored afterwards."""

    class Stop(Exception):
        pass

    seen = []

    def pick_device(name):
        seen.append(os.environ.get(VISIBLE))
        raise Stop

    monkeypatch.setattr(engine, "pick_device", pick_device)
    fields = {"device": "auto", "threads": 1, "gpus": [4]}
    cases = [
        (jobs.build_feature_cache, jobs.CacheJob),
        (jobs.train, jobs.TrainJob),
        (jobs.evaluate, jobs.EvaluateJob),
    ]
    for function, cls in cases:
        values = {f.name: fields.get(f.name, "x") for f in dataclasses.fields(cls)}
        if cls is jobs.TrainJob:
            values["settings"] = TrainSettings(strategy=1, lr=1e-4, seed=0, epochs=1, batch_size=8)
        with pytest.raises(Stop):
            function(cls(**values))
        assert os.environ.get(VISIBLE) is None
    assert seen == ["4", "4", "4"]


# ---------------------------------------------------------------- the workflow

# tests/data/tiny.yaml made smaller: one model, one epoch (enough for jobs to overlap), two ids
SMALLER = {
    "n_images: 200": "n_images: 120",
    "epochs: 2": "epochs: 1",
    "strategies: [1, 2]": "strategies: [1]",
    "evaluate: {": "gpus: [0, 1]\nevaluate: {",
}
MODELS = ("s1_lr1e-4_seed0",)
GPU_RULES = ("build_feature_cache", "train", "evaluate")
P = tiny_paths(**SMALLER)
TARGETS = [
    f"{P.experiment}/evaluation/{m}/{c}/metrics.json" for m in MODELS for c in ("last", "best")
]
STAMP = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})"
HOST_LINE = re.compile(rf"^{STAMP} INFO celeba_gender\.jobs: host \S+, CUDA_VISIBLE_DEVICES=(\S+),")
RELEASE_LINE = re.compile(rf"^{STAMP} INFO celeba_gender\.jobs: releasing gpu (\S+)$", re.M)


def held_slots(workdir: Path) -> list[tuple[str, str, datetime.datetime, datetime.datetime]]:
    """(log, id, start, end) of every GPU job: the id and start time from the log's first line,
    the end from its 'releasing gpu' line (both logged while the job holds the id)."""

    def when(stamp: str) -> datetime.datetime:
        return datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f")

    slots = []
    for rule in GPU_RULES:  # a shared stage's logs, or the experiment's
        folders = [workdir / P.shared_logs / rule, workdir / P.experiment / "logs" / rule]
        for log in sorted(log for folder in folders for log in folder.rglob("*.log")):
            text = log.read_text()
            first = HOST_LINE.match(text)
            assert first, f"{log}: the first line is not the host line: {text[:300]}"
            released = RELEASE_LINE.findall(text)
            assert len(released) == 1 and released[0][1] == first[2], f"{log}: {released}"
            slots.append((f"{rule}/{log.name}", first[2], when(first[1]), when(released[0][0])))
    return slots


@pytest.mark.slow
@pytest.mark.heavy  # builds its own study (two GPU slots)
def test_gpu_jobs_running_at_once_never_share_a_device_id(tmp_path) -> None:
    workdir = make_workdir(tmp_path / "run", **SMALLER)
    config = (workdir / "tiny.yaml").read_text()
    assert all(new in config for new in SMALLER.values()), "tests/data/tiny.yaml changed"
    env = {k: v for k, v in os.environ.items() if k not in ("SLURM_JOB_ID", VISIBLE)}
    env[gpus.LOCK_DIR_VARIABLE] = str(tmp_path / "locks")
    # 2 cores, 1 thread per GPU job: two GPU jobs run side by side without oversubscription
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    cmd += ["--configfile", str(workdir / "tiny.yaml"), "--cores", "2", "--resources", "gpu=2"]
    cmd += ["--set-threads", *(f"{rule}=1" for rule in GPU_RULES), "--", *TARGETS]
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-6000:]

    slots = held_slots(workdir)
    assert len(slots) == 3 + 3 * len(MODELS)  # a cache per split; per model: train, 2 evaluations
    assert {s[1] for s in slots} <= {"0", "1"}
    overlapping = 0
    for a, b in itertools.combinations(slots, 2):
        if a[2] < b[3] and b[2] < a[3]:
            assert a[1] != b[1], f"{a[0]} and {b[0]} ran at once on device {a[1]}"
            overlapping += 1
    assert overlapping > 0, "no two GPU jobs ran at once: the run proved nothing"

    # which cards is no part of what a job computes: changing gpus reruns nothing
    (workdir / "tiny.yaml").write_text(config.replace("gpus: [0, 1]", "gpus: [3]"))
    assert planned_jobs(workdir, "--", *TARGETS) == {}
