"""End to end: the workflow on a tiny synthetic config produces every output, and reruns only
what went stale."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "data" / "tiny.yaml"

pytestmark = pytest.mark.slow


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the repository's Snakefile in ``workdir`` (which holds a config/ copy)."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--cores", "2", "--resources", "gpu=1", "--configfile", str(workdir / "tiny.yaml"), *args]  # fmt: skip
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=1800)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def make_workdir(path: Path, **overrides) -> Path:
    shutil.copytree(REPO / "config", path / "config")
    text = TINY.read_text()
    for key, value in overrides.items():
        text = text.replace(key, value)
    (path / "tiny.yaml").write_text(text)
    return path


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Rule -> number of jobs a dry run would execute."""
    out = snakemake(workdir, "-n", "--quiet", "rules", *args).stdout
    jobs = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("total", "job"):
            jobs[parts[0]] = int(parts[1])
    return jobs


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    workdir = make_workdir(tmp_path_factory.mktemp("workflow"))
    snakemake(workdir)
    return workdir


MODELS = ["s1_lr1e-4_seed0", "s2_lr1e-4_seed0"]


def test_every_output_is_produced(run):
    expected = [
        "results/data/metadata.csv", "results/data/bad_images.csv", "results/data/summary.json",
        "results/splits/train.csv", "results/splits/val.csv", "results/splits/test.csv",
        "results/figures/eda/samples.png", "results/figures/eda/gender_counts.png",
        "results/figures/eda/attribute_counts.png", "results/figures/eda/correlations.png",
        "results/tables/null_counts.csv", "results/tables/gender_counts.csv",
        "results/figures/loss_curves.png", "results/figures/roc_curves.png",
        "results/tables/model_ci.csv", "results/tables/seed_summary.csv",
        "results/tables/comparison.json", "results/report/report.html", "results/report/metrics.csv",
    ]  # fmt: skip
    for model in MODELS:
        expected += [f"results/models/{model}/{f}" for f in ("model.pt", "best.pt", "history.csv")]
        expected += [f"results/evaluation/{model}/{c}/{f}" for c in ("last", "best") for f in ("metrics.json", "predictions.csv")]  # fmt: skip
        expected += [f"results/figures/models/{model}/{f}.png" for f in
                     ("curves", "history_table", "confusion_last", "confusion_best", "subgroups", "gradcam")]  # fmt: skip
    missing = [p for p in expected if not (run / p).is_file() or (run / p).stat().st_size == 0]
    assert not missing


def test_metrics_table_has_one_row_per_model_and_checkpoint(run):
    metrics = pd.read_csv(run / "results/report/metrics.csv")
    assert sorted(zip(metrics["model"], metrics["checkpoint"], strict=True)) == sorted(
        (m, c) for m in MODELS for c in ("best", "last")
    )
    assert metrics["test_accuracy"].between(0, 1).all()
    assert (metrics["n"] == len(pd.read_csv(run / "results/splits/test.csv"))).all()


def test_history_has_one_row_per_epoch(run):
    for model in MODELS:
        history = pd.read_csv(run / f"results/models/{model}/history.csv")
        assert history["epoch"].tolist() == [1, 2]
        assert history[["train_loss", "val_loss"]].notna().all().all()


def test_split_sizes_are_80_10_10(run):
    sizes = {s: len(pd.read_csv(run / f"results/splits/{s}.csv")) for s in ("train", "val", "test")}
    assert sizes == {"train": 160, "val": 20, "test": 20}


def test_report_embeds_figures_and_flags_random_weights(run):
    page = (run / "results/report/report.html").read_text()
    assert page.count('src="data:image/png;base64,') >= 4 + 2 + 6 * len(MODELS)
    assert "NOT pretrained" in page
    for model in MODELS:
        assert f'data-model="{model}"' in page


def test_no_training_code_runs_twice_on_a_finished_run(run):
    assert planned_jobs(run) == {}


def touched_plan(run: Path, module: str) -> dict[str, int]:
    """The jobs a dry run plans after ``module`` of the package was edited (mtime bumped)."""
    path = REPO / "scripts" / "celeba_gender" / module
    before = path.stat()
    try:
        os.utime(path, (before.st_atime, before.st_mtime + 3600))
        return planned_jobs(run)
    finally:
        os.utime(path, (before.st_atime, before.st_mtime))


def test_editing_a_plot_module_redraws_only_plots_and_report(run):
    jobs = touched_plan(run, "plots.py")
    assert set(jobs) == {"plot_model", "plot_confusion", "plot_loss_curves", "report", "all"}
    assert jobs["plot_model"] == len(MODELS)


def test_editing_the_training_code_retrains(run):
    jobs = touched_plan(run, "engine.py")
    assert jobs.get("train") == len(MODELS)
    assert "ingest" not in jobs and "split" not in jobs


def test_adding_a_learning_rate_adds_only_its_jobs(run):
    text = (
        (run / "tiny.yaml")
        .read_text()
        .replace("learning_rates: [1.0e-4]", "learning_rates: [1.0e-4, 1.0e-3]")
    )
    (run / "tiny_more.yaml").write_text(text)
    jobs = planned_jobs(run, "--configfile", str(run / "tiny_more.yaml"))
    assert jobs.get("train") == 2  # the two strategies at the new learning rate
    assert jobs.get("evaluate") == 4
    assert "ingest" not in jobs and "build_feature_cache" not in jobs and "synthesize" not in jobs


def test_summary_counts_match_metadata(run):
    summary = json.loads((run / "results/data/summary.json").read_text())
    meta = pd.read_csv(run / "results/data/metadata.csv")
    assert summary["images"] == len(meta) == 200
    assert summary["female"] + summary["male"] == 200
