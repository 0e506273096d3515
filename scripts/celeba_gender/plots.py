"""Every figure of the workflow, drawn from tables and arrays computed elsewhere.

Sections: the house style; data (the study's Figures 1-4, from the tables of ``eda``); training
(Figures 5-9); evaluation (confusion matrices, Figures 10-13, ROC curves, the subgroup heat-map
of ``stats``); Grad-CAM (maps of ``gradcam``); calibration (reliability diagrams of
``calibration.reliability_table``). Figures are plain ``matplotlib.figure.Figure``
objects (no pyplot state), drawn with the Agg backend and saved atomically with
:func:`celeba_gender.io.save_figure`. Every plotting function returns the figure it saved, so
tests can inspect its artists (``plot_roc_curves``: the AUC of each model, for its table).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from celeba_gender.constants import CLASS_NAMES, LABEL_ATTRIBUTE  # noqa: E402
from celeba_gender.io import DataError, ReportError, save_figure, write_csv  # noqa: E402
from celeba_gender.metrics import binary_array, roc_auc, roc_curve  # noqa: E402

HISTORY_COLUMNS: tuple[str, ...] = (
    "epoch",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
)
TRAIN_COLOUR = "#1f77b4"
VAL_COLOUR = "#ff7f0e"
NEGATIVE_COLOUR = "#2166ac"  # blue: attribute more frequent in women
POSITIVE_COLOUR = "#b2182b"  # red: attribute more frequent in men
GENDER_COLOURS = ("#d6604d", "#4393c3")  # female, male
OVERLAY_ALPHA = 0.45  # weight of the Grad-CAM colours over the image
TITLE_SIZE = 13
LABEL_SIZE = 11


# ----------------------------------------------------------------------------- house style
def new_figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, list[Axes]]:
    """A white figure with ``ncols`` side-by-side axes (no pyplot state involved)."""
    fig = Figure(figsize=(width, height), facecolor="white", layout="constrained")
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def style_axes(ax: Axes, grid_axis: str = "y") -> Axes:
    """The house style: no top/right spines, a light grid along ``grid_axis``."""
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    if grid_axis:
        ax.grid(axis=grid_axis, color="#dddddd", linewidth=0.8)
        ax.set_axisbelow(True)
    ax.tick_params(labelsize=9)
    return ax


def label_axes(
    ax: Axes, xlabel: str, ylabel: str, title: str | None = None, title_size: int = TITLE_SIZE
) -> None:
    """The x and y labels in the house size, and the title (``title_size``) when given."""
    ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
    if title is not None:
        ax.set_title(title, fontsize=title_size)


def _saved(fig: Figure, out_png: str | os.PathLike) -> Figure:
    """Save ``fig`` atomically to ``out_png`` (and close it); return it for its artists."""
    save_figure(out_png, fig)
    return fig


# ----------------------------------------------------------------------------- data (EDA)
def plot_sample_images(
    sample: pd.DataFrame, images: Sequence[Any], out_png: str | os.PathLike
) -> Figure:
    """Figure 1: one panel per sampled row (``image_id``, ``gender``) showing its image."""
    if len(images) != len(sample):
        raise DataError(f"plot_sample_images: {len(images)} images for {len(sample)} rows")
    fig, axes = new_figure(2.3 * len(sample), 3.3, ncols=len(sample))
    for ax, image, row in zip(axes, images, sample.itertuples(index=False), strict=True):
        ax.imshow(image)
        ax.set_title(row.gender, fontsize=LABEL_SIZE + 1)
        ax.set_xlabel(str(row.image_id), fontsize=8, color="#666666")
        ax.set(xticks=[], yticks=[])
    fig.suptitle(f"{len(sample)} randomly sampled images and their labels", fontsize=TITLE_SIZE)
    return _saved(fig, out_png)


def plot_gender_counts(
    counts: pd.DataFrame, out_png: str | os.PathLike, target: str = LABEL_ATTRIBUTE
) -> Figure:
    """Figure 2: a bar per class of the target (gender for Male) with its count on the bar."""
    fig, (ax,) = new_figure(5.5, 4.2)
    bars = ax.bar(counts["gender"], counts["count"], color=GENDER_COLOURS[: len(counts)], width=0.6)
    ax.bar_label(bars, labels=[f"{int(c):,}" for c in counts["count"]], padding=3, fontsize=10)
    what = "Gender" if target == LABEL_ATTRIBUTE else target
    total = int(counts["count"].sum())
    label_axes(ax, what, "Number of images", f"{what} distribution (n = {total:,})")
    ax.margins(y=0.12)
    style_axes(ax, "y")
    return _saved(fig, out_png)


def plot_attribute_counts(counts: pd.DataFrame, out_png: str | os.PathLike) -> Figure:
    """Figure 3: horizontal bars of the attribute counts, the most frequent on top."""
    ordered = counts.sort_values("count", ascending=True, kind="stable")
    fig, (ax,) = new_figure(8, 0.24 * len(ordered) + 1.4)
    ax.barh(ordered["attribute"], ordered["count"], color="#4c72b0", height=0.7)
    label_axes(ax, "Number of images with the attribute", "Attribute", "Images per attribute")
    ax.set_ylim(-0.6, len(ordered) - 0.4)
    style_axes(ax, "x")
    return _saved(fig, out_png)


def correlation_colours(corr: pd.Series) -> list[str]:
    """Blue for a negative correlation, red for a positive (or zero) one."""
    return [NEGATIVE_COLOUR if value < 0 else POSITIVE_COLOUR for value in corr]


def plot_correlations(
    corr: pd.DataFrame, out_png: str | os.PathLike, target: str = LABEL_ATTRIBUTE
) -> Figure:
    """Figure 4: correlation with the target (Male) per attribute, negative blue, positive red.

    The target itself and attributes with an undefined (NaN) correlation are left out.
    """
    shown = corr[(corr["attribute"] != target) & corr["corr"].notna()]
    shown = shown.sort_values("corr", ascending=True, kind="stable")
    fig, (ax,) = new_figure(8, 0.24 * len(shown) + 1.6)
    ax.barh(shown["attribute"], shown["corr"], color=correlation_colours(shown["corr"]), height=0.7)
    ax.axvline(0, color="#333333", linewidth=0.8)
    ax.set_xlim(-1.0, 1.0)
    ax.set_ylim(-0.6, len(shown) - 0.4)
    label_axes(
        ax,
        f"Pearson correlation with {target} (-1/1 coding)",
        "Attribute",
        f"Correlation between {target} and each attribute\n"
        "(blue: more frequent in women, red: more frequent in men)",
    )
    style_axes(ax, "x")
    return _saved(fig, out_png)


# ----------------------------------------------------------------------------- training
def check_history(history: pd.DataFrame, name: str = "history") -> pd.DataFrame:
    """Return ``history`` sorted by epoch; raise DataError when columns or rows are missing."""
    missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if missing:
        raise DataError(
            f"{name}: missing column(s) {', '.join(missing)}; expected "
            f"{', '.join(HISTORY_COLUMNS)} (found {', '.join(map(str, history.columns))})"
        )
    if history.empty:
        raise DataError(f"{name}: the training history has no rows (no epoch was recorded)")
    return history.sort_values("epoch").reset_index(drop=True)


def load_histories(paths: Iterable[str | os.PathLike]) -> dict[str, pd.DataFrame]:
    """Read ``results/experiments/<name>/models/{model}/history.csv`` files, keyed by the model
    folder name."""
    histories = {}
    for path in map(Path, paths):
        if not path.is_file():
            raise ReportError(f"{path}: no such training history file")
        histories[path.parent.name] = check_history(pd.read_csv(path), str(path))
    return histories


def plot_history(history: pd.DataFrame, out_png: str | os.PathLike, title: str) -> Figure:
    """Accuracy and loss per epoch, train vs validation, in two panels; the best val epoch marked."""
    hist = check_history(history, title)
    fig, (ax_acc, ax_loss) = new_figure(11, 4.2, ncols=2)
    panels = ((ax_acc, "accuracy", "Accuracy"), (ax_loss, "loss", "Loss (BCE with logits)"))
    for ax, metric, ylabel in panels:
        for split, style, colour in (("train", "o-", TRAIN_COLOUR), ("val", "s--", VAL_COLOUR)):
            column = f"{split}_{metric}"
            ax.plot(hist["epoch"], hist[column], style, color=colour, label=f"{split} {metric}")
        label_axes(ax, "Epoch", ylabel, metric.capitalize(), LABEL_SIZE)
        ax.set_xticks(_epoch_ticks(hist["epoch"]))
        style_axes(ax, "both")
        ax.legend(frameon=False, fontsize=9)
    best = hist.loc[hist["val_accuracy"].idxmax()]
    late = best["epoch"] > hist["epoch"].median()
    ax_acc.axvline(best["epoch"], color="#888888", linestyle=":", linewidth=1)
    ax_acc.annotate(
        f"best val {best['val_accuracy']:.4f}",
        (best["epoch"], best["val_accuracy"]),
        textcoords="offset points",
        xytext=(-4 if late else 4, -14),
        ha="right" if late else "left",
        fontsize=8,
        color="#555555",
    )
    fig.suptitle(title, fontsize=TITLE_SIZE)
    return _saved(fig, out_png)


def history_table(history: pd.DataFrame) -> pd.DataFrame:
    """The per-epoch table of the study's Figures 5-8 as formatted strings."""
    hist = check_history(history)
    table = pd.DataFrame({"Epoch": hist["epoch"].astype(int).astype(str)})
    for column in HISTORY_COLUMNS[1:]:  # "train_loss" -> "Train loss", ...
        table[column.replace("_", " ").capitalize()] = hist[column].map("{:.4f}".format)
    if "seconds" in hist.columns:
        table["Seconds"] = hist["seconds"].map("{:.1f}".format)
    return table


