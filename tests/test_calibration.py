"""Calibration metrics (ECE both ways, NLL, Brier) on hand-computed examples, their bootstrap
intervals, temperature scaling (recovering a known miscalibration, the collapsed model), the
temperature file, the metrics.csv row and the reliability diagrams."""

from __future__ import annotations

import math

import numpy as np
import pytest

from celeba_gender import calibration as cal
from celeba_gender import plots
from celeba_gender.io import CelebaGenderError, DataError
from celeba_gender.metrics import classification_metrics, roc_auc, sigmoid


def logit(p: float) -> float:
    return math.log(p / (1 - p))


# A tiny example, computed by hand with n_bins = 2.
# image  logit          prediction  label  confidence  correct
#   1    +logit(0.55)   1           1      0.55        yes
#   2    -logit(0.60)   0           1      0.60        no
#   3    +logit(0.65)   1           1      0.65        yes
#   4    -logit(0.95)   0           0      0.95        yes
# Equal-width bins over [0.5, 1]: [0.5, 0.75] and (0.75, 1].
#   bin 1 = {1, 2, 3}: mean confidence 0.60, accuracy 2/3, gap 1/15
#   bin 2 = {4}:       mean confidence 0.95, accuracy 1,   gap 0.05
#   ECE = 3/4 * 1/15 + 1/4 * 0.05 = 0.05 + 0.0125 = 0.0625
# Equal-mass bins, two images each by increasing confidence:
#   {1, 2}: confidence 0.575, accuracy 0.5, gap 0.075
#   {3, 4}: confidence 0.80,  accuracy 1,   gap 0.20
#   ECE = 1/2 * 0.075 + 1/2 * 0.20 = 0.1375
HAND_LABELS = [1, 1, 1, 0]
HAND_LOGITS = [logit(0.55), -logit(0.60), logit(0.65), -logit(0.95)]


