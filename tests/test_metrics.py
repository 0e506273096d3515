"""celeba_gender.metrics (plain numpy) against sklearn.metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from celeba_gender.metrics import (
    classification_metrics,
    decision_logit,
    predicted_class,
    roc_auc,
    roc_curve,
)


def _case(seed: int, n: int, ties: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    probs = np.clip(0.3 * labels + rng.random(n) * 0.7, 0, 1)
    if ties:
        probs = np.round(probs, 1)  # many equal scores, some exactly at the 0.5 threshold
    return labels, probs


def logit(probs: np.ndarray) -> np.ndarray:
    probs = np.clip(probs, 1e-6, 1 - 1e-6)
    return np.log(probs / (1 - probs))


@pytest.mark.parametrize("seed,n,ties", [(0, 50, False), (1, 200, True), (2, 7, True)])
def test_metrics_equal_sklearn_s(seed: int, n: int, ties: bool) -> None:
    labels, probs = _case(seed, n, ties)
    logits = logit(probs)
    ours = classification_metrics(labels, logits)
    preds = (logits > 0).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(labels, preds, labels=[0, 1]).ravel()
    assert (ours["tn"], ours["fp"], ours["fn"], ours["tp"]) == (tn, fp, fn, tp)
    assert ours["test_accuracy"] == pytest.approx(skm.accuracy_score(labels, preds))
    assert ours["precision"] == pytest.approx(skm.precision_score(labels, preds, zero_division=0))
    assert ours["recall"] == pytest.approx(skm.recall_score(labels, preds, zero_division=0))
    assert ours["f1"] == pytest.approx(skm.f1_score(labels, preds, zero_division=0))
    assert ours["roc_auc"] == pytest.approx(skm.roc_auc_score(labels, logits))
    assert ours["test_loss"] == pytest.approx(skm.log_loss(labels, np.clip(probs, 1e-6, 1 - 1e-6)))


def test_the_loss_is_bce_with_logits_and_the_auc_ranks_saturated_logits() -> None:
    """Above a logit of ~16.6 sigmoid is 1.0 in float32: scored from probabilities, these images
    would tie; from logits they keep their order, and the loss stays finite."""
    labels = np.array([0, 1, 0, 1, 1])
    logits = np.array([-3.0, 18.0, 17.0, 25.0, 40.0])
    assert torch.sigmoid(torch.tensor(logits[1:], dtype=torch.float32)).eq(1.0).all()
    ours = classification_metrics(labels, logits)
    expected = torch.nn.BCEWithLogitsLoss()(torch.tensor(logits), torch.tensor(labels * 1.0))
    assert ours["test_loss"] == pytest.approx(float(expected), rel=1e-12)
    assert ours["roc_auc"] == pytest.approx(skm.roc_auc_score(labels, logits))
    assert ours["roc_auc"] == 1.0  # every male logit is above both female ones
    saturated = torch.sigmoid(torch.tensor(logits, dtype=torch.float32)).numpy()
    assert roc_auc(labels, saturated) == 0.75  # 17 ties with 18, 25 and 40 at 1.0


def test_one_decision_rule_logit_above_the_threshold_s_logit() -> None:
    logits = np.array([-0.1, 0.0, 0.1, 2.0])
    assert predicted_class(logits).tolist() == [False, False, True, True]  # P(male) > 0.5
    assert predicted_class(logits, 0.8).tolist() == [False, False, False, True]  # 2.0 > 1.386
    assert decision_logit(0.5) == 0.0


def test_no_positive_prediction_gives_zero_precision_and_f1() -> None:
    labels = np.array([0, 1, 1, 0])
    ours = classification_metrics(labels, logit(np.array([0.1, 0.2, 0.3, 0.4])))
    assert ours["precision"] == 0.0 and ours["f1"] == 0.0 and ours["recall"] == 0.0
    assert ours["roc_auc"] == pytest.approx(0.5)  # pairs (pos, neg) ranked right: 2 of 4


def test_roc_auc_is_nan_with_one_class() -> None:
    assert math.isnan(roc_auc(np.array([1, 1, 1]), np.array([0.2, 0.5, 0.9])))


@pytest.mark.parametrize("seed,n,ties", [(3, 300, False), (4, 500, True), (5, 9, True)])
def test_roc_auc_equals_sklearn_s_trapezoid_auc(seed: int, n: int, ties: bool) -> None:
    labels, probs = _case(seed, n, ties)
    assert roc_auc(labels, probs) == pytest.approx(skm.roc_auc_score(labels, probs), abs=1e-15)


def test_roc_auc_averages_tied_scores() -> None:
    # pairs (pos, neg): (0.8, 0.2) right, (0.8, 0.8) half, (0.5, 0.2) right, (0.5, 0.8) wrong
    labels, scores = np.array([1, 1, 0, 0]), np.array([0.8, 0.5, 0.8, 0.2])
    assert roc_auc(labels, scores) == pytest.approx(2.5 / 4)


@pytest.mark.parametrize("drop_intermediate", [True, False])
@pytest.mark.parametrize("seed,n,ties", [(6, 400, False), (7, 400, True), (8, 3, False)])
def test_roc_curve_equals_sklearn_s(seed: int, n: int, ties: bool, drop_intermediate: bool) -> None:
    labels, probs = _case(seed, n, ties)
    fpr, tpr = roc_curve(labels, probs, drop_intermediate=drop_intermediate)
    sk_fpr, sk_tpr, _ = skm.roc_curve(labels, probs, drop_intermediate=drop_intermediate)
    np.testing.assert_array_equal(fpr, sk_fpr)
    np.testing.assert_array_equal(tpr, sk_tpr)


def test_roc_curve_has_a_point_per_distinct_score_from_the_origin() -> None:
    fpr, tpr = roc_curve(np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.9, 0.4]), False)
    np.testing.assert_array_equal(fpr, [0.0, 0.5, 0.5, 1.0])
    np.testing.assert_array_equal(tpr, [0.0, 0.5, 1.0, 1.0])


def test_roc_curve_rates_of_an_absent_class_are_nan() -> None:
    fpr, tpr = roc_curve(np.array([1, 1, 1]), np.array([0.2, 0.5, 0.9]))
    assert np.isnan(fpr).all() and tpr[-1] == 1.0
