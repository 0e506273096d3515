"""Faults: killed training jobs resume, outputs are never truncated, half-built caches are
refused, runs are reproducible, out-of-memory and bad weights give errors a user can act on.

The workflow tests run the real workflow on a small synthetic config (120 images at 32 px,
strategy 1, 3 epochs). One workdir runs the upstream jobs once; it is copied (with its
.snakemake folder, so Snakemake sees the same finished jobs) into the killed run and the bad
weights run, and then trains uninterrupted as the reference. A second, independent workdir
runs the same config from scratch for the reproducibility checks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from celeba_gender import engine, jobs
from celeba_gender.grid import TrainSettings
from celeba_gender.io import CelebaGenderError, DataError
from celeba_gender.metrics_table import METRIC_KEYS
from conftest import make_workdir, planned_jobs, run_paths, snakemake, snakemake_command, tiny_paths


def slow(test):
    """Runs the workflow in its own workdirs: slow, and in the heavy tier (the unit-level tests
    here are fast and stay in the README's command)."""
    return pytest.mark.heavy(pytest.mark.slow(test))


MODEL = "s1_lr1e-4_seed0"
EPOCHS = 3
FAULTS_CONFIG = {  # edits of tests/data/tiny.yaml
    "n_images: 200": "n_images: 120",
    "epochs: 2": f"epochs: {EPOCHS}",
    "strategies: [1, 2]": "strategies: [1]",
}
P = tiny_paths(**FAULTS_CONFIG)
HISTORY = f"{P.experiment}/models/{MODEL}/history.csv"
METRICS = f"{P.experiment}/evaluation/{MODEL}/last/metrics.json"
CHECKPOINT = f"{P.experiment}/checkpoints/{MODEL}/last.pt"
TRAIN_LOG = f"{P.experiment}/logs/train/{MODEL}.log"
MODEL_FILES = (f"{P.experiment}/models/{MODEL}/model.pt", f"{P.experiment}/models/{MODEL}/best.pt")
SETTINGS_32PX = TrainSettings(
    strategy=1,
    lr=1e-4,
    seed=0,
    epochs=1,
    batch_size=48,
    image_size=32,
    input="features",
    cache_dtype="float32",
)
TEST_NUMBERS = METRIC_KEYS[METRIC_KEYS.index("n") :]  # every test number of metrics.json


# ---------------------------------------------------------------- helpers


def faults_workdir(path: Path) -> Path:
    workdir = make_workdir(path, **FAULTS_CONFIG)
    text = (workdir / "tiny.yaml").read_text()
    assert all(new in text for new in FAULTS_CONFIG.values()), "tests/data/tiny.yaml changed"
    return workdir


def clone(workdir: Path, dest: Path) -> Path:
    """A copy of a workdir, .snakemake included (mtimes kept, so no job looks stale)."""
    shutil.copytree(workdir, dest, symlinks=True)
    return dest


def start_snakemake(workdir: Path, *args: str) -> subprocess.Popen:
    """Snakemake in its own session (process group), output to ``workdir/snakemake.out``."""
    cmd = snakemake_command(workdir, *args)
    out = open(workdir / "snakemake.out", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        cmd, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )


def group_processes(pgid: int) -> dict[int, str]:
    """Live (not zombie) processes of a process group: pid -> command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            found[int(entry.name)] = cmdline
    return found


def wait_for(condition, what: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    """Poll ``condition`` every 50 ms; fail if Snakemake ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"snakemake ended (rc {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def kill_group(proc: subprocess.Popen) -> dict[int, str]:
    """SIGKILL Snakemake and every job it started; return what was still alive 30 s later."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 30
    while (alive := group_processes(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def training_processes(pgid: int) -> list[int]:
    """The Python processes of a process group running Snakemake's copy of scripts/train.py."""
    return [
        pid
        for pid, cmd in group_processes(pgid).items()
        if "python" in Path(cmd.split()[0]).name
        and ".snakemake/scripts/" in cmd
        and cmd.rstrip().endswith(".train.py")
    ]


def job_log(workdir: Path) -> str:
    path = workdir / TRAIN_LOG
    return path.read_text() if path.exists() else ""


def checkpoint_epoch(workdir: Path) -> int | None:
    """The last completed epoch recorded in the training checkpoint (None if there is none)."""
    path = workdir / CHECKPOINT
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True, mmap=True)["epoch"])
    except (FileNotFoundError, RuntimeError, EOFError):
        return None


