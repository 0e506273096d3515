"""Every figure, drawn from tiny hand-made tables: data (EDA), training, evaluation, Grad-CAM."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.colors import to_rgba
from PIL import Image
from sklearn import metrics as skm

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


# ----------------------------------------------------------------------------- data (EDA)
def _sample(n: int) -> pd.DataFrame:
    genders = ["female", "male"] * n
    return pd.DataFrame({"image_id": [f"{i:06d}.jpg" for i in range(n)], "gender": genders[:n]})


def test_plot_sample_images_titles_each_panel_with_its_gender(tmp_path):
    sample = _sample(3)
    images = [Image.new("RGB", (18, 22), (40 * i, 100, 200)) for i in range(3)]
    out = tmp_path / "fig" / "samples.png"
    fig = plots.plot_sample_images(sample, images, out)
    assert [ax.get_title() for ax in fig.axes] == ["female", "male", "female"]
    assert [ax.get_xlabel() for ax in fig.axes] == list(sample["image_id"])
    width, height = _png_size(out)
    assert width > 200 and height > 80


def test_plot_sample_images_wants_one_image_per_row(no_render, tmp_path):
    with pytest.raises(DataError, match="2 images for 3 rows"):
        plots.plot_sample_images(_sample(3), [Image.new("RGB", (4, 4))] * 2, tmp_path / "s.png")


def test_plot_gender_counts_prints_the_counts_on_the_bars(tmp_path):
    counts = pd.DataFrame({"label": [0, 1], "gender": ["female", "male"], "count": [4, 2]})
    out = tmp_path / "gender.png"
    fig = plots.plot_gender_counts(counts, out)
    ax = fig.axes[0]
    assert [bar.get_height() for bar in ax.patches] == [4, 2]
    assert {text.get_text() for text in ax.texts} == {"4", "2"}
    assert [t.get_text() for t in ax.get_xticklabels()] == ["female", "male"]
    assert _png_size(out)[0] > 200


def test_plot_attribute_counts_draws_one_bar_per_attribute_most_frequent_on_top(no_render):
    counts = pd.DataFrame({"attribute": ["Smiling", "Male", "Bald"], "count": [5, 3, 0]})
    fig = plots.plot_attribute_counts(counts, "attributes.png")
    bars = fig.axes[0].patches
    assert [bar.get_width() for bar in bars] == [0, 3, 5]  # barh draws bottom-up
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["Bald", "Male", "Smiling"]


def test_plot_correlations_colours_negative_blue_and_positive_red(no_render):
    corr = pd.DataFrame({"attribute": ["Wearing_Lipstick", "Mustache"], "corr": [-0.7, 0.5]})
    fig = plots.plot_correlations(corr, "corr.png")
    lipstick, mustache = fig.axes[0].patches
    assert lipstick.get_width() == pytest.approx(-0.7)
    assert lipstick.get_facecolor() == to_rgba(plots.NEGATIVE_COLOUR)
    assert mustache.get_facecolor() == to_rgba(plots.POSITIVE_COLOUR)


def test_plot_correlations_leaves_out_male_and_undefined_correlations(no_render):
    corr = pd.DataFrame(
        {"attribute": ["Smiling", "Bald", "Male", "Young"], "corr": [0.1, math.nan, 1.0, -0.2]}
    )
    fig = plots.plot_correlations(corr, "corr.png")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["Young", "Smiling"]
    assert len(fig.axes[0].patches) == 2


# ----------------------------------------------------------------------------- evaluation
def test_plot_roc_curves_draws_sklearn_s_curve_with_its_auc(no_render):
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 2, 300)
    probs = np.round(np.clip(0.3 * labels + 0.7 * rng.random(300), 0, 1), 2)  # with ties
    aucs = plots.plot_roc_curves({"m": (labels, probs)}, "roc.png")
    curve = no_render["roc.png"].axes[0].get_lines()[0]
    fpr, tpr, _ = skm.roc_curve(labels, probs)
    np.testing.assert_array_equal(curve.get_xdata(), fpr)
    np.testing.assert_array_equal(curve.get_ydata(), tpr)
    assert aucs["m"] == pytest.approx(skm.roc_auc_score(labels, probs), abs=1e-15)
    assert curve.get_label() == f"m (AUC {aucs['m']:.3f})"


def test_plot_roc_curves_auc_of_perfect_and_random_scorers(tmp_path):
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 2, 2000)
    curves = {
        "perfect": (labels, labels * 0.8 + 0.1),
        "random": (labels, rng.random(2000)),
    }
    out = tmp_path / "roc.png"
    aucs = plots.plot_roc_curves(curves, out)
    assert aucs["perfect"] == 1.0
    assert aucs["random"] == pytest.approx(0.5, abs=0.05)
    assert out.stat().st_size > 0


def test_plot_roc_curves_one_class_labels_give_nan_auc(no_render):
    aucs = plots.plot_roc_curves({"m": ([1, 1, 1], [0.2, 0.6, 0.9])}, "roc.png")
    assert math.isnan(aucs["m"])
    assert [line.get_label() for line in no_render["roc.png"].axes[0].get_lines()] == [
        "chance (AUC 0.5)"
    ]


def test_plot_roc_curves_rejects_labels_other_than_0_and_1(no_render):
    with pytest.raises(DataError, match="m labels: expected only 0"):
        plots.plot_roc_curves({"m": ([0, 2], [0.2, 0.6])}, "roc.png")


def test_plot_subgroup_heatmap_greys_small_groups_and_prints_accuracy_and_n(tmp_path):
    columns = ["female absent", "female present", "male absent", "male present"]
    accuracy = pd.DataFrame([[0.75, math.nan, 0.5, 1.0]], index=pd.Index(["Bald"]), columns=columns)
    counts = pd.DataFrame([[4, 0, 2, 2]], index=pd.Index(["Bald"]), columns=columns)
    out = tmp_path / "heatmap.png"
    fig = plots.plot_subgroup_heatmap(accuracy, counts, out, title="m: test accuracy by group")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == [
        "75.0% (n=4)",
        "n=0",
        "50.0% (n=2)",
        "100.0% (n=2)",
    ]
    assert ax.images[0].get_array().mask.tolist() == [[False, True, False, False]]
    assert [t.get_text() for t in ax.get_xticklabels()] == columns
    assert out.stat().st_size > 0


# ----------------------------------------------------------------------------- Grad-CAM
def test_overlay_blends_jet_colours_with_alpha():
    image = np.zeros((4, 5, 3), dtype=np.uint8)
    cam = np.zeros((4, 5))
    cam[0, 0] = 1.0
    blended = plots.overlay(image, cam)
    assert blended.dtype == np.uint8 and blended.shape == (4, 5, 3)
    # jet(1.0) is dark red (0.5, 0, 0); jet(0) is dark blue (0, 0, 0.5); alpha 0.45.
    assert tuple(blended[0, 0]) == (57, 0, 0)
    assert tuple(blended[1, 1]) == (0, 0, 57)


def test_overlay_takes_a_cpu_tensor_as_the_cam():
    image = np.zeros((4, 5, 3), dtype=np.uint8)
    cam = torch.rand(4, 5)
    np.testing.assert_array_equal(plots.overlay(image, cam), plots.overlay(image, cam.numpy()))


def test_overlay_rejects_mismatched_cam_shape():
    with pytest.raises(ValueError, match="CAM shape"):
        plots.overlay(np.zeros((4, 5, 3), dtype=np.uint8), np.zeros((5, 4)))


def test_plot_gradcam_grid_shows_each_image_beside_its_overlay(tmp_path):
    image = np.full((32, 32, 3), 128, dtype=np.uint8)
    cam = np.random.default_rng(0).random((32, 32))
    out = tmp_path / "gradcam.png"
    fig = plots.plot_gradcam_grid(
        [(image, cam, "male, p=0.93"), (image, cam, "female, p=0.12")], out
    )
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["male, p=0.93", "Grad-CAM", "female, p=0.12", "Grad-CAM"]
    assert out.stat().st_size > 0
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
