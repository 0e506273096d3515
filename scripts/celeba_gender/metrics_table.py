"""The aggregated metrics table (``metrics.csv``), its comparison with the study's published
numbers, and the tables and sentences of the results page derived from it."""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from celeba_gender.constants import PUBLISHED_TEST_ACCURACY, format_lr
from celeba_gender.grid import KINDS, kind_of, ranking_column
from celeba_gender.io import ReportError, write_csv
from celeba_gender.plots import check_history

EPOCH_COLUMNS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")  # history, per epoch
WORST_GROUP = "val_worst_group_accuracy"  # history column under select_by worst_group (and DFR)
METRIC_KEYS: tuple[str, ...] = (
    "model",
    "strategy",
    "lr",
    "seed",
    "checkpoint",
    "n",
    "test_loss",
    "test_accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "tn",
    "fp",
    "fn",
    "tp",
)


# ----------------------------------------------------------------------------- metrics table


def read_metrics_json(path: str | os.PathLike) -> dict:
    """Read one ``metrics.json`` (or the ``metrics.json`` inside an evaluation folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.json"
    if not path.is_file():
        raise ReportError(
            f"{path}: no such metrics file (expected the evaluate rule's metrics.json)"
        )
    try:
        metrics = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ReportError(f"{path}: not valid JSON ({err})") from err
    missing = [k for k in METRIC_KEYS if k not in metrics]
    if missing:
        raise ReportError(
            f"{path}: missing key(s) {', '.join(missing)}; expected {', '.join(METRIC_KEYS)}"
        )
    return metrics


def collect_metrics(
    metrics_files: Iterable[str | os.PathLike], histories: Mapping[str, pd.DataFrame]
) -> pd.DataFrame:
    """One row per evaluated (model, checkpoint): its grid cell, the checkpoint's epoch with that
    epoch's own train/val numbers (the last epoch for ``last``, the best validation epoch for
    ``best``), the epochs run, the best val accuracy and epoch, every test metric, the numerics
    (train.precision)
    and the device the model was trained on (``device`` of metrics.json; empty when an older file
    lacks it)."""
    rows = []
    for path in metrics_files:
        metrics = read_metrics_json(path)
        model = str(metrics["model"])
        if model not in histories:
            known = ", ".join(sorted(histories)) or "none"
            raise ReportError(
                f"{path}: no training history for model '{model}' (histories: {known})"
            )
        hist = check_history(histories[model], model)
        last, best = hist.iloc[-1], hist.loc[hist["val_accuracy"].idxmax()]
        epoch = int(metrics.get("epoch", last["epoch"]))
        own = hist[hist["epoch"] == epoch]
        if own.empty:
            raise ReportError(f"{path}: epoch {epoch} is not in the training history of {model}")
        own = own.iloc[0]
        rows.append(
            {
                "model": model,
                "strategy": int(metrics["strategy"]),
                "lr": float(metrics["lr"]),
                "seed": int(metrics["seed"]),
                "checkpoint": str(metrics["checkpoint"]),
                "epoch": epoch,
                "epochs": int(last["epoch"]),
                **{k: float(own[k]) for k in EPOCH_COLUMNS},
                "best_val_accuracy": float(best["val_accuracy"]),
                "best_epoch": int(best["epoch"]),
                **{k: metrics[k] for k in METRIC_KEYS[5:]},
                "numerics": str(metrics.get("numerics") or "fp32"),  # train.precision
                "device": str(metrics.get("device") or ""),
                "kind": kind_of(model),
                **({WORST_GROUP: float(own[WORST_GROUP])} if WORST_GROUP in own.index else {}),
            }
        )
    if not rows:
        raise ReportError("collect_metrics: no metrics.json was given (expected one per model)")
    frame = pd.DataFrame(rows)
    duplicated = frame[frame.duplicated(["model", "checkpoint"], keep=False)]
    if not duplicated.empty:
        raise ReportError(
            f"collect_metrics: model '{duplicated['model'].iloc[0]}' checkpoint "
            f"'{duplicated['checkpoint'].iloc[0]}' appears in more than one metrics.json"
        )
    frame["_kind"] = frame["kind"].map(KINDS.index)  # ERM before DFR
    return frame.sort_values(
        ["lr", "strategy", "seed", "checkpoint", "_kind"],
        ascending=[False, True, True, False, True],
        ignore_index=True,
    ).drop(columns="_kind")


def with_evaluation_columns(metrics: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    """``metrics`` with the columns of ``extra`` (rows keyed by model and checkpoint: the group
    summaries, the calibration) that it does not have yet, appended on the right; every row of
    ``metrics`` must have one in ``extra``."""
    new = [c for c in extra.columns if c not in metrics.columns]
    keyed = extra[["model", "checkpoint", *new]]
    if keyed.duplicated(["model", "checkpoint"]).any():
        raise ReportError("metrics table: an evaluation has two rows of extra columns")
    merged = metrics.merge(keyed, on=["model", "checkpoint"], how="left", validate="1:1")
    missing = merged[merged[new].isna().all(axis=1)] if new else merged.iloc[:0]
    if len(missing):
        raise ReportError(
            f"metrics table: no group/calibration row for {missing['model'].iloc[0]} "
            f"({missing['checkpoint'].iloc[0]}); rerun the workflow"
        )
    return merged


def write_metrics(metrics: pd.DataFrame, out_csv: str | os.PathLike) -> Path:
    """Write the metrics table (``results/experiments/<name>/report/metrics.csv``) atomically."""
    write_csv(out_csv, metrics)
    return Path(out_csv)


# ----------------------------------------------------------------------------- the study


def published_accuracy(strategy: int, lr: float) -> float:
    """The study's test accuracy (percent) for a grid cell, NaN where it had no such cell."""
    for (s, published_lr), value in PUBLISHED_TEST_ACCURACY.items():
        if s == int(strategy) and math.isclose(published_lr, float(lr), rel_tol=1e-9):
            return value
    return math.nan


