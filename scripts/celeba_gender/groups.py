"""Groups by design: accuracy per (target x attribute) group, worst-group accuracy.

A *group* is one combination of the target's value and the values of the ``group_by``
attributes. For target ``Male`` grouped by ``Blond_Hair`` there are four groups, always in this
order (the target is the most significant bit, then each attribute in ``group_by`` order)::

    0 "female · not blond hair"   1 "female · blond hair"
    2 "male · not blond hair"     3 "male · blond hair"

Names are the words of ``group_name``: an attribute's name in lower case with spaces
(``Blond_Hair`` -> ``blond hair``), ``not `` before it when absent, and ``Male`` written
``male`` / ``female``; the parts are joined by `` · ``. Group ids (``GroupSpec.ids``) are the
0-based positions in that order; DFR (``dfr.py``) uses the same ids.

Per group: ``n`` (test images), ``accuracy`` (decision rule: logit > 0, ``metrics.
predicted_class``), its 95% **Wilson score interval** ``low``/``high`` (the project's other
interval, ``stats.bootstrap_accuracy_ci``, collapses to a single point when a small group is all
right or all wrong; Wilson does not, and needs no resampling), and ``small`` = n <
``min_group_size``. A small group is shown, never hidden; an empty one has n = 0 and NaN
accuracy and interval.

Worst-group rule: the lowest accuracy among the groups with n >= ``min_group_size`` (so never an
empty or small group); ties go to the first group in the order above; NaN (and worst group "")
when no group is that large. ``mean_group_accuracy`` is the unweighted mean accuracy over the
same groups; ``average_accuracy`` is the plain accuracy over all images.

One metrics.csv row (``group_summary``) holds the summary keys ``SUMMARY_KEYS`` and, for every
group, the columns of the grammar (defined here once, ``group_column``)::

    group[<group name>]_<stat>      stat in n, accuracy, low, high, small

e.g. ``group[male · blond hair]_accuracy``; ``parse_group_column`` reads one back.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .constants import CLASS_NAMES, LABEL_ATTRIBUTE
from .io import DataError, write_csv
from .metrics import binary_array, predicted_class, presence

log = logging.getLogger(__name__)

GROUP_STATS: tuple[str, ...] = ("n", "accuracy", "low", "high", "small")
TABLE_COLUMNS: tuple[str, ...] = ("model", "checkpoint", "group", *GROUP_STATS)
SUMMARY_KEYS: tuple[str, ...] = (
    "worst_group_accuracy",
    "worst_group",
    "worst_group_n",
    "mean_group_accuracy",
    "average_accuracy",
    "n_small_groups",
    "min_group_size",
)
SEPARATOR = " · "
_COLUMN = re.compile(r"^group\[(?P<name>.+)\]_(?P<stat>" + "|".join(GROUP_STATS) + r")$")


# ----------------------------------------------------------------------------- names
def attribute_words(attribute: str, present: bool) -> str:
    """How one attribute value reads in a group name: ``blond hair`` / ``not blond hair``;
    the label attribute ``Male`` reads ``male`` / ``female``."""
    if attribute == LABEL_ATTRIBUTE:
        return CLASS_NAMES[int(present)]
    words = attribute.replace("_", " ").lower()
    return words if present else f"not {words}"


def group_name(attributes: Sequence[str], values: Sequence[int]) -> str:
    """The readable name of one group: each (attribute, 0/1 value) in words, joined by `` · ``."""
    return SEPARATOR.join(
        attribute_words(a, bool(v)) for a, v in zip(attributes, values, strict=True)
    )


def group_column(name: str, stat: str) -> str:
    """The metrics.csv column of one group statistic: ``group[<name>]_<stat>``."""
    if stat not in GROUP_STATS:
        raise ValueError(f"unknown group statistic {stat!r}; expected one of {GROUP_STATS}")
    return f"group[{name}]_{stat}"


def parse_group_column(column: str) -> tuple[str, str] | None:
    """(group name, statistic) of a ``group[<name>]_<stat>`` column; None for other columns."""
    match = _COLUMN.match(column)
    return None if match is None else (match["name"], match["stat"])


# ----------------------------------------------------------------------------- groups
@dataclass(frozen=True)
class GroupSpec:
    """Target x ``group_by`` attributes: the 2 ** (1 + len(group_by)) groups, ids and names."""

    target: str
    group_by: tuple[str, ...]

    def __post_init__(self) -> None:
        group_by = tuple(self.group_by)
        object.__setattr__(self, "group_by", group_by)
        if not group_by:
            raise DataError("groups: group_by is empty; name at least one attribute")
        if self.target in group_by or len(set(group_by)) != len(group_by):
            raise DataError(
                f"groups: group_by {list(group_by)} repeats an attribute or the target "
                f"{self.target!r}; name each attribute once, and not the target"
            )

    @property
    def attributes(self) -> tuple[str, ...]:
        """Target first, then ``group_by``: the order of a group's values."""
        return (self.target, *self.group_by)

    @property
    def values(self) -> list[tuple[int, ...]]:
        """The 0/1 values of each group, in id order."""
        return list(itertools.product((0, 1), repeat=len(self.attributes)))

    @property
    def names(self) -> list[str]:
        """The readable name of each group, in id order."""
        return [group_name(self.attributes, v) for v in self.values]

    def ids(self, attributes: pd.DataFrame) -> np.ndarray:
        """The group id of every row of ``attributes`` (±1 or 0/1 columns, 1 = present)."""
        present = presence(attributes, self.attributes).to_numpy(dtype=np.int64)
        weights = 2 ** np.arange(present.shape[1] - 1, -1, -1)
        return present @ weights


