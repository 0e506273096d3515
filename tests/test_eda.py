"""EDA tables and figures (the study's Figures 1-4 and the null check) on tiny hand-made data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from PIL import Image

from celeba_gender import eda
from celeba_gender.constants import ATTRIBUTES
from celeba_gender.io import DataError


def _png_size(path) -> tuple[int, int]:
    with Image.open(path) as image:
        image.load()
        return image.size


@pytest.fixture
def no_render(monkeypatch) -> dict:
    """Skip PNG rendering (slow) where a test only inspects the figure; records saved figures."""
    saved: dict = {}
    monkeypatch.setattr(eda, "save_figure", lambda path, fig: saved.__setitem__(str(path), fig))
    return saved


@pytest.fixture
def meta(tmp_path) -> pd.DataFrame:
    """Six images (4 female, 2 male) with all 40 attributes; Bald is never present."""
    labels = [0, 0, 0, 0, 1, 1]
    rows = []
    for i, label in enumerate(labels):
        path = tmp_path / "img" / f"{i + 1:06d}.jpg"
        path.parent.mkdir(exist_ok=True)
        Image.new("RGB", (18, 22), (40 * i, 100, 200 - 30 * i)).save(path)
        rows.append({"image_id": path.name, "path": str(path), "label": label})
    frame = pd.DataFrame(rows)
    rng = np.random.default_rng(3)
    for attribute in ATTRIBUTES:
        frame[attribute] = rng.choice([-1, 1], size=len(frame))
    frame["Male"] = [2 * label - 1 for label in labels]
    frame["Wearing_Lipstick"] = [1, 1, 1, -1, -1, -1]  # mostly women: negative correlation
    frame["Mustache"] = [-1, -1, -1, -1, 1, 1]  # only men: positive correlation
    frame["Bald"] = -1  # constant: undefined correlation
    return frame


def test_plot_sample_images_writes_png_and_returns_sampled_rows(meta, tmp_path):
    out = tmp_path / "fig" / "samples.png"
    sample = eda.plot_sample_images(meta, out, n=3, seed=1)
    assert len(sample) == 3
    assert sample["image_id"].is_unique
    assert set(sample["image_id"]) <= set(meta["image_id"])
    expected = (
        meta.set_index("image_id").loc[sample["image_id"], "label"].map({0: "female", 1: "male"})
    )
    assert list(sample["gender"]) == list(expected)
    width, height = _png_size(out)
    assert width > 200 and height > 80


def test_plot_sample_images_is_reproducible_for_a_seed(meta, tmp_path, no_render):
    first = eda.plot_sample_images(meta, tmp_path / "a.png", n=4, seed=7)
    second = eda.plot_sample_images(meta, tmp_path / "b.png", n=4, seed=7)
    assert list(first["image_id"]) == list(second["image_id"])


def test_plot_sample_images_opens_images_with_the_given_loader(meta, tmp_path, no_render):
    opened = []

    def load(path):
        opened.append(path)
        return Image.new("RGB", (10, 12))

    sample = eda.plot_sample_images(meta, tmp_path / "s.png", n=2, load=load)
    assert opened == list(sample["path"])


def test_plot_sample_images_titles_each_panel_with_its_gender(meta, tmp_path, no_render):
    sample = eda.plot_sample_images(meta, tmp_path / "s.png", n=5)
    titles = [ax.get_title() for ax in no_render[str(tmp_path / "s.png")].axes]
    assert titles == list(sample["gender"])


def test_plot_sample_images_rejects_metadata_without_path(meta, tmp_path):
    with pytest.raises(DataError, match="path"):
        eda.plot_sample_images(meta.drop(columns="path"), tmp_path / "s.png")


def test_gender_counts_counts_each_class_in_label_order(meta):
    counts = eda.gender_counts(meta)
    assert list(counts.columns) == ["label", "gender", "count"]
    assert counts.to_dict("list") == {
        "label": [0, 1],
        "gender": ["female", "male"],
        "count": [4, 2],
    }


def test_gender_counts_keeps_a_missing_class_with_zero(meta):
    counts = eda.gender_counts(meta[meta["label"] == 0])
    assert list(counts["count"]) == [4, 0]


def test_gender_counts_rejects_a_label_other_than_0_or_1(meta):
    bad = meta.assign(label=[0, 0, 0, 0, 1, -1])
    with pytest.raises(DataError, match="row 5"):
        eda.gender_counts(bad)


def test_plot_gender_counts_prints_the_counts_on_the_bars(meta, tmp_path):
    out = tmp_path / "gender.png"
    fig = eda.plot_gender_counts(eda.gender_counts(meta), out)
    ax = fig.axes[0]
    assert [bar.get_height() for bar in ax.patches] == [4, 2]
    assert {text.get_text() for text in ax.texts} == {"4", "2"}
    assert [t.get_text() for t in ax.get_xticklabels()] == ["female", "male"]
    assert _png_size(out)[0] > 200


def test_null_counts_lists_every_column_with_its_nulls():
    frame = pd.DataFrame({"a": [1, None, 3], "b": ["x", "y", None], "c": [None, None, 1.0]})
    counts = eda.null_counts(frame)
    assert counts.to_dict("list") == {"column": ["a", "b", "c"], "nulls": [1, 1, 2]}


def test_attribute_counts_counts_images_with_value_1_sorted_descending(meta):
    counts = eda.attribute_counts(meta)
    assert len(counts) == len(ATTRIBUTES)
    by_name = counts.set_index("attribute")["count"]
    assert by_name["Wearing_Lipstick"] == 3
    assert by_name["Mustache"] == 2
    assert by_name["Bald"] == 0
    assert by_name["Male"] == 2
    assert list(counts["count"]) == sorted(counts["count"], reverse=True)


def test_attribute_counts_rejects_metadata_without_attributes(meta):
    with pytest.raises(DataError, match="attribute"):
        eda.attribute_counts(meta[["image_id", "path", "label"]])


def test_plot_attribute_counts_draws_one_bar_per_attribute_most_frequent_on_top(meta, tmp_path):
    counts = eda.attribute_counts(meta)
    out = tmp_path / "attributes.png"
    fig = eda.plot_attribute_counts(counts, out)
    bars = fig.axes[0].patches
    assert len(bars) == len(counts)
    assert bars[-1].get_width() == counts["count"].max()  # barh draws bottom-up
    assert bars[0].get_width() == counts["count"].min()
    assert _png_size(out)[1] > 300


def test_attribute_correlations_equal_pandas_corr_and_leave_out_male(meta):
    corr = eda.attribute_correlations(meta)
    assert "Male" not in set(corr["attribute"])
    assert len(corr) == len(ATTRIBUTES) - 1
    ours = corr.set_index("attribute")["corr"]
    for attribute in ("Wearing_Lipstick", "Mustache", "Young", "Smiling"):
        expected = meta[attribute].astype(float).corr(meta["Male"].astype(float))
        assert ours[attribute] == pytest.approx(expected)
    assert ours["Mustache"] == pytest.approx(1.0)
    assert np.isnan(ours["Bald"])


def test_attribute_correlations_are_sorted_ascending_with_nan_last(meta):
    corr = eda.attribute_correlations(meta)
    defined = corr["corr"].dropna()
    assert list(defined) == sorted(defined)
    assert np.isnan(corr["corr"].iloc[-1])


def test_attribute_correlations_use_label_when_male_column_is_absent(meta):
    with_male = eda.attribute_correlations(meta).set_index("attribute")["corr"]
    without = eda.attribute_correlations(meta.drop(columns="Male")).set_index("attribute")["corr"]
    pd.testing.assert_series_equal(with_male.sort_index(), without.sort_index())


def test_plot_correlations_colours_negative_blue_and_positive_red(meta, tmp_path):
    corr = eda.attribute_correlations(meta)
    out = tmp_path / "corr.png"
    fig = eda.plot_correlations(corr, out)
    bars = fig.axes[0].patches
    assert bars, "no bars drawn"
    for bar in bars:
        red, _green, blue, _alpha = bar.get_facecolor()
        if bar.get_width() < 0:
            assert bar.get_facecolor() == to_rgba(eda.NEGATIVE_COLOUR)
            assert blue > red
        else:
            assert bar.get_facecolor() == to_rgba(eda.POSITIVE_COLOUR)
            assert red > blue
    assert _png_size(out)[1] > 300


def test_plot_correlations_leaves_out_male_and_undefined_correlations(meta, tmp_path, no_render):
    corr = pd.concat(
        [eda.attribute_correlations(meta), pd.DataFrame({"attribute": ["Male"], "corr": [1.0]})]
    )
    fig = eda.plot_correlations(corr, tmp_path / "corr.png")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "Male" not in labels
    assert "Bald" not in labels
    assert len(fig.axes[0].patches) == corr["corr"].notna().sum() - 1
