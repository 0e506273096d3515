"""Every item of the two reports, declared once: which rule's output it is, where it goes.

Each :class:`ReportItem` names a file by the rule and output name that make it (never a path),
the report section it belongs to, its title and its caption (``report/<caption>.rst``, a Jinja
template that both reports render). From this one table:

- ``rules/common.smk: annotate_report`` flags each output that has a caption for Snakemake's
  native report (``snakemake --report``): category = section, the caption, labels from the title
  and, per model, the model's strategy, learning rate and seed;
- the ``report`` rule's inputs are every item of another rule, expanded over the models (and
  checkpoints) as ``per`` says; the self-contained page (``report.py``) draws its figure
  sections from the table in its order and reads its tables by item key.

Adding a figure to both reports is one entry here, a caption file, and the code that draws it.
Standard library only: it is imported when the workflow is parsed.
"""

from __future__ import annotations

from dataclasses import dataclass

PER = ("run", "model", "checkpoint")  # one file per run, per model, per (model, checkpoint)
PAGE = ("figure", "table")  # how the page shows an item in its section


@dataclass(frozen=True)
class ReportItem:
    """One output shown by the reports.

    ``caption``: the stem of its ``report/*.rst`` caption; None for a file only the page reads
    (kept out of the native report). ``page``: how the page shows it in its section: "figure"
    (embedded, with its caption), "table" (with its caption as a note), or None (the page reads
    it for another section, or not at all).
    ``subcategory``: the native report's subcategory, for per-model items of one section.
    """

    rule: str
    output: str
    section: str
    title: str
    caption: str | None = None
    per: str = "run"
    page: str | None = None
    subcategory: str | None = None

    @property
    def key(self) -> str:
        """``<rule>_<output>``: the item's name as an input of the report rule."""
        return f"{self.rule}_{self.output}"


