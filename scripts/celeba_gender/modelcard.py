"""A model card (Mitchell et al. 2019, "Model Cards for Model Reporting") for one trained model.

``render_model_card(card)`` turns a plain ``ModelCardInput`` into Markdown with the paper's nine
sections (``SECTIONS``); ``write_model_card`` writes it atomically (``model_card.md``).

How the numbers are written, so that a reader (or a test) can check each against its source:

- every metric, interval bound, rate and the temperature: a fraction (not a percentage) with
  exactly 4 decimals (``format_number``: 0.9637), "—" when missing. The metric tables name, for
  each number, the metrics.csv column it comes from (in backticks); the interval cell is
  "low – high" (the ``_low`` and ``_high`` columns);
- counts (images, groups): integers with thousands separators (20,000);
- everything else numeric (settings, the SHA-256, reference identifiers) is in inline code.

The first line is a warning exactly when the model was trained on synthetic data or from random
(not pretrained) backbone weights, naming which; otherwise it is the title.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from celeba_gender.calibration import (
    CALIBRATION_METRICS,
    CALIBRATION_SPLITS,
    ECE_BINS,
    TEMPERATURE_BOUNDS,
    calibration_column,
)
from celeba_gender.constants import LABEL_ATTRIBUTE
from celeba_gender.io import CelebaGenderError, sha256_of, write_text
from celeba_gender.metrics_table import best_model
from celeba_gender.stats import detect_collapse
from celeba_gender.targets import class_names as target_class_names

# (label, metrics.csv column) of the test metrics table; the first two are required and carry
# intervals (``<column>_low``/``_high``), the others are shown when the row has them.
TEST_METRICS: tuple[tuple[str, str], ...] = (
    ("Accuracy (decision rule `logit > 0`)", "test_accuracy"),
    ("ROC-AUC (ranked by logit)", "roc_auc"),
    ("Precision", "precision"),
    ("Recall", "recall"),
    ("F1", "f1"),
    ("Loss (binary cross-entropy)", "test_loss"),
)
REQUIRED_TEST_METRICS: tuple[str, ...] = ("test_accuracy", "roc_auc")
CALIBRATION_LABELS: dict[str, str] = {
    "ece_width": f"ECE, {ECE_BINS} equal-width bins",
    "ece_mass": f"ECE, {ECE_BINS} equal-mass bins",
    "nll": "Negative log-likelihood",
    "brier": "Brier score",
}
SPLIT_NAMES: dict[str, str] = {"train": "training", "val": "validation", "test": "test"}
GROUP_COLUMNS: tuple[str, ...] = ("group", "n", "accuracy", "low", "high", "small")


@dataclass
class ModelCardInput:
    """Everything a card says, as plain values (the workflow fills it from its files).

    ``metrics_row`` is the model's metrics.csv row: ``model``, ``checkpoint`` and ``epoch``,
    ``test_accuracy`` and ``roc_auc`` with ``_low``/``_high`` intervals
    (``calibration.DISCRIMINATION_COLUMNS``) and the ``calibration.CALIBRATION_COLUMNS``.
    ``group_metrics``: rows with ``GROUP_COLUMNS`` (None or empty: not available).
    ``collapse``: the dict of ``stats.detect_collapse`` (None: not run).
    """

    model: str
    experiment: str
    metrics_row: Mapping[str, Any]
    split_counts: Mapping[str, int]
    settings: Mapping[str, Any]
    numerics: str
    weights_description: str
    weights_sha256: str
    random_weights: bool
    synthetic_data: bool
    target: str = LABEL_ATTRIBUTE
    class_names: tuple[str, str] | None = None  # None: targets.class_names(target)
    group_metrics: pd.DataFrame | Sequence[Mapping[str, Any]] | None = None
    collapse: Mapping[str, Any] | None = None
    extra_caveats: Sequence[str] = field(default_factory=tuple)

    def classes(self) -> tuple[str, str]:
        return tuple(self.class_names or target_class_names(self.target))


# ----------------------------------------------------------------------------- formatting
def format_number(value: Any) -> str:
    """A metric as the card writes it: 4 decimals (0.9637); "—" when missing or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return "—"
    return f"{float(value):.4f}"


def format_count(value: Any) -> str:
    """A count as the card writes it: 20,000; "—" when missing."""
    return "—" if value is None or pd.isna(value) else f"{int(value):,}"


