"""EDA tables (the study's Figures 1-4 and the null check) and the EDA job, on tiny hand-made data."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from celeba_gender import eda
from celeba_gender.constants import ATTRIBUTES
from celeba_gender.io import DataError
from conftest import REPO


def _png_size(path) -> tuple[int, int]:
    with Image.open(path) as image:
        image.load()
        return image.size


@pytest.fixture
def no_render(monkeypatch) -> dict:
    """Skip PNG rendering (slow) where a test only inspects the figure; records saved figures."""
    saved: dict = {}
    monkeypatch.setattr(
        eda.plots, "save_figure", lambda path, fig: saved.__setitem__(str(path), fig)
    )
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


def test_sample_images_returns_n_distinct_rows_with_their_gender(meta):
    sample = eda.sample_images(meta, n=3, seed=1)
    assert list(sample.columns) == ["image_id", "path", "label", "gender"]
    assert len(sample) == 3
    assert sample["image_id"].is_unique
    assert set(sample["image_id"]) <= set(meta["image_id"])
    expected = (
        meta.set_index("image_id").loc[sample["image_id"], "label"].map({0: "female", 1: "male"})
    )
    assert list(sample["gender"]) == list(expected)


def test_sample_images_is_reproducible_for_a_seed(meta):
    first = eda.sample_images(meta, n=4, seed=7)
    second = eda.sample_images(meta, n=4, seed=7)
    assert list(first["image_id"]) == list(second["image_id"])


def test_sample_images_rejects_metadata_without_path(meta):
    with pytest.raises(DataError, match="path"):
        eda.sample_images(meta.drop(columns="path"))


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


# ----------------------------------------------------------------------------- the EDA job
@pytest.fixture
def metadata_csv(meta, tmp_path) -> str:
    path = tmp_path / "metadata.csv"
    meta.to_csv(path, index=False)
    return str(path)


def eda_job(metadata_csv: str, folder: Path) -> eda.EdaJob:
    """An EdaJob writing every output into ``folder`` (figures under their names only)."""
    names = [f.name for f in dataclasses.fields(eda.EdaJob) if f.name.startswith("out_")]
    files = {
        name: (
            str(folder / f"{name}.csv")
            if name.endswith(("_table", "null_counts"))
            else f"{name[4:]}.png"
        )
        for name in names
    }
    return eda.EdaJob(metadata_csv, seed=3, **files)


def test_eda_draws_the_sampled_images_opened_with_the_given_loader(
    meta, metadata_csv, tmp_path, no_render
):
    opened = []

    def load(path):
        opened.append(path)
        return Image.new("RGB", (10, 12))

    eda.eda(eda_job(metadata_csv, tmp_path), load=load)
    assert opened == list(eda.sample_images(meta, seed=3)["path"])
    titles = [ax.get_title() for ax in no_render["samples.png"].axes]
    assert titles == list(eda.sample_images(meta, seed=3)["gender"])


@pytest.mark.parametrize(
    "name,compute,figure",
    [
        ("gender_counts", eda.gender_counts, "gender_counts.png"),
        ("attribute_counts", eda.attribute_counts, "attribute_counts.png"),
        ("correlations", eda.attribute_correlations, "correlations.png"),
        ("null_counts", eda.null_counts, None),
    ],
)
def test_eda_writes_each_table_and_draws_its_figure(
    name, compute, figure, metadata_csv, tmp_path, no_render
):
    job = eda_job(metadata_csv, tmp_path)
    eda.eda(job, load=lambda path: Image.new("RGB", (10, 12)))
    expected = compute(pd.read_csv(metadata_csv, dtype={"image_id": str}))
    written = pd.read_csv(job.table_file(name))
    pd.testing.assert_frame_equal(written, expected, check_dtype=False)
    if figure:
        assert figure in no_render


def test_eda_draws_four_figures_and_writes_four_tables(metadata_csv, tmp_path, no_render):
    eda.eda(eda_job(metadata_csv, tmp_path), load=lambda path: Image.new("RGB", (10, 12)))
    assert sorted(no_render) == sorted(
        ["samples.png", "gender_counts.png", "attribute_counts.png", "correlations.png"]
    )
    assert len(list(tmp_path.glob("out_*.csv"))) == 4
    nulls = pd.read_csv(tmp_path / "out_null_counts.csv")
    assert nulls["nulls"].sum() == 0 and "Male" in set(nulls["column"])


def test_the_eda_rule_declares_every_output_of_the_eda_job():
    smk = (REPO / "rules" / "eda.smk").read_text()
    outputs = re.findall(r"^        (\w+)=f\"", smk, flags=re.MULTILINE)
    fields = [f.name[4:] for f in dataclasses.fields(eda.EdaJob) if f.name.startswith("out_")]
    assert sorted(outputs) == sorted(fields)