def history_table_figure(history: pd.DataFrame, out_png: str | os.PathLike, title: str) -> Figure:
    """Render :func:`history_table` as a figure (a matplotlib table, header shaded)."""
    table = history_table(history)
    fig, (ax,) = new_figure(1.35 * len(table.columns) + 0.5, 0.3 * (len(table) + 1) + 0.6)
    ax.axis("off")
    drawn = ax.table(
        cellText=table.to_numpy().tolist(),
        colLabels=list(table.columns),
        bbox=(0.0, 0.0, 1.0, 1.0),
        cellLoc="center",
    )
    drawn.auto_set_font_size(False)
    drawn.set_fontsize(10)
    for (row, _col), cell in drawn.get_celld().items():
        cell.set_edgecolor("#bbbbbb")
        if row == 0:
            cell.set_facecolor("#dbe6f3")
            cell.set_text_props(fontweight="bold")
        elif row % 2 == 0:
            cell.set_facecolor("#f5f5f5")
    ax.set_title(title, fontsize=TITLE_SIZE)
    return _saved(fig, out_png)


def plot_all_loss_curves(
    histories: Mapping[str, pd.DataFrame], out_png: str | os.PathLike
) -> Figure:
    """The study's Figure 9: train (solid) and val (dashed) loss of every model, one colour each."""
    if not histories:
        raise DataError("plot_all_loss_curves: no training history was given (expected >= 1 model)")
    fig, (ax,) = new_figure(9, 5)
    coloured = _coloured_histories(histories)
    for _name, hist, colour in coloured:
        ax.plot(hist["epoch"], hist["train_loss"], "-", color=colour, marker="o", markersize=3)
        ax.plot(hist["epoch"], hist["val_loss"], "--", color=colour, marker="s", markersize=3)
    handles = [
        Line2D([], [], color=colour, linewidth=2.5, label=name) for name, _, colour in coloured
    ]
    handles += [
        Line2D([], [], color="black", linestyle="-", label="train"),
        Line2D([], [], color="black", linestyle="--", label="val"),
    ]
    ax.legend(
        handles=handles, frameon=False, fontsize=9, loc="center left", bbox_to_anchor=(1, 0.5)
    )
    ax.set_xticks(_epoch_ticks(pd.concat([hist["epoch"] for _, hist, _ in coloured])))
    label_axes(
        ax,
        "Epoch",
        "Loss (BCE with logits)",
        "Training (solid) and validation (dashed) loss of every model",
    )
    style_axes(ax, "both")
    return _saved(fig, out_png)