def final_name_files(workdir: Path) -> list[Path]:
    """Every file under results/ with a final name (temporaries are hidden: ``.name.*``)."""
    return [
        p for p in (workdir / "results").rglob("*") if p.is_file() and not p.name.startswith(".")
    ]


def check_complete(path: Path) -> None:
    """Read a result file completely with the reader of its type (raises if truncated)."""
    if path.suffix in (".pt", ".pth"):
        torch.load(path, map_location="cpu", weights_only=True)
    elif path.suffix == ".csv":
        pd.read_csv(path)
    elif path.suffix == ".json":
        json.loads(path.read_text())
    elif path.suffix == ".npy":
        np.asarray(np.load(path, mmap_mode="r")).sum()


def unreadable(paths: list[Path]) -> dict[Path, str]:
    """The files among ``paths`` that their reader cannot read completely, with the error."""
    found = {}
    for path in paths:
        try:
            check_complete(path)
        except Exception as err:  # any failure to read counts
            found[path] = f"{type(err).__name__}: {err}"
    return found


def without_workdir(path: Path, workdir: Path) -> str:
    """A text file with the workdir's absolute path replaced (metadata and splits list paths)."""
    return path.read_text().replace(str(workdir), "<workdir>")


def history_without_seconds(workdir: Path) -> pd.DataFrame:
    return pd.read_csv(workdir / HISTORY).drop(columns="seconds")


def assert_same_weights(a: Path, b: Path) -> None:
    state_a = torch.load(a, map_location="cpu", weights_only=True)["state_dict"]
    state_b = torch.load(b, map_location="cpu", weights_only=True)["state_dict"]
    assert state_a.keys() == state_b.keys()
    differing = [k for k in state_a if not torch.equal(state_a[k], state_b[k])]
    assert not differing, f"{a.name}: tensors differ: {differing[:5]}"


def simulate_partial_outputs(workdir: Path) -> subprocess.CompletedProcess:
    """A dry run as if the kill had come after the job wrote model.pt (not yet history.csv).

    Snakemake marks a job's outputs incomplete when it starts; model.pt is written for the
    dry run and removed again, so the real rerun that follows finds no output.
    """
    partial = workdir / MODEL_FILES[0]
    shutil.copyfile(workdir / P.weights, partial)
    try:
        return snakemake(workdir, "-n", "--", HISTORY, check=False)
    finally:
        partial.unlink()


def remove_weight_files(workdirs: list[Path]) -> None:
    """Delete the .pt/.pth files (~5 GB in all); logs and tables stay for debugging."""
    for workdir in workdirs:
        for path in [*workdir.rglob("*.pt"), *workdir.rglob("*.pth")]:
            path.unlink()


# ---------------------------------------------------------------- workdirs


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
    """Upstream jobs (data, split, weights, caches) done once; copies made before training.

    The independent run starts first, in the background (it shares nothing but the config).
    """
    independent = faults_workdir(tmp_path_factory.mktemp("independent"))
    background = start_snakemake(independent, "--", METRICS)
    made = [independent]
    try:
        reference = faults_workdir(tmp_path_factory.mktemp("reference"))
        made.append(reference)
        snakemake(reference, "--omit-from", "train", "--", METRICS)
        made.append(clone(reference, tmp_path_factory.mktemp("killed") / "w"))
        made.append(clone(reference, tmp_path_factory.mktemp("bad_weights") / "w"))
        yield {
            "reference": reference,
            "killed": made[2],
            "bad_weights": made[3],
            "independent": (independent, background),
        }
    finally:
        if background.poll() is None:
            kill_group(background)
        remove_weight_files(made)


@pytest.fixture(scope="module")
def reference_run(workdirs) -> Path:
    """The same config trained and evaluated without interruption."""
    snakemake(workdirs["reference"], "--", METRICS)
    return workdirs["reference"]


