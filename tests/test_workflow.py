"""End to end: the workflow on a tiny synthetic config produces every output, and reruns only
what went stale. All on the shared finished tiny run (``workflow_run``): read, dry-run, or its
tree's copy of the code edited and restored (``touched_plan``); config files go to tmp_path."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from celeba_gender.grid import MODEL_WILDCARD
from conftest import planned_jobs, snakemake, tiny_paths, touched_plan, tree_of

pytestmark = pytest.mark.slow


MODELS = ["s1_lr1e-4_seed0", "s2_lr1e-4_seed0"]
P = tiny_paths()  # where the tiny run puts everything


def test_every_output_is_produced(workflow_run):
    expected = [
        f"{P.data}/metadata.csv",
        f"{P.data}/bad_images.csv",
        f"{P.data}/summary.json",
        f"{P.data}/splits/train.csv",
        f"{P.data}/splits/val.csv",
        f"{P.data}/splits/test.csv",
        f"{P.data}/eda/samples.png",
        f"{P.data}/eda/gender_counts.png",
        f"{P.data}/eda/attribute_counts.png",
        f"{P.data}/eda/correlations.png",
        f"{P.data}/eda/null_counts.csv",
        f"{P.data}/eda/gender_counts.csv",
        f"{P.experiment}/figures/loss_curves.png",
        f"{P.experiment}/figures/roc_curves.png",
        f"{P.experiment}/tables/model_ci.csv",
        f"{P.experiment}/tables/seed_summary.csv",
        f"{P.experiment}/tables/comparison.json",
        f"{P.experiment}/report/report.html",
        f"{P.experiment}/report/metrics.csv",
    ]
    for model in MODELS:
        expected += [
            f"{P.experiment}/models/{model}/{f}" for f in ("model.pt", "best.pt", "history.csv")
        ]
        expected += [
            f"{P.experiment}/evaluation/{model}/{c}/{f}"
            for c in ("last", "best")
            for f in ("metrics.json", "predictions.csv")
        ]
        expected += [
            f"{P.experiment}/figures/models/{model}/{f}.png"
            for f in (
                "curves",
                "history_table",
                "confusion_last",
                "confusion_best",
                "subgroups",
                "gradcam",
            )
        ]
    missing = [
        p
        for p in expected
        if not (workflow_run / p).is_file() or (workflow_run / p).stat().st_size == 0
    ]
    assert not missing


def test_metrics_table_has_one_row_per_model_and_checkpoint(workflow_run):
    metrics = pd.read_csv(workflow_run / f"{P.experiment}/report/metrics.csv")
    assert sorted(zip(metrics["model"], metrics["checkpoint"], strict=True)) == sorted(
        (m, c) for m in MODELS for c in ("best", "last")
    )
    assert metrics["test_accuracy"].between(0, 1).all()
    assert (metrics["n"] == len(pd.read_csv(workflow_run / f"{P.data}/splits/test.csv"))).all()


def test_history_has_one_row_per_epoch(workflow_run):
    for model in MODELS:
        history = pd.read_csv(workflow_run / f"{P.experiment}/models/{model}/history.csv")
        assert history["epoch"].tolist() == [1, 2]
        assert history[["train_loss", "val_loss"]].notna().all().all()


def test_split_sizes_are_80_10_10(workflow_run):
    sizes = {
        s: len(pd.read_csv(workflow_run / f"{P.data}/splits/{s}.csv"))
        for s in ("train", "val", "test")
    }
    assert sizes == {"train": 160, "val": 20, "test": 20}


def test_report_embeds_figures_and_flags_random_weights(workflow_run):
    page = (workflow_run / f"{P.experiment}/report/report.html").read_text()
    assert page.count('src="data:image/png;base64,') >= 4 + 2 + 6 * len(MODELS)
    assert "NOT pretrained" in page
    for model in MODELS:
        assert f'data-model="{model}"' in page


def test_no_training_code_runs_twice_on_a_finished_run(workflow_run):
    assert planned_jobs(workflow_run) == {}


def test_editing_a_plot_module_redraws_only_plots_and_report(workflow_run):
    jobs = touched_plan(workflow_run, tree_of(workflow_run) / "scripts/celeba_gender/plots.py")
    figures = {"plot_model", "plot_loss_curves", "roc_curves", "subgroups", "gradcam", "eda"}
    # the calibration and its pair's reliability figures, and the model card (it reads
    # metrics.csv through metrics_table); not the group tables (groups.py draws nothing)
    figures |= {"calibrate", "compare_reliability", "model_card"}
    # every rule that draws a figure (the EDA's share plots.py's styling), the report, and the
    # comparison that reads its metrics; model_statistics only reads, nothing trains or evaluates
    figures |= {"report", "compare_experiments", "all"}
    assert set(jobs) == figures
    assert jobs["plot_model"] == len(MODELS)


def test_changing_gpus_or_tracking_reruns_nothing(workflow_run, tmp_path):
    """Which cards the jobs use and whether training is watched change no output: the whole
    finished tiny run stays up to date (config.RUN_ONLY_KEYS, derived params)."""
    config = tmp_path / "tiny_run_only.yaml"
    config.write_text(
        (workflow_run / "tiny.yaml").read_text() + "gpus: [0, 1]\ntracking: tensorboard\n"
    )
    assert planned_jobs(workflow_run, "--configfile", str(config)) == {}


def test_editing_the_training_code_retrains(workflow_run):
    jobs = touched_plan(workflow_run, tree_of(workflow_run) / "scripts/celeba_gender/engine.py")
    assert jobs.get("train") == len(MODELS)
    assert "ingest" not in jobs and "split" not in jobs


# The jobs of one model (rules/train.smk, rules/evaluate.smk: train; evaluate for the last and
# the best epoch; plot_model, subgroups, gradcam) and the jobs that gather every model (figures
# over all models, statistics, the report, the target rule).
JOBS_PER_MODEL = {
    "train": 1,
    "evaluate": 2,
    "evaluate_groups": 2,
    "calibrate": 1,
    "plot_model": 1,
    "subgroups": 1,
    "gradcam": 1,
}
JOBS_OVER_ALL_MODELS = {
    "plot_loss_curves": 1,
    "roc_curves": 1,
    "model_statistics": 1,
    "report": 1,
    "compare_reliability": 1,
    "model_card": 1,
    "experiment_config": 1,  # the resolved config records the new grid
    "compare_experiments": 1,  # the comparison reads the new report
    "all": 1,
}
MODEL_NAME = re.compile(rf"\b{MODEL_WILDCARD}\b")


def with_learning_rates(run: Path, rates: str, path: Path) -> Path:
    """A config file at ``path``: the run's, with ``train.learning_rates`` set to ``rates``."""
    text = (run / "tiny.yaml").read_text()
    assert "learning_rates: [1.0e-4]" in text, "tests/data/tiny.yaml changed"
    path.write_text(text.replace("learning_rates: [1.0e-4]", f"learning_rates: {rates}"))
    return path