def _coloured_histories(
    histories: Mapping[str, pd.DataFrame],
) -> list[tuple[str, pd.DataFrame, Any]]:
    """(name, checked history, colour) per history: one colour each of tab10 (tab20 past ten)."""
    palette = matplotlib.colormaps["tab10" if len(histories) <= 10 else "tab20"]
    return [
        (name, check_history(history, name), palette(i % palette.N))
        for i, (name, history) in enumerate(histories.items())
    ]


def _epoch_ticks(epochs: pd.Series) -> Sequence[int]:
    """Integer epoch ticks, thinned to at most ~15 labels."""
    values = sorted({int(e) for e in epochs})
    step = -(-len(values) // 15)  # ceil(len / 15)
    return values[:: max(step, 1)]


# ----------------------------------------------------------------------------- evaluation
def confusion_frame(tn: int, fp: int, fn: int, tp: int) -> pd.DataFrame:
    """Counts with true class as rows, predicted class as columns (label 0 = female = negative)."""
    counts = [[int(tn), int(fp)], [int(fn), int(tp)]]
    if any(v < 0 for row in counts for v in row):
        raise DataError(
            f"confusion matrix counts must be >= 0 (got tn={tn} fp={fp} fn={fn} tp={tp})"
        )
    return pd.DataFrame(
        counts,
        index=pd.Index([f"true {c}" for c in CLASS_NAMES]),
        columns=pd.Index([f"predicted {c}" for c in CLASS_NAMES]),
    )


def plot_confusion(
    tn: int, fp: int, fn: int, tp: int, out_png: str | os.PathLike, title: str
) -> Figure:
    """The study's Figures 10-13: 2x2 counts with row percentages, shaded by row fraction."""
    counts = confusion_frame(tn, fp, fn, tp)
    row_totals = counts.sum(axis=1)
    fractions = counts.div(row_totals.where(row_totals > 0), axis=0).fillna(0.0)
    fig, (ax,) = new_figure(5.2, 4.6)
    image = ax.imshow(fractions.to_numpy(), cmap="Blues", vmin=0.0, vmax=1.0)

    def cell(i: int, j: int) -> tuple[str, str]:
        share = f"{100 * fractions.iat[i, j]:.1f}%" if row_totals.iat[i] > 0 else "n/a"
        return f"{counts.iat[i, j]:,}\n({share})", "white" if fractions.iat[i, j] > 0.5 else "black"

    _write_cells(ax, counts.shape, cell, fontsize=12)
    ax.set_xticks([0, 1], [name.capitalize() for name in CLASS_NAMES])
    ax.set_yticks([0, 1], [name.capitalize() for name in CLASS_NAMES])
    total = int(counts.to_numpy().sum())
    accuracy = f"{100 * (int(tn) + int(tp)) / total:.2f}%" if total else "n/a"
    label_axes(ax, "Predicted label", "True label", f"{title}\nn = {total:,}, accuracy {accuracy}")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    return _saved(fig, out_png)


def _write_cells(
    ax: Axes, shape: tuple[int, int], cell: Callable[[int, int], tuple[str, str]], fontsize: float
) -> None:
    """Centre the (text, colour) that ``cell(i, j)`` gives on each cell of an ``imshow`` grid."""
    for i, j in np.ndindex(*shape):
        text, colour = cell(i, j)
        ax.text(j, i, text, ha="center", va="center", fontsize=fontsize, color=colour)


def plot_roc_curves(
    curves: Mapping[str, tuple[Sequence[int], Sequence[float]]],
    out_png: str | os.PathLike,
    title: str = "ROC curves on the test set",
) -> dict[str, float]:
    """All models' ROC curves on one figure, AUC in the legend. Returns {name: AUC}.

    A model whose labels hold one class only gets AUC NaN and no curve.
    """
    if not curves:
        raise DataError("plot_roc_curves: no models given")
    fig = Figure(figsize=(5.5, 5))
    ax = fig.add_subplot()
    aucs: dict[str, float] = {}
    for name, (labels, logits) in curves.items():
        truth = binary_array(labels, f"{name} labels")
        scores = np.asarray(logits, dtype=float)
        if scores.shape != truth.shape or not np.isfinite(scores).all():
            raise DataError(
                f"{name}: expected one finite logit per label "
                f"({truth.shape[0]}), got shape {scores.shape}"
            )
        if len(np.unique(truth)) < 2:
            aucs[name] = math.nan
            continue
        fpr, tpr = roc_curve(truth, scores)
        aucs[name] = roc_auc(truth, scores)
        ax.plot(fpr, tpr, label=f"{name} (AUC {aucs[name]:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance (AUC 0.5)")
    ax.set_xlabel("false-positive rate (female predicted male)")
    ax.set_ylabel("true-positive rate (male predicted male)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    save_figure(out_png, fig)
    return aucs


def plot_subgroup_heatmap(
    accuracy: pd.DataFrame,
    counts: pd.DataFrame,
    out_png: str | os.PathLike,
    title: str = "Test accuracy by sex and attribute",
    vmin: float | None = None,
    vmax: float = 1.0,
) -> Figure:
    """Heat-map of accuracy per (attribute, sex x absent/present); too-small (NaN) cells grey.

    ``accuracy`` and ``counts`` are the matrices of ``stats.subgroup_accuracy_matrix``. Each
    cell shows accuracy (%) and n.
    """
    values = accuracy.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    low = vmin if vmin is not None else (min(float(finite.min()), 0.9) if finite.size else 0.5)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="lightgrey")
    fig = Figure(figsize=(7, 0.32 * len(accuracy) + 1.6))
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=low, vmax=vmax, aspect="auto")

    def cell(i: int, j: int) -> tuple[str, str]:
        n, value = int(counts.iat[i, j]), values[i, j]
        if np.isnan(value):
            return f"n={n}", "black"
        return f"{value:.1%} (n={n})", "black" if value > (low + vmax) / 2 else "white"

    _write_cells(ax, values.shape, cell, fontsize=7)
    ax.set_xticks(range(len(accuracy.columns)), accuracy.columns)
    ax.set_yticks(range(len(accuracy.index)), accuracy.index, fontsize=8)
    ax.xaxis.tick_top()
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="accuracy (grey: group too small)")
    return _saved(fig, out_png)