@pytest.fixture(scope="module")
def independent_run(workdirs) -> Path:
    """The same config from scratch in another workdir (for reproducibility)."""
    workdir, background = workdirs["independent"]
    rc = background.wait(timeout=1800)
    assert rc == 0, (workdir / "snakemake.out").read_text()[-6000:]
    return workdir


@pytest.fixture(scope="module")
def killed_run(workdirs) -> dict:
    """Training killed twice: the job alone (Snakemake retries it), then Snakemake itself.

    1. When epoch 1 is checkpointed, SIGKILL the training process only (as a node or OOM
       killer would): Snakemake's ``retries`` restart the job, which resumes.
    2. When the restarted job has checkpointed epoch 2, SIGKILL Snakemake's whole process
       group (as a dead login session would); then rerun: locked, --unlock, rerun, done.
    """
    workdir = workdirs["killed"]
    plan = planned_jobs(workdir, "--", HISTORY)
    assert plan == {"train": 1}, f"the copy should only need training, not {plan}"
    proc = start_snakemake(workdir, "--", HISTORY)
    try:
        wait_for(lambda: checkpoint_epoch(workdir) == 1, "epoch 1 was checkpointed", proc)
        (trainer,) = training_processes(proc.pid)
        os.kill(trainer, signal.SIGKILL)
        wait_for(lambda: "after epoch 1" in job_log(workdir), "the retried job resumed", proc)
        wait_for(lambda: checkpoint_epoch(workdir) == 2, "epoch 2 was checkpointed", proc)
        retry_log = job_log(workdir)  # Snakemake deletes a job's log before each attempt
    finally:
        left_running = kill_group(proc)
    final_names = final_name_files(workdir)
    after_kill = {
        "final_names": final_names,
        "unreadable": unreadable(final_names),
        "temporaries": [p for p in (workdir / "results").rglob(".*") if p.is_file()],
        "left_running": left_running,
        "retry_log": retry_log,
    }
    locked = snakemake(workdir, "--", HISTORY, check=False)
    unlock = snakemake(workdir, "--unlock", check=False)
    partial = simulate_partial_outputs(workdir)
    rerun = snakemake(workdir, "--", HISTORY, check=False)
    return {
        "workdir": workdir,
        "first_run": (workdir / "snakemake.out").read_text(),
        "after_kill": after_kill,
        "locked": locked,
        "unlock": unlock,
        "partial": partial,
        "rerun": rerun,
        "log": job_log(workdir),
    }


# ---------------------------------------------------------------- resume after SIGKILL


@slow
def test_a_killed_training_process_is_retried_by_snakemake_and_resumes(killed_run) -> None:
    assert f"resumed from {CHECKPOINT} after epoch 1" in killed_run["after_kill"]["retry_log"]
    assert "Trying to restart job" in killed_run["first_run"]


@slow
def test_nothing_is_left_running_after_killing_the_snakemake_process_group(killed_run) -> None:
    assert killed_run["after_kill"]["left_running"] == {}


@slow
def test_the_model_was_not_finished_when_snakemake_was_killed(killed_run) -> None:
    names = killed_run["after_kill"]["final_names"]
    assert not [p for p in names if p.parent.name == MODEL and p.parent.parent.name == "models"]


@slow
def test_after_killing_snakemake_a_rerun_says_to_unlock_the_directory(killed_run) -> None:
    locked = killed_run["locked"]
    output = locked.stdout + locked.stderr
    assert locked.returncode != 0
    assert "Directory cannot be locked" in output
    assert "--unlock" in output


@slow
def test_a_kill_after_some_outputs_were_written_asks_for_rerun_incomplete(killed_run) -> None:
    partial = killed_run["partial"]
    output = partial.stdout + partial.stderr  # a dry run reports it on stdout
    assert partial.returncode != 0
    assert "seem to be incomplete" in output
    assert "--rerun-incomplete" in output
    assert MODEL_FILES[0] in output


