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
from .io import write_csv, write_json

log = logging.getLogger(__name__)


def read_predictions(path: str | os.PathLike) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"image_id": str})


def model_table(
    metrics: Sequence[dict], predictions: Mapping[str, pd.DataFrame], n_boot: int
) -> pd.DataFrame:
    """One row per (model, checkpoint): test accuracy with its bootstrap 95% CI and collapse flag."""
    rows = []
    for m in metrics:
        pred = predictions.get(m["model"]) if m["checkpoint"] == "last" else None
        row = {
            k: m[k]
            for k in ("model", "strategy", "lr", "seed", "checkpoint", "epoch", "test_accuracy")
        }
        if pred is not None:
            acc, low, high = stats.bootstrap_accuracy_ci(pred["label"], pred["pred"], n_boot=n_boot)
            collapse = stats.detect_collapse(pred["pred"], pred["label"])
            row.update(
                ci_low=low,
                ci_high=high,
                collapsed=collapse["collapsed"],
                predicted_class=collapse["class_name"],
                majority_rate=collapse["majority_rate"],
                collapse_message=collapse["message"],
            )
        rows.append(row)
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


def compare_top_configs(
    metrics: Sequence[dict], predictions: Mapping[str, pd.DataFrame], n_boot: int
) -> dict:
    """Paired tests of the two best (strategy, lr) cells, seed by seed, on the same test images."""
    last = pd.DataFrame([m for m in metrics if m["checkpoint"] == "last"])
    cells = last.groupby(["strategy", "lr"])["test_accuracy"].mean().sort_values(ascending=False)
    if len(cells) < 2:
        return {"sentence": "Only one configuration in the grid: nothing to compare.", "pairs": []}
    (a, b) = cells.index[:2]
    pairs = []
    for seed in sorted(set(last["seed"])):
        name_a = last[(last.strategy == a[0]) & (last.lr == a[1]) & (last.seed == seed)]["model"]
        name_b = last[(last.strategy == b[0]) & (last.lr == b[1]) & (last.seed == seed)]["model"]
        if name_a.empty or name_b.empty:
            continue
        na, nb = name_a.iloc[0], name_b.iloc[0]
        result = stats.compare_best_two(
            {na: predictions[na], nb: predictions[nb]}, [na, nb], n_boot=n_boot
        )
        pairs.append(result)
    significant = sum(bool(p["significant"]) for p in pairs)
    sentence = (
        f"Best two configurations by mean test accuracy: strategy {a[0]}, lr {format_lr(a[1])} "
        f"({cells.iloc[0]:.2%}) and strategy {b[0]}, lr {format_lr(b[1])} ({cells.iloc[1]:.2%}). "
        f"The paired test on the same test images finds the difference significant for "
        f"{significant} of {len(pairs)} seed(s). "
    )
    if pairs and significant == len(pairs):
        sentence += "The ranking holds."
    else:
        sentence += "The ranking is not established: it may change on another run."
    return {"sentence": sentence, "pairs": pairs, "best": list(a), "second": list(b)}


# ----------------------------------------------------------------------------- the job
@dataclass
class StatisticsJob:
    """``statistics``: CIs per model and over seeds, paired comparison, collapse detection."""

    metrics: list[str]
    predictions: list[str]
    models: list[str]
    n_boot: int
    out_per_model: str
    out_per_config: str
    out_collapse: str
    out_comparison: str


def statistics_job(job: StatisticsJob) -> None:
    """Write the per-model CI table, the seed summary, the collapse table and the comparison."""
    metrics = [json.loads(Path(p).read_text()) for p in job.metrics]
    predictions = {m: read_predictions(p) for m, p in zip(job.models, job.predictions, strict=True)}
    per_model = model_table(metrics, predictions, job.n_boot)
    write_csv(job.out_per_model, per_model)
    write_csv(job.out_per_config, seed_table(metrics))
    collapse = per_model[per_model["checkpoint"] == "last"][
        [
            "model",
            "collapsed",
            "predicted_class",
            "test_accuracy",
            "majority_rate",
            "collapse_message",
        ]
    ]
    write_csv(job.out_collapse, collapse)
    comparison = compare_top_configs(metrics, predictions, job.n_boot)
    write_json(job.out_comparison, comparison)
    log.info("%s", comparison["sentence"])