def published_comparison(metrics: pd.DataFrame, checkpoint: str = "last") -> pd.DataFrame:
    """Per (strategy, lr): our test accuracy in percent (mean, sd, range over seeds) beside the
    study's. Uses rows of ``checkpoint`` (the study tested after the last epoch) when present;
    ERM models only (the study had no DFR)."""
    rows = metrics[metrics["kind"] == "erm"] if "kind" in metrics.columns else metrics
    if "checkpoint" in rows.columns and (rows["checkpoint"] == checkpoint).any():
        rows = rows[rows["checkpoint"] == checkpoint]
    used = ", ".join(sorted(map(str, rows["checkpoint"].unique()))) if "checkpoint" in rows else "?"
    percent = rows.assign(acc=100.0 * rows["test_accuracy"].astype(float))
    grouped = percent.groupby(["strategy", "lr"], sort=False)["acc"]
    table = grouped.agg(n_seeds="count", test_accuracy_pct="mean", test_accuracy_pct_sd="std")
    table["test_accuracy_pct_min"] = grouped.min()
    table["test_accuracy_pct_max"] = grouped.max()
    table = table.reset_index()
    table.insert(2, "checkpoint", used)
    table["published_test_accuracy_pct"] = [
        published_accuracy(s, lr) for s, lr in zip(table["strategy"], table["lr"], strict=True)
    ]
    table["difference_pct"] = table["test_accuracy_pct"] - table["published_test_accuracy_pct"]
    return table.sort_values(["lr", "strategy"], ascending=[False, True], ignore_index=True)


def best_model(metrics: pd.DataFrame, select_by: str = "val_accuracy") -> pd.Series:
    """The row with the highest validation accuracy at its checkpoint's epoch (the worst-group
    one under ``select_by: worst_group``; a DFR model's from its held-out half); ties: the
    last-epoch checkpoint."""
    if metrics.empty:
        raise ReportError("best_model: the metrics table has no rows")
    column = ranking_column(select_by)
    if column not in metrics.columns:
        raise ReportError(f"best_model: the metrics table has no {column} column")
    # rank on a two-column frame: adding a column to a wide metrics table fragments it
    keys = pd.DataFrame(
        {"value": metrics[column].to_numpy(), "last": (metrics["checkpoint"] == "last").to_numpy()}
    )
    first = keys.sort_values(["value", "last"], ascending=[False, False], kind="stable").index[0]
    return metrics.iloc[first]


