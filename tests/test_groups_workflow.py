"""Groups by design, DFR and calibration wired into the workflow (issues 20 and 21): the DAG of
DFR and of the blond-hair experiment (dry runs), and the shared finished tiny run's group
columns, calibration columns and model card (read only). The heavy tier runs a tiny study with
another target."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from celeba_gender import calibration, grid, groups
from conftest import (
    REPO,
    make_workdir,
    planned_jobs,
    resolved_config,
    snakemake,
    snakemake_env,
    tiny_paths,
    tree_of,
)

P = tiny_paths()
MODELS = ("s1_lr1e-4_seed0", "s2_lr1e-4_seed0")


RULE_INPUTS = """
import sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings
snakefile, rule, *configfiles = sys.argv[1:]
with SnakemakeApi(OutputSettings(quiet=set())) as api:
    workflow = api.workflow(
        resource_settings=ResourceSettings(cores=1),
        config_settings=ConfigSettings(configfiles=[Path(f) for f in configfiles]),
        snakefile=Path(snakefile), workdir=Path("."),
    )._workflow
    for base in ("s1_lr1e-4_seed0", "s2_lr1e-4_seed0"):
        print(base, " ".join(map(str, workflow.get_rule(rule).expand_input({"base": base})[0])))
"""


def dfr_inputs(workdir: Path, *configfiles: str) -> dict[str, list[str]]:
    """ERM model -> the input files of its DFR job, as the workflow plans them (Snakemake's API,
    in a subprocess in ``workdir``); code files left out."""
    command = [sys.executable, "-c", RULE_INPUTS, str(tree_of(workdir) / "Snakefile"), "dfr"]
    proc = subprocess.run(
        [*command, *configfiles], cwd=workdir, env=snakemake_env(workdir), capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    lines = [line.split(" ", 1) for line in proc.stdout.splitlines() if line.startswith("s")]
    return {base: [f for f in files.split() if not f.endswith(".py")] for base, files in lines}


def test_the_dfr_fit_reads_no_test_split_file(tmp_path):
    """The DFR job's inputs hold no test-split file (split, decoded images, cache): only its
    evaluation, by the evaluate rule, sees the test split."""
    workdir = make_workdir(tmp_path)
    (workdir / "dfr.yaml").write_text("train: {dfr: true}\n")
    inputs = dfr_inputs(workdir, "tiny.yaml", "dfr.yaml")
    assert set(inputs) == set(MODELS)
    for base, files in inputs.items():
        assert any(Path(f).name == "val.csv" for f in files), files
        assert any(Path(f).name.startswith("val.") and "features" in f for f in files), files
        assert not [f for f in files if Path(f).name.startswith("test")], (base, files)
    jobs = planned_jobs(workdir, "--configfile", str(workdir / "tiny.yaml"), "dfr.yaml")
    assert jobs["dfr"] == len(MODELS) and jobs["evaluate"] == 2 * 2 * len(MODELS)


def test_the_blond_hair_experiment_plans_the_grid_and_its_dfr_models(tmp_path, synthetic_roots):
    """config/experiments/blond-hair.yaml on the study config, data.root on a generated dataset:
    2 strategies x 2 learning rates x 3 seeds trained, one DFR job per trained model, both
    kinds evaluated at both checkpoints, with their group tables and calibration."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    data = {"data": {"root": str(synthetic_roots["kaggle"])}}
    (tmp_path / "data.yaml").write_text(yaml.safe_dump(data))
    files = ("config/experiments/blond-hair.yaml", "data.yaml")
    jobs = planned_jobs(tmp_path, "--configfile", *files)
    config = resolved_config(tmp_path, *files)
    assert (config["data"]["target"], grid.group_by(config)) == ("Blond_Hair", ["Male"])
    assert config["split"]["method"] == "official" and config["data"]["subset_size"] is None
    assert (jobs["train"], jobs["dfr"]) == (12, 12)
    assert jobs["evaluate"] == jobs["evaluate_groups"] == 2 * 24
    assert jobs["calibrate"] == 24 and jobs["model_card"] == 1
    names = {m.name for m in grid.models(config["train"])}
    assert sum(name.startswith("dfr_") for name in names) == 12


# ----------------------------------------------------------------- the shared tiny run (read only)


@pytest.fixture(scope="module")
def metrics(workflow_run) -> pd.DataFrame:
    return pd.read_csv(workflow_run / P.metrics)


def test_metrics_hold_the_group_columns_of_every_evaluation(metrics):
    spec = groups.GroupSpec("Male", ("Blond_Hair",))
    for name in spec.names:
        for stat in groups.GROUP_STATS:
            assert groups.group_column(name, stat) in metrics.columns
    assert set(groups.SUMMARY_KEYS) <= set(metrics.columns)
    assert metrics["min_group_size"].eq(5).all()  # tests/data/tiny.yaml