def calibrated_data(n: int, seed: int, scale: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """(labels, true logits) of a well-calibrated generative model: label ~ Bernoulli(sigmoid
    of the logit), so sigmoid(logit) is exactly P(label = 1)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, scale, size=n)
    labels = (rng.random(n) < sigmoid(logits)).astype(int)
    return labels, logits


# ---------------------------------------------------------------- metrics by hand
def test_ece_with_equal_width_bins_matches_the_hand_computed_value():
    ece = cal.expected_calibration_error(HAND_LABELS, HAND_LOGITS, n_bins=2, scheme="width")
    assert ece == pytest.approx(0.0625, abs=1e-12)


def test_ece_with_equal_mass_bins_matches_the_hand_computed_value():
    ece = cal.expected_calibration_error(HAND_LABELS, HAND_LOGITS, n_bins=2, scheme="mass")
    assert ece == pytest.approx(0.1375, abs=1e-12)


def test_nll_matches_the_hand_computed_value():
    # labels 1, 0 with P = 0.5, 0.75: NLL = (-log 0.5 - log 0.25) / 2 = 1.5 log 2
    assert cal.negative_log_likelihood([1, 0], [0.0, logit(0.75)]) == pytest.approx(
        1.5 * math.log(2), abs=1e-12
    )


def test_brier_matches_the_hand_computed_value():
    # ((0.5 - 1)^2 + (0.75 - 0)^2) / 2 = (0.25 + 0.5625) / 2
    assert cal.brier_score([1, 0], [0.0, logit(0.75)]) == pytest.approx(0.40625, abs=1e-12)


def test_equal_mass_bins_keep_tied_confidences_together():
    """Constant logits: one bin, so both ECEs are |accuracy - confidence| = |0.3 - 0.8|."""
    labels = [0] * 7 + [1] * 3
    logits = [logit(0.8)] * 10
    for scheme in cal.BIN_SCHEMES:
        assert cal.expected_calibration_error(labels, logits, scheme=scheme) == pytest.approx(0.5)


def test_the_reliability_table_has_15_equal_width_bins_and_adds_up_to_the_ece():
    labels, logits = calibrated_data(400, seed=1)
    table = cal.reliability_table(labels, 3 * logits)
    assert len(table) == cal.ECE_BINS == 15
    assert table["lower"].iloc[0] == 0.5 and table["upper"].iloc[-1] == 1.0
    assert table["count"].sum() == 400
    filled = table[table["count"] > 0]
    ece = (filled["count"] * (filled["accuracy"] - filled["confidence"]).abs()).sum() / 400
    assert ece == pytest.approx(cal.expected_calibration_error(labels, 3 * logits))


def test_the_equal_mass_reliability_table_has_bins_of_equal_counts():
    labels, logits = calibrated_data(450, seed=2)
    table = cal.reliability_table(labels, logits, scheme="mass")
    assert table["count"].tolist() == [30] * 15
    assert (table["lower"].to_numpy()[1:] >= table["upper"].to_numpy()[:-1]).all()


def test_non_finite_logits_are_refused_with_advice():
    with pytest.raises(DataError, match="NaN or infinite.*retrain"):
        cal.expected_calibration_error([0, 1], [0.3, float("nan")])


# ---------------------------------------------------------------- bootstrap intervals
def test_bootstrap_intervals_contain_the_point_estimates():
    """A miscalibrated model (logits x 3): ECE far above its small-sample bias."""
    labels, logits = calibrated_data(1000, seed=3)
    intervals = cal.bootstrap_calibration(labels, 3 * logits, n_boot=200, seed=0)
    assert set(intervals) == set(cal.CALIBRATION_METRICS)
    for name, (value, low, high) in intervals.items():
        assert low <= value <= high, name


def test_bootstrap_point_estimates_equal_the_metric_functions():
    labels, logits = calibrated_data(300, seed=4)
    intervals = cal.bootstrap_calibration(labels, logits, n_boot=5)
    assert intervals["ece_width"][0] == pytest.approx(
        cal.expected_calibration_error(labels, logits)
    )
    assert intervals["ece_mass"][0] == pytest.approx(
        cal.expected_calibration_error(labels, logits, scheme="mass")
    )
    assert intervals["nll"][0] == pytest.approx(cal.negative_log_likelihood(labels, logits))
    assert intervals["brier"][0] == pytest.approx(cal.brier_score(labels, logits))


def test_bootstrap_intervals_are_seeded():
    labels, logits = calibrated_data(300, seed=5)
    first = cal.bootstrap_calibration(labels, logits, n_boot=50, seed=7)
    assert cal.bootstrap_calibration(labels, logits, n_boot=50, seed=7) == first
    assert cal.bootstrap_calibration(labels, logits, n_boot=50, seed=8) != first


def test_bootstrap_roc_auc_point_equals_metrics_roc_auc_with_ties():
    labels = [0, 1, 0, 1, 1, 0, 1]
    scores = [0.1, 0.4, 0.4, 0.8, 0.2, 0.2, 0.9]
    auc, low, high = cal.bootstrap_roc_auc(labels, scores, n_boot=100, seed=0)
    assert auc == pytest.approx(roc_auc(np.array(labels), np.array(scores)))
    assert low <= high


def test_discrimination_row_has_accuracy_and_roc_auc_with_intervals():
    labels, logits = calibrated_data(500, seed=6)
    row = cal.discrimination_row(labels, logits, n_boot=100)
    assert tuple(row) == cal.DISCRIMINATION_COLUMNS
    reference = classification_metrics(labels, logits)
    assert row["test_accuracy"] == pytest.approx(reference["test_accuracy"])
    assert row["roc_auc"] == pytest.approx(reference["roc_auc"])
    assert row["roc_auc_low"] <= row["roc_auc"] <= row["roc_auc_high"]


# ---------------------------------------------------------------- temperature scaling
@pytest.mark.parametrize("k", [3.0, 0.4])
def test_temperature_scaling_recovers_a_known_logit_scale(k):
    labels, logits = calibrated_data(5000, seed=10)
    fit = cal.fit_temperature(labels, k * logits)
    assert fit.temperature == pytest.approx(k, rel=0.10)
    assert not fit.flagged and fit.nll_after < fit.nll_before


@pytest.mark.parametrize("k", [3.0, 0.4])
def test_temperature_scaling_lowers_the_nll_of_held_out_data(k):
    fit_labels, fit_logits = calibrated_data(5000, seed=11)
    labels, logits = calibrated_data(5000, seed=12)
    temperature = cal.fit_temperature(fit_labels, k * fit_logits).temperature
    before = cal.negative_log_likelihood(labels, k * logits)
    after = cal.negative_log_likelihood(labels, cal.apply_temperature(k * logits, temperature))
    assert after < before


@pytest.mark.parametrize("temperature", [0.05, 0.4, 3.0, 100.0])
def test_temperature_changes_neither_accuracy_nor_roc_auc(temperature):
    labels, logits = calibrated_data(2000, seed=13)
    before = classification_metrics(labels, logits)
    after = classification_metrics(labels, cal.apply_temperature(logits, temperature))
    assert after["test_accuracy"] == before["test_accuracy"]
    assert after["roc_auc"] == before["roc_auc"]


def test_a_collapsed_model_is_clamped_and_flagged_with_a_finite_positive_temperature():
    """Constant logits +4 (always 'male') with 30% male labels: the NLL falls as T grows (P
    towards 0.5), so without the bound T would run to infinity."""
    labels = [1] * 30 + [0] * 70
    fit = cal.fit_temperature(labels, [4.0] * 100)
    assert math.isfinite(fit.temperature) and fit.temperature > 0
    assert fit.temperature == cal.TEMPERATURE_BOUNDS[1]
    assert fit.flagged
    assert "near-constant" in fit.reason and "clamped to the upper bound" in fit.reason


def test_constant_logits_are_flagged_even_when_the_temperature_is_inside_the_bounds():
    """Constant +4 with 70% male: T = 4 / logit(0.7) matches the label balance, nothing more."""
    fit = cal.fit_temperature([1] * 70 + [0] * 30, [4.0] * 100)
    assert fit.temperature == pytest.approx(4 / logit(0.7), rel=1e-3)
    assert fit.flagged and "near-constant" in fit.reason and "clamped" not in fit.reason


def test_all_zero_logits_keep_temperature_one_and_are_flagged():
    fit = cal.fit_temperature([0, 1, 1], [0.0, 0.0, 0.0])
    assert fit.temperature == 1.0 and fit.flagged and "all logits are 0" in fit.reason


def test_perfectly_separated_data_clamps_the_temperature_to_the_lower_bound():
    fit = cal.fit_temperature([0, 0, 1, 1], [-2.0, -1.0, 1.0, 2.0])
    assert fit.temperature == cal.TEMPERATURE_BOUNDS[0]
    assert fit.flagged and "clamped to the lower bound" in fit.reason


def test_temperature_bounds_must_contain_one():
    with pytest.raises(ValueError, match="contain 1"):
        cal.fit_temperature([0, 1], [-1.0, 1.0], bounds=(2.0, 10.0))


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("inf"), float("nan")])
def test_apply_temperature_refuses_a_temperature_that_is_not_finite_and_positive(temperature):
    with pytest.raises(CelebaGenderError, match="refit"):
        cal.apply_temperature([1.0, -1.0], temperature)


# ---------------------------------------------------------------- the temperature file
def test_the_temperature_file_lies_beside_its_model_file(tmp_path):
    assert cal.temperature_path(tmp_path / "model.pt") == tmp_path / "model.temperature.json"
    assert cal.temperature_path(tmp_path / "best.pt") == tmp_path / "best.temperature.json"


def test_the_temperature_file_reads_back_the_fit(tmp_path):
    labels, logits = calibrated_data(300, seed=14)
    fit = cal.fit_temperature(labels, 2 * logits)
    path = cal.write_temperature(cal.temperature_path(tmp_path / "model.pt"), fit)
    assert cal.read_temperature(path) == fit
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.temperature.json"]


def test_an_unreadable_temperature_file_is_named_in_the_error(tmp_path):
    path = tmp_path / "model.temperature.json"
    path.write_text('{"temperature": 2.0}')
    with pytest.raises(CelebaGenderError, match="model.temperature.json.*rerun"):
        cal.read_temperature(path)


# ---------------------------------------------------------------- the metrics.csv row
@pytest.fixture(scope="module")
def row() -> dict:
    val_labels, val_logits = calibrated_data(600, seed=20)
    test_labels, test_logits = calibrated_data(600, seed=21)
    return cal.calibration_row(
        val_labels, 3 * val_logits, test_labels, 3 * test_logits, n_boot=30, seed=0
    ) | {"_data": (test_labels, 3 * test_logits)}


def test_the_row_has_exactly_the_calibration_columns_in_order(row):
    assert [k for k in row if k != "_data"] == list(cal.CALIBRATION_COLUMNS)
    assert "test_ece_width_low" in row and "test_brier_calibrated_high" in row


def test_the_row_scores_the_test_logits_before_and_after_the_temperature(row):
    labels, logits = row["_data"]
    assert row["test_nll"] == pytest.approx(cal.negative_log_likelihood(labels, logits))
    scaled = cal.apply_temperature(logits, row["temperature"])
    assert row["test_nll_calibrated"] == pytest.approx(cal.negative_log_likelihood(labels, scaled))
    assert row["test_nll_calibrated"] < row["test_nll"]
    assert row["temperature"] == pytest.approx(3.0, rel=0.25) and row["temperature_flag"] is False


# ---------------------------------------------------------------- reliability diagrams
def test_the_reliability_diagram_draws_a_bar_per_filled_bin_and_names_the_ece(tmp_path):
    labels, logits = calibrated_data(300, seed=30)
    table = cal.reliability_table(labels, 3 * logits)
    fig = plots.plot_reliability_diagram(table, tmp_path / "reliability.png", "s1")
    filled = int((table["count"] > 0).sum())
    accuracy_bars = fig.axes[0].containers[0]
    assert len(accuracy_bars) == filled
    ece = cal.expected_calibration_error(labels, 3 * logits)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert f"accuracy (ECE {ece:.4f})" in legend
    assert (tmp_path / "reliability.png").stat().st_size > 0


def test_the_reliability_overlay_draws_one_curve_per_model(monkeypatch, tmp_path):
    monkeypatch.setattr(plots, "save_figure", lambda path, fig: None)  # no PNG rendering
    labels, logits = calibrated_data(300, seed=31)
    tables = {
        "before": cal.reliability_table(labels, 3 * logits),
        "after": cal.reliability_table(labels, logits),
    }
    fig = plots.plot_reliability_overlay(tables, tmp_path / "overlay.png")
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts[0].startswith("before (ECE") and texts[1].startswith("after (ECE")


def test_the_reliability_overlay_refuses_other_than_two_models(tmp_path):
    table = cal.reliability_table([0, 1], [-1.0, 1.0])
    with pytest.raises(DataError, match="two models"):
        plots.plot_reliability_overlay({"a": table}, tmp_path / "overlay.png")
