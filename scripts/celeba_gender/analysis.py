"""The ``statistics`` rule's job: confidence intervals, seed summaries, paired comparison and
collapse detection across models."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import stats
from .constants import format_lr
from .io import DataError, write_csv, write_json

log = logging.getLogger(__name__)


def read_predictions(path: str | os.PathLike) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"image_id": str})


def model_table(
    metrics: Sequence[dict], predictions: Mapping[tuple[str, str], pd.DataFrame], n_boot: int
) -> pd.DataFrame:
    """One row per (model, checkpoint), last and best epoch alike: test accuracy with its
    bootstrap 95% CI and the collapse check."""
    rows = []
    for m in metrics:
        pred = predictions[(m["model"], m["checkpoint"])]
        acc, low, high = stats.bootstrap_accuracy_ci(pred["label"], pred["pred"], n_boot=n_boot)
        collapse = stats.detect_collapse(pred["pred"], pred["label"])
        rows.append(
            {
                **{k: m[k] for k in ("model", "strategy", "lr", "seed", "checkpoint", "epoch")},
                "test_accuracy": m["test_accuracy"],
                "ci_low": low,
                "ci_high": high,
                "collapsed": collapse["collapsed"],
                "predicted_class": collapse["class_name"],
                "majority_rate": collapse["majority_rate"],
                "collapse_message": collapse["message"],
            }
        )
    return pd.DataFrame(rows)


def seed_table(metrics: Sequence[dict]) -> pd.DataFrame:
    """Per (strategy, lr, checkpoint): mean, std and t 95% CI of test accuracy over seeds."""
    frame = pd.DataFrame(metrics)
    rows = []
    for (strategy, lr, checkpoint), group in frame.groupby(
        ["strategy", "lr", "checkpoint"], sort=False
    ):
        summary = stats.seed_summary(group["test_accuracy"].tolist())
        rows.append(
            {
                "strategy": strategy,
                "lr": lr,
                "checkpoint": checkpoint,
                "seeds": len(group),
                **summary,
            }
        )
    return pd.DataFrame(rows).sort_values(["checkpoint", "mean"], ascending=[False, False])


def validation_accuracy(metrics: dict, histories: Mapping[str, pd.DataFrame]) -> float:
    """The validation accuracy of a checkpoint at its own epoch (``epoch`` of its metrics.json),
    from the model's training history."""
    history = histories[metrics["model"]]
    row = history[history["epoch"] == int(metrics["epoch"])]
    if row.empty:
        raise DataError(
            f"{metrics['model']}: history.csv has no epoch {metrics['epoch']} (its "
            f"{metrics['checkpoint']} checkpoint's epoch)"
        )
    return float(row["val_accuracy"].iloc[0])


def compare_top_configs(
    metrics: Sequence[dict],
    predictions: Mapping[tuple[str, str], pd.DataFrame],
    histories: Mapping[str, pd.DataFrame],
    n_boot: int,
) -> dict:
    """Choose the two best (strategy, lr) cells on the validation set (last-epoch checkpoints,
    mean validation accuracy over seeds), then test them once, seed by seed, with paired tests
    on the same test images. Choosing on the test set and then testing there would favour the
    winner (winner's curse)."""
    last = pd.DataFrame([m for m in metrics if m["checkpoint"] == "last"])
    last["val_accuracy"] = [validation_accuracy(m, histories) for m in last.to_dict("records")]
    cells = (
        last.groupby(["strategy", "lr"])[["val_accuracy", "test_accuracy"]]
        .mean()
        .sort_values("val_accuracy", ascending=False, kind="mergesort")
    )
    selection = [
        {"strategy": int(s), "lr": float(lr), "val_accuracy_mean": float(r.val_accuracy),
         "test_accuracy_mean": float(r.test_accuracy)}
        for (s, lr), r in cells.iterrows()
    ]  # fmt: skip
    base = {"selected_on": "validation", "checkpoint": "last", "selection": selection}
    if len(cells) < 2:
        sentence = "Only one configuration in the grid: nothing to compare."
        return {**base, "sentence": sentence, "pairs": []}
    (a, b) = cells.index[:2]
    pairs = []
    for seed in sorted(set(last["seed"])):
        name_a = last[(last.strategy == a[0]) & (last.lr == a[1]) & (last.seed == seed)]["model"]
        name_b = last[(last.strategy == b[0]) & (last.lr == b[1]) & (last.seed == seed)]["model"]
        if name_a.empty or name_b.empty:
            continue
        na, nb = name_a.iloc[0], name_b.iloc[0]
        result = stats.compare_best_two(
            {na: predictions[(na, "last")], nb: predictions[(nb, "last")]}, [na, nb], n_boot=n_boot
        )
        pairs.append(result)
    significant = sum(bool(p["significant"]) for p in pairs)
    first, second = cells.iloc[0], cells.iloc[1]
    sentence = (
        f"Best two configurations by mean validation accuracy (last epoch; chosen before the "
        f"test set is looked at): strategy {a[0]}, lr {format_lr(a[1])} (validation "
        f"{first.val_accuracy:.2%}, test {first.test_accuracy:.2%}) and strategy {b[0]}, lr "
        f"{format_lr(b[1])} (validation {second.val_accuracy:.2%}, test "
        f"{second.test_accuracy:.2%}). Tested once on the same test images, the paired test "
        f"finds their difference significant for {significant} of {len(pairs)} seed(s). "
    )
    if pairs and significant == len(pairs):
        sentence += "The ranking holds."
    else:
        sentence += "The ranking is not established: it may change on another run."
    return {**base, "sentence": sentence, "pairs": pairs, "best": list(a), "second": list(b)}


# ----------------------------------------------------------------------------- the job
@dataclass
class StatisticsJob:
    """``statistics``: CIs per model and over seeds, paired comparison, collapse detection.
    ``metrics`` and ``predictions`` list the same (model, checkpoint) evaluations in the same
    order; ``histories`` are the models' history.csv files (in
    results/experiments/<name>/models/<model>/)."""

    metrics: list[str]
    predictions: list[str]
    histories: list[str]
    n_boot: int
    out_per_model: str
    out_per_config: str
    out_collapse: str
    out_comparison: str


def read_evaluations(job: StatisticsJob) -> tuple[list[dict], dict]:
    """Each evaluation's metrics, and its predictions keyed by (model, checkpoint)."""
    metrics, predictions = [], {}
    for metrics_file, predictions_file in zip(job.metrics, job.predictions, strict=True):
        if Path(metrics_file).parent != Path(predictions_file).parent:
            raise DataError(f"{metrics_file} and {predictions_file}: not the same evaluation")
        m = json.loads(Path(metrics_file).read_text())
        metrics.append(m)
        predictions[(m["model"], m["checkpoint"])] = read_predictions(predictions_file)
    return metrics, predictions


def model_statistics(job: StatisticsJob) -> None:
    """Write the per-model CI table, the seed summary, the collapse table and the comparison."""
    metrics, predictions = read_evaluations(job)
    histories = {Path(p).parent.name: pd.read_csv(p) for p in job.histories}
    per_model = model_table(metrics, predictions, job.n_boot)
    write_csv(job.out_per_model, per_model)
    write_csv(job.out_per_config, seed_table(metrics))
    collapse_columns = ["model", "checkpoint", "collapsed", "predicted_class", "test_accuracy"]
    write_csv(job.out_collapse, per_model[collapse_columns + ["majority_rate", "collapse_message"]])
    comparison = compare_top_configs(metrics, predictions, histories, job.n_boot)
    write_json(job.out_comparison, comparison)
    log.info("%s", comparison["sentence"])
