"""Training and evaluation figures: learning curves, per-epoch tables, confusion matrices.

Figures are plain ``matplotlib.figure.Figure`` objects (no pyplot state), drawn with the Agg
backend and saved atomically with :func:`celeba_gender.io.save_figure`. Every plotting function
returns the figure it saved, so tests can inspect its artists.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from celeba_gender.constants import CLASS_NAMES  # noqa: E402
from celeba_gender.io import DataError, save_figure  # noqa: E402

HISTORY_COLUMNS: tuple[str, ...] = (
    "epoch",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
)
TRAIN_COLOUR = "#1f77b4"
VAL_COLOUR = "#ff7f0e"
TITLE_SIZE = 13
LABEL_SIZE = 11


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


def plot_history(history: pd.DataFrame, out_png: str | os.PathLike, title: str) -> Figure:
    """Accuracy and loss per epoch, train vs validation, in two panels; the best val epoch marked."""
    hist = check_history(history, title)
    fig, (ax_acc, ax_loss) = new_figure(11, 4.2, ncols=2)
    panels = ((ax_acc, "accuracy", "Accuracy"), (ax_loss, "loss", "Loss (BCE with logits)"))
    for ax, metric, ylabel in panels:
        ax.plot(
            hist["epoch"],
            hist[f"train_{metric}"],
            "o-",
            color=TRAIN_COLOUR,
            label=f"train {metric}",
        )
        ax.plot(
            hist["epoch"], hist[f"val_{metric}"], "s--", color=VAL_COLOUR, label=f"val {metric}"
        )
        ax.set_xlabel("Epoch", fontsize=LABEL_SIZE)
        ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
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
    ax_acc.set_title("Accuracy", fontsize=LABEL_SIZE)
    ax_loss.set_title("Loss", fontsize=LABEL_SIZE)
    fig.suptitle(title, fontsize=TITLE_SIZE)
    save_figure(out_png, fig)
    return fig


def history_table(history: pd.DataFrame) -> pd.DataFrame:
    """The per-epoch table of the study's Figures 5-8 as formatted strings."""
    hist = check_history(history)
    table = pd.DataFrame(
        {
            "Epoch": hist["epoch"].astype(int).astype(str),
            "Train loss": hist["train_loss"].map("{:.4f}".format),
            "Train accuracy": hist["train_accuracy"].map("{:.4f}".format),
            "Val loss": hist["val_loss"].map("{:.4f}".format),
            "Val accuracy": hist["val_accuracy"].map("{:.4f}".format),
        }
    )
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
    save_figure(out_png, fig)
    return fig


def plot_all_loss_curves(
    histories: Mapping[str, pd.DataFrame], out_png: str | os.PathLike
) -> Figure:
    """The study's Figure 9: train (solid) and val (dashed) loss of every model, one colour each."""
    if not histories:
        raise DataError("plot_all_loss_curves: no training history was given (expected >= 1 model)")
    fig, (ax,) = new_figure(9, 5)
    palette = matplotlib.colormaps["tab10" if len(histories) <= 10 else "tab20"]
    epochs: list[int] = []
    for i, (name, history) in enumerate(histories.items()):
        hist = check_history(history, name)
        colour = palette(i % palette.N)
        ax.plot(hist["epoch"], hist["train_loss"], "-", color=colour, marker="o", markersize=3)
        ax.plot(hist["epoch"], hist["val_loss"], "--", color=colour, marker="s", markersize=3)
        epochs.extend(hist["epoch"].astype(int).tolist())
    handles = [
        Line2D([], [], color=palette(i % palette.N), linewidth=2.5, label=name)
        for i, name in enumerate(histories)
    ]
    handles += [
        Line2D([], [], color="black", linestyle="-", label="train"),
        Line2D([], [], color="black", linestyle="--", label="val"),
    ]
    ax.legend(
        handles=handles, frameon=False, fontsize=9, loc="center left", bbox_to_anchor=(1, 0.5)
    )
    ax.set_xticks(_epoch_ticks(pd.Series(epochs)))
    ax.set_xlabel("Epoch", fontsize=LABEL_SIZE)
    ax.set_ylabel("Loss (BCE with logits)", fontsize=LABEL_SIZE)
    ax.set_title(
        "Training (solid) and validation (dashed) loss of every model", fontsize=TITLE_SIZE
    )
    style_axes(ax, "both")
    save_figure(out_png, fig)
    return fig


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
    for i in range(2):
        for j in range(2):
            share = f"{100 * fractions.iat[i, j]:.1f}%" if row_totals.iat[i] > 0 else "n/a"
            ax.text(
                j,
                i,
                f"{counts.iat[i, j]:,}\n({share})",
                ha="center",
                va="center",
                fontsize=12,
                color="white" if fractions.iat[i, j] > 0.5 else "black",
            )
    ax.set_xticks([0, 1], [name.capitalize() for name in CLASS_NAMES])
    ax.set_yticks([0, 1], [name.capitalize() for name in CLASS_NAMES])
    ax.set_xlabel("Predicted label", fontsize=LABEL_SIZE)
    ax.set_ylabel("True label", fontsize=LABEL_SIZE)
    total = int(counts.to_numpy().sum())
    correct = int(tn) + int(tp)
    accuracy = f"{100 * correct / total:.2f}%" if total else "n/a"
    ax.set_title(f"{title}\nn = {total:,}, accuracy {accuracy}", fontsize=TITLE_SIZE)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    save_figure(out_png, fig)
    return fig


def _epoch_ticks(epochs: pd.Series) -> Sequence[int]:
    """Integer epoch ticks, thinned to at most ~15 labels."""
    values = sorted({int(e) for e in epochs})
    step = -(-len(values) // 15)  # ceil(len / 15)
    return values[:: max(step, 1)]
