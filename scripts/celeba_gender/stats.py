"""Statistics behind the conclusions: confidence intervals, paired tests, collapse, subgroups.

Labels and predictions are 0 (female) / 1 (male). Bootstrap resampling uses the exact
equivalence "resampling n 0/1 outcomes with replacement == drawing a binomial (or, for paired
differences, a multinomial) count", so it is cheap for any test-set size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from celeba_gender.constants import ATTRIBUTES, CLASS_NAMES, LABEL_ATTRIBUTE
from celeba_gender.io import DataError
from celeba_gender.metrics import binary_array, presence

# Below this many discordant pairs McNemar uses the exact binomial test.
MCNEMAR_EXACT_BELOW = 25


# ----------------------------------------------------------------------------- validation
def _paired_arrays(**named: Any) -> list[np.ndarray]:
    """Validate several 0/1 arrays of the same non-zero length."""
    arrays = [binary_array(values, name) for name, values in named.items()]
    lengths = {name: len(a) for name, a in zip(named, arrays, strict=True)}
    if len(set(lengths.values())) != 1:
        raise DataError(f"expected equal lengths, got {lengths}")
    if not arrays[0].size:
        raise DataError(f"{', '.join(named)}: empty; nothing to evaluate")
    return arrays


def _check_level(level: float, n_boot: int = 1) -> None:
    """ValueError unless 0 < level < 1 and (for a bootstrap) n_boot >= 1."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")


