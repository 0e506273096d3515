"""Known-answer tests of celeba_gender.stats."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from celeba_gender.constants import ATTRIBUTES
from celeba_gender.io import DataError
from celeba_gender.stats import (
    bootstrap_accuracy_ci,
    compare_best_two,
    detect_collapse,
    mcnemar_test,
    paired_bootstrap_diff,
    seed_summary,
    subgroup_accuracy_matrix,
    subgroup_metrics,
)


def _preds_with_discordance(b: int, c: int, agree: int = 20):
    """labels all male; A right / B wrong on b images, the reverse on c, both right on `agree`."""
    n = b + c + agree
    labels = np.ones(n, dtype=int)
    preds_a = np.ones(n, dtype=int)
    preds_b = np.ones(n, dtype=int)
    preds_b[:b] = 0
    preds_a[b : b + c] = 0
    return labels, preds_a, preds_b


# ----------------------------------------------------------------------------- McNemar
def test_mcnemar_exact_p_for_ten_to_zero():
    result = mcnemar_test(*_preds_with_discordance(b=10, c=0))
    assert (result["b"], result["c"]) == (10, 0)
    assert result["method"] == "exact binomial"
    assert result["p_value"] == pytest.approx(2 * 0.5**10)


def test_mcnemar_chi_square_with_continuity_correction():
    result = mcnemar_test(*_preds_with_discordance(b=30, c=10))
    statistic = (abs(30 - 10) - 1) ** 2 / (30 + 10)  # 9.025
    assert result["method"] == "chi-square with continuity correction"
    assert result["statistic"] == pytest.approx(statistic)
    assert result["p_value"] == pytest.approx(sps.chi2.sf(statistic, df=1))
    assert result["p_value"] == pytest.approx(2 * sps.norm.sf(math.sqrt(statistic)))


def test_mcnemar_switches_to_chi_square_at_25_discordant_pairs():
    assert mcnemar_test(*_preds_with_discordance(b=14, c=10))["method"] == "exact binomial"
    assert mcnemar_test(*_preds_with_discordance(b=15, c=10))["method"].startswith("chi-square")


def test_mcnemar_identical_models_give_p_one():
    labels, preds_a, _ = _preds_with_discordance(b=0, c=5)
    assert mcnemar_test(labels, preds_a, preds_a)["p_value"] == 1.0


def test_mcnemar_rejects_unequal_lengths():
    with pytest.raises(DataError, match="equal lengths"):
        mcnemar_test([0, 1, 1], [0, 1, 1], [0, 1])


def test_mcnemar_rejects_non_binary_predictions():
    with pytest.raises(DataError, match="preds_b"):
        mcnemar_test([0, 1], [0, 1], [0, 2])


# ----------------------------------------------------------------------------- paired bootstrap
def test_paired_bootstrap_ci_contains_zero_for_equal_accuracy_models():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 400)
    preds_a, preds_b = labels.copy(), labels.copy()
    preds_a[:40] = 1 - preds_a[:40]  # both wrong on 40 images, but on different ones
    preds_b[40:80] = 1 - preds_b[40:80]
    result = paired_bootstrap_diff(labels, preds_a, preds_b, n_boot=2000, seed=0)
    assert result["diff"] == 0.0
    assert result["ci_low"] < 0 < result["ci_high"]
    assert result["p_value"] > 0.5


def test_paired_bootstrap_excludes_zero_for_clearly_better_model():
    labels, preds_a, preds_b = _preds_with_discordance(b=60, c=5, agree=400)
    result = paired_bootstrap_diff(labels, preds_a, preds_b, n_boot=2000, seed=0)
    assert result["diff"] == pytest.approx(55 / 465)
    assert 0 < result["ci_low"] < result["diff"] < result["ci_high"]
    assert result["p_value"] < 0.01


def test_paired_bootstrap_matches_naive_resampling_of_images():
    labels, preds_a, preds_b = _preds_with_discordance(b=30, c=15, agree=200)
    fast = paired_bootstrap_diff(labels, preds_a, preds_b, n_boot=4000, seed=0)
    rng = np.random.default_rng(2)
    per_image = (preds_a == labels).astype(int) - (preds_b == labels).astype(int)
    naive = per_image[rng.integers(0, len(labels), (4000, len(labels)))].mean(axis=1)
    low, high = np.quantile(naive, [0.025, 0.975])
    assert fast["ci_low"] == pytest.approx(low, abs=0.01)
    assert fast["ci_high"] == pytest.approx(high, abs=0.01)


# ----------------------------------------------------------------------------- intervals
def test_bootstrap_accuracy_ci_matches_naive_resampling_of_images():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 300)
    preds = np.where(rng.random(300) < 0.85, labels, 1 - labels)
    acc, low, high = bootstrap_accuracy_ci(labels, preds, n_boot=4000, seed=0)
    correct = (labels == preds).astype(float)
    naive = correct[rng.integers(0, 300, (4000, 300))].mean(axis=1)
    assert acc == pytest.approx(correct.mean())
    assert low == pytest.approx(np.quantile(naive, 0.025), abs=0.01)
    assert high == pytest.approx(np.quantile(naive, 0.975), abs=0.01)


def test_bootstrap_accuracy_ci_covers_true_rate_about_95_percent():
    rng = np.random.default_rng(4)
    true_rate, n = 0.9, 500
    covered = 0
    for i in range(200):
        labels = rng.integers(0, 2, n)
        preds = np.where(rng.random(n) < true_rate, labels, 1 - labels)
        _, low, high = bootstrap_accuracy_ci(labels, preds, n_boot=500, seed=i)
        covered += low <= true_rate <= high
    assert 0.88 <= covered / 200 <= 0.99


def test_seed_summary_t_interval_covers_true_mean_about_95_percent():
    rng = np.random.default_rng(5)
    covered = 0
    for _ in range(200):
        summary = seed_summary(rng.normal(0.95, 0.01, size=4))
        covered += summary["ci_low"] <= 0.95 <= summary["ci_high"]
    assert 0.88 <= covered / 200 <= 0.99


def test_seed_summary_known_values():
    summary = seed_summary([0.90, 0.92, 0.94])
    half = sps.t.ppf(0.975, df=2) * 0.02 / math.sqrt(3)
    assert summary["n"] == 3
    assert summary["mean"] == pytest.approx(0.92)
    assert summary["std"] == pytest.approx(0.02)
    assert summary["ci_low"] == pytest.approx(0.92 - half)
    assert summary["ci_high"] == pytest.approx(0.92 + half)


def test_seed_summary_single_seed_has_nan_spread():
    summary = seed_summary([0.93])
    assert summary["mean"] == 0.93 and summary["n"] == 1
    assert all(math.isnan(summary[key]) for key in ("std", "ci_low", "ci_high"))


def test_seed_summary_rejects_empty_list():
    with pytest.raises(DataError, match="non-empty"):
        seed_summary([])


# ----------------------------------------------------------------------------- compare best two
def _prediction_frame(labels, preds, order=None) -> pd.DataFrame:
    frame = pd.DataFrame(
        {"image_id": [f"{i:06d}.jpg" for i in range(len(labels))], "label": labels, "pred": preds}
    )
    return frame if order is None else frame.iloc[order].reset_index(drop=True)


def test_compare_best_two_reports_significant_difference_in_words():
    labels, preds_a, preds_b = _preds_with_discordance(b=40, c=5, agree=955)
    order = np.random.default_rng(0).permutation(len(labels))  # row order must not matter
    frames = {
        "s2_lr1e-4_seed0": _prediction_frame(labels, preds_a, order),
        "s1_lr1e-4_seed0": _prediction_frame(labels, preds_b),
    }
    result = compare_best_two(frames, ["s2_lr1e-4_seed0", "s1_lr1e-4_seed0"])
    assert result["significant"] is True
    assert (result["mcnemar"]["b"], result["mcnemar"]["c"]) == (40, 5)
    assert result["sentence"].startswith("s2_lr1e-4_seed0 (99.5%) vs s1_lr1e-4_seed0 (96.0%): ")
    assert "McNemar p < 0.001" in result["sentence"]
    assert result["sentence"].endswith("the difference is significant at α = 0.05.")


def test_compare_best_two_says_ranking_may_change_when_not_significant():
    labels, preds_a, preds_b = _preds_with_discordance(b=6, c=4, agree=90)
    frames = {"a": _prediction_frame(labels, preds_a), "b": _prediction_frame(labels, preds_b)}
    result = compare_best_two(frames, ["a", "b"])
    assert result["significant"] is False
    assert result["mcnemar"]["p_value"] == pytest.approx(2 * sps.binom.cdf(4, 10, 0.5))
    assert "McNemar p = 0.754" in result["sentence"]
    assert "is not significant" in result["sentence"]
    assert result["sentence"].endswith("the ranking may change on another run.")


def test_compare_best_two_rejects_different_image_sets():
    labels, preds_a, preds_b = _preds_with_discordance(b=6, c=4)
    frame_b = _prediction_frame(labels, preds_b).iloc[:-1]
    frames = {"a": _prediction_frame(labels, preds_a), "b": frame_b}
    with pytest.raises(DataError, match="different test images"):
        compare_best_two(frames, ["a", "b"])


def test_compare_best_two_with_one_model_has_nothing_to_compare():
    labels, preds_a, _ = _preds_with_discordance(b=6, c=4)
    result = compare_best_two({"a": _prediction_frame(labels, preds_a)}, ["a"])
    assert result["significant"] is None and result["model_b"] is None


def test_compare_best_two_rejects_ranking_of_unknown_model():
    labels, preds_a, _ = _preds_with_discordance(b=6, c=4)
    with pytest.raises(DataError, match="without predictions"):
        compare_best_two({"a": _prediction_frame(labels, preds_a)}, ["a", "zz"])


# ----------------------------------------------------------------------------- collapse
def test_detect_collapse_flags_all_female_model_with_class_name():
    labels = np.array([0] * 60 + [1] * 40)
    result = detect_collapse(np.zeros(100, dtype=int), labels)
    assert result["collapsed"] is True
    assert result["predicted_class"] == 0 and result["class_name"] == "female"
    assert result["accuracy"] == pytest.approx(0.6)
    assert result["majority_rate"] == pytest.approx(0.6) and result["majority_class"] == 0
    assert "'female'" in result["message"] and "about equal to" in result["message"]


def test_detect_collapse_flags_99_percent_male_model():
    labels = np.array([0] * 50 + [1] * 50)
    preds = np.ones(100, dtype=int)
    preds[0] = 0
    result = detect_collapse(preds, labels)
    assert result["collapsed"] is True and result["class_name"] == "male"
    assert result["share"] == pytest.approx(0.99)
    assert result["accuracy"] == pytest.approx(0.51)


def test_detect_collapse_does_not_flag_balanced_model():
    labels = np.array([0, 1] * 50)
    result = detect_collapse(labels.copy(), labels)
    assert result["collapsed"] is False
    assert result["predicted_class"] is None and result["class_name"] is None
    assert result["share"] == pytest.approx(0.5)


# ----------------------------------------------------------------------------- subgroups
# Hand-made table. correct: 1 yes, 2 no, 3 no, 4 yes, 5 yes, 6 no, 7 yes, 8 yes.
SUBGROUP_ROWS = [
    # image_id, label, pred, Bald, Smiling
    ("1.jpg", 1, 1, 1, -1),
    ("2.jpg", 1, 0, 1, 1),
    ("3.jpg", 1, 0, -1, 1),
    ("4.jpg", 1, 1, -1, -1),
    ("5.jpg", 0, 0, -1, 1),
    ("6.jpg", 0, 1, -1, 1),
    ("7.jpg", 0, 0, -1, -1),
    ("8.jpg", 0, 0, -1, -1),
]


def _subgroup_inputs() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = pd.DataFrame(SUBGROUP_ROWS, columns=["image_id", "label", "pred", "Bald", "Smiling"])
    predictions = frame[["image_id", "label", "pred"]].iloc[::-1]
    return predictions, frame[["image_id", "Bald", "Smiling"]]


def test_subgroup_attribute_table_hand_computed():
    predictions, attributes = _subgroup_inputs()
    table, _, _ = subgroup_metrics(predictions, attributes, ["Bald", "Smiling"], min_group_size=1)
    bald, smiling = (
        table.set_index("attribute").loc["Bald"],
        table.set_index("attribute").loc["Smiling"],
    )
    # Bald present: images 1, 2 (both male); absent: 3..8.
    assert (bald["present_n"], bald["absent_n"]) == (2, 6)
    assert bald["present_accuracy"] == pytest.approx(1 / 2)
    assert math.isnan(bald["present_fpr"])  # no true female among the bald
    assert bald["present_fnr"] == pytest.approx(1 / 2)
    assert bald["absent_accuracy"] == pytest.approx(4 / 6)
    assert bald["absent_fpr"] == pytest.approx(1 / 4)
    assert bald["absent_fnr"] == pytest.approx(1 / 2)
    assert bald["accuracy_gap"] == pytest.approx(1 / 2 - 4 / 6)
    # Smiling present: 2, 3, 5, 6; absent: 1, 4, 7, 8.
    assert smiling["present_accuracy"] == pytest.approx(1 / 4)
    assert smiling["present_fpr"] == pytest.approx(1 / 2)
    assert smiling["present_fnr"] == pytest.approx(1.0)
    assert (smiling["absent_accuracy"], smiling["absent_fpr"], smiling["absent_fnr"]) == (1, 0, 0)
    assert smiling["accuracy_gap"] == pytest.approx(-0.75)


def test_subgroup_group_table_hand_computed():
    predictions, attributes = _subgroup_inputs()
    _, groups, _ = subgroup_metrics(predictions, attributes, ["Bald", "Smiling"], min_group_size=1)
    keyed = groups.set_index(["attribute", "sex", "present"])
    expected = {
        ("Bald", "female", False): (4, 3 / 4),
        ("Bald", "male", False): (2, 1 / 2),
        ("Bald", "male", True): (2, 1 / 2),
        ("Smiling", "female", False): (2, 1.0),
        ("Smiling", "female", True): (2, 1 / 2),
        ("Smiling", "male", False): (2, 1.0),
        ("Smiling", "male", True): (2, 0.0),
    }
    for key, (n, accuracy) in expected.items():
        assert keyed.loc[key, "n"] == n
        assert keyed.loc[key, "accuracy"] == pytest.approx(accuracy)
    assert keyed.loc[("Bald", "female", True), "n"] == 0
    assert math.isnan(keyed.loc[("Bald", "female", True), "accuracy"])
    assert len(groups) == 8


def test_subgroup_summary_worst_group_and_gaps():
    predictions, attributes = _subgroup_inputs()
    _, _, summary = subgroup_metrics(predictions, attributes, ["Bald", "Smiling"], min_group_size=1)
    assert summary["accuracy"] == pytest.approx(5 / 8)
    assert summary["worst_group"]["name"] == "male & Smiling"
    assert summary["worst_group"]["accuracy"] == 0.0
    assert [g["attribute"] for g in summary["largest_gaps"]] == ["Smiling", "Bald"]
    assert summary["largest_gaps"][0]["gap"] == pytest.approx(-0.75)


def test_subgroup_worst_group_respects_min_group_size():
    predictions, attributes = _subgroup_inputs()
    _, groups, summary = subgroup_metrics(
        predictions, attributes, ["Bald", "Smiling"], min_group_size=3
    )
    assert summary["worst_group"]["name"] == "female & not Bald"  # only group with n >= 3
    assert summary["worst_group"]["accuracy"] == pytest.approx(3 / 4)
    assert groups["accuracy"].notna().sum() == 1
    assert [g["attribute"] for g in summary["largest_gaps"]] == ["Smiling"]  # 2 bald < 3


def test_subgroup_default_attributes_are_all_but_male():
    predictions, attributes = _subgroup_inputs()
    full = pd.DataFrame({name: -1 for name in ATTRIBUTES}, index=attributes.index)
    full.insert(0, "image_id", attributes["image_id"])
    full["Male"] = (
        predictions.set_index("image_id").loc[full["image_id"], "label"].to_numpy() * 2 - 1
    )
    table, groups, _ = subgroup_metrics(predictions, full)
    assert list(table["attribute"]) == [a for a in ATTRIBUTES if a != "Male"]
    assert len(groups) == 4 * 39


def test_subgroup_rejects_images_without_attributes():
    predictions, attributes = _subgroup_inputs()
    with pytest.raises(DataError, match="have no attributes, e.g. 8.jpg"):
        subgroup_metrics(predictions, attributes.iloc[:-1], ["Bald"])


def test_subgroup_rejects_missing_attribute_column():
    predictions, attributes = _subgroup_inputs()
    with pytest.raises(DataError, match="Eyeglasses"):
        subgroup_metrics(predictions, attributes, ["Eyeglasses"])


# ----------------------------------------------------------------------------- heat-map table
def test_subgroup_accuracy_matrix_has_a_row_per_attribute_and_nan_for_small_groups():
    predictions, attributes = _subgroup_inputs()
    _, groups, _ = subgroup_metrics(predictions, attributes, ["Bald", "Smiling"], min_group_size=3)
    accuracy, counts = subgroup_accuracy_matrix(groups)
    assert accuracy.shape == counts.shape == (2, 4)
    assert list(accuracy.columns) == [
        "female absent",
        "female present",
        "male absent",
        "male present",
    ]
    assert accuracy.loc["Bald", "female absent"] == pytest.approx(0.75)
    assert counts.loc["Bald", "female absent"] == 4
    assert int(accuracy.isna().sum().sum()) == 7


def test_seed_summary_interval_stays_within_0_and_1():
    """Two seeds far apart: the t interval (quantile 12.7) is clipped to accuracies' range."""
    summary = seed_summary([0.55, 0.72])
    assert summary["ci_low"] == 0.0 and summary["ci_high"] == 1.0
    assert summary["mean"] == pytest.approx(0.635)
