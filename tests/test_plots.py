"""Training and evaluation figures on tiny hand-made histories and confusion counts."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from PIL import Image

from celeba_gender import plots
from celeba_gender.io import DataError


def _png_size(path) -> tuple[int, int]:
    with Image.open(path) as image:
        image.load()
        return image.size


def _history(offset: float = 0.0, epochs: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "epoch": list(range(1, epochs + 1)),
            "train_loss": [0.6 - 0.1 * e - offset for e in range(epochs)],
            "train_accuracy": [0.70 + 0.05 * e + offset for e in range(epochs)],
            "val_loss": [0.65 - 0.08 * e - offset for e in range(epochs)],
            "val_accuracy": [0.68 + 0.04 * e + offset for e in range(epochs)],
            "seconds": [12.5, 11.0, 11.25][:epochs],
        }
    )


@pytest.fixture
def no_render(monkeypatch) -> dict:
    """Skip PNG rendering (slow) where a test only inspects the figure; records saved figures."""
    saved: dict = {}
    monkeypatch.setattr(plots, "save_figure", lambda path, fig: saved.__setitem__(str(path), fig))
    return saved


def test_plot_history_draws_train_and_val_accuracy_and_loss_panels(tmp_path):
    out = tmp_path / "curves.png"
    history = _history()
    fig = plots.plot_history(history, out, "s1_lr1e-3_seed0")
    accuracy, loss = fig.axes
    acc_lines = {line.get_label(): list(line.get_ydata()) for line in accuracy.get_lines()}
    loss_lines = {line.get_label(): list(line.get_ydata()) for line in loss.get_lines()}
    assert acc_lines["train accuracy"] == pytest.approx(list(history["train_accuracy"]))
    assert acc_lines["val accuracy"] == pytest.approx(list(history["val_accuracy"]))
    assert loss_lines["train loss"] == pytest.approx(list(history["train_loss"]))
    assert loss_lines["val loss"] == pytest.approx(list(history["val_loss"]))
    assert accuracy.get_xlabel() == "Epoch" and "Loss" in loss.get_ylabel()
    width, height = _png_size(out)
    assert width > 600 and height > 250


def test_plot_history_sorts_epochs(no_render, tmp_path):
    shuffled = _history().iloc[[2, 0, 1]]
    fig = plots.plot_history(shuffled, tmp_path / "c.png", "m")
    assert list(fig.axes[0].get_lines()[0].get_xdata()) == [1, 2, 3]


def test_plot_history_names_the_missing_column(tmp_path):
    with pytest.raises(DataError, match="val_loss"):
        plots.plot_history(_history().drop(columns="val_loss"), tmp_path / "c.png", "m")


def test_check_history_rejects_a_history_without_rows():
    with pytest.raises(DataError, match="no rows"):
        plots.check_history(_history().iloc[0:0], "results/models/m/history.csv")


def test_history_table_formats_every_epoch_like_the_study():
    table = plots.history_table(_history())
    assert list(table.columns) == [
        "Epoch",
        "Train loss",
        "Train accuracy",
        "Val loss",
        "Val accuracy",
        "Seconds",
    ]
    assert table.iloc[0].tolist() == ["1", "0.6000", "0.7000", "0.6500", "0.6800", "12.5"]
    assert len(table) == 3


def test_history_table_figure_renders_header_and_one_row_per_epoch(tmp_path):
    out = tmp_path / "table.png"
    fig = plots.history_table_figure(_history(), out, "s2_lr1e-4_seed0: per-epoch numbers")
    cells = fig.axes[0].tables[0].get_celld()
    assert cells[0, 0].get_text().get_text() == "Epoch"
    assert cells[3, 0].get_text().get_text() == "3"
    assert cells[2, 4].get_text().get_text() == "0.7200"
    assert max(row for row, _ in cells) == 3
    assert _png_size(out)[0] > 400


def test_plot_all_loss_curves_gives_each_model_one_colour_solid_train_dashed_val(tmp_path):
    histories = {"s1_lr1e-3_seed0": _history(), "s2_lr1e-4_seed0": _history(0.02)}
    out = tmp_path / "loss.png"
    fig = plots.plot_all_loss_curves(histories, out)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 4
    colours = [to_rgba(line.get_color()) for line in lines]
    assert colours[0] == colours[1] and colours[2] == colours[3]
    assert colours[0] != colours[2]
    assert [line.get_linestyle() for line in lines] == ["-", "--", "-", "--"]
    assert list(lines[3].get_ydata()) == pytest.approx(
        list(histories["s2_lr1e-4_seed0"]["val_loss"])
    )
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["s1_lr1e-3_seed0", "s2_lr1e-4_seed0", "train", "val"]
    assert _png_size(out)[0] > 500


def test_plot_all_loss_curves_rejects_an_empty_mapping(tmp_path):
    with pytest.raises(DataError, match="no training history"):
        plots.plot_all_loss_curves({}, tmp_path / "loss.png")


def test_confusion_frame_puts_true_class_in_rows_and_predicted_in_columns():
    frame = plots.confusion_frame(tn=5, fp=1, fn=2, tp=7)
    assert frame.loc["true female", "predicted female"] == 5
    assert frame.loc["true female", "predicted male"] == 1
    assert frame.loc["true male", "predicted female"] == 2
    assert frame.loc["true male", "predicted male"] == 7


def test_plot_confusion_shows_counts_and_row_percentages_with_labelled_axes(tmp_path):
    out = tmp_path / "cm.png"
    fig = plots.plot_confusion(90, 10, 25, 75, out, "s1_lr1e-3_seed0")
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["90\n(90.0%)", "10\n(10.0%)", "25\n(25.0%)", "75\n(75.0%)"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Female", "Male"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Female", "Male"]
    assert ax.get_xlabel() == "Predicted label" and ax.get_ylabel() == "True label"
    assert "accuracy 82.50%" in ax.get_title()
    width, height = _png_size(out)
    assert width > 300 and height > 300


def test_plot_confusion_handles_a_model_that_predicts_one_class(no_render, tmp_path):
    fig = plots.plot_confusion(0, 1732, 0, 1268, tmp_path / "cm.png", "s2_lr1e-3_seed0")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["0\n(0.0%)", "1,732\n(100.0%)", "0\n(0.0%)", "1,268\n(100.0%)"]


def test_plot_confusion_marks_a_class_without_samples(no_render, tmp_path):
    fig = plots.plot_confusion(0, 0, 3, 5, tmp_path / "cm.png", "m")
    assert [t.get_text() for t in fig.axes[0].texts][:2] == ["0\n(n/a)", "0\n(n/a)"]


def test_plot_confusion_rejects_negative_counts(tmp_path):
    with pytest.raises(DataError, match="fp=-1"):
        plots.plot_confusion(1, -1, 2, 3, tmp_path / "cm.png", "m")