ITEMS: tuple[ReportItem, ...] = (
    # Data: the dataset, the split and the study's exploratory figures, in the study's order.
    ReportItem("ingest", "summary", "Data", "dataset summary"),
    ReportItem("ingest", "bad_images", "Data", "bad images", "bad_images"),
    ReportItem("split", "sizes", "Data", "split sizes", "split_sizes"),
    ReportItem(
        "eda", "samples", "Data", "5 random images (Figure 1)", "eda_samples", page="figure"
    ),
    ReportItem(
        "eda",
        "gender_counts",
        "Data",
        "Images per class of the target (Figure 2)",
        "eda_gender_counts",
        page="figure",
    ),
    ReportItem("eda", "gender_counts_table", "Data", "class counts", "eda_gender_counts_table"),
    ReportItem("eda", "null_counts", "Data", "Null values per column", "eda_nulls", page="table"),
    ReportItem(
        "eda",
        "attribute_counts",
        "Data",
        "Images having each attribute (Figure 3)",
        "eda_attribute_counts",
        page="figure",
    ),
    ReportItem(
        "eda", "attribute_counts_table", "Data", "attribute counts", "eda_attribute_counts_table"
    ),
    ReportItem(
        "eda",
        "correlations",
        "Data",
        "Correlation with the target (Figure 4)",
        "eda_correlations",
        page="figure",
    ),
    ReportItem(
        "eda",
        "correlations_table",
        "Data",
        "correlations with the target",
        "eda_correlations_table",
    ),
    # Training
    ReportItem(
        "train",
        "history",
        "Training",
        "history",
        "history",
        per="model",
        subcategory="History tables",
    ),
    ReportItem(
        "plot_loss_curves",
        "figure",
        "Training",
        "Loss curves of all models (Figure 9)",
        "loss_curves",
        page="figure",
    ),
    ReportItem(
        "plot_model",
        "curves",
        "Training",
        "Curves",
        "curves",
        per="model",
        page="figure",
        subcategory="Curves",
    ),
    ReportItem(
        "plot_model",
        "table",
        "Training",
        "Per-epoch table",
        "history_table",
        per="model",
        page="figure",
        subcategory="Per-epoch tables",
    ),
    # Evaluation
    ReportItem("evaluate", "metrics", "Evaluation", "test metrics", per="checkpoint"),
    ReportItem("roc_curves", "figure", "Evaluation", "ROC curves", "roc", page="figure"),
    ReportItem("roc_curves", "table", "Evaluation", "ROC AUC", "roc_auc"),
    ReportItem(
        "plot_model",
        "confusion_last",
        "Evaluation",
        "Confusion matrix (last epoch)",
        "confusion_last",
        per="model",
        page="figure",
        subcategory="Confusion matrices",
    ),
    ReportItem(
        "plot_model",
        "confusion_best",
        "Evaluation",
        "Confusion matrix (best epoch)",
        "confusion_best",
        per="model",
        page="figure",
        subcategory="Confusion matrices",
    ),
    # Subgroups
    ReportItem(
        "subgroups",
        "attributes",
        "Subgroups",
        "attribute table",
        "subgroup_table",
        per="model",
    ),
    ReportItem("subgroups", "groups", "Subgroups", "group table", "subgroup_groups", per="model"),
    ReportItem("subgroups", "summary", "Subgroups", "subgroup summary", per="model"),
    ReportItem(
        "subgroups",
        "heatmap",
        "Subgroups",
        "Accuracy by group",
        "subgroup_heatmap",
        per="model",
        page="figure",
    ),
    # Groups by design (docs/groups.md): the page reads the tables for its own section.
    ReportItem(
        "evaluate_groups", "table", "Groups", "group table", "group_table", per="checkpoint"
    ),
    # Calibration (docs/report.md)
    ReportItem(
        "calibrate", "calibration", "Calibration", "calibration", "calibration_table", per="model"
    ),
    ReportItem(
        "calibrate",
        "reliability",
        "Calibration",
        "Reliability diagram",
        "reliability",
        per="model",
        page="figure",
    ),
    ReportItem(
        "compare_reliability",
        "figure",
        "Calibration",
        "Reliability of the compared pair",
        "reliability_pair",
        page="figure",
    ),
    # Explanations
    ReportItem(
        "gradcam", "figure", "Explanations", "Grad-CAM", "gradcam", per="model", page="figure"
    ),
    # Uncertainty
    ReportItem(
        "model_statistics",
        "per_model",
        "Uncertainty",
        "per-model accuracy with 95% CI",
        "model_ci",
    ),
    ReportItem("model_statistics", "per_config", "Uncertainty", "mean over seeds", "seed_summary"),
    ReportItem("model_statistics", "collapse", "Uncertainty", "collapse check", "collapse"),
    ReportItem(
        "model_statistics",
        "comparison",
        "Uncertainty",
        "paired comparison of the best configurations",
        "comparison",
    ),
    # The report's own table (native report only: the page writes it).
    ReportItem("report", "metrics", "Evaluation", "metrics of every model", "metrics"),
)

PAGE_RULE = "report"  # the rule that writes the page: its own items are not its inputs


def page_items() -> tuple[ReportItem, ...]:
    """The items the page reads: every item but the page rule's own outputs."""
    return tuple(item for item in ITEMS if item.rule != PAGE_RULE)


def native_items() -> tuple[ReportItem, ...]:
    """The items of Snakemake's native report: those with a caption."""
    return tuple(item for item in ITEMS if item.caption is not None)


def item(key: str) -> ReportItem:
    """The item named ``key`` (``<rule>_<output>``)."""
    for each in ITEMS:
        if each.key == key:
            return each
    raise KeyError(f"no report item {key!r}; items: {', '.join(i.key for i in ITEMS)}")


def page_sections() -> dict[str, tuple[ReportItem, ...]]:
    """The page's item sections in table order: section -> the items it shows."""
    sections: dict[str, list[ReportItem]] = {}
    for each in ITEMS:
        if each.page is not None:
            sections.setdefault(each.section, []).append(each)
    return {name: tuple(items) for name, items in sections.items()}


def check_items() -> None:
    """Each item once, a known ``per``; raises ValueError naming the offender."""
    keys = [each.key for each in ITEMS]
    for each in ITEMS:
        if keys.count(each.key) > 1:
            raise ValueError(f"report item {each.key} is declared twice")
        if each.per not in PER:
            raise ValueError(f"report item {each.key}: per {each.per!r} is not one of {PER}")
        if each.page is not None and (each.page not in PAGE or each.caption is None):
            raise ValueError(f"report item {each.key}: page {each.page!r} needs a caption")