def planned_models(run: Path, configfile: Path) -> dict[str, set[str]]:
    """Rule -> the models its planned jobs are for, from the dry run's job lines
    (``Job 16: train s2_lr1e-3_seed0 (strategy 2, ...)``; the rules' messages name them)."""
    out = snakemake(run, "-n", "--configfile", str(configfile)).stdout
    found: dict[str, set[str]] = {}
    for match in re.finditer(r"^Job \d+: (\w+)(.*)$", out, flags=re.M):
        found.setdefault(match.group(1), set()).update(MODEL_NAME.findall(match.group(2)))
    return found


def expected_plan(n_models: int) -> dict[str, int]:
    return {**{rule: n * n_models for rule, n in JOBS_PER_MODEL.items()}, **JOBS_OVER_ALL_MODELS}


@pytest.mark.parametrize(
    "learning_rates",
    [
        # replaced: the two models at the new rate (strategies 1 and 2) get every job of a model,
        # the figures over all models and the report are redone; nothing upstream (data, split,
        # caches) and nothing of the old models runs
        "[1.0e-3]",
        # added: the finished models at 1e-4 stay in the grid and nothing of theirs runs again
        "[1.0e-4, 1.0e-3]",
    ],
    ids=["replacing-1e-4-by-1e-3", "adding-1e-3"],
)
def test_a_new_learning_rate_reruns_exactly_its_models_jobs_and_the_report(
    workflow_run, learning_rates: str, tmp_path
):
    """The tiny run used learning_rates [1e-4]; only the lr1e-3 models' jobs and the jobs over
    all models (figures, statistics, report) are planned."""
    config = with_learning_rates(workflow_run, learning_rates, tmp_path / "tiny_lr.yaml")
    jobs = planned_jobs(workflow_run, "--configfile", str(config))
    assert jobs == expected_plan(n_models=2)
    models = planned_models(workflow_run, config)
    for rule in JOBS_PER_MODEL:
        assert models[rule] == {"s1_lr1e-3_seed0", "s2_lr1e-3_seed0"}, rule


def test_training_logs_show_batch_progress_and_end_with_a_summary(workflow_run):
    """Each training log (rules/train.smk: results/logs/train/{model}.log) has a plain progress
    line per fifth of an epoch (no carriage returns), a job ETA on every epoch line, and the
    run's summary as its last line."""
    logs = sorted((workflow_run / f"{P.experiment}/logs/train").glob("*.log"))
    assert sorted(p.stem for p in logs) == sorted(MODELS)
    for path in logs:
        raw = path.read_bytes()
        assert b"\r" not in raw, path.name
        lines = raw.decode().splitlines()
        meters = [
            line
            for line in lines
            if re.search(r"epoch [12]/2 batch \d/5 loss=\d\.\d{4} acc=\d\.\d{4}$", line)
        ]
        assert len(meters) == 2 * 5, path.name  # 5 batches per epoch: one line each
        epoch_lines = [line for line in lines if re.search(r"epoch [12]/2: train loss", line)]
        assert len(epoch_lines) == 2 and all(
            re.search(r"\| eta \d+:\d\d:\d\d for the job$", line) for line in epoch_lines
        ), epoch_lines
        message = lines[-1].split(": ", 1)[1]  # after "<time> INFO celeba_gender.jobs: "
        assert message.startswith("done:") and message.endswith("s in all"), lines[-1]


def test_summary_counts_match_metadata(workflow_run):
    summary = json.loads((workflow_run / f"{P.data}/summary.json").read_text())
    meta = pd.read_csv(workflow_run / f"{P.data}/metadata.csv")
    assert summary["images"] == len(meta) == 200
    assert summary["female"] + summary["male"] == 200