def format_interval(low: Any, high: Any) -> str:
    """The interval cell "low – high" (each ``format_number``), or "—" when either bound is missing."""
    low_text, high_text = format_number(low), format_number(high)
    return "—" if "—" in (low_text, high_text) else f"{low_text} – {high_text}"


def is_true(value: Any) -> bool:
    """A flag as read from metrics.csv (a bool, or the text "True"/"False"), as a bool."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value) and not (isinstance(value, float) and math.isnan(value))


def _metric_line(label: str, row: Mapping[str, Any], column: str) -> str:
    """One table row: label | value | interval | `column` (the value's metrics.csv column; the
    interval's are ``<column>_low`` and ``<column>_high``)."""
    interval = format_interval(row.get(f"{column}_low"), row.get(f"{column}_high"))
    return f"| {label} | {format_number(row.get(column))} | {interval} | `{column}` |"


def check_row(row: Mapping[str, Any]) -> None:
    """CelebaGenderError when the metrics row lacks a column the card needs."""
    needed = ["model", "checkpoint"]
    needed += [f"{c}{s}" for c in REQUIRED_TEST_METRICS for s in ("", "_low", "_high")]
    needed += [calibration_column("test", m) for m in CALIBRATION_METRICS]
    needed += ["temperature", "temperature_flag"]
    if missing := [c for c in needed if c not in row]:
        raise CelebaGenderError(
            f"model card: the metrics row lacks {', '.join(missing)}; build it with "
            "calibration.discrimination_row and calibration.calibration_row"
        )


# ----------------------------------------------------------------------------- sections
def warning_line(card: ModelCardInput) -> str | None:
    """The card's first line when the data was synthetic or the backbone random, else None."""
    causes = []
    if card.synthetic_data:
        causes.append("synthetic data (generated faces, not CelebA photographs)")
    if card.random_weights:
        causes.append("random backbone weights (not pretrained on ImageNet)")
    if not causes:
        return None
    return (
        f"> **WARNING: this model was trained and evaluated with {' and '.join(causes)}. Its "
        "numbers test the workflow; they say nothing about real faces or the study.**"
    )


def model_details(card: ModelCardInput) -> list[str]:
    row = card.metrics_row
    negative, positive = card.classes()
    settings = ", ".join(f"`{key}: {value}`" for key, value in sorted(card.settings.items()))
    epoch = f", epoch {format_count(row['epoch'])}" if "epoch" in row else ""
    return [
        f"- Model: `{card.model}`, checkpoint `{row['checkpoint']}`{epoch}; experiment "
        f"`{card.experiment}`.",
        f"- Task: binary classification of CelebA's `{card.target}` attribute (label 1: "
        f"{positive}, label 0: {negative}).",
        "- Architecture: VGG-16 (torchvision layout) whose last layer is replaced by one logit; "
        f"P({card.target}) = sigmoid(logit), predicted {positive} when `logit > 0`.",
        f"- Backbone weights: {card.weights_description}; SHA-256 `{card.weights_sha256}`"
        f"{' (random: NOT pretrained)' if card.random_weights else ''}.",
        f"- Numerics: `{card.numerics}`.",
        f"- Training settings: {settings or 'not recorded'}.",
        f"- Numbers: from the metrics.csv row of `{row['model']}` / `{row['checkpoint']}`; "
        "metrics are fractions with 4 decimals, intervals 95% percentile bootstrap over images.",
        '- Card structure: Mitchell et al. 2019, "Model Cards for Model Reporting".',
    ]


def intended_use(card: ModelCardInput) -> list[str]:
    return [
        "- Primary use: research and education on transfer learning (reproducing the study) "
        "and on auditing classifiers for calibration and fairness across groups.",
        "- Users: researchers, students and teachers working with the CelebA benchmark.",
        f"- Out of scope: inferring anyone's gender identity (or any trait) from a face; "
        "surveillance, identification or tracking of people; any decision about a person "
        "(access, hiring, moderation, law enforcement); images unlike CelebA's aligned "
        f"celebrity photographs. The `{card.target}` label is an annotation, not a fact about "
        "the person shown.",
    ]


def factors(card: ModelCardInput) -> list[str]:
    return [
        f"- Groups evaluated: the true class ({' / '.join(card.classes())}) crossed with the "
        "presence of other CelebA attributes (hair, make-up, eyeglasses, `Young`, "
        "`Pale_Skin`, ...), several of them strongly correlated with the label.",
        "- Not available: self-reported gender, age, ethnicity or skin tone; CelebA's "
        "attributes are annotators' judgements of celebrity photographs.",
        "- Instrumentation: aligned, cropped, mostly frontal faces; other poses, lighting, "
        "cameras or non-celebrity populations are not represented.",
    ]


def metrics_section(card: ModelCardInput) -> list[str]:
    return [
        "- Accuracy at the decision rule `logit > 0` and ROC-AUC (ranked by the logit), each "
        "with a 95% percentile bootstrap interval over test images.",
        f"- Calibration of the top-label confidence max(p, 1 - p): ECE with {ECE_BINS} "
        f"equal-width bins over `[0.5, 1]` and with {ECE_BINS} equal-mass bins (Nixon et al. "
        "2019), negative log-likelihood and Brier score, each with a 95% bootstrap interval: "
        "`predict` prints probabilities, and they should mean what they say.",
        "- Temperature scaling (Guo et al. 2017): one temperature fitted on the validation "
        f"split, bounded to `{list(TEMPERATURE_BOUNDS)}`; it changes probabilities, never the "
        "predicted class or the ranking (accuracy and ROC-AUC are unchanged).",
        "- Collapse check: flagged when at least 99% of test predictions are one class.",
    ]


def evaluation_data(card: ModelCardInput) -> list[str]:
    source = _data_source(card)
    counts = card.split_counts
    return [
        f"- Test split: {format_count(counts.get('test'))} images of {source}, held out from "
        "training and model selection; all test metrics come from it.",
        f"- Validation split: {format_count(counts.get('val'))} images, used to choose the "
        "best epoch and to fit the temperature (its calibrated numbers are in-sample).",
    ]


def training_data(card: ModelCardInput) -> list[str]:
    return [
        f"- Training split: {format_count(counts)} images of {_data_source(card)}."
        if (counts := card.split_counts.get("train")) is not None
        else f"- Training split of {_data_source(card)} (size not recorded).",
        "- The splits are disjoint sets of images, drawn by the workflow's seeded split rule.",
    ]


def _data_source(card: ModelCardInput) -> str:
    if card.synthetic_data:
        return "synthetic faces drawn by the workflow (NOT CelebA)"
    return "CelebA (aligned and cropped celebrity faces, Liu et al. 2015)"


# ----------------------------------------------------------------------------- analyses
TABLE_HEADER = ("| Metric | Value | 95% interval | metrics.csv column |", "|---|---|---|---|")


def discrimination_table(row: Mapping[str, Any]) -> list[str]:
    """Test accuracy and ROC-AUC with intervals, then the other test metrics the row has."""
    lines = list(TABLE_HEADER)
    for label, column in TEST_METRICS:
        if column in REQUIRED_TEST_METRICS or column in row:
            lines.append(_metric_line(label, row, column))
    return lines


def calibration_table(row: Mapping[str, Any]) -> list[str]:
    """Every calibration metric of the row: test then validation, before then after scaling;
    the validation split only when the row has it."""
    lines = list(TABLE_HEADER)
    for split in reversed(CALIBRATION_SPLITS):  # test first: the held-out numbers
        for calibrated in (False, True):
            when = "after temperature scaling" if calibrated else "before"
            for metric in CALIBRATION_METRICS:
                column = calibration_column(split, metric, calibrated)
                if column not in row:
                    continue
                label = f"{CALIBRATION_LABELS[metric]}, {SPLIT_NAMES[split]}, {when}"
                lines.append(_metric_line(label, row, column))
    return lines


def temperature_lines(row: Mapping[str, Any]) -> list[str]:
    flagged = is_true(row["temperature_flag"])
    reason = str(row.get("temperature_reason") or "")
    verdict = f"FLAGGED: {reason or 'see temperature.json'}" if flagged else "not flagged"
    return [
        f"| Temperature T (fitted on validation) | {format_number(row['temperature'])} | — | "
        f"`temperature` |",
        "",
        f"Temperature fit: {verdict}. Calibrated probability = sigmoid(logit / T).",
    ]


def group_table(groups: pd.DataFrame | Sequence[Mapping[str, Any]] | None) -> list[str]:
    """Accuracy per group with its interval; groups below the size floor say so."""
    frame = pd.DataFrame(groups if groups is not None else [])
    if frame.empty:
        return ["Group metrics: not available for this model (not computed)."]
    if missing := [c for c in GROUP_COLUMNS if c not in frame.columns]:
        raise CelebaGenderError(
            f"model card: group metrics lack column(s) {', '.join(missing)}; expected "
            f"{', '.join(GROUP_COLUMNS)}"
        )
    lines = ["| Group | Images | Accuracy | 95% interval | Too small |", "|---|---|---|---|---|"]
    for r in frame.itertuples(index=False):
        small = "yes (not compared)" if bool(r.small) else "no"
        lines.append(
            f"| {r.group} | {format_count(r.n)} | {format_number(r.accuracy)} | "
            f"{format_interval(r.low, r.high)} | {small} |"
        )
    return lines


def collapse_lines(collapse: Mapping[str, Any] | None) -> list[str]:
    if collapse is None:
        return ["Collapse check: not run."]
    share, accuracy = format_number(collapse["share"]), format_number(collapse["accuracy"])
    majority = format_number(collapse["majority_rate"])
    if collapse["collapsed"]:
        return [
            f"Collapse check: COLLAPSED — the model predicts '{collapse['class_name']}' for a "
            f"share {share} of test images; its accuracy {accuracy} against the majority-class "
            f"rate {majority}. Its probabilities and temperature carry no information."
        ]
    return [f"Collapse check: not collapsed (the most predicted class's share is {share})."]


def _headed(level: str, sections: Mapping[str, Sequence[str]]) -> list[str]:
    """Each section's ``level`` heading ("##"), a blank line and its lines, with a blank line
    between sections."""
    lines: list[str] = []
    for title, body in sections.items():
        lines += [f"{level} {title}", "", *body, ""]
    return lines[:-1]


def quantitative_analyses(card: ModelCardInput) -> list[str]:
    row = card.metrics_row
    return _headed(
        "###",
        {
            "Test metrics": discrimination_table(row),
            "Calibration": calibration_table(row) + temperature_lines(row),
            "Groups": group_table(card.group_metrics),
            "Collapse": collapse_lines(card.collapse),
        },
    )


# ----------------------------------------------------------------------------- considerations
def ethical_considerations(card: ModelCardInput) -> list[str]:
    return [
        "- Data: photographs of celebrities collected from the web, without their consent to "
        "this use; they are public figures, not a sample of any population.",
        f"- The label: a binary `{card.target}` annotation made by CelebA's annotators from "
        "appearance. A model trained on it learns appearance cues (hair length, make-up, "
        "facial hair) and misclassifies people whose appearance differs from them; used on "
        "people, that is misgendering.",
        "- Risks: use for surveillance or to infer gender identity; unequal error rates across "
        "groups (see Groups). Mitigation: research use only, group metrics reported.",
    ]


def caveats(card: ModelCardInput) -> list[str]:
    lines = [
        f"- The label is the binary `{card.target}` attribute as annotated by CelebA's "
        "annotators, not anyone's gender identity, which a photograph cannot show.",
        "- Label noise: in a re-annotation of CelebA (Wu et al., CVPR Workshops 2023, arXiv "
        "`2210.07356`), only 12 of the 40 attributes reached 95% agreement between two "
        "annotators, and up to 860 of 5,068 duplicate images carry contradicting values. "
        f"Whether `{card.target}` is among the twelve consistent attributes was NOT confirmed "
        "here; read accuracies near the top as bounded by label noise.",
        "- Calibration holds for data like the validation split; under another distribution "
        "of images refit the temperature. ECE is biased upward in small samples, so its bootstrap "
        "interval can lie above the point estimate.",
        "- One run is one seed: compare models by the mean over seeds and their intervals.",
    ]
    if is_true(card.metrics_row.get("temperature_flag")):
        lines.append("- The temperature fit is flagged (see Calibration): do not trust the "
                     "calibrated probabilities of this model.")  # fmt: skip
    if card.collapse is not None and card.collapse.get("collapsed"):
        lines.append("- The model collapsed to one class: do not use it.")
    if card.synthetic_data or card.random_weights:
        lines.append("- Built with synthetic data and/or random weights (see the first line).")
    return lines + [f"- {text}" for text in card.extra_caveats]


# ----------------------------------------------------------------------------- the card
# The sections of Mitchell et al. 2019, in order, and the function writing each.
SECTION_WRITERS = {
    "Model Details": model_details,
    "Intended Use": intended_use,
    "Factors": factors,
    "Metrics": metrics_section,
    "Evaluation Data": evaluation_data,
    "Training Data": training_data,
    "Quantitative Analyses": quantitative_analyses,
    "Ethical Considerations": ethical_considerations,
    "Caveats and Recommendations": caveats,
}
SECTIONS: tuple[str, ...] = tuple(SECTION_WRITERS)


def render_model_card(card: ModelCardInput) -> str:
    """The card as Markdown: the warning line (synthetic data / random weights) if any, the
    title, then the ``SECTIONS`` of Mitchell et al. 2019 as ``##`` headings."""
    check_row(card.metrics_row)
    lines = []
    if (warning := warning_line(card)) is not None:
        lines += [warning, ""]
    lines += [f"# Model card: {card.model} ({card.metrics_row['checkpoint']} checkpoint)", ""]
    lines += _headed("##", {title: write(card) for title, write in SECTION_WRITERS.items()})
    return "\n".join(lines).rstrip("\n") + "\n"


def write_model_card(path: str | os.PathLike, card: ModelCardInput) -> Path:
    """Render ``card`` and write it to ``path`` (``model_card.md``) atomically."""
    write_text(path, render_model_card(card))
    return Path(path)


# ----------------------------------------------------------------------------- the model_card job
CARD_PREFIX = "model_card"  # report/model_card.md: the best model's; model_card_<model>.md


@dataclass(frozen=True)
class ModelCardJob:
    """The model_card rule: ``card`` is ``model_card`` (the best model by validation, as the
    page names it) or ``model_card_<model>`` (that model at its better checkpoint by the same
    rule). Every number comes from the run's own files: metrics.csv (``metrics``), the split
    sizes, the group tables and test predictions of every evaluation (the card's own are picked
    by model and checkpoint), and the backbone file."""

    card: str
    metrics: str
    sizes: str
    weights: str
    groups: list[str]
    predictions: list[str]
    experiment: str
    select_by: str
    settings: Mapping[str, Any]
    numerics: str
    weights_note: str
    random_weights: bool
    synthetic: bool
    target: str
    out_card: str


def shipped_row(metrics: pd.DataFrame, card: str, select_by: str) -> pd.Series:
    """The metrics.csv row a card describes: the best by validation (of one model, for
    ``model_card_<model>``)."""
    model = card[len(CARD_PREFIX) + 1 :] if card != CARD_PREFIX else None
    rows = metrics if model is None else metrics[metrics["model"] == model]
    if rows.empty:
        raise CelebaGenderError(f"model card {card}: {model} is not in {len(metrics)} metrics rows")
    return best_model(rows.reset_index(drop=True), select_by)


def _evaluation_file(files: Sequence[str], model: str, checkpoint: str) -> str:
    """The file of ``files`` under evaluation/<model>/<checkpoint>/."""
    for path in map(Path, files):
        if (path.parent.parent.name, path.parent.name) == (model, checkpoint):
            return str(path)
    raise CelebaGenderError(f"model card: no evaluation file of {model} ({checkpoint})")


def model_card(job: ModelCardJob) -> Path:
    """Fill a ``ModelCardInput`` from the run's files and write the card."""
    row = shipped_row(pd.read_csv(job.metrics), job.card, job.select_by)
    model, checkpoint = str(row["model"]), str(row["checkpoint"])
    predictions = pd.read_csv(_evaluation_file(job.predictions, model, checkpoint))
    sizes = pd.read_csv(job.sizes).set_index("split")["n"]
    card = ModelCardInput(
        model=model,
        experiment=job.experiment,
        metrics_row=row.to_dict(),
        split_counts={split: int(n) for split, n in sizes.items()},
        settings={k: v for k, v in job.settings[model].items() if k != "extra"},
        numerics=job.numerics,
        weights_description=job.weights_note,
        weights_sha256=sha256_of(job.weights),
        random_weights=job.random_weights,
        synthetic_data=job.synthetic,
        target=job.target,
        group_metrics=pd.read_csv(_evaluation_file(job.groups, model, checkpoint)),
        collapse=detect_collapse(predictions["pred"], predictions["label"]),
    )
    return write_model_card(job.out_card, card)