# ----------------------------------------------------------------------------- Grad-CAM
def overlay(image_uint8: np.ndarray, cam: Any, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """Blend a jet-coloured CAM (H x W, in [0, 1]; an array or a CPU tensor) over an H x W x 3
    uint8 image."""
    image = np.asarray(image_uint8)
    heat = np.asarray(cam)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"overlay: expected a uint8 H x W x 3 image, got {image.dtype} {image.shape}"
        )
    if heat.shape != image.shape[:2]:
        raise ValueError(f"overlay: CAM shape {heat.shape} differs from image {image.shape[:2]}")
    colours = matplotlib.colormaps["jet"](np.clip(heat, 0, 1))[..., :3] * 255
    blended = (1 - alpha) * image.astype(float) + alpha * colours
    return blended.round().clip(0, 255).astype(np.uint8)


def plot_gradcam_grid(
    rows: Sequence[tuple[np.ndarray, Any, str]],
    out_png: str | os.PathLike,
    title: str = "Grad-CAM",
) -> Figure:
    """One row per (image uint8 H x W x 3, cam H x W, title): the image and its CAM overlay."""
    if not rows:
        raise ValueError("plot_gradcam_grid: no images to plot")
    fig = Figure(figsize=(4.4, 2.3 * len(rows) + 0.4))
    axes = fig.subplots(len(rows), 2, squeeze=False)
    for (image, cam, label), (left, right) in zip(rows, axes, strict=True):
        left.imshow(image)
        left.set_title(label, fontsize=8)
        right.imshow(overlay(image, cam))
        right.set_title("Grad-CAM", fontsize=8)
        for ax in (left, right):
            ax.set_axis_off()
    fig.suptitle(title)
    return _saved(fig, out_png)


