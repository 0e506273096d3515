"""Binary classification metrics in plain numpy: confusion counts, precision/recall/F1, ROC.

The definitions are those of ``sklearn.metrics`` (tests/test_metrics.py checks them against
it), written out because importing sklearn costs ~1.4 s in every job that needs them. Labels
are 0 (female) / 1 (male, the positive class). Everything is scored from the model's logits:
probabilities saturate in float (sigmoid of a logit above ~16.6 is 1.0 in float32), which would
tie images the logits still order; the loss is BCEWithLogitsLoss's.

One decision rule everywhere (training, evaluation, predict): male when the logit is above
``decision_logit(threshold)``; the default threshold 0.5 is a logit above 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .io import DataError

if TYPE_CHECKING:  # the attribute tables are pandas frames; this module needs only numpy
    import pandas as pd


def binary_array(values: Any, name: str) -> np.ndarray:
    """``values`` as a 1-D int array of 0/1; DataError naming ``name`` otherwise."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise DataError(f"{name}: expected a 1-D sequence of 0/1, got shape {array.shape}")
    if array.size and not np.isin(array, (0, 1)).all():
        bad = sorted({str(v) for v in array[~np.isin(array, (0, 1))][:5]})
        raise DataError(f"{name}: expected only 0 (female) / 1 (male), found {', '.join(bad)}")
    return array.astype(np.int64)


def decision_logit(threshold: float = 0.5) -> float:
    """The logit above which an image is called male, for a P(male) ``threshold`` in (0, 1)."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must lie in (0, 1), got {threshold}")
    return math.log(threshold / (1.0 - threshold))


def predicted_class(logits: Any, threshold: float = 0.5) -> Any:
    """1 (male) where the logit is above ``decision_logit(threshold)``, else 0 (numpy or torch)."""
    return logits > decision_logit(threshold)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """P(male) in float64 (no overflow warning for large negative logits)."""
    logits = np.asarray(logits, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -logits))


def bce_with_logits(labels: np.ndarray, logits: np.ndarray) -> float:
    """Mean binary cross-entropy from logits, as torch.nn.BCEWithLogitsLoss (stable form)."""
    labels = np.asarray(labels, dtype=np.float64)
    logits = np.asarray(logits, dtype=np.float64)
    return float(np.mean(np.logaddexp(0.0, logits) - labels * logits))


def classification_metrics(labels: np.ndarray, logits: np.ndarray) -> dict:
    """Loss (BCE with logits), accuracy, precision, recall, F1, ROC-AUC (ranked by logit) and
    the confusion matrix at the decision rule (logit > 0)."""
    labels = np.asarray(labels).astype(int)
    logits = np.asarray(logits, dtype=np.float64)
    preds = predicted_class(logits).astype(int)
    tn, fp, fn, tp = (int(np.sum((labels == t) & (preds == p))) for t in (0, 1) for p in (0, 1))
    return {
        "n": int(len(labels)),
        "test_loss": bce_with_logits(labels, logits),
        "test_accuracy": float(np.mean(preds == labels)),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "roc_auc": roc_auc(labels, logits),
        "tn": tn,
        "fp": fp,
        "fn": fn,
        "tp": tp,
    }


def _ratio(numerator: int, denominator: int) -> float:
    """numerator / denominator, 0.0 when the denominator is 0 (sklearn's zero_division=0)."""
    return float(numerator / denominator) if denominator else 0.0


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with tied scores averaged); NaN for one class."""
    labels = np.asarray(labels).astype(int)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(np.asarray(scores), return_inverse=True, return_counts=True)
    first_rank = np.cumsum(counts) - counts + 1
    ranks = (first_rank + (counts - 1) / 2)[inverse]  # 1-based, ties share their mean rank
    return float((ranks[labels == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_curve(
    labels: np.ndarray, scores: np.ndarray, drop_intermediate: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rates, true-positive rates) of ``sklearn.metrics.roc_curve``.

    One point per distinct score (predicting positive at score >= it), in decreasing order of
    the score, after a first point (0, 0). With ``drop_intermediate``, as in sklearn, points in
    the middle of a straight segment are left out (the curve drawn is the same). A rate whose
    class is absent from ``labels`` is NaN.
    """
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=float)
    order = np.argsort(scores, kind="mergesort")[::-1]
    scores, labels = scores[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # last index of each score
    tps = np.cumsum(labels)[last].astype(float)
    fps = last + 1 - tps
    if drop_intermediate and len(fps) > 2:
        corner = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        fps, tps = fps[corner], tps[corner]
    fps, tps = np.r_[0.0, fps], np.r_[0.0, tps]
    return tuple(r / r[-1] if r[-1] > 0 else np.full(r.shape, np.nan) for r in (fps, tps))


def presence(attributes: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Boolean table (True = present) of ``names``; DataError for a missing column or a value
    other than -1, 0 or 1 (CelebA's ±1 and 0/1 both read as 1 = present)."""
    missing = [name for name in names if name not in attributes.columns]
    if missing:
        raise DataError(
            f"attribute table: no column(s) {missing}; expected the CelebA attributes as "
            f"-1/1 (or 0/1) columns. Check the target and group_by names."
        )
    values = attributes[list(names)]
    bad = [name for name in names if not values[name].isin((-1, 0, 1)).all()]
    if bad:
        raise DataError(f"attribute table: column(s) {bad} hold values other than -1/0/1")
    return values.eq(1)
