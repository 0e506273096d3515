"""Group metrics (celeba_gender.groups): names and ids by design, the long table on a hand-made
example (counts, accuracies, Wilson intervals computed by hand, small and empty groups), the
worst-group rule, the metrics.csv column grammar, and worst-group validation accuracy."""

from __future__ import annotations

import hashlib
import logging
import math

import numpy as np
import pandas as pd
import pytest

from celeba_gender.groups import (
    GROUP_STATS,
    SUMMARY_KEYS,
    TABLE_COLUMNS,
    GroupSpec,
    group_column,
    group_name,
    group_summary,
    group_table,
    ids_for,
    parse_group_column,
    wilson_interval,
    worst_group_validation_accuracy,
)
from celeba_gender.io import CelebaGenderError, DataError

SPEC = GroupSpec("Male", ("Blond_Hair",))


def table_and_row(predictions, attrs, spec, *names):
    """``group_table`` at ``MIN_GROUP_SIZE`` and its ``group_summary`` row, as the job makes them."""
    table = group_table(predictions, attrs, spec, MIN_GROUP_SIZE, *names)
    return table, group_summary(table, MIN_GROUP_SIZE)


NAMES = ["female · not blond hair", "female · blond hair", "male · not blond hair",
         "male · blond hair"]  # fmt: skip

# (male, blond, images, right): the hand-made test set, one line per group.
EXAMPLE = [(0, 0, 20, 15), (0, 1, 12, 10), (1, 0, 30, 27), (1, 1, 5, 2)]
MIN_GROUP_SIZE = 10  # male · blond hair (5 images) is small


