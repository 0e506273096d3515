"""jobs.classification_metrics (plain numpy) against sklearn.metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from celeba_gender.jobs import classification_metrics, roc_auc


def _case(seed: int, n: int, ties: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    probs = np.clip(0.3 * labels + rng.random(n) * 0.7, 0, 1)
    if ties:
        probs = np.round(probs, 1)  # many equal scores, some exactly at the 0.5 threshold
    return labels, probs


@pytest.mark.parametrize("seed,n,ties", [(0, 50, False), (1, 200, True), (2, 7, True)])
def test_metrics_equal_sklearn_s(seed: int, n: int, ties: bool) -> None:
    labels, probs = _case(seed, n, ties)
    ours = classification_metrics(labels, probs)
    preds = (probs >= 0.5).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(labels, preds, labels=[0, 1]).ravel()
    assert (ours["tn"], ours["fp"], ours["fn"], ours["tp"]) == (tn, fp, fn, tp)
    assert ours["test_accuracy"] == pytest.approx(skm.accuracy_score(labels, preds))
    assert ours["precision"] == pytest.approx(skm.precision_score(labels, preds, zero_division=0))
    assert ours["recall"] == pytest.approx(skm.recall_score(labels, preds, zero_division=0))
    assert ours["f1"] == pytest.approx(skm.f1_score(labels, preds, zero_division=0))
    assert ours["roc_auc"] == pytest.approx(skm.roc_auc_score(labels, probs))
    assert ours["test_loss"] == pytest.approx(skm.log_loss(labels, np.clip(probs, 1e-7, 1 - 1e-7)))


def test_no_positive_prediction_gives_zero_precision_and_f1() -> None:
    labels = np.array([0, 1, 1, 0])
    ours = classification_metrics(labels, np.array([0.1, 0.2, 0.3, 0.4]))
    assert ours["precision"] == 0.0 and ours["f1"] == 0.0 and ours["recall"] == 0.0
    assert ours["roc_auc"] == pytest.approx(0.5)  # pairs (pos, neg) ranked right: 2 of 4


def test_roc_auc_is_nan_with_one_class() -> None:
    assert math.isnan(roc_auc(np.array([1, 1, 1]), np.array([0.2, 0.5, 0.9])))
