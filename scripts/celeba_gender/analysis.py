"""The ``statistics`` rule's job: confidence intervals, seed summaries, paired comparison and
collapse detection across models."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import stats
from .constants import format_lr
from .grid import kind_of, ranking_column
from .io import DataError, write_csv, write_json

log = logging.getLogger(__name__)


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
    """Per (kind, strategy, lr, checkpoint): mean, std and t 95% CI of test accuracy over seeds
    (the kind column only when DFR models are present)."""
    frame = pd.DataFrame(metrics)
    frame["kind"] = [kind_of(m) for m in frame["model"]]
    rows = []
    for (kind, strategy, lr, checkpoint), group in frame.groupby(
        ["kind", "strategy", "lr", "checkpoint"], sort=False
    ):
        summary = stats.seed_summary(group["test_accuracy"].tolist())
        rows.append(
            {
                **({"kind": kind} if (frame["kind"] != "erm").any() else {}),
                "strategy": strategy,
                "lr": lr,
                "checkpoint": checkpoint,
                "seeds": len(group),
                **summary,
            }
        )
    return pd.DataFrame(rows).sort_values(["checkpoint", "mean"], ascending=[False, False])


def validation_accuracy(
    metrics: dict, histories: Mapping[str, pd.DataFrame], column: str = "val_accuracy"
) -> float:
    """The validation accuracy (``column``: or the worst-group one) of a checkpoint at its own
    epoch (``epoch`` of its metrics.json), from the model's training history."""
    history = histories[metrics["model"]]
    if column not in history.columns:
        raise DataError(
            f"{metrics['model']}: history.csv has no {column} column; retrain it with this "
            "train.select_by"
        )
    row = history[history["epoch"] == int(metrics["epoch"])]
    if row.empty:
        raise DataError(
            f"{metrics['model']}: history.csv has no epoch {metrics['epoch']} (its "
            f"{metrics['checkpoint']} checkpoint's epoch)"
        )
    return float(row[column].iloc[0])


def config_text(kind: str, strategy: int, lr: float) -> str:
    """A grid configuration in words: ``strategy 2, lr 1e-4`` (``DFR on strategy 2, ...``)."""
    return f"{'DFR on ' if kind == 'dfr' else ''}strategy {strategy}, lr {format_lr(lr)}"


def compare_top_configs(
    metrics: Sequence[dict],
    predictions: Mapping[tuple[str, str], pd.DataFrame],
    histories: Mapping[str, pd.DataFrame],
    n_boot: int,
    select_by: str = "val_accuracy",
) -> dict:
    """Choose the two best (kind, strategy, lr) cells on the validation set (last-epoch
    checkpoints, mean over seeds of the validation accuracy, or of the worst-group one under
    ``select_by: worst_group``; a DFR model's comes from its held-out half), then test them once,
    seed by seed, with paired tests on the same test images. Choosing on the test set and then
    testing there would favour the winner (winner's curse)."""
    column = ranking_column(select_by)
    last = pd.DataFrame([m for m in metrics if m["checkpoint"] == "last"])
    last["kind"] = [kind_of(m) for m in last["model"]]
    last["val_score"] = [validation_accuracy(m, histories, column) for m in last.to_dict("records")]
    cells = (
        last.groupby(["kind", "strategy", "lr"])[["val_score", "test_accuracy"]]
        .mean()
        .sort_values("val_score", ascending=False, kind="mergesort")
    )
    selection = [
        {**({"kind": k} if k != "erm" else {}), "strategy": int(s), "lr": float(lr),
         f"{column}_mean": float(r.val_score), "test_accuracy_mean": float(r.test_accuracy)}
        for (k, s, lr), r in cells.iterrows()
    ]  # fmt: skip
    base = {"selected_on": "validation", "checkpoint": "last", "selection": selection}
    if len(cells) < 2:
        sentence = "Only one configuration in the grid: nothing to compare."
        return {**base, "sentence": sentence, "pairs": []}
    (a, b) = cells.index[:2]
    model_of = last.groupby(["kind", "strategy", "lr", "seed"])["model"].first()
    pairs = []
    for seed in sorted(set(last["seed"])):
        if (*a, seed) not in model_of.index or (*b, seed) not in model_of.index:
            continue
        na, nb = model_of[(*a, seed)], model_of[(*b, seed)]
        result = stats.compare_best_two(
            {na: predictions[(na, "last")], nb: predictions[(nb, "last")]}, [na, nb], n_boot=n_boot
        )
        pairs.append(result)
    significant = sum(bool(p["significant"]) for p in pairs)
    first, second = cells.iloc[0], cells.iloc[1]
    what = (
        "worst-group validation accuracy" if select_by == "worst_group" else "validation accuracy"
    )
    sentence = (
        f"Best two configurations by mean {what} (last epoch; chosen before the "
        f"test set is looked at): {config_text(*a)} (validation "
        f"{first.val_score:.2%}, test {first.test_accuracy:.2%}) and {config_text(*b)} "
        f"(validation {second.val_score:.2%}, test "
        f"{second.test_accuracy:.2%}). Tested once on the same test images, the paired test "
        f"finds their difference significant for {significant} of {len(pairs)} seed(s). "
    )
    if pairs and significant == len(pairs):
        sentence += "The ranking holds."
    else:
        sentence += "The ranking is not established: it may change on another run."
    return {**base, "sentence": sentence, "pairs": pairs, "best": list(a[1:]),
            "second": list(b[1:]), "best_kind": a[0], "second_kind": b[0]}  # fmt: skip


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
    select_by: str = "val_accuracy"  # train.select_by: how the compared pair is chosen


def read_evaluations(job: StatisticsJob) -> tuple[list[dict], dict]:
    """Each evaluation's metrics, and its predictions keyed by (model, checkpoint)."""
    metrics, predictions = [], {}
    for metrics_file, predictions_file in zip(job.metrics, job.predictions, strict=True):
        if Path(metrics_file).parent != Path(predictions_file).parent:
            raise DataError(f"{metrics_file} and {predictions_file}: not the same evaluation")
        m = json.loads(Path(metrics_file).read_text())
        metrics.append(m)
        predictions[(m["model"], m["checkpoint"])] = pd.read_csv(
            predictions_file, dtype={"image_id": str}
        )
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
    comparison = compare_top_configs(metrics, predictions, histories, job.n_boot, job.select_by)
    write_json(job.out_comparison, comparison)
    log.info("%s", comparison["sentence"])