# ----------------------------------------------------------------------------- as shown


def lr_text(value) -> str:
    """A learning rate as in model names (6e-5, not 0.0001); other values as they are."""
    try:
        return format_lr(value)
    except (TypeError, ValueError):
        return str(value)


def number_text(value: float, digits: int = 4) -> str:
    """A number with ``digits`` decimals; "—" for a missing one."""
    return "—" if value is None or pd.isna(value) else f"{float(value):.{digits}f}"


def _hundredths(value: float) -> str:
    return number_text(value, 2)


def _signed(value: float) -> str:
    return "—" if pd.isna(value) else f"{value:+.2f}"


def models_display(metrics: pd.DataFrame) -> pd.DataFrame:
    """The model table as shown: accuracies in percent, the study's test accuracy beside ours."""
    kinds = metrics["kind"] if "kind" in metrics.columns else ["erm"] * len(metrics)
    published = [
        published_accuracy(s, lr) if kind == "erm" else math.nan
        for s, lr, kind in zip(metrics["strategy"], metrics["lr"], kinds, strict=True)
    ]
    ours = 100.0 * metrics["test_accuracy"].astype(float)
    difference = ours - pd.Series(published, index=metrics.index)
    return pd.DataFrame(
        {
            "Model": metrics["model"].astype(str),
            "Strategy": metrics["strategy"].astype(int),
            "LR": [format_lr(lr) for lr in metrics["lr"]],
            "Seed": metrics["seed"].astype(int),
            "Checkpoint": metrics["checkpoint"].astype(str),
            "Epoch": metrics["epoch"].astype(int),
            "Train acc %": (100.0 * metrics["train_accuracy"].astype(float)).map(_hundredths),
            "Val acc %": (100.0 * metrics["val_accuracy"].astype(float)).map(_hundredths),
            "Train loss": metrics["train_loss"].map(number_text),
            "Val loss": metrics["val_loss"].map(number_text),
            "Test loss": metrics["test_loss"].map(number_text),
            "Test acc %": ours.map(_hundredths),
            "Study test acc %": [_hundredths(v) for v in published],
            "Δ vs study (pp)": difference.map(_signed),
            "Precision": metrics["precision"].map(number_text),
            "Recall": metrics["recall"].map(number_text),
            "F1": metrics["f1"].map(number_text),
            "ROC AUC": metrics["roc_auc"].map(number_text),
        }
    )


def comparison_display(comparison: pd.DataFrame) -> pd.DataFrame:
    """The per-cell comparison with the study (``published_comparison``), formatted."""
    return pd.DataFrame(
        {
            "Strategy": comparison["strategy"].astype(int),
            "LR": [format_lr(lr) for lr in comparison["lr"]],
            "Checkpoint": comparison["checkpoint"].astype(str),
            "Seeds": comparison["n_seeds"].astype(int),
            "Our test acc % (mean)": comparison["test_accuracy_pct"].map(_hundredths),
            "SD": comparison["test_accuracy_pct_sd"].map(_hundredths),
            "Study test acc %": comparison["published_test_accuracy_pct"].map(_hundredths),
            "Δ (pp)": comparison["difference_pct"].map(_signed),
        }
    )


def best_model_sentence(metrics: pd.DataFrame, select_by: str = "val_accuracy") -> str:
    """The best model by validation accuracy (or worst-group accuracy), in words (escaped HTML)."""
    best = best_model(metrics, select_by)
    name = html.escape(str(best["model"]))
    column = ranking_column(select_by)
    what = (
        "worst-group validation accuracy" if select_by == "worst_group" else "validation accuracy"
    )
    return (
        f"Best model by {what}: <strong>{name}</strong> "
        f"(strategy {int(best['strategy'])}, learning rate {format_lr(best['lr'])}, seed "
        f"{int(best['seed'])}, epoch {int(best['epoch'])}) with a {what} of "
        f"{100 * float(best[column]):.2f}% and a test accuracy of "
        f"{100 * float(best['test_accuracy']):.2f}% ({html.escape(str(best['checkpoint']))} "
        "checkpoint)."
    )