def ids_for(image_ids: Sequence[str], attributes: pd.DataFrame, spec: GroupSpec) -> np.ndarray:
    """Group ids of ``image_ids`` in their order (e.g. a split's images), looked up by
    ``image_id`` in the attribute table; DataError naming an image without attributes."""
    if "image_id" not in attributes.columns:
        raise DataError("attribute table: no column 'image_id'")
    table = attributes.drop_duplicates("image_id").set_index("image_id")
    wanted = pd.Index(list(image_ids))
    absent = wanted[~wanted.isin(table.index)]
    if len(absent):
        raise DataError(
            f"attribute table: {len(absent)} image(s) have no attributes, e.g. {absent[0]}; "
            f"use the attribute file the split was made from"
        )
    return spec.ids(table.loc[wanted].reset_index())


# ----------------------------------------------------------------------------- accuracy
def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion successes / n; (NaN, NaN) when n = 0.

    centre = (p + z^2 / 2n) / (1 + z^2 / n), half = z / (1 + z^2 / n) * sqrt(p (1 - p) / n +
    z^2 / 4n^2), with z the normal quantile of (1 + level) / 2 (1.96 for 95%).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n == 0:
        return math.nan, math.nan
    # scipy here, not at the top: training imports this module, and the training path runs
    # where only torch and numpy are (benchmarks/gpu_check.py; its smoke test blocks scipy)
    from scipy import stats as sps

    z = float(sps.norm.ppf((1 + level) / 2))
    p = successes / n
    denominator = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return max(0.0, centre - half), min(1.0, centre + half)


