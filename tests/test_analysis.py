"""The statistics job: configurations compared are chosen on validation, every checkpoint gets an
interval and a collapse check."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from celeba_gender.analysis import StatisticsJob, compare_top_configs, model_statistics, model_table
from celeba_gender.grid import ModelId

N_TEST = 200
LABELS = np.array([0, 1] * (N_TEST // 2))


def predictions(accuracy: float, seed: int) -> pd.DataFrame:
    """Test predictions right on the first ``accuracy`` share of a shuffled order."""
    rng = np.random.default_rng(seed)
    right = np.zeros(N_TEST, dtype=bool)
    right[rng.permutation(N_TEST)[: int(accuracy * N_TEST)]] = True
    pred = np.where(right, LABELS, 1 - LABELS)
    return pd.DataFrame(
        {
            "image_id": [f"{i:06d}.jpg" for i in range(N_TEST)],
            "label": LABELS,
            "logit": np.where(pred == 1, 1.0, -1.0),
            "pred": pred,
        }
    )


# (strategy, lr): (validation accuracy, test accuracy). By test accuracy the best two would be
# (2, 1e-3) and (1, 1e-3); by validation accuracy they are (1, 1e-4) and (1, 1e-3).
CELLS = {(1, 1e-4): (0.95, 0.80), (1, 1e-3): (0.90, 0.85), (2, 1e-3): (0.70, 0.95)}


@pytest.fixture
def grid():
    metrics, preds, histories = [], {}, {}
    for i, ((strategy, lr), (val, test)) in enumerate(CELLS.items()):
        model = ModelId(strategy, lr, 0).name
        histories[model] = pd.DataFrame({"epoch": [1, 2], "val_accuracy": [0.5, val]})
        for checkpoint in ("last", "best"):
            metrics.append(
                {
                    "model": model,
                    "strategy": strategy,
                    "lr": lr,
                    "seed": 0,
                    "checkpoint": checkpoint,
                    "epoch": 2,
                    "test_accuracy": test,
                }
            )
            preds[(model, checkpoint)] = predictions(test, seed=i)
    return metrics, preds, histories


def test_the_two_configurations_compared_are_chosen_on_validation(grid):
    metrics, preds, histories = grid
    comparison = compare_top_configs(metrics, preds, histories, n_boot=100)
    assert comparison["selected_on"] == "validation"
    assert (comparison["best"], comparison["second"]) == ([1, 1e-4], [1, 1e-3])
    assert [row["val_accuracy_mean"] for row in comparison["selection"]] == [0.95, 0.90, 0.70]
    assert "by mean validation accuracy" in comparison["sentence"]
    assert "chosen before the test set is looked at" in comparison["sentence"]
    (pair,) = comparison["pairs"]
    assert (pair["model_a"], pair["model_b"]) == ("s1_lr1e-4_seed0", "s1_lr1e-3_seed0")


def test_every_checkpoint_gets_an_interval_and_a_collapse_check(grid):
    metrics, preds, _ = grid
    table = model_table(metrics, preds, n_boot=100)
    assert len(table) == 6 and set(table["checkpoint"]) == {"last", "best"}
    assert table[["ci_low", "ci_high", "collapsed"]].notna().all().all()
    assert (table["ci_low"] <= table["test_accuracy"]).all()
    assert (table["test_accuracy"] <= table["ci_high"]).all()


def test_the_job_writes_the_selection_and_a_collapse_row_per_checkpoint(grid, tmp_path):
    metrics, preds, histories = grid
    files = {"metrics": [], "predictions": [], "histories": []}
    for m in metrics:
        folder = tmp_path / "evaluation" / m["model"] / m["checkpoint"]
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps(m))
        preds[(m["model"], m["checkpoint"])].to_csv(folder / "predictions.csv", index=False)
        files["metrics"].append(str(folder / "metrics.json"))
        files["predictions"].append(str(folder / "predictions.csv"))
    for model, history in histories.items():
        (tmp_path / "models" / model).mkdir(parents=True)
        history.to_csv(tmp_path / "models" / model / "history.csv", index=False)
        files["histories"].append(str(tmp_path / "models" / model / "history.csv"))
    out = {
        f"out_{k}": str(tmp_path / f"{k}.out")
        for k in ("per_model", "per_config", "collapse", "comparison")
    }
    model_statistics(StatisticsJob(**files, n_boot=100, **out))
    assert json.loads((tmp_path / "comparison.out").read_text())["selected_on"] == "validation"
    collapse = pd.read_csv(tmp_path / "collapse.out")
    assert len(collapse) == 6 and set(collapse["checkpoint"]) == {"last", "best"}
