"""Job-level analyses across models: confidence intervals, seed summaries, paired comparison,
collapse detection, and the Grad-CAM figure of one model."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import gradcam, stats
from .constants import CLASS_NAMES, format_lr
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
            row.update(ci_low=low, ci_high=high, collapsed=collapse["collapsed"],
                       predicted_class=collapse["class_name"], majority_rate=collapse["majority_rate"],
                       collapse_message=collapse["message"])  # fmt: skip
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
        + ("The ranking holds." if pairs and significant == len(pairs)
           else "The ranking is not established: it may change on another run.")
    )  # fmt: skip
    return {"sentence": sentence, "pairs": pairs, "best": list(a), "second": list(b)}


def statistics_job(metrics_files, prediction_files, models, n_boot, out_per_model, out_per_config,
                   out_collapse, out_comparison) -> None:  # fmt: skip
    """Write the per-model CI table, the seed summary, the collapse table and the comparison."""
    metrics = [json.loads(Path(p).read_text()) for p in metrics_files]
    predictions = {m: read_predictions(p) for m, p in zip(models, prediction_files, strict=True)}
    per_model = model_table(metrics, predictions, n_boot)
    write_csv(out_per_model, per_model)
    write_csv(out_per_config, seed_table(metrics))
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
    write_csv(out_collapse, collapse)
    comparison = compare_top_configs(metrics, predictions, n_boot)
    write_json(out_comparison, comparison)
    log.info("%s", comparison["sentence"])


def pick_gradcam_images(predictions: pd.DataFrame, n: int, seed: int = 0) -> np.ndarray:
    """Row indices of up to ``n`` test images: correct and wrong, of both classes, fixed by ``seed``."""
    rng = np.random.default_rng(seed)
    groups = []
    for label in (0, 1):
        for correct in (True, False):
            mask = (predictions["label"] == label) & ((predictions["pred"] == label) == correct)
            groups.append(list(rng.permutation(np.flatnonzero(mask.to_numpy()))))
    chosen: list[int] = []
    while len(chosen) < n and any(groups):
        for group in groups:
            if group and len(chosen) < n:
                chosen.append(int(group.pop()))
    return np.array(sorted(chosen), dtype=int)


def gradcam_job(
    model, store: np.ndarray, predictions: pd.DataFrame, n: int, out_png, title: str
) -> None:
    """Grad-CAM maps of ``n`` fixed test images (correct and wrong, both classes) of one model."""
    from .store import to_normalized

    idx = pick_gradcam_images(predictions, n)
    if len(idx) == 0:
        log.warning("no test images for Grad-CAM")
    images = (
        to_normalized(store[idx]) if len(idx) else torch.zeros(0, 3, store.shape[1], store.shape[2])
    )
    cams = gradcam.grad_cam(model, gradcam.vgg_target_layer(model), images) if len(idx) else []
    rows = []
    for k, i in enumerate(idx):
        row = predictions.iloc[i]
        verdict = "right" if row["pred"] == row["label"] else "WRONG"
        rows.append((np.asarray(store[i]), cams[k],
                     f"{row['image_id']}: true {CLASS_NAMES[row['label']]}, p(male) {row['prob']:.2f} ({verdict})"))  # fmt: skip
    gradcam.plot_gradcam_grid(rows, out_png, title=title)