# ----------------------------------------------------------------------------- intervals
def bootstrap_accuracy_ci(
    labels: Sequence[int],
    preds: Sequence[int],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """Accuracy and its percentile-bootstrap interval over test images: (acc, low, high)."""
    _check_level(level, n_boot)
    labels_a, preds_a = _paired_arrays(labels=labels, preds=preds)
    n = len(labels_a)
    acc = float((labels_a == preds_a).mean())
    rng = np.random.default_rng(seed)
    boot = rng.binomial(n, acc, size=n_boot) / n
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return acc, float(low), float(high)


def seed_summary(accuracies: Sequence[float], level: float = 0.95) -> dict[str, float]:
    """Mean, std (ddof=1), n and t-distribution CI of accuracies over seeds (NaN when n = 1).

    The interval is clipped to [0, 1], the range of an accuracy: with two seeds the t quantile
    is 12.7, and the unclipped interval often reaches past both ends."""
    _check_level(level)
    values = np.asarray(accuracies, dtype=float)
    if values.ndim != 1 or not values.size:
        raise DataError("seed_summary: expected a non-empty list of accuracies, one per seed")
    if not np.isfinite(values).all():
        raise DataError(f"seed_summary: accuracies must be finite, got {values.tolist()}")
    n = int(values.size)
    mean = float(values.mean())
    if n == 1:
        return {"mean": mean, "std": math.nan, "n": 1, "ci_low": math.nan, "ci_high": math.nan}
    std = float(values.std(ddof=1))
    half = float(sps.t.ppf((1 + level) / 2, df=n - 1)) * std / math.sqrt(n)
    low, high = max(0.0, mean - half), min(1.0, mean + half)
    return {"mean": mean, "std": std, "n": n, "ci_low": low, "ci_high": high}


# ----------------------------------------------------------------------------- paired tests
def mcnemar_test(
    labels: Sequence[int], preds_a: Sequence[int], preds_b: Sequence[int]
) -> dict[str, Any]:
    """McNemar test of two classifiers on the same images.

    b = images A gets right and B wrong, c = the reverse. Exact two-sided binomial test when
    b + c < 25 (statistic = min(b, c)), else chi-square with continuity correction
    (statistic = (|b - c| - 1)^2 / (b + c), 1 degree of freedom).
    """
    truth, a, b_pred = _paired_arrays(labels=labels, preds_a=preds_a, preds_b=preds_b)
    right_a, right_b = a == truth, b_pred == truth
    b = int((right_a & ~right_b).sum())
    c = int((~right_a & right_b).sum())
    discordant = b + c
    if discordant < MCNEMAR_EXACT_BELOW:
        statistic, method = min(b, c), "exact binomial"
        p_value = (
            1.0 if discordant == 0 else min(1.0, 2 * sps.binom.cdf(statistic, discordant, 0.5))
        )
    else:
        statistic = (abs(b - c) - 1) ** 2 / discordant
        p_value, method = sps.chi2.sf(statistic, df=1), "chi-square with continuity correction"
    return {
        "b": b,
        "c": c,
        "statistic": float(statistic),
        "p_value": float(p_value),
        "method": method,
    }


def paired_bootstrap_diff(
    labels: Sequence[int],
    preds_a: Sequence[int],
    preds_b: Sequence[int],
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """Accuracy difference A - B with a paired percentile-bootstrap CI over test images.

    p_value is two-sided: the share of bootstrap differences, centred on the observed one,
    at least as far from 0 as the observed difference ((count + 1) / (n_boot + 1)).
    """
    _check_level(level, n_boot)
    truth, a, b = _paired_arrays(labels=labels, preds_a=preds_a, preds_b=preds_b)
    per_image = (a == truth).astype(int) - (b == truth).astype(int)  # -1, 0 or +1
    n = len(per_image)
    shares = [(per_image == v).mean() for v in (-1, 0, 1)]
    counts = np.random.default_rng(seed).multinomial(n, shares, size=n_boot)
    boot = (counts[:, 2] - counts[:, 0]) / n
    diff = float(per_image.mean())
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    extreme = int((np.abs(boot - diff) >= abs(diff) - 1e-12).sum())
    return {
        "diff": diff,
        "ci_low": float(low),
        "ci_high": float(high),
        "p_value": (extreme + 1) / (n_boot + 1),
    }


def _format_p(p_value: float) -> str:
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"


def _aligned_predictions(
    name_a: str, frame_a: pd.DataFrame, name_b: str, frame_b: pd.DataFrame
) -> pd.DataFrame:
    """Join two prediction tables on image_id; DataError if the image sets or labels differ."""
    for name, frame in ((name_a, frame_a), (name_b, frame_b)):
        missing = {"image_id", "label", "pred"} - set(frame.columns)
        if missing:
            raise DataError(
                f"predictions of {name}: missing column(s) {sorted(missing)}; "
                f"expected image_id, label, pred"
            )
        duplicated = frame["image_id"][frame["image_id"].duplicated()]
        if len(duplicated):
            raise DataError(
                f"predictions of {name}: image_id {duplicated.iloc[0]} appears "
                f"more than once ({len(duplicated)} duplicates)"
            )
    ids_a, ids_b = set(frame_a["image_id"]), set(frame_b["image_id"])
    if ids_a != ids_b:
        only_a, only_b = sorted(ids_a - ids_b), sorted(ids_b - ids_a)
        raise DataError(
            f"cannot compare {name_a} and {name_b}: they were evaluated on different test images "
            f"({len(only_a)} only in {name_a}, e.g. {only_a[:3]}; {len(only_b)} only in "
            f"{name_b}, e.g. {only_b[:3]}). Re-evaluate both on the same test split."
        )
    joined = frame_a[["image_id", "label", "pred"]].merge(
        frame_b[["image_id", "label", "pred"]], on="image_id", suffixes=("_a", "_b")
    )
    disagree = joined[joined["label_a"] != joined["label_b"]]
    if len(disagree):
        raise DataError(
            f"{name_a} and {name_b} disagree on the true label of "
            f"{len(disagree)} images, e.g. {disagree['image_id'].iloc[0]}"
        )
    return joined


def compare_best_two(
    per_model_predictions: Mapping[str, pd.DataFrame],
    ranking: Sequence[str],
    alpha: float = 0.05,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Paired comparison (McNemar + paired bootstrap) of ranking[0] vs ranking[1].

    Returns model_a/b, accuracy_a/b, n, mcnemar, bootstrap, significant, alpha and a
    ``sentence`` in words. With fewer than two models, significant is None and the sentence
    says there is nothing to compare.
    """
    unknown = [name for name in ranking if name not in per_model_predictions]
    if unknown:
        raise DataError(
            f"ranking names model(s) without predictions: {unknown}; "
            f"available: {sorted(per_model_predictions)}"
        )
    if len(ranking) < 2:
        only = ranking[0] if ranking else None
        return {
            "model_a": only,
            "model_b": None,
            "significant": None,
            "alpha": alpha,
            "sentence": "Only one model was evaluated; there is no pair to compare.",
        }
    name_a, name_b = ranking[0], ranking[1]
    joined = _aligned_predictions(
        name_a, per_model_predictions[name_a], name_b, per_model_predictions[name_b]
    )
    labels, preds_a, preds_b = joined["label_a"], joined["pred_a"], joined["pred_b"]
    mcnemar = mcnemar_test(labels, preds_a, preds_b)
    boot = paired_bootstrap_diff(labels, preds_a, preds_b, n_boot=n_boot, seed=seed)
    acc_a = float((preds_a == labels).mean())
    acc_b = float((preds_b == labels).mean())
    significant = bool(mcnemar["p_value"] < alpha)
    verdict = (
        f"the difference is significant at α = {alpha:g}."
        if significant
        else f"the difference is not significant at α = {alpha:g}; "
        "the ranking may change on another run."
    )
    sentence = (
        f"{name_a} ({acc_a:.1%}) vs {name_b} ({acc_b:.1%}): McNemar "
        f"{_format_p(mcnemar['p_value'])} — {verdict}"
    )
    bootstrap_sentence = (
        f"Paired bootstrap over {len(joined):,} test images: accuracy difference "
        f"{boot['diff'] * 100:+.2f} points (95% CI {boot['ci_low'] * 100:+.2f} to "
        f"{boot['ci_high'] * 100:+.2f})."
    )
    return {
        "model_a": name_a,
        "model_b": name_b,
        "accuracy_a": acc_a,
        "accuracy_b": acc_b,
        "n": len(joined),
        "mcnemar": mcnemar,
        "bootstrap": boot,
        "significant": significant,
        "alpha": alpha,
        "sentence": sentence,
        "bootstrap_sentence": bootstrap_sentence,
    }


# ----------------------------------------------------------------------------- collapse
def detect_collapse(
    preds: Sequence[int], labels: Sequence[int], threshold: float = 0.99
) -> dict[str, Any]:
    """Flag a model whose test predictions are >= ``threshold`` one class (female 0, male 1).

    Returns collapsed, predicted_class / class_name (None unless collapsed), share (of the most
    predicted class), accuracy, majority_rate, majority_class and a ``message`` in words.
    """
    if not 0.5 < threshold <= 1:
        raise ValueError(f"threshold must be in (0.5, 1], got {threshold}")
    preds_a, labels_a = _paired_arrays(preds=preds, labels=labels)
    male_share = float(preds_a.mean())
    top_class = int(male_share >= 0.5)
    share = male_share if top_class else 1 - male_share
    accuracy = float((preds_a == labels_a).mean())
    male_rate = float(labels_a.mean())
    majority_class = int(male_rate > 0.5)
    majority_rate = male_rate if majority_class else 1 - male_rate
    collapsed = share >= threshold
    top_name, majority_name = CLASS_NAMES[top_class], CLASS_NAMES[majority_class]
    if collapsed:
        message = (
            f"Collapsed: the model predicts '{top_name}' for {share:.1%} of {len(preds_a):,} "
            f"test images. Its accuracy {accuracy:.1%} is {_compare(accuracy, majority_rate)} "
            f"the majority-class rate {majority_rate:.1%} (always answering '{majority_name}')."
        )
    else:
        message = (
            f"Not collapsed: the most predicted class '{top_name}' is {share:.1%} of the test "
            f"predictions (threshold {threshold:.0%})."
        )
    return {
        "collapsed": bool(collapsed),
        "predicted_class": top_class if collapsed else None,
        "class_name": top_name if collapsed else None,
        "share": share,
        "accuracy": accuracy,
        "majority_rate": majority_rate,
        "majority_class": majority_class,
        "message": message,
    }


def _compare(value: float, reference: float, tolerance: float = 0.005) -> str:
    if abs(value - reference) <= tolerance:
        return "about equal to"
    return "above" if value > reference else "below"


# ----------------------------------------------------------------------------- subgroups
def _rates(labels: np.ndarray, preds: np.ndarray) -> dict[str, float]:
    """n, accuracy, FPR (male predicted among true female), FNR (female among true male)."""
    n = len(labels)
    female, male = labels == 0, labels == 1
    return {
        "n": n,
        "accuracy": float((labels == preds).mean()) if n else math.nan,
        "fpr": float((preds[female] == 1).mean()) if female.any() else math.nan,
        "fnr": float((preds[male] == 0).mean()) if male.any() else math.nan,
    }


def _join_attributes(predictions: pd.DataFrame, attributes: pd.DataFrame) -> pd.DataFrame:
    missing = {"image_id", "label", "pred"} - set(predictions.columns)
    if missing:
        raise DataError(f"predictions: missing column(s) {sorted(missing)}")
    if "image_id" not in attributes.columns:
        raise DataError("attribute table: no column 'image_id'")
    attrs = attributes.drop(columns=[c for c in ("label", "pred") if c in attributes.columns])
    joined = predictions[["image_id", "label", "pred"]].merge(
        attrs, on="image_id", how="left", indicator=True, validate="one_to_one"
    )
    absent = joined.loc[joined["_merge"] != "both", "image_id"]
    if len(absent):
        raise DataError(
            f"attribute table: {len(absent)} predicted images have no attributes, "
            f"e.g. {absent.iloc[0]}"
        )
    return joined.drop(columns="_merge")


# subgroup_metrics' group table: one row per (attribute, sex, present)
GROUP_TABLE_COLUMNS = ("attribute", "sex", "present", "n", "accuracy", "too_small")


def subgroup_metrics(
    predictions: pd.DataFrame,
    attributes: pd.DataFrame,
    attributes_to_check: Sequence[str] | None = None,
    min_group_size: int = 20,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Accuracy and error rates by attribute, and by (sex x attribute) group.

    Returns
    - attribute_table, one row per attribute: present_/absent_ n, accuracy, fpr, fnr and
      accuracy_gap = present - absent accuracy. FPR = predicted male among true female,
      FNR = predicted female among true male; NaN where the group has no such images.
    - group_table, four rows per attribute (sex female/male x present True/False): n, accuracy
      (NaN when n < min_group_size), too_small.
    - summary: worst_group (lowest accuracy among groups with n >= min_group_size), largest_gaps
      (top 5 by |gap| among attributes whose present and absent sides both have
      n >= min_group_size), overall accuracy, n_images, min_group_size.
    Sex comes from the true label (Male). Attribute values are CelebA -1/1 (1 = present).
    """
    names = list(attributes_to_check or [a for a in ATTRIBUTES if a != LABEL_ATTRIBUTE])
    joined = _join_attributes(predictions, attributes)
    present = presence(joined, names)
    labels = binary_array(joined["label"], "predictions.label")
    preds = binary_array(joined["pred"], "predictions.pred")
    attribute_rows, group_rows = [], []
    for name in names:
        has = present[name].to_numpy()
        row: dict[str, Any] = {"attribute": name}
        for side, mask in (("present", has), ("absent", ~has)):
            for key, value in _rates(labels[mask], preds[mask]).items():
                row[f"{side}_{key}"] = value
        row["accuracy_gap"] = row["present_accuracy"] - row["absent_accuracy"]
        attribute_rows.append(row)
        for sex, sex_name in enumerate(CLASS_NAMES):
            for is_present in (False, True):
                mask = (labels == sex) & (has == is_present)
                n = int(mask.sum())
                too_small = n < min_group_size
                accuracy = math.nan if too_small else float((labels[mask] == preds[mask]).mean())
                group_rows.append((name, sex_name, is_present, n, accuracy, too_small))
    attribute_table = pd.DataFrame(attribute_rows)
    group_table = pd.DataFrame(group_rows, columns=GROUP_TABLE_COLUMNS)
    summary = _subgroup_summary(attribute_table, group_table, labels, preds, min_group_size)
    return attribute_table, group_table, summary


def _group_name(row: Mapping[str, Any]) -> str:
    return f"{row['sex']} & {'' if row['present'] else 'not '}{row['attribute']}"


def _subgroup_summary(
    attribute_table: pd.DataFrame,
    group_table: pd.DataFrame,
    labels: np.ndarray,
    preds: np.ndarray,
    min_group_size: int,
) -> dict[str, Any]:
    eligible = group_table[~group_table["too_small"]]
    worst = None
    if len(eligible):
        row = eligible.loc[eligible["accuracy"].idxmin()]
        worst = {
            "name": _group_name(row),
            "attribute": row["attribute"],
            "sex": row["sex"],
            "present": bool(row["present"]),
            "n": int(row["n"]),
            "accuracy": float(row["accuracy"]),
        }
    big_enough = (attribute_table["present_n"] >= min_group_size) & (
        attribute_table["absent_n"] >= min_group_size
    )
    gaps = attribute_table[big_enough & attribute_table["accuracy_gap"].notna()]
    gaps = gaps.reindex(gaps["accuracy_gap"].abs().sort_values(ascending=False).index).head(5)
    largest_gaps = [
        {
            "attribute": r.attribute,
            "gap": float(r.accuracy_gap),
            "present_accuracy": float(r.present_accuracy),
            "absent_accuracy": float(r.absent_accuracy),
            "present_n": int(r.present_n),
            "absent_n": int(r.absent_n),
        }
        for r in gaps.itertuples()
    ]
    return {
        "n_images": len(labels),
        "accuracy": float((labels == preds).mean()),
        "min_group_size": min_group_size,
        "worst_group": worst,
        "largest_gaps": largest_gaps,
    }


# ----------------------------------------------------------------------------- heat-map table
HEATMAP_COLUMNS: tuple[tuple[str, bool], ...] = (
    ("female", False),
    ("female", True),
    ("male", False),
    ("male", True),
)


def subgroup_accuracy_matrix(group_table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(accuracy, n) matrices: one row per attribute, columns female/male x absent/present."""
    missing = {"attribute", "sex", "present", "n", "accuracy"} - set(group_table.columns)
    if missing:
        raise DataError(f"group table: missing column(s) {sorted(missing)}")
    attributes = list(dict.fromkeys(group_table["attribute"]))
    keyed = group_table.set_index(["attribute", "sex", "present"])
    columns = [f"{sex} {'present' if p else 'absent'}" for sex, p in HEATMAP_COLUMNS]
    accuracy = pd.DataFrame(math.nan, index=attributes, columns=columns)
    counts = pd.DataFrame(0, index=attributes, columns=columns)
    for attribute in attributes:
        for column, key in zip(columns, HEATMAP_COLUMNS, strict=True):
            if (attribute, *key) in keyed.index:
                accuracy.loc[attribute, column] = keyed.loc[(attribute, *key), "accuracy"]
                counts.loc[attribute, column] = keyed.loc[(attribute, *key), "n"]
    return accuracy, counts
