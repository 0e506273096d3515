"""End to end: the workflow on a tiny synthetic config produces every output, and reruns only
what went stale."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, planned_jobs

pytestmark = pytest.mark.slow


MODELS = ["s1_lr1e-4_seed0", "s2_lr1e-4_seed0"]


def test_every_output_is_produced(workflow_run):
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
    missing = [
        p
        for p in expected
        if not (workflow_run / p).is_file() or (workflow_run / p).stat().st_size == 0
    ]
    assert not missing


def test_metrics_table_has_one_row_per_model_and_checkpoint(workflow_run):
    metrics = pd.read_csv(workflow_run / "results/report/metrics.csv")
    assert sorted(zip(metrics["model"], metrics["checkpoint"], strict=True)) == sorted(
        (m, c) for m in MODELS for c in ("best", "last")
    )
    assert metrics["test_accuracy"].between(0, 1).all()
    assert (metrics["n"] == len(pd.read_csv(workflow_run / "results/splits/test.csv"))).all()


def test_history_has_one_row_per_epoch(workflow_run):
    for model in MODELS:
        history = pd.read_csv(workflow_run / f"results/models/{model}/history.csv")
        assert history["epoch"].tolist() == [1, 2]
        assert history[["train_loss", "val_loss"]].notna().all().all()


def test_split_sizes_are_80_10_10(workflow_run):
    sizes = {
        s: len(pd.read_csv(workflow_run / f"results/splits/{s}.csv"))
        for s in ("train", "val", "test")
    }
    assert sizes == {"train": 160, "val": 20, "test": 20}


def test_report_embeds_figures_and_flags_random_weights(workflow_run):
    page = (workflow_run / "results/report/report.html").read_text()
    assert page.count('src="data:image/png;base64,') >= 4 + 2 + 6 * len(MODELS)
    assert "NOT pretrained" in page
    for model in MODELS:
        assert f'data-model="{model}"' in page


def test_no_training_code_runs_twice_on_a_finished_run(workflow_run):
    assert planned_jobs(workflow_run) == {}


def touched_plan(run: Path, module: str) -> dict[str, int]:
    """The jobs a dry run plans after ``module`` of the package was edited.

    Snakemake 9 compares checksums of inputs, so a bare mtime bump is not an edit: a comment is
    appended, and the file (content and times) is restored afterwards.
    """
    path = REPO / "scripts" / "celeba_gender" / module
    text, before = path.read_text(), path.stat()
    try:
        path.write_text(text + "\n# edited by tests/test_workflow.py\n")
        return planned_jobs(run)
    finally:
        path.write_text(text)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_editing_a_plot_module_redraws_only_plots_and_report(workflow_run):
    jobs = touched_plan(workflow_run, "plots.py")
    figures = {"plot_model", "plot_confusion", "plot_loss_curves", "report", "all"}
    eda = {
        "eda_samples",
        "eda_gender_counts",
        "eda_nulls",
        "eda_attribute_counts",
        "eda_correlations",
    }
    assert figures <= set(jobs) <= figures | eda  # EDA figures share the plot styling of plots.py
    assert jobs["plot_model"] == len(MODELS)


def test_editing_the_training_code_retrains(workflow_run):
    jobs = touched_plan(workflow_run, "engine.py")
    assert jobs.get("train") == len(MODELS)
    assert "ingest" not in jobs and "split" not in jobs


def test_adding_a_learning_rate_adds_only_its_jobs(workflow_run):
    text = (
        (workflow_run / "tiny.yaml")
        .read_text()
        .replace("learning_rates: [1.0e-4]", "learning_rates: [1.0e-4, 1.0e-3]")
    )
    (workflow_run / "tiny_more.yaml").write_text(text)
    jobs = planned_jobs(workflow_run, "--configfile", str(workflow_run / "tiny_more.yaml"))
    assert jobs.get("train") == 2  # the two strategies at the new learning rate
    assert jobs.get("evaluate") == 4
    assert "ingest" not in jobs and "build_feature_cache" not in jobs and "synthesize" not in jobs


def test_summary_counts_match_metadata(workflow_run):
    summary = json.loads((workflow_run / "results/data/summary.json").read_text())
    meta = pd.read_csv(workflow_run / "results/data/metadata.csv")
    assert summary["images"] == len(meta) == 200
    assert summary["female"] + summary["male"] == 200
