"""The huggingface layout (the Hub's parquet shards): read like the other layouts, images checked
and decoded straight from the shards, the same subset as the Kaggle layout."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pq = pytest.importorskip("pyarrow.parquet")

from celeba_gender import constants as C  # noqa: E402
from celeba_gender import ingest, parquet, store, synth  # noqa: E402
from celeba_gender.io import CelebaGenderError, DataError  # noqa: E402


def shard(root: Path, name: str = "train-00000-of-00002.parquet") -> Path:
    return root / C.HUB_CONFIG / name


def rewrite(path: Path, change) -> None:
    """Rewrite a shard with ``change(dict of columns) -> dict of columns``."""
    table = pq.read_table(path)
    columns = change({n: table.column(n).to_pylist() for n in table.column_names})
    import pyarrow as pa

    pq.write_table(pa.table(columns, schema=None), path)


@pytest.mark.parametrize("order", ["first", "random"])
def test_subset_is_the_kaggle_layouts_subset(synthetic_roots, order):
    hub, kaggle = synthetic_roots["huggingface"], synthetic_roots["kaggle"]
    a, _ = ingest.build_metadata(hub, subset_size=17, subset_order=order, seed=5)
    b, _ = ingest.build_metadata(kaggle, subset_size=17, subset_order=order, seed=5)
    pd.testing.assert_frame_equal(a.drop(columns="path"), b.drop(columns="path"))


def test_paths_are_row_references_and_partition_comes_from_the_shards(synthetic_roots, n_images):
    root = synthetic_roots["huggingface"]
    meta, _ = ingest.build_metadata(root)
    first = parquet.parse_row_ref(meta["path"][0])
    assert first == (str(shard(root)), 0)
    hub_parts = ingest.read_partition(root, "huggingface")
    kaggle_parts = ingest.read_partition(synthetic_roots["kaggle"], "kaggle")
    pd.testing.assert_frame_equal(hub_parts, kaggle_parts, check_dtype=False)
    assert sorted(set(hub_parts["partition"])) == [0, 1, 2] and len(hub_parts) == n_images


def test_store_decodes_the_same_pixels_as_from_the_jpeg_files(synthetic_roots, tmp_path):
    hub, _ = ingest.build_metadata(synthetic_roots["huggingface"], check_decode=False)
    files, _ = ingest.build_metadata(synthetic_roots["kaggle"], check_decode=False)
    picked = [0, 3, 35, 39, 12]  # across shards and splits, out of order
    a = store.build_store([hub["path"][i] for i in picked], 32, tmp_path / "a.npy")
    b = store.build_store([files["path"][i] for i in picked], 32, tmp_path / "b.npy")
    np.testing.assert_array_equal(a, b)


def test_bad_image_bytes_name_the_shard_and_row(dataset_copy):
    root = dataset_copy("huggingface")
    path = shard(root, "valid-00001-of-00002.parquet")

    def spoil(cols):
        cols["image"][1] = {"bytes": b"not an image", "path": cols["image"][1]["path"]}
        return cols

    rewrite(path, spoil)
    with pytest.raises(DataError, match="1 of 40 images cannot be decoded") as err:
        ingest.build_metadata(root)
    assert "valid-00001-of-00002.parquet row 1): UnidentifiedImageError" in str(err.value)
    meta, bad = ingest.build_metadata(root, on_bad_image="skip")
    assert len(meta) == 39 and bad["path"].tolist() == [f"{path}#1"]


def test_bad_attribute_value_names_shard_column_and_row(dataset_copy):
    root = dataset_copy("huggingface")

    def spoil(cols):
        cols["Smiling"] = [1 if v else -1 for v in cols["Smiling"]]
        cols["Smiling"][2] = 0
        return cols

    rewrite(shard(root), spoil)
    with pytest.raises(DataError, match=r"Smiling \(1 rows; row 2: 0\)") as err:
        ingest.build_metadata(root)
    assert "train-00000-of-00002.parquet" in str(err.value)


def test_plus_minus_one_integers_are_read_like_booleans(dataset_copy, synthetic_roots):
    root = dataset_copy("huggingface")
    for path in parquet.list_shards(root / C.HUB_CONFIG):
        rewrite(path, lambda cols: {k: ([1 if x else -1 for x in v] if k in C.ATTRIBUTES else v)
                                    for k, v in cols.items()})  # fmt: skip
    a, _ = ingest.build_metadata(root, check_decode=False)
    b, _ = ingest.build_metadata(synthetic_roots["huggingface"], check_decode=False)
    pd.testing.assert_frame_equal(a.drop(columns="path"), b.drop(columns="path"))


def test_rows_without_a_path_get_a_stable_synthetic_id(dataset_copy):
    root = dataset_copy("huggingface")

    def drop_paths(cols):
        cols["image"] = [{"bytes": c["bytes"], "path": None} for c in cols["image"]]
        return cols

    rewrite(shard(root), drop_paths)
    ids = ingest.read_attributes(root, "huggingface")["image_id"]
    assert ids[0] == "train-00000-of-00002_000000" and ids[16] == "000017.jpg"


def test_shards_directly_in_the_root_are_detected(tmp_path):
    frame = synth.sample_attributes(6, 0).assign(celeb_id=1)
    images = synth.encode_images(frame, 0)
    parquet.write_shards(frame, images, tmp_path, "train", 1)
    assert ingest.detect_layout(tmp_path) == "huggingface"
    assert ingest.image_dir(tmp_path, "huggingface") == tmp_path


def test_missing_pyarrow_names_the_hub_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(CelebaGenderError, match=r'pip install -e "\.\[hub\]"'):
        parquet.require_pyarrow()


def test_open_image_bytes_refuses_empty_bytes():
    with pytest.raises(ValueError, match="no image bytes"):
        parquet.open_image_bytes(b"")
    with pytest.raises(ValueError, match="no image bytes"):
        parquet.open_image_bytes(None)