# ----------------------------------------------------------------------------- calibration
RELIABILITY_PLOT_COLUMNS: tuple[str, ...] = ("lower", "upper", "count", "confidence", "accuracy")
GAP_COLOUR = "#d6604d"  # the gap between a bin's accuracy and its mean confidence
CONFIDENCE_LABEL = "confidence (probability of the predicted class)"


def check_reliability(table: pd.DataFrame, name: str = "reliability table") -> pd.DataFrame:
    """``table`` (``calibration.reliability_table``) without its empty bins; DataError when
    columns are missing or no bin holds an image."""
    missing = [c for c in RELIABILITY_PLOT_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(
            f"{name}: missing column(s) {', '.join(missing)}; expected the bins of "
            "calibration.reliability_table"
        )
    filled = table[table["count"] > 0]
    if filled.empty:
        raise DataError(f"{name}: no bin holds an image (nothing to draw)")
    return filled


def reliability_ece(table: pd.DataFrame) -> float:
    """The ECE a reliability table stands for: sum(count |accuracy - confidence|) / sum(count)."""
    filled = check_reliability(table)
    gaps = (filled["accuracy"] - filled["confidence"]).abs()
    return float((filled["count"] * gaps).sum() / filled["count"].sum())


def _finish_reliability(ax: Axes, title: str, grid_axis: str) -> None:
    """Once the curves are drawn: the perfectly calibrated line over the top-label confidence
    range [0.5, 1], the labels, the house style (grid along ``grid_axis``), legend and title."""
    ax.plot([0.5, 1.0], [0.5, 1.0], linestyle="--", color="grey", label="perfect calibration")
    ax.set_xlim(0.5, 1.0)
    ax.set_ylim(0.0, 1.02)
    label_axes(ax, CONFIDENCE_LABEL, "accuracy", title)
    style_axes(ax, grid_axis)
    ax.legend(frameon=False, fontsize=9, loc="upper left")


def plot_reliability_diagram(
    table: pd.DataFrame, out_png: str | os.PathLike, title: str = "Reliability diagram"
) -> Figure:
    """One model's reliability diagram (Guo et al. 2017): per confidence bin of
    ``calibration.reliability_table``, a bar of its accuracy and the gap to its mean confidence
    (red), the diagonal of perfect calibration, the ECE in the legend; below, the images per
    bin."""
    filled = check_reliability(table, title)
    fig = Figure(figsize=(5.5, 6), facecolor="white", layout="constrained")
    ax, ax_count = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    widths = (filled["upper"] - filled["lower"]).clip(lower=0.004)
    centres = filled["lower"] + widths / 2
    ax.bar(centres, filled["accuracy"], width=widths, color=TRAIN_COLOUR, edgecolor="white",
           label=f"accuracy (ECE {reliability_ece(filled):.4f})")  # fmt: skip
    ax.bar(centres, filled["confidence"] - filled["accuracy"], bottom=filled["accuracy"],
           width=widths, color=GAP_COLOUR, alpha=0.45, label="gap to mean confidence")  # fmt: skip
    _finish_reliability(ax, title, "y")
    ax_count.bar(centres, filled["count"], width=widths, color="#888888")
    label_axes(ax_count, CONFIDENCE_LABEL, "images")
    ax.set_xlabel("")
    style_axes(ax_count, "y")
    return _saved(fig, out_png)


def plot_reliability_overlay(
    tables: Mapping[str, pd.DataFrame],
    out_png: str | os.PathLike,
    title: str = "Reliability diagrams",
) -> Figure:
    """Two models' (or one model's before and after temperature scaling) reliability curves on
    one axes: accuracy against mean confidence per bin, each with its ECE in the legend."""
    if len(tables) != 2:
        raise DataError(f"plot_reliability_overlay: expected two models, got {len(tables)}")
    fig, (ax,) = new_figure(5.5, 5)
    for (name, table), colour in zip(tables.items(), (TRAIN_COLOUR, VAL_COLOUR), strict=True):
        filled = check_reliability(table, name)
        ax.plot(filled["confidence"], filled["accuracy"], "o-", color=colour, markersize=4,
                label=f"{name} (ECE {reliability_ece(filled):.4f})")  # fmt: skip
    _finish_reliability(ax, title, "both")
    return _saved(fig, out_png)


def plot_validation_curves(
    histories: Mapping[str, pd.DataFrame], out_png: str | os.PathLike
) -> Figure:
    """Validation accuracy (left) and loss (right) per epoch of each history, one colour each,
    labelled by its key."""
    if not histories:
        raise DataError("plot_validation_curves: no training history was given")
    fig, (ax_acc, ax_loss) = new_figure(12, 4.8, ncols=2)
    for label, hist, colour in _coloured_histories(histories):
        ax_acc.plot(hist["epoch"], hist["val_accuracy"], "o-", color=colour, ms=3, label=label)
        ax_loss.plot(hist["epoch"], hist["val_loss"], "o-", color=colour, ms=3)
    panels = ((ax_acc, "Validation accuracy"), (ax_loss, "Validation loss (BCE with logits)"))
    for ax, ylabel in panels:
        label_axes(ax, "Epoch", ylabel, ylabel, LABEL_SIZE)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        style_axes(ax, "both")
    fig.legend(loc="outside lower center", ncols=min(len(histories), 3), frameon=False, fontsize=9)
    fig.suptitle("Validation curves across experiments", fontsize=TITLE_SIZE)
    return _saved(fig, out_png)


# ----------------------------------------------------------------------------- the plotting jobs


@dataclass(frozen=True)
class PlotModelJob:
    """The plot_model rule: one model's figures, from its history and its two evaluations."""

    model: str
    history: str
    metrics_last: str
    metrics_best: str
    out_curves: str
    out_table: str
    out_confusion_last: str
    out_confusion_best: str


def plot_model(job: PlotModelJob) -> None:
    """Curves, the per-epoch table and the test confusion matrix at each checkpoint."""
    history = check_history(pd.read_csv(job.history), job.history)
    plot_history(history, job.out_curves, title=f"{job.model}: accuracy and loss per epoch")
    history_table_figure(history, job.out_table, title=f"{job.model}: per-epoch results")
    for checkpoint, metrics_file, out in (
        ("last", job.metrics_last, job.out_confusion_last),
        ("best", job.metrics_best, job.out_confusion_best),
    ):
        m = json.loads(Path(metrics_file).read_text())
        title = f"{job.model} ({checkpoint} epoch {m['epoch']})"
        plot_confusion(m["tn"], m["fp"], m["fn"], m["tp"], out, title=title)


@dataclass(frozen=True)
class LossCurvesJob:
    """The plot_loss_curves rule: every model's history (in the order of ``models``)."""

    models: Sequence[str]
    histories: Sequence[str]
    out_figure: str


def plot_loss_curves(job: LossCurvesJob) -> None:
    histories = load_histories(job.histories)
    if list(histories) != list(job.models):
        raise ReportError(f"plot_loss_curves: histories of {list(histories)}, not {job.models}")
    plot_all_loss_curves(histories, job.out_figure)


@dataclass(frozen=True)
class RocCurvesJob:
    """The roc_curves rule: each model's last-epoch test predictions, in the order of ``models``."""

    models: Sequence[str]
    predictions: Sequence[str]
    out_figure: str
    out_table: str


def roc_curves(job: RocCurvesJob) -> dict[str, float]:
    """Draw the ROC curves (ranked by logit: no saturated ties) and write each model's AUC."""
    curves = {}
    for model, path in zip(job.models, job.predictions, strict=True):
        pred = pd.read_csv(path)
        curves[model] = (pred["label"], pred["logit"])
    aucs = plot_roc_curves(curves, job.out_figure)
    write_csv(job.out_table, pd.DataFrame({"model": list(aucs), "roc_auc": list(aucs.values())}))
    return aucs