def group_accuracy(
    logits: np.ndarray, labels: np.ndarray, group_ids: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """(n, accuracy) per group id 0..n_groups-1 (accuracy NaN where n = 0); logit > 0 = 1."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = binary_array(labels, "labels")
    group_ids = np.asarray(group_ids, dtype=np.int64)
    if not len(logits) == len(labels) == len(group_ids):
        raise DataError(
            f"logits, labels and group ids differ in length: "
            f"{len(logits)}, {len(labels)}, {len(group_ids)}"
        )
    if len(group_ids) and (group_ids.min() < 0 or group_ids.max() >= n_groups):
        raise DataError(f"group ids must lie in 0..{n_groups - 1}")
    correct = (predicted_class(logits).astype(np.int64) == labels).astype(np.float64)
    counts = np.bincount(group_ids, minlength=n_groups)
    hits = np.bincount(group_ids, weights=correct, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)
    return counts, accuracy


def worst_group_validation_accuracy(
    logits: np.ndarray, labels: np.ndarray, group_ids: np.ndarray, group_names: Sequence[str]
) -> float:
    """Worst-group accuracy on the validation split (for ``train.select_by: worst_group``).

    Every non-empty group counts, however small (on validation the model is ranked, not
    reported). A group without validation images is left out, and a logged warning names it:
    its accuracy is unknown, not zero. DataError when every group is empty.
    """
    counts, accuracy = group_accuracy(logits, labels, group_ids, len(group_names))
    empty = empty_groups(group_names, counts)
    if empty:
        log.warning(
            "worst-group validation accuracy: group(s) %s have no validation images and are "
            "left out; the worst group is taken over the other %d",
            ", ".join(map(repr, empty)),
            len(group_names) - len(empty),
        )
    if len(empty) == len(group_names):
        raise DataError("worst-group validation accuracy: the validation split is empty")
    return float(np.nanmin(accuracy))


def empty_groups(names: Sequence[str], counts: Sequence[int] | np.ndarray) -> list[str]:
    """The names of the groups counted zero images, in order."""
    return [name for name, n in zip(names, counts, strict=True) if n == 0]


def _joined(predictions: pd.DataFrame, attributes: pd.DataFrame, spec: GroupSpec) -> pd.DataFrame:
    """Predictions (image_id, label, logit) with their group ids; DataError if the label
    disagrees with the target attribute (the wrong target name, or the wrong attribute file)."""
    missing = {"image_id", "label", "logit"} - set(predictions.columns)
    if missing:
        raise DataError(
            f"predictions: missing column(s) {sorted(missing)}; expected image_id, label, logit "
            f"(the evaluate rule's predictions.csv)"
        )
    ids = ids_for(predictions["image_id"], attributes, spec)
    target = ids >> len(spec.group_by)  # the most significant bit
    labels = binary_array(predictions["label"].to_numpy(), "predictions.label")
    disagree = np.flatnonzero(labels != target)
    if len(disagree):
        raise DataError(
            f"predictions: the label of {len(disagree)} image(s) differs from the attribute "
            f"{spec.target!r}, e.g. {predictions['image_id'].iloc[disagree[0]]}; is the target "
            f"right?"
        )
    return pd.DataFrame(
        {"label": labels, "logit": predictions["logit"].to_numpy(float), "group_id": ids}
    )


def group_table(
    predictions: pd.DataFrame,
    attributes: pd.DataFrame,
    spec: GroupSpec,
    min_group_size: int = 20,
    model: str = "",
    checkpoint: str = "",
    level: float = 0.95,
) -> pd.DataFrame:
    """The long table, one row per group in id order: ``TABLE_COLUMNS`` (model, checkpoint,
    group, n, accuracy, low, high, small). Every group appears, the empty ones with n = 0."""
    if min_group_size < 1:
        raise ValueError(f"min_group_size must be >= 1, got {min_group_size}")
    joined = _joined(predictions, attributes, spec)
    counts, accuracy = group_accuracy(
        joined["logit"], joined["label"], joined["group_id"], len(spec.names)
    )
    rows = []
    for name, n, acc in zip(spec.names, counts, accuracy, strict=True):
        low, high = wilson_interval(0 if n == 0 else round(acc * n), int(n), level)
        rows.append((model, checkpoint, name, int(n), float(acc), low, high, n < min_group_size))
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def group_summary(table: pd.DataFrame, min_group_size: int) -> dict:
    """One metrics.csv row from ``group_table``'s table (made with the same ``min_group_size``):
    ``SUMMARY_KEYS`` then, per group, ``group[<name>]_<stat>`` for each stat of ``GROUP_STATS``
    (see the module docstring for the worst-group rule)."""
    missing = set(TABLE_COLUMNS) - set(table.columns)
    if missing:
        raise DataError(f"group table: missing column(s) {sorted(missing)}")
    if not (table["small"].astype(bool) == (table["n"] < min_group_size)).all():
        raise DataError(
            f"group table: its small flags were not made with min_group_size {min_group_size}"
        )
    eligible = table[table["n"] >= max(1, min_group_size)]
    worst = eligible.loc[eligible["accuracy"].idxmin()] if len(eligible) else None
    filled = table[table["n"] > 0]
    total = int(filled["n"].sum())
    row: dict = {
        "worst_group_accuracy": math.nan if worst is None else float(worst["accuracy"]),
        "worst_group": "" if worst is None else str(worst["group"]),
        "worst_group_n": 0 if worst is None else int(worst["n"]),
        "mean_group_accuracy": float(eligible["accuracy"].mean()) if len(eligible) else math.nan,
        "average_accuracy": (
            float((filled["n"] * filled["accuracy"]).sum() / total) if total else math.nan
        ),
        "n_small_groups": int(table["small"].sum()),
        "min_group_size": int(min_group_size),
    }
    for record in table.itertuples(index=False):
        for stat in GROUP_STATS:
            row[group_column(record.group, stat)] = getattr(record, stat)
    return row


# ----------------------------------------------------------------------------- the evaluate_groups job


@dataclass(frozen=True)
class EvaluateGroupsJob:
    """The evaluate_groups rule: one evaluation's test predictions by the groups of target x
    ``group_by`` (fixed in advance): the long table (``group_summary`` of it is the evaluation's
    metrics.csv columns)."""

    model: str
    checkpoint: str
    predictions: str
    metadata: str
    target: str
    group_by: list[str]
    min_group_size: int
    out_table: str


def evaluate_groups(job: EvaluateGroupsJob) -> dict:
    """Write the group table (``TABLE_COLUMNS``) and the summary row; return the row."""
    predictions = pd.read_csv(job.predictions, dtype={"image_id": str})
    attributes = pd.read_csv(job.metadata, dtype={"image_id": str})
    spec = GroupSpec(job.target, tuple(job.group_by))
    table = group_table(
        predictions, attributes, spec, job.min_group_size, job.model, job.checkpoint
    )
    row = group_summary(table, job.min_group_size)
    write_csv(job.out_table, table)
    log.info(
        "%s (%s): worst group %r, accuracy %.4f", job.model, job.checkpoint,
        row["worst_group"], row["worst_group_accuracy"],
    )  # fmt: skip
    return row