def example_frames(example=EXAMPLE, zero_one: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predictions (image_id, label, logit) and attributes (±1, or 0/1) for ``example``: in each
    group the first ``right`` images are predicted right. A right female gets logit 0.0 exactly:
    the decision rule is logit > 0, so 0.0 is female."""
    rows, attrs = [], []
    for male, blond, n, right in example:
        for k in range(n):
            image_id = f"{len(rows):06d}.jpg"
            predicted_male = male if k < right else 1 - male
            rows.append(
                {"image_id": image_id, "label": male, "logit": 2.5 if predicted_male else 0.0}
            )
            absent = 0 if zero_one else -1
            attrs.append({"image_id": image_id, "Male": 1 if male else absent,
                          "Blond_Hair": 1 if blond else absent, "Smiling": absent})  # fmt: skip
    return pd.DataFrame(rows), pd.DataFrame(attrs)


def test_group_names_and_ids_follow_the_documented_order() -> None:
    assert SPEC.names == NAMES
    assert GroupSpec("Blond_Hair", ("Male",)).names[1] == "not blond hair · male"
    _, attrs = example_frames()
    ids = SPEC.ids(attrs)
    assert np.bincount(ids).tolist() == [20, 12, 30, 5]
    assert group_name(("Male", "Eyeglasses"), (1, 0)) == "male · not eyeglasses"


def test_group_spec_refuses_an_empty_or_repeated_group_by() -> None:
    with pytest.raises(DataError, match="empty"):
        GroupSpec("Male", ())
    with pytest.raises(DataError, match="repeats"):
        GroupSpec("Male", ("Male",))


def test_wilson_interval_matches_a_hand_computation() -> None:
    # 15/20: z = 1.959964, z^2 = 3.841459; denominator 1 + z^2/20 = 1.192073;
    # centre (0.75 + 0.096036) / 1.192073 = 0.709719; half 1.644162 * sqrt(0.009375 +
    # 0.002401) = 0.178420 -> (0.531299, 0.888138)
    assert wilson_interval(15, 20) == pytest.approx((0.531299, 0.888138), abs=1e-5)
    # 2/5: denominator 1.768292, centre (0.4 + 0.384146) / 1.768292 = 0.443448; half
    # 1.108395 * sqrt(0.048 + 0.038415) = 0.325827 -> (0.117621, 0.769276)
    assert wilson_interval(2, 5) == pytest.approx((0.117621, 0.769276), abs=1e-5)
    low, high = wilson_interval(5, 5)  # all right: the interval still has a width
    assert high == 1.0 and low == pytest.approx(0.565518, abs=1e-5)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


@pytest.mark.parametrize("zero_one", [False, True])
def test_group_table_on_a_hand_made_example(zero_one: bool) -> None:
    predictions, attrs = example_frames(zero_one=zero_one)
    table, row = table_and_row(predictions, attrs, SPEC, "s1_lr1e-4", "best")
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert table["group"].tolist() == NAMES
    assert table["n"].tolist() == [20, 12, 30, 5]
    assert table["accuracy"].tolist() == pytest.approx([0.75, 10 / 12, 0.9, 0.4])
    assert table["small"].tolist() == [False, False, False, True]
    assert (table["model"] == "s1_lr1e-4").all() and (table["checkpoint"] == "best").all()
    assert table.loc[0, ["low", "high"]].tolist() == pytest.approx([0.531299, 0.888138], abs=1e-5)
    assert table.loc[3, ["low", "high"]].tolist() == pytest.approx([0.117621, 0.769276], abs=1e-5)
    # worst group recomputed by hand: the small group (0.4) is not eligible -> 15/20
    assert row["worst_group"] == "female · not blond hair"
    assert row["worst_group_accuracy"] == pytest.approx(0.75)
    assert row["worst_group_n"] == 20
    assert row["mean_group_accuracy"] == pytest.approx((0.75 + 10 / 12 + 0.9) / 3)
    assert row["average_accuracy"] == pytest.approx((15 + 10 + 27 + 2) / 67)
    assert row["n_small_groups"] == 1 and row["min_group_size"] == MIN_GROUP_SIZE
    assert row["group[male · blond hair]_small"] and not row["group[female · blond hair]_small"]
    assert row["group[female · blond hair]_n"] == 12


def test_an_empty_group_appears_with_n_zero_and_nan_accuracy() -> None:
    example = [(0, 0, 20, 15), (1, 0, 30, 27), (1, 1, 12, 3)]  # no blond woman
    predictions, attrs = example_frames(example)
    table, row = table_and_row(predictions, attrs, SPEC)
    empty = table.set_index("group").loc["female · blond hair"]
    assert empty["n"] == 0 and empty["small"]
    assert math.isnan(empty["accuracy"]) and math.isnan(empty["low"])
    assert row["worst_group"] == "male · blond hair" and row["worst_group_accuracy"] == 0.25


def test_no_eligible_group_gives_nan_and_no_name() -> None:
    predictions, attrs = example_frames([(0, 0, 3, 3), (1, 1, 2, 1)])
    _, row = table_and_row(predictions, attrs, SPEC)
    assert math.isnan(row["worst_group_accuracy"]) and row["worst_group"] == ""
    assert math.isnan(row["mean_group_accuracy"]) and row["n_small_groups"] == 4


def test_the_column_grammar_round_trips() -> None:
    predictions, attrs = example_frames()
    _, row = table_and_row(predictions, attrs, SPEC)
    grouped = [parse_group_column(key) for key in row if parse_group_column(key)]
    assert sorted(grouped) == sorted((name, stat) for name in NAMES for stat in GROUP_STATS)
    assert [key for key in row if parse_group_column(key) is None] == list(SUMMARY_KEYS)
    assert group_column("male · blond hair", "low") == "group[male · blond hair]_low"
    assert parse_group_column("test_accuracy") is None
    with pytest.raises(ValueError):
        group_column("male", "f1")


def test_a_label_that_disagrees_with_the_target_is_refused() -> None:
    predictions, attrs = example_frames()
    with pytest.raises(DataError, match="target"):
        table_and_row(predictions, attrs, GroupSpec("Blond_Hair", ("Male",)))
    with pytest.raises(DataError, match="no column"):
        table_and_row(predictions, attrs, GroupSpec("Male", ("Eyeglasses",)))
    with pytest.raises(CelebaGenderError, match="no attributes"):
        table_and_row(predictions, attrs.iloc[1:], SPEC)


def test_ids_for_follows_the_order_of_the_images_asked() -> None:
    _, attrs = example_frames()
    ids = ids_for(["000066.jpg", "000000.jpg", "000021.jpg"], attrs, SPEC)
    assert ids.tolist() == [3, 0, 1]


def test_worst_group_validation_accuracy_warns_and_drops_an_empty_group(caplog) -> None:
    labels = np.array([0, 0, 1, 1, 1, 1])
    group_ids = np.array([0, 0, 2, 2, 3, 3])  # group 1 (female · blond hair) is empty
    logits = np.array([-3.0, 1.0, 1.0, 1.0, 1.0, -1.0])  # accuracies 0.5, -, 1.0, 0.5
    with caplog.at_level(logging.WARNING, logger="celeba_gender.groups"):
        value = worst_group_validation_accuracy(logits, labels, group_ids, NAMES)
    assert value == 0.5
    assert "'female · blond hair'" in caplog.text and "left out" in caplog.text
    caplog.clear()
    group_ids, labels = np.array([0, 0, 1, 2, 3, 3]), np.array([0, 0, 0, 1, 1, 1])
    # every group present (accuracies 0.5, 0.0, 1.0, 0.5): no warning
    with caplog.at_level(logging.WARNING, logger="celeba_gender.groups"):
        value = worst_group_validation_accuracy(logits, labels, group_ids, NAMES)
    assert value == 0.0 and caplog.text == ""


# ----------------------------------------------------------------------------- planted rates
PLANTED = {"Blond_Hair": {"male": 0.05, "female": 0.95}}


def test_without_group_rates_the_attributes_are_those_of_the_code_before() -> None:
    from celeba_gender import synth

    text = synth.sample_attributes(500, seed=3, group_rates=None).to_csv(index=False)
    # SHA-256 of the same call on the generator before group_rates existed (commit 5767188)
    assert hashlib.sha256(text.encode()).hexdigest() == (
        "e2e4e5b7ce7d783a71cbaa2be06452ca6c5e820b6031d2f01b8d07861256b844"
    )


def test_planted_group_rates_set_the_group_sizes_by_construction() -> None:
    from celeba_gender import synth

    planted = synth.sample_attributes(4000, seed=5, group_rates=PLANTED)
    default = synth.sample_attributes(4000, seed=5)
    male = planted["Male"] == 1
    assert (planted["Blond_Hair"][male] == 1).mean() == pytest.approx(0.05, abs=0.02)
    assert (planted["Blond_Hair"][~male] == 1).mean() == pytest.approx(0.95, abs=0.02)
    hair = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair"]
    assert planted[hair].eq(1).sum(axis=1).max() == 1  # still exclusive
    assert not planted.loc[planted["Bald"] == 1, hair].eq(1).any(axis=None)
    untouched = [c for c in planted.columns if c not in hair]  # same draws, same thresholds
    pd.testing.assert_frame_equal(planted[untouched], default[untouched])
    sizes = np.bincount(SPEC.ids(planted), minlength=4)  # every group well populated
    assert sizes.min() >= 60, sizes


@pytest.mark.parametrize(
    "rates, message",
    [
        ({"Male": {"male": 0.1, "female": 0.1}}, "other than the target"),
        ({"Blond_Hair": {"male": 1.2, "female": 0.1}}, r"\[0, 1\]"),
        ({"Blond_Hair": (0.05, 0.95)}, "expected"),
        ({"Blond_Hair": {"male": 0.5, "female": 0.6}, "Black_Hair": {"male": 0.5, "female": 0.1}},
         "add up"),
    ],
)  # fmt: skip
def test_impossible_group_rates_are_refused(rates, message) -> None:
    from celeba_gender import synth

    with pytest.raises(synth.SynthError, match=message):
        synth.sample_attributes(10, seed=0, group_rates=rates)
