"""Assemble the results page and metrics.csv from every output of the workflow."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from . import report


def _read_json(path) -> dict:
    return json.loads(Path(path).read_text())


def _model_figures(models: Sequence[str], paths: Sequence[str], title: str, caption: str) -> list:
    return [
        (f"{title}: {m}", p, caption.format(model=m)) for m, p in zip(models, paths, strict=True)
    ]


def build_report(
    *, out_html, out_metrics, models: Sequence[str], metrics_files: Sequence[str],
    history_files: Sequence[str], data_summary, split_sizes, bad_images, eda: Mapping[str, str],
    curves: Sequence[str], history_tables: Sequence[str], confusions_last: Sequence[str],
    confusions_best: Sequence[str], loss_curves: str, roc: str, subgroup_heatmaps: Sequence[str],
    subgroup_summaries: Sequence[str], gradcams: Sequence[str], model_ci, seed_summary, collapse,
    comparison, config: Mapping, weights_note: str, pretrained: bool, workflow_dir, benchmark_root,
    benchmark_files: Sequence[str],
) -> pd.DataFrame:  # fmt: skip
    """Write ``metrics.csv`` and the self-contained ``report.html``; return the metrics table.

    ``benchmark_files`` are the benchmark files of this config's jobs (under ``benchmark_root``):
    the cost table shows those that exist, so files of models no longer in the config are left
    out."""
    histories = report.load_histories(history_files)
    metrics = report.collect_metrics(metrics_files, histories)
    report.write_metrics(metrics, out_metrics)
    summary = _read_json(data_summary)
    comparison_info = _read_json(comparison)
    collapse_table = pd.read_csv(collapse)
    figures = {
        "Data": [
            ("5 random images (Figure 1)", eda["samples"], "Five random images of the subset with their label."),
            ("Images per gender (Figure 2)", eda["gender_counts"], "Number of female and male images."),
            ("Images having each attribute (Figure 3)", eda["attribute_counts"], "How many images have each of the 40 attributes."),
            ("Correlation with Male (Figure 4)", eda["correlations"], "Pearson correlation of each attribute with Male: blue negative, red positive."),
        ],
        "Training": [("Loss curves of all models (Figure 9)", loss_curves, "Train (solid) and validation (dashed) loss per epoch.")]
        + _model_figures(models, curves, "Curves", "Accuracy and loss per epoch of {model}; the best validation epoch is marked.")
        + _model_figures(models, history_tables, "Per-epoch table", "Per-epoch train/validation loss and accuracy of {model} (Figures 5-8)."),
        "Evaluation": [("ROC curves", roc, "ROC curves of every model on the test set, AUC in the legend.")]
        + _model_figures(models, confusions_last, "Confusion matrix (last epoch)", "Test-set confusion matrix of {model} after the last epoch (Figures 10-13).")
        + _model_figures(models, confusions_best, "Confusion matrix (best epoch)", "Test-set confusion matrix of {model} at its best validation epoch."),
        "Subgroups": _model_figures(models, subgroup_heatmaps, "Accuracy by group", "Test accuracy of {model} per (sex x attribute) group; grey cells hold too few images."),
        "Explanations": _model_figures(models, gradcams, "Grad-CAM", "Where {model} looks: Grad-CAM of the last conv block on fixed test images, right and wrong, both classes."),
    }  # fmt: skip
    worst = []
    for m, path in zip(models, subgroup_summaries, strict=True):
        s = _read_json(path)
        w = s.get("worst_group") or {}
        gaps = ", ".join(f"{g['attribute']} {g['gap']:+.1%}" for g in s.get("largest_gaps", [])[:3])
        worst.append({"model": m, "accuracy": s.get("accuracy"), "worst group": w.get("name"),
                      "worst-group n": w.get("n"), "worst-group accuracy": w.get("accuracy"),
                      "largest gaps (present - absent)": gaps})  # fmt: skip
    extra = {
        "Accuracy with 95% CI": pd.read_csv(model_ci),
        "Mean over seeds": pd.read_csv(seed_summary),
        "Collapse check": collapse_table,
        "Worst-group accuracy": pd.DataFrame(worst),
        "Cost of this run": report.cost_display(report.cost_table(benchmark_files, benchmark_root)),
    }  # fmt: skip
    bad = pd.read_csv(bad_images)
    if len(bad):
        extra["Skipped bad images"] = bad
    notes = [comparison_info["sentence"]]
    notes += [
        f"{pair['sentence']} {pair.get('bootstrap_sentence', '')}".strip()
        for pair in comparison_info.get("pairs", [])
    ]
    notes += [
        f"{r.model}: {r.collapse_message}" for r in collapse_table.itertuples() if r.collapsed
    ]
    report.render_html(
        out_html,
        dataset_summary=summary,
        split_summary=pd.read_csv(split_sizes),
        metrics=metrics,
        figures=figures,
        weights_note=weights_note,
        extra_tables=extra,
        table_notes={"Cost of this run": report.COST_NOTE},
        notes=notes,
        provenance=report.provenance(config, workflow_dir, metrics["device"]),
        pretrained=pretrained,
    )
    return metrics