@slow
def test_after_unlock_a_plain_rerun_resumes_from_the_last_completed_epoch(killed_run) -> None:
    assert killed_run["unlock"].returncode == 0, killed_run["unlock"].stderr
    rerun = killed_run["rerun"]
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "--rerun-incomplete" not in rerun.stderr
    assert f"resumed from {CHECKPOINT} after epoch 2" in killed_run["log"]


@slow
def test_resumed_history_equals_an_uninterrupted_run(killed_run, reference_run) -> None:
    resumed = history_without_seconds(killed_run["workdir"])
    assert resumed["epoch"].tolist() == list(range(1, EPOCHS + 1))
    pd.testing.assert_frame_equal(resumed, history_without_seconds(reference_run), check_exact=True)


@slow
@pytest.mark.parametrize("model_file", MODEL_FILES)
def test_resumed_weights_equal_an_uninterrupted_run(killed_run, reference_run, model_file) -> None:
    assert_same_weights(killed_run["workdir"] / model_file, reference_run / model_file)


@slow
def test_the_checkpoint_is_removed_once_the_model_is_written(killed_run) -> None:
    assert (killed_run["workdir"] / MODEL_FILES[0]).is_file()
    assert not (killed_run["workdir"] / CHECKPOINT).exists()


# ---------------------------------------------------------------- atomic outputs


@slow
def test_a_kill_leaves_no_truncated_file_under_a_final_name(killed_run) -> None:
    after_kill = killed_run["after_kill"]
    assert killed_run["workdir"] / CHECKPOINT in after_kill["final_names"]
    assert after_kill["unreadable"] == {}


# ---------------------------------------------------------------- incomplete caches


