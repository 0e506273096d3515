"""The model card: Mitchell et al.'s sections, every number equal to its source (the metrics.csv
row, the group table, the collapse check) at the card's precision (4 decimals), the warning on
the first line exactly when synthetic data or random weights were used, the caveats it owes."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest

from celeba_gender import calibration as cal
from celeba_gender import modelcard as mc
from celeba_gender.io import CelebaGenderError
from celeba_gender.metrics import classification_metrics, sigmoid

DECIMAL = re.compile(r"(?<![\w.])-?\d+\.\d+(?![\w.])")  # a number with decimals, as written
CODE = re.compile(r"`[^`]*`")
METRIC_ROW = re.compile(r"^\| .+? \| (\S+) \| (.+?) \| `(\w+)` \|$")
GROUP_ROW = re.compile(r"^\| (.+?) \| ([\d,]+) \| (\S+) \| (.+?) \| (yes|no)")


@pytest.fixture(scope="module")
def metrics_row() -> dict:
    """A metrics.csv row as the workflow builds it: evaluation metrics, the discrimination
    intervals and the calibration columns, from a small synthetic model."""
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, 800)
    labels = (rng.random(800) < sigmoid(logits)).astype(int)
    val, test = slice(0, 400), slice(400, 800)
    row = {"model": "s2_lr1e-4_seed0", "checkpoint": "best", "epoch": 3}
    row |= classification_metrics(labels[test], 3 * logits[test])
    row |= cal.discrimination_row(labels[test], 3 * logits[test], n_boot=50)
    row |= cal.calibration_row(
        labels[val], 3 * logits[val], labels[test], 3 * logits[test], n_boot=20
    )
    return row


GROUPS = [
    {"group": "female & Eyeglasses", "n": 12, "accuracy": 0.75, "low": 0.5, "high": 1.0,
     "small": True},
    {"group": "male & not Young", "n": 1520, "accuracy": 0.981234, "low": 0.97432,
     "high": 0.98765, "small": False},
]  # fmt: skip
COLLAPSE = {"collapsed": False, "share": 0.5421, "accuracy": 0.93, "majority_rate": 0.58}


def make_card(row: dict, synthetic: bool = False, random: bool = False, **changes):
    fields = {
        "model": "s2_lr1e-4_seed0",
        "experiment": "study",
        "metrics_row": row,
        "split_counts": {"train": 24000, "val": 3000, "test": 3000},
        "settings": {"strategy": 2, "lr": 0.0001, "epochs": 3, "batch_size": 32},
        "numerics": "fp32",
        "weights_description": "torchvision VGG16_Weights.IMAGENET1K_V1",
        "weights_sha256": "f" * 64,
        "random_weights": random,
        "synthetic_data": synthetic,
        "group_metrics": GROUPS,
        "collapse": COLLAPSE,
    }
    return mc.ModelCardInput(**(fields | changes))


@pytest.fixture(scope="module")
def card_text(metrics_row) -> str:
    return mc.render_model_card(make_card(metrics_row))


def test_the_card_has_mitchell_et_al_sections_in_order(card_text):
    headings = [line[3:] for line in card_text.splitlines() if line.startswith("## ")]
    assert headings == list(mc.SECTIONS)
    assert headings == [
        "Model Details", "Intended Use", "Factors", "Metrics", "Evaluation Data",
        "Training Data", "Quantitative Analyses", "Ethical Considerations",
        "Caveats and Recommendations",
    ]  # fmt: skip


def test_every_metric_in_the_card_equals_its_metrics_csv_column(card_text, metrics_row):
    checked = Counter()
    for line in card_text.splitlines():
        match = METRIC_ROW.match(line)
        if not match:
            continue
        value, interval, column = match.groups()
        assert value == f"{metrics_row[column]:.4f}", column
        if interval != "—":
            low, high = interval.split(" – ")
            assert (low, high) == (
                f"{metrics_row[column + '_low']:.4f}",
                f"{metrics_row[column + '_high']:.4f}",
            ), column
        checked[column] += 1
    shown = {column for column in cal.CALIBRATION_COLUMNS if column in metrics_row}
    expected = {c for c in shown if not c.endswith(("_low", "_high", "_flag", "_reason"))}
    assert expected | {"test_accuracy", "roc_auc"} <= set(checked)
    assert max(checked.values()) == 1


def test_every_other_number_in_the_card_is_a_group_or_collapse_figure(card_text):
    """No decimal number outside inline code escapes the checks: each line holding one is a
    metric row (checked above), a group row or the collapse sentence, checked here."""
    group_numbers = Counter()
    for line in card_text.splitlines():
        text = CODE.sub("", line)
        numbers = DECIMAL.findall(text)
        if not numbers or METRIC_ROW.match(line):
            continue
        if match := GROUP_ROW.match(line):
            group = next(g for g in GROUPS if g["group"] == match.group(1))
            low, high = match.group(4).split(" – ")
            assert [match.group(2), match.group(3), low, high] == [
                f"{group['n']:,}",
                f"{group['accuracy']:.4f}",
                f"{group['low']:.4f}",
                f"{group['high']:.4f}",
            ]
            group_numbers[group["group"]] += 1
        elif line.startswith("Collapse check"):
            assert numbers == [f"{COLLAPSE['share']:.4f}"]
        else:
            pytest.fail(f"a number the tests do not trace to its source: {line!r}")
    assert group_numbers == Counter(g["group"] for g in GROUPS)


@pytest.mark.parametrize("synthetic", [False, True])
@pytest.mark.parametrize("random", [False, True])
def test_the_first_line_warns_exactly_when_synthetic_data_or_random_weights_were_used(
    metrics_row, synthetic, random
):
    first = mc.render_model_card(make_card(metrics_row, synthetic, random)).splitlines()[0]
    if synthetic or random:
        assert first.startswith("> **WARNING")
        assert ("synthetic data" in first) == synthetic
        assert ("random backbone weights" in first) == random
    else:
        assert first == "# Model card: s2_lr1e-4_seed0 (best checkpoint)"


def test_the_caveats_name_the_label_and_its_noise_without_guessing(card_text):
    caveats = card_text.split("## Caveats and Recommendations")[1]
    assert "not anyone's gender identity" in caveats
    assert "12 of the 40 attributes reached 95% agreement" in caveats
    assert "860 of 5,068 duplicate images" in caveats
    assert "Wu et al., CVPR Workshops 2023" in caveats and "2210.07356" in caveats
    assert "NOT confirmed" in caveats


def test_the_intended_use_rules_out_gender_identity_surveillance_and_decisions(card_text):
    use = card_text.split("## Intended Use")[1].split("## Factors")[0]
    assert "transfer learning" in use and "fairness" in use
    for out_of_scope in ("gender identity", "surveillance", "decision about a person"):
        assert out_of_scope in use


def test_missing_group_metrics_are_said_to_be_unavailable(metrics_row):
    for groups in (None, []):
        text = mc.render_model_card(make_card(metrics_row, group_metrics=groups))
        assert "Group metrics: not available" in text


def test_another_target_is_named_with_its_classes(metrics_row):
    text = mc.render_model_card(make_card(metrics_row, target="Smiling"))
    assert "CelebA's `Smiling` attribute (label 1: Smiling, label 0: not Smiling)" in text


def test_a_flagged_temperature_is_shown_with_its_reason(metrics_row):
    row = metrics_row | {"temperature_flag": "True", "temperature_reason": "clamped to 100"}
    text = mc.render_model_card(make_card(row))
    assert "Temperature fit: FLAGGED: clamped to 100." in text
    assert "do not trust the calibrated probabilities" in text


def test_a_collapsed_model_is_named_with_its_class_share_and_majority_rate(metrics_row):
    collapse = {"collapsed": True, "class_name": "male", "share": 0.995, "accuracy": 0.5773,
                "majority_rate": 0.58}  # fmt: skip
    text = mc.render_model_card(make_card(metrics_row, collapse=collapse))
    assert (
        "COLLAPSED — the model predicts 'male' for a share 0.9950 of test images; its accuracy "
        "0.5773 against the majority-class rate 0.5800." in text
    )
    assert "- The model collapsed to one class: do not use it." in text


def test_a_row_without_calibration_columns_is_refused(metrics_row):
    row = {k: v for k, v in metrics_row.items() if k != "test_ece_mass"}
    with pytest.raises(CelebaGenderError, match="test_ece_mass.*calibration_row"):
        mc.render_model_card(make_card(row))


def test_the_card_is_written_whole(metrics_row, tmp_path):
    card = make_card(metrics_row)
    path = mc.write_model_card(tmp_path / "model_card.md", card)
    assert path.read_text() == mc.render_model_card(card)
    assert [p.name for p in tmp_path.iterdir()] == ["model_card.md"]