def test_worst_group_accuracy_is_recomputed_from_the_predictions(workflow_run, metrics):
    attributes = pd.read_csv(workflow_run / P.data / "metadata.csv", dtype={"image_id": str})
    spec = groups.GroupSpec("Male", ("Blond_Hair",))
    for _, row in metrics.iterrows():
        folder = Path(P.evaluation_dir(row["model"], row["checkpoint"]))
        predictions = pd.read_csv(
            workflow_run / folder / "predictions.csv", dtype={"image_id": str}
        )
        ids = groups.ids_for(predictions["image_id"], attributes, spec)
        right = (predictions["logit"] > 0).astype(int) == predictions["label"]
        n = np.bincount(ids, minlength=4)
        accuracy = np.bincount(ids, weights=right, minlength=4) / np.maximum(n, 1)
        eligible = [g for g in range(4) if n[g] >= row["min_group_size"]]
        expected = min(accuracy[g] for g in eligible) if eligible else np.nan
        assert row["worst_group_accuracy"] == pytest.approx(expected, nan_ok=True)
        for g, name in enumerate(spec.names):
            assert row[groups.group_column(name, "n")] == n[g]


def test_metrics_hold_calibration_before_and_after_and_the_temperature_beside_the_model(
    workflow_run, metrics
):
    assert set(calibration.CALIBRATION_COLUMNS) <= set(metrics.columns)
    for column in ("test_accuracy_low", "test_accuracy_high", "roc_auc_low", "roc_auc_high"):
        assert column in metrics.columns
    assert (metrics["temperature"] > 0).all()
    for model in MODELS:
        for stem in ("model", "best"):
            path = workflow_run / P.model_dir(model) / f"{stem}.pt"
            fit = calibration.read_temperature(calibration.temperature_path(path))
            checkpoint = "last" if stem == "model" else "best"
            row = metrics[(metrics.model == model) & (metrics.checkpoint == checkpoint)]
            assert fit.temperature == pytest.approx(row["temperature"].iloc[0])


def card_numbers(text: str) -> list[tuple[str, str, str]]:
    """(value, interval, metrics.csv column) of each metric row of a card's tables."""
    return re.findall(r"^\| [^|]+ \| ([^|]+) \| ([^|]+) \| `([^`]+)` \|$", text, flags=re.M)


def test_the_best_models_card_matches_metrics_csv_and_warns(workflow_run, metrics):
    from celeba_gender.metrics_table import best_model
    from celeba_gender.modelcard import format_interval, format_number

    card = (workflow_run / P.experiment / "report" / "model_card.md").read_text()
    best = best_model(metrics)
    assert card.splitlines()[0].startswith("> **WARNING: this model was trained and evaluated")
    assert "synthetic data" in card.splitlines()[0] and "random backbone" in card.splitlines()[0]
    assert f"# Model card: {best['model']} ({best['checkpoint']} checkpoint)" in card
    rows = card_numbers(card)
    assert len(rows) >= 2 + 2 * len(calibration.CALIBRATION_METRICS) + 1
    for value, interval, column in rows:
        assert value.strip() == format_number(best[column]), column
        if interval.strip() != "—":
            assert interval.strip() == format_interval(
                best[f"{column}_low"], best[f"{column}_high"]
            )
    page = (workflow_run / P.report).read_text()
    assert 'href="model_card.md"' in page


# ----------------------------------------------------------------- heavy: runs of their own


@pytest.mark.heavy
def test_a_tiny_run_with_another_target_completes_with_its_group_columns(tmp_path):
    """data.target Blond_Hair (groups by Male, the default for another target): the whole
    workflow runs, and metrics.csv holds each group's n, accuracy, interval and small flag."""
    workdir = make_workdir(tmp_path)
    (workdir / "blond.yaml").write_text("data: {target: Blond_Hair}\ntrain: {strategies: [1]}\n")
    snakemake(workdir, "--configfile", str(workdir / "tiny.yaml"), "blond.yaml")
    metrics = pd.read_csv(workdir / P.metrics)
    spec = groups.GroupSpec("Blond_Hair", ("Male",))
    assert spec.names[0] == "not blond hair · female"
    for name in spec.names:
        for stat in groups.GROUP_STATS:
            assert groups.group_column(name, stat) in metrics.columns
    assert metrics[groups.group_column(spec.names[0], "n")].gt(0).all()
    card = (workdir / P.experiment / "report" / "model_card.md").read_text()
    assert "CelebA's `Blond_Hair` attribute (label 1: Blond_Hair, label 0: not Blond_Hair)" in card