def write_split(path: Path, n: int) -> Path:
    rows = [
        {"image_id": f"{i:06d}.jpg", "path": f"/x/{i:06d}.jpg", "label": i % 2} for i in range(n)
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("kind", ["features", "prefix"])
def test_training_refuses_a_feature_cache_whose_build_was_killed(tmp_path, kind) -> None:
    split = write_split(tmp_path / "train.csv", 4)
    npy = tmp_path / f"train.{kind}.npy"
    npy.write_bytes(b"\x93NUMPY half written")  # an array at its final name, no .key.json
    settings = dataclasses.replace(SETTINGS_32PX, input=kind)
    with pytest.raises(DataError, match=rf"{npy}: feature cache missing or incomplete"):
        jobs.make_source(npy, split, 4, settings, "train", weights_sha="ab" * 32)


def test_training_refuses_an_image_store_whose_build_was_killed(tmp_path) -> None:
    split = write_split(tmp_path / "train.csv", 4)
    npy = tmp_path / "train.npy"
    np.save(npy, np.zeros((2, 32, 32, 3), np.uint8))  # only part of the split, no .npy.json
    settings = dataclasses.replace(SETTINGS_32PX, input="images")
    with pytest.raises(DataError, match=rf"{npy}: image store missing or incomplete"):
        jobs.make_source(npy, split, 4, settings, "train", weights_sha="")


# ---------------------------------------------------------------- reproducibility


@slow
@pytest.mark.parametrize(
    "table",
    [f"{P.data}/metadata.csv", *(f"{P.data}/splits/{s}.csv" for s in ("train", "val", "test"))],
)
def test_same_config_gives_identical_tables(reference_run, independent_run, table) -> None:
    assert without_workdir(reference_run / table, reference_run) == without_workdir(
        independent_run / table, independent_run
    )


@slow
def test_same_config_gives_identical_histories(reference_run, independent_run) -> None:
    pd.testing.assert_frame_equal(
        history_without_seconds(reference_run),
        history_without_seconds(independent_run),
        check_exact=True,
    )


@slow
def test_same_config_gives_identical_test_metrics(reference_run, independent_run) -> None:
    a = json.loads((reference_run / METRICS).read_text())
    b = json.loads((independent_run / METRICS).read_text())
    assert {k: a[k] for k in TEST_NUMBERS} == {k: b[k] for k in TEST_NUMBERS}


@slow
def test_same_config_gives_identical_weights(reference_run, independent_run) -> None:
    assert_same_weights(reference_run / MODEL_FILES[0], independent_run / MODEL_FILES[0])


# ---------------------------------------------------------------- out of memory


def out_of_memory(*_args, **_kwargs):
    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


@pytest.fixture
def job_files(tmp_path) -> dict[str, Path]:
    """Small stand-ins for a job's input files (hashed by the jobs, never loaded: see stubs)."""
    weights_a, weights_b = tmp_path / "weights_a.pth", tmp_path / "weights_b.pth"
    weights_a.write_bytes(b"backbone weights A")
    weights_b.write_bytes(b"backbone weights B")
    return {
        "weights": weights_a,
        "other_weights": weights_b,
        "train": write_split(tmp_path / "train.csv", 4),
        "val": write_split(tmp_path / "val.csv", 4),
        "out": tmp_path / "out",
    }


@pytest.fixture
def stubbed_loading(monkeypatch) -> None:
    """No backbone, no input arrays: a job gets as far as its heavy part at once."""
    monkeypatch.setattr(jobs.weights, "load_backbone", lambda _path: None)
    monkeypatch.setattr(jobs, "make_source", lambda *_args, **_kwargs: None)
    monkeypatch.setattr(jobs, "build_model", lambda *_args, **_kwargs: torch.nn.Linear(1, 1))


def run_train_job(files: dict[str, Path], weights: Path | None = None, batch_size: int = 48):
    out = files["out"]
    return jobs.train(
        jobs.TrainJob(
            weights=weights or files["weights"],
            train=files["train"],
            val=files["val"],
            train_input="unused.npy",
            val_input="unused.npy",
            settings=dataclasses.replace(SETTINGS_32PX, batch_size=batch_size),
            device="cpu",
            threads=1,
            checkpoint=out / "last.pt",
            out_model=out / "model.pt",
            out_best=out / "best.pt",
            out_history=out / "history.csv",
        )
    )


def test_out_of_memory_names_the_batch_size_and_the_config_key(
    job_files, stubbed_loading, monkeypatch
) -> None:
    monkeypatch.setattr(engine, "fit", out_of_memory)
    with pytest.raises(CelebaGenderError, match="batch size 48") as raised:
        run_train_job(job_files)
    assert "lower train.batch_size" in str(raised.value)
    assert "CUDA out of memory" in str(raised.value)
    assert not job_files["out"].exists()


def test_out_of_memory_while_building_the_cache_names_the_batch_size_and_the_config_key(
    job_files, monkeypatch
) -> None:
    monkeypatch.setattr(jobs.weights, "load_backbone", lambda _path: None)
    monkeypatch.setattr(jobs, "build_model", lambda *_args, **_kwargs: torch.nn.Linear(1, 1))
    monkeypatch.setattr(jobs.store, "open_store", lambda *_a, **_k: np.zeros((4, 32, 32, 3)))
    monkeypatch.setattr(jobs.features, "build_cache", out_of_memory)
    out = job_files["out"]
    with pytest.raises(
        CelebaGenderError, match="out of memory on cpu with batch size 24"
    ) as raised:
        jobs.build_feature_cache(
            jobs.CacheJob(
                weights=job_files["weights"],
                split=job_files["train"],
                store="unused.npy",
                image_size=32,
                views=2,
                dtype="float32",
                precision="fp32",
                batch_size=24,
                device="cpu",
                threads=1,
                out_prefix=str(out / "train.prefix.npy"),
                out_features=str(out / "train.features.npy"),
            )
        )
    assert "lower train.batch_size in the config" in str(raised.value)
    assert "CUDA out of memory" in str(raised.value)
    assert not out.exists()


def test_out_of_memory_while_evaluating_names_the_batch_size_and_the_config_key(
    job_files, monkeypatch
) -> None:
    record = {"settings": SETTINGS_32PX.to_dict(), "epoch": 1}
    monkeypatch.setattr(jobs, "load_model_file", lambda _path: (torch.nn.Linear(1, 1), record))
    monkeypatch.setattr(jobs, "make_source", lambda *_args, **_kwargs: None)
    monkeypatch.setattr(engine, "predict_logits", out_of_memory)
    out = job_files["out"]
    with pytest.raises(
        CelebaGenderError, match="out of memory on cpu with batch size 16"
    ) as raised:
        jobs.evaluate(
            jobs.EvaluateJob(
                model="unused.pt",
                weights=job_files["weights"],
                test=job_files["val"],
                test_input="unused.npy",
                kind="features",
                batch_size=16,
                device="cpu",
                threads=1,
                checkpoint="last",
                out_metrics=out / "metrics.json",
                out_predictions=out / "predictions.csv",
            )
        )
    assert "lower train.batch_size in the config" in str(raised.value)
    assert "CUDA out of memory" in str(raised.value)
    assert not out.exists()


# ---------------------------------------------------------------- checkpoint identity


class FitCalled(Exception):
    """Raised by a stand-in for engine.fit once it has seen the job's settings."""


def settings_given_to_fit(files, monkeypatch, weights: Path | None = None):
    """The TrainSettings that train hands to engine.fit (and so to its checkpoints)."""
    seen = []

    def capture(_model, _data, settings, *_a, **_k):
        seen.append(settings)
        raise FitCalled

    monkeypatch.setattr(engine, "fit", capture)
    with pytest.raises(FitCalled):
        run_train_job(files, weights)
    return seen[0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_train_job_puts_the_weights_split_and_input_into_the_checkpoint_identity(
    job_files, stubbed_loading, monkeypatch
) -> None:
    settings = settings_given_to_fit(job_files, monkeypatch)
    assert settings.extra == {
        "weights_sha256": sha256(job_files["weights"]),
        "train_split_sha256": sha256(job_files["train"]),
        "val_split_sha256": sha256(job_files["val"]),
    }
    assert (settings.image_size, settings.input, settings.cache_dtype) == (
        32,
        "features",
        "float32",
    )


def test_a_checkpoint_made_with_other_weights_is_not_resumed(
    job_files, stubbed_loading, monkeypatch, caplog
) -> None:
    before = settings_given_to_fit(job_files, monkeypatch)
    path = job_files["out"] / "last.pt"
    engine.save_checkpoint(path, epoch=1, settings=before.to_dict())
    now = settings_given_to_fit(job_files, monkeypatch, weights=job_files["other_weights"])
    assert engine.load_checkpoint(path, before)["epoch"] == 1  # the same job would resume
    with caplog.at_level(logging.WARNING):
        assert engine.load_checkpoint(path, now) is None
    assert "extra.weights_sha256" in caplog.text and "training starts at epoch 1" in caplog.text


@pytest.mark.parametrize("split", ["train", "val"])
def test_a_checkpoint_made_with_another_split_is_not_resumed(
    job_files, stubbed_loading, monkeypatch, caplog, split
) -> None:
    before = settings_given_to_fit(job_files, monkeypatch)
    path = job_files["out"] / "last.pt"
    engine.save_checkpoint(path, epoch=1, settings=before.to_dict())
    write_split(job_files[split], 6)  # the split was made again (another seed or other data)
    now = settings_given_to_fit(job_files, monkeypatch)
    with caplog.at_level(logging.WARNING):
        assert engine.load_checkpoint(path, now) is None
    assert f"extra.{split}_split_sha256" in caplog.text


# ---------------------------------------------------------------- weights


@slow
def test_weights_that_are_not_a_state_dict_stop_the_workflow_naming_the_file(workdirs) -> None:
    workdir = workdirs["bad_weights"]
    bad = workdir / "downloads" / "vgg16.pth"
    bad.parent.mkdir()
    bad.write_text("<html><body>404 Not Found</body></html>\n")  # a failed download, saved
    config = workdir / "tiny.yaml"
    config.write_text(config.read_text().replace("weights: random", f"weights: {bad}"))
    paths = run_paths(workdir)
    proc = snakemake(workdir, "--", paths.feature_file("val", 1, "features"), check=False)
    assert proc.returncode != 0
    assert f"ERROR: {bad} could not be loaded as a PyTorch state dict" in proc.stderr
    assert "torch.save(model.state_dict(), path)" in proc.stderr
    logs = "".join(p.read_text() for p in (workdir / paths.shared_logs).rglob("*.log"))
    assert f"{bad} could not be loaded" in logs
    assert not (workdir / paths.experiment / "models").exists()
