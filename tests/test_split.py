"""The stratified train/val/test split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from celeba_gender.io import DataError
from celeba_gender.split import stratified_split, summary, write_splits


def _metadata(n: int, n_male: int, seed: int = 0) -> pd.DataFrame:
    """A metadata table without images: ``n`` rows, ``n_male`` of them label 1, shuffled."""
    labels = np.zeros(n, dtype=int)
    labels[:n_male] = 1
    np.random.default_rng(seed).shuffle(labels)
    ids = [f"{i:06d}.jpg" for i in range(1, n + 1)]
    return pd.DataFrame(
        {
            "image_id": ids,
            "path": [f"/data/{i}" for i in ids],
            "label": labels,
            "Male": 2 * labels - 1,
        }
    )


@pytest.fixture(scope="module")
def study_meta() -> pd.DataFrame:
    """30,000 rows with the study's class counts (17,320 female, 12,680 male)."""
    return _metadata(30_000, 12_680)


@pytest.fixture(scope="module")
def study_splits(study_meta) -> dict[str, pd.DataFrame]:
    return stratified_split(study_meta, seed=42)


def test_30000_rows_give_24000_3000_3000(study_splits):
    assert {k: len(v) for k, v in study_splits.items()} == {
        "train": 24_000,
        "val": 3_000,
        "test": 3_000,
    }


def test_parts_are_disjoint_and_cover_every_image(study_meta, study_splits):
    ids = [set(part["image_id"]) for part in study_splits.values()]
    assert not ids[0] & ids[1] and not ids[0] & ids[2] and not ids[1] & ids[2]
    assert ids[0] | ids[1] | ids[2] == set(study_meta["image_id"])


def test_each_part_keeps_the_class_ratio_within_one_point(study_meta, study_splits):
    overall = study_meta["label"].mean()
    for part in study_splits.values():
        assert abs(part["label"].mean() - overall) < 0.01


def test_parts_have_split_columns_in_input_order(study_meta, study_splits):
    for part in study_splits.values():
        assert list(part.columns) == ["image_id", "path", "label"]
        assert part["image_id"].is_monotonic_increasing
        assert part.index.equals(pd.RangeIndex(len(part)))


def test_same_seed_gives_the_same_split(study_meta, study_splits):
    again = stratified_split(study_meta, seed=42)
    for name, part in study_splits.items():
        pd.testing.assert_frame_equal(again[name], part)


def test_different_seed_gives_a_different_split(study_meta, study_splits):
    other = stratified_split(study_meta, seed=7)
    assert set(other["test"]["image_id"]) != set(study_splits["test"]["image_id"])


def test_other_fractions_give_rounded_sizes():
    parts = stratified_split(_metadata(1_000, 400), train=0.7, val=0.15, test=0.15)
    assert [len(parts[k]) for k in ("train", "val", "test")] == [700, 150, 150]


def test_fractions_not_summing_to_one_error_names_the_values():
    with pytest.raises(DataError, match=r"train=0\.8, val=0\.2, test=0\.1 sum to 1\.1"):
        stratified_split(_metadata(100, 40), train=0.8, val=0.2, test=0.1)


def test_fractions_within_tolerance_are_accepted():
    parts = stratified_split(_metadata(100, 40), train=0.8 + 5e-7, val=0.1, test=0.1)
    assert sum(len(p) for p in parts.values()) == 100


def test_split_too_small_for_both_classes_error_names_the_part():
    with pytest.raises(DataError, match=r"the val part would hold 1 images") as err:
        stratified_split(_metadata(20, 10), train=0.9, val=0.05, test=0.05)
    assert "20 images" in str(err.value)


def test_class_too_rare_for_three_parts_error_names_class_and_count():
    with pytest.raises(DataError, match=r"only 2 male images \(label 1\) among 100"):
        stratified_split(_metadata(100, 2))


def test_rest_too_small_for_both_classes_error_gives_its_counts():
    # 3 males among 200: the 40 val+test images get 1 male, too few for both val and test.
    with pytest.raises(DataError, match=r"the val\+test part \(40 images: 39 female, 1 male\)"):
        stratified_split(_metadata(200, 3))


def test_missing_label_column_error_lists_columns():
    with pytest.raises(DataError, match="lacks column.*label"):
        stratified_split(_metadata(100, 40).drop(columns="label"))


def test_summary_counts_each_class_per_split(study_splits):
    table = summary(study_splits)
    assert list(table.columns) == ["split", "n", "n_female", "n_male"]
    assert table["n"].tolist() == [24_000, 3_000, 3_000]
    assert table["n_male"].sum() == 12_680 and table["n_female"].sum() == 17_320
    assert (table["n"] == table["n_female"] + table["n_male"]).all()


def test_write_splits_writes_one_csv_per_part(tmp_path):
    parts = stratified_split(_metadata(100, 40))
    paths = {name: tmp_path / "splits" / f"{name}.csv" for name in parts}
    write_splits(parts, paths)
    for name, path in paths.items():
        pd.testing.assert_frame_equal(pd.read_csv(path), parts[name], check_dtype=False)
