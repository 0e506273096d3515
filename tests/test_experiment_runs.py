"""Named experiments end to end: two experiments of the tiny config that differ only in
``train.epochs`` run one after the other in one folder. The second one leaves every file of the
first untouched, shares (and so rebuilds none of) the data, split, decoded images, feature caches
and weights, and the comparison across experiments lists both with ``train.epochs`` as the one
setting that differs. Both run with ``tracking: tensorboard``: what TensorBoard logged of every
training job is read back and checked against the job's history.csv.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from celeba_gender import grid
from celeba_gender.__main__ import main as cli
from celeba_gender.tracking import read_scalars, read_settings
from conftest import make_workdir, planned_jobs, run_paths, shared_rules, snakemake_command

# Two real runs in one folder: the heavy tier. The dry runs of experiments beside a finished run
# (each experiment-only setting, another image size) are tests/test_experiment_plans.py.
pytestmark = [pytest.mark.slow, pytest.mark.heavy]

FIRST, SECOND = "two-epochs", "three-epochs"


def overlay(workdir: Path, name: str, **train) -> str:
    """A config file naming the experiment (and changing ``train`` keys), after tiny.yaml."""
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"experiment": name, "tracking": "tensorboard", "train": train}))
    return path.name


def run(workdir: Path, configfile: str, *args: str) -> subprocess.CompletedProcess:
    cmd = snakemake_command(workdir, "--configfile", "tiny.yaml", configfile, *args)
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return proc


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``folder``: relative path -> (SHA-256, mtime in ns)."""
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def two_experiments(tmp_path_factory):
    """The first experiment run, its folder and the shared caches snapshotted, the second planned
    (dry run) and run; returns what the checks need."""
    workdir = make_workdir(tmp_path_factory.mktemp("experiments"))
    first_cfg = overlay(workdir, FIRST)  # tiny.yaml's 2 epochs
    second_cfg = overlay(workdir, SECOND, epochs=3)
    run(workdir, first_cfg)
    first, second = (
        run_paths(workdir, "tiny.yaml", first_cfg),
        run_paths(workdir, "tiny.yaml", second_cfg),
    )
    # rules whose outputs two experiments share (data, split, EDA, decoded images, caches,
    # weights): those that wrote into the shared folders, derived from the first run
    shared = shared_rules(workdir, "--configfile", "tiny.yaml", first_cfg)
    before = snapshot(workdir / first.experiment)
    shared_before = snapshot(workdir / "results" / "cache")
    plan = planned_jobs(workdir, "--configfile", "tiny.yaml", second_cfg)
    run(workdir, second_cfg)
    return {
        "workdir": workdir,
        "paths": (first, second),
        "before": before,
        "shared_before": shared_before,
        "plan": plan,
        "shared_rules": shared,
    }


def test_both_experiments_have_their_report(two_experiments):
    workdir = two_experiments["workdir"]
    for paths in two_experiments["paths"]:
        assert (workdir / paths.report).stat().st_size > 0
        metrics = pd.read_csv(workdir / paths.metrics)
        assert len(metrics) == 2 * len(grid.CHECKPOINTS)  # 2 models x last, best


def test_the_second_experiment_changes_no_file_of_the_first(two_experiments):
    first = two_experiments["paths"][0]
    after = snapshot(two_experiments["workdir"] / first.experiment)
    assert after == two_experiments["before"]  # same files, same bytes, same times
    assert len(after) > 40


def test_the_second_experiment_rebuilds_nothing_shared(two_experiments):
    plan = two_experiments["plan"]
    assert plan.get("train") == 2 and plan.get("report") == 1
    shared = two_experiments["shared_rules"]
    assert {"ingest", "split", "decode_images", "build_feature_cache"} <= shared, shared
    assert not shared & set(plan), plan
    first, second = two_experiments["paths"]
    assert (first.data, first.images, first.features, first.weights) == (
        second.data,
        second.images,
        second.features,
        second.weights,
    )
    after = snapshot(two_experiments["workdir"] / "results" / "cache")
    assert after == two_experiments["shared_before"]  # no image decoded, no cache built


def test_the_comparison_lists_both_with_the_setting_that_differs(two_experiments):
    workdir = two_experiments["workdir"]
    table = pd.read_csv(workdir / "results/experiments.csv")
    assert set(table["experiment"]) == {FIRST, SECOND}
    settings = [c for c in table.columns[1 : table.columns.get_loc("model")]]
    assert settings == ["train.epochs"]
    epochs = table.groupby("experiment")["train.epochs"].unique()
    assert list(epochs[FIRST]) == [2] and list(epochs[SECOND]) == [3]
    ours = pd.read_csv(workdir / two_experiments["paths"][1].metrics)
    merged = table[table["experiment"] == SECOND].merge(ours, on=["model", "checkpoint"])
    assert len(merged) == len(ours)
    assert (merged["test_accuracy_x"] == merged["test_accuracy_y"]).all()
    html = (workdir / "results/experiments.html").read_text()
    assert FIRST in html and SECOND in html and "data:image/png;base64," in html


def test_the_experiments_command_prints_the_differing_setting(two_experiments, capsys):
    assert cli(["experiments", "--results", str(two_experiments["workdir"] / "results")]) == 0
    out = capsys.readouterr().out
    assert "train.epochs" in out and FIRST in out and SECOND in out
    assert "train.batch_size" not in out  # the same in both: shown only with --all


def test_each_experiment_writes_its_resolved_config(two_experiments):
    workdir = two_experiments["workdir"]
    for paths, epochs in zip(two_experiments["paths"], (2, 3), strict=True):
        config = yaml.safe_load((workdir / paths.config_file).read_text())
        assert config["train"]["epochs"] == epochs
        assert config["split"]["seed"] == 42  # a schema default, filled in


def test_tensorboard_logs_every_epoch_of_every_job_as_its_history(two_experiments):
    workdir = two_experiments["workdir"]
    for paths in two_experiments["paths"]:
        runs = sorted((workdir / paths.tracking).iterdir())
        assert [r.name for r in runs] == ["s1_lr1e-4_seed0", "s2_lr1e-4_seed0"]
        for rundir in runs:
            history = pd.read_csv(workdir / paths.model_dir(rundir.name) / "history.csv")
            logged = read_scalars(rundir)
            assert logged["epoch"].tolist() == history["epoch"].tolist()
            for column in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds"):
                assert logged[column].to_numpy() == pytest.approx(
                    history[column].to_numpy(), rel=1e-6
                ), (rundir.name, column)
            assert logged["lr"].tolist() == pytest.approx([1e-4] * len(history))
            settings = read_settings(rundir)
            assert settings["epochs"] == len(history) and settings["lr"] == pytest.approx(1e-4)
