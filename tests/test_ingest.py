"""Reading the three CelebA layouts into the metadata table, and the errors on bad data."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from celeba_gender import constants as C
from celeba_gender import ingest, layouts, synth
from celeba_gender.io import DataError

LAYOUTS = layouts.LAYOUTS


def _kaggle_csv(root: Path) -> Path:
    return root / C.KAGGLE_ATTR


def _read_kaggle_text(root: Path) -> pd.DataFrame:
    return pd.read_csv(_kaggle_csv(root), dtype=str, keep_default_na=False)


def _image_path(root: Path, row: int, layout: str = "kaggle") -> Path:
    ids = ingest.read_attributes(root, layout)["image_id"]
    return ingest.image_dir(root, layout) / ids[row]


def _write_attributes(root: Path, frame: pd.DataFrame) -> Path:
    """Write ``frame`` (image_id + attributes) as a Kaggle CSV in ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    frame.to_csv(_kaggle_csv(root), index=False)
    return _kaggle_csv(root)


def _write_original_txt(root: Path, frame: pd.DataFrame, declared: int | None = None) -> Path:
    """Write ``frame`` as the original whitespace-aligned list_attr_celeba.txt."""
    path = root / C.ORIGINAL_ATTR
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [str(len(frame) if declared is None else declared), " ".join(C.ATTRIBUTES)]
    for row in frame.itertuples(index=False):
        lines.append(row[0] + " " + " ".join(f"{v:>2}" for v in row[1:]))
    path.write_text("\n".join(lines) + "\n")
    return path


def _text_attributes(n: int = 12) -> pd.DataFrame:
    """Synthetic attributes as text, ready to receive bad values."""
    return synth.sample_attributes(n, 0).astype(str)


# ---------------------------------------------------------------------------- layouts


@pytest.mark.parametrize("layout", LAYOUTS)
def test_detect_layout_recognises_each_layout(synthetic_roots, layout):
    assert ingest.detect_layout(synthetic_roots[layout]) == layout


def test_three_layouts_give_the_same_metadata_except_path(synthetic_roots, n_images):
    frames = [
        ingest.build_metadata(synthetic_roots[layout])[0].drop(columns="path") for layout in LAYOUTS
    ]
    assert len(frames[0]) == n_images
    for frame in frames[1:]:
        pd.testing.assert_frame_equal(frame, frames[0])


def test_metadata_has_contract_columns_labels_and_absolute_paths(synthetic_roots):
    meta, bad = ingest.build_metadata(synthetic_roots["kaggle"])
    assert list(meta.columns) == ["image_id", "path", "label", *C.ATTRIBUTES]
    assert (meta["label"] == (meta["Male"] == 1).astype(int)).all()
    assert set(meta["label"]) == {0, 1}
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in meta["path"])
    assert set(meta[list(C.ATTRIBUTES)].stack().unique()) <= {-1, 1}
    assert bad.empty and list(bad.columns) == ["image_id", "path", "reason"]


def test_kaggle_doubled_image_folder_is_used(synthetic_roots):
    root = synthetic_roots["kaggle"]
    assert ingest.image_dir(root, "kaggle") == root / "img_align_celeba" / "img_align_celeba"


def test_kaggle_images_moved_up_one_level_are_found(dataset_copy, n_images):
    root = dataset_copy("kaggle")
    outer = root / "img_align_celeba"
    inner = outer / "img_align_celeba"
    for image in inner.iterdir():
        image.rename(outer / image.name)
    inner.rmdir()
    meta, _ = ingest.build_metadata(root)
    assert len(meta) == n_images
    assert all(Path(p).parent.samefile(outer) for p in meta["path"])


def test_kaggle_csv_with_empty_first_header_cell_reads_file_names(dataset_copy, synthetic_roots):
    root = dataset_copy("kaggle")
    text = _kaggle_csv(root).read_text().split("\n", 1)
    header = text[0].split(",")
    _kaggle_csv(root).write_text(",".join(["", *header[1:]]) + "\n" + text[1])
    meta, _ = ingest.build_metadata(root)
    expected, _ = ingest.build_metadata(synthetic_roots["kaggle"])
    assert meta["image_id"].tolist() == expected["image_id"].tolist()


def test_original_txt_with_runs_of_spaces_is_read(tmp_path):
    frame = synth.sample_attributes(15, 1)
    _write_original_txt(tmp_path, frame)
    read = ingest.read_attributes(tmp_path, "original")
    pd.testing.assert_frame_equal(read, frame, check_dtype=False)


def test_explicit_format_overrides_detection(synthetic_roots, n_images):
    meta, _ = ingest.build_metadata(synthetic_roots["celeba30k"], fmt="celeba30k")
    assert len(meta) == n_images


# ---------------------------------------------------------------------------- missing files


def test_missing_root_error_names_the_folder(tmp_path):
    missing = tmp_path / "no_such_folder"
    with pytest.raises(DataError, match="does not exist") as err:
        ingest.build_metadata(missing)
    assert str(missing) in str(err.value)


def test_folder_without_layout_error_lists_every_file_looked_for(tmp_path):
    (tmp_path / "CelebA30k.csv").write_text("filename,Male\n")
    with pytest.raises(DataError, match="no CelebA layout") as err:
        ingest.detect_layout(tmp_path)
    message = str(err.value)
    for name in (
        C.KAGGLE_ATTR,
        *C.KAGGLE_IMAGES,
        C.CELEBA30K_ATTR,
        C.CELEBA30K_IMAGES,
        C.ORIGINAL_ATTR,
        C.ORIGINAL_IMAGES,
    ):
        assert name in message
    assert "CelebA30k.csv (found)" in message


def test_missing_attribute_file_error_names_its_path(dataset_copy):
    root = dataset_copy("kaggle")
    _kaggle_csv(root).unlink()
    with pytest.raises(DataError, match="not found") as err:
        ingest.build_metadata(root, fmt="kaggle")
    assert str(_kaggle_csv(root)) in str(err.value)


def test_empty_attribute_file_error_names_its_path(tmp_path):
    _kaggle_csv(tmp_path).write_text("")
    with pytest.raises(DataError, match="is empty") as err:
        ingest.read_attributes(tmp_path, "kaggle")
    assert str(_kaggle_csv(tmp_path)) in str(err.value)


def test_header_only_attribute_file_error(tmp_path):
    _kaggle_csv(tmp_path).write_text(",".join(["image_id", *C.ATTRIBUTES]) + "\n")
    with pytest.raises(DataError, match="no rows"):
        ingest.read_attributes(tmp_path, "kaggle")


def test_missing_listed_images_error_gives_count_names_and_folder(dataset_copy, n_images):
    root = dataset_copy("kaggle")
    gone = [_image_path(root, 3), _image_path(root, 8)]
    for path in gone:
        path.unlink()
    with pytest.raises(DataError, match=f"2 of {n_images} listed images are missing") as err:
        ingest.build_metadata(root)
    message = str(err.value)
    assert all(p.name in message for p in gone)
    assert str(gone[0].parent) in message


# ---------------------------------------------------------------------------- attribute file


def test_missing_male_column_error_lists_the_columns_found(tmp_path):
    path = _write_attributes(tmp_path, _text_attributes().drop(columns="Male"))
    with pytest.raises(DataError, match="has no column 'Male'") as err:
        ingest.read_attributes(tmp_path, "kaggle")
    message = str(err.value)
    assert "found 39 attribute columns" in message
    assert "5_o_Clock_Shadow" in message
    assert str(path) in message


def test_celeba30k_without_filename_column_error_lists_columns(tmp_path):
    frame = _text_attributes().rename(columns={"image_id": "name"})
    frame.to_csv(tmp_path / C.CELEBA30K_ATTR, index=False)
    with pytest.raises(DataError, match="no column 'filename'") as err:
        ingest.read_attributes(tmp_path, "celeba30k")
    assert "name" in str(err.value)


def test_kaggle_csv_without_file_name_column_error(tmp_path):
    _write_attributes(tmp_path, _text_attributes().drop(columns="image_id"))
    with pytest.raises(DataError, match="no file-name column"):
        ingest.read_attributes(tmp_path, "kaggle")


@pytest.mark.parametrize("value", ["0", "2", "yes", ""], ids=["zero", "two", "text", "empty"])
def test_bad_attribute_values_error_names_column_lines_and_count(tmp_path, value):
    frame = _text_attributes()
    frame.loc[[2, 5], "Male"] = value
    path = _write_attributes(tmp_path, frame)
    with pytest.raises(DataError, match="2 rows with values other than -1 or 1") as err:
        ingest.read_attributes(tmp_path, "kaggle")
    message = str(err.value)
    assert "Male (2 rows)" in message
    assert f"line 4: Male={value!r}" in message  # row 2 is file line 4 (after the header)
    assert "line 7" in message
    assert str(path) in message


def test_bad_values_in_several_columns_are_all_reported(tmp_path):
    frame = _text_attributes()
    frame.loc[1, "Smiling"] = "0"
    frame.loc[9, "Young"] = "2"
    _write_attributes(tmp_path, frame)
    with pytest.raises(DataError, match="2 rows") as err:
        ingest.read_attributes(tmp_path, "kaggle")
    message = str(err.value)
    assert "Smiling (1 row)" in message and "Young (1 row)" in message
    assert "line 3" in message and "line 11" in message


def test_duplicate_image_ids_error_gives_count_and_names(tmp_path):
    frame = _text_attributes()
    frame.loc[6, "image_id"] = frame.loc[1, "image_id"]
    _write_attributes(tmp_path, frame)
    with pytest.raises(DataError, match="1 image id listed more than once") as err:
        ingest.read_attributes(tmp_path, "kaggle")
    assert f"{frame.loc[1, 'image_id']} (lines 3, 8)" in str(err.value)


def test_many_duplicate_image_ids_error_shows_ten_then_an_ellipsis(tmp_path):
    frame = _text_attributes(22)
    frame.loc[11:21, "image_id"] = frame.loc[0:10, "image_id"].to_numpy()  # 11 ids twice
    _write_attributes(tmp_path, frame)
    with pytest.raises(DataError, match="11 image ids listed more than once") as err:
        ingest.read_attributes(tmp_path, "kaggle")
    message = str(err.value)
    assert f"{frame.loc[9, 'image_id']} (lines 11, 22), …. Each image" in message
    assert f"{frame.loc[10, 'image_id']} (lines" not in message


def test_original_txt_declared_count_mismatch_error_gives_both_numbers(tmp_path):
    path = _write_original_txt(tmp_path, synth.sample_attributes(10, 0), declared=12)
    with pytest.raises(DataError, match="declares 12 images but the file has 10 rows") as err:
        ingest.read_attributes(tmp_path, "original")
    assert str(path) in str(err.value)


def test_original_txt_bad_value_reports_file_line_number(tmp_path):
    frame = _text_attributes()
    frame.loc[0, "Male"] = "0"
    _write_original_txt(tmp_path, frame)
    with pytest.raises(DataError, match="line 3: Male='0'"):
        ingest.read_attributes(tmp_path, "original")


def test_one_class_only_error_names_the_class_and_count(dataset_copy, n_images):
    root = dataset_copy("kaggle")
    frame = _read_kaggle_text(root)
    frame["Male"] = "-1"
    frame.to_csv(_kaggle_csv(root), index=False)
    with pytest.raises(DataError, match=f"all {n_images} images are female"):
        ingest.build_metadata(root)


# ---------------------------------------------------------------------------- subset


def test_subset_first_takes_the_first_rows_of_the_file(synthetic_roots):
    root = synthetic_roots["kaggle"]
    full = ingest.read_attributes(root, "kaggle")
    meta, _ = ingest.build_metadata(root, subset_size=25, check_decode=False)
    assert meta["image_id"].tolist() == full["image_id"][:25].tolist()


def test_subset_random_is_seeded_and_kept_in_file_order(synthetic_roots):
    root = synthetic_roots["kaggle"]
    order = ingest.read_attributes(root, "kaggle")["image_id"].tolist()

    def ids(seed: int) -> list[str]:
        meta, _ = ingest.build_metadata(
            root, subset_size=25, subset_order="random", seed=seed, check_decode=False
        )
        return meta["image_id"].tolist()

    first = ids(1)
    assert first == ids(1)
    assert first != ids(2)
    assert first != order[:25]
    assert first == sorted(first, key=order.index)


def test_subset_larger_than_the_data_error_names_both_numbers(synthetic_roots, n_images):
    with pytest.raises(DataError, match=f"subset_size is 500 .* only {n_images} images"):
        ingest.build_metadata(synthetic_roots["kaggle"], subset_size=500)


# ---------------------------------------------------------------------------- images


def test_truncated_jpeg_raises_with_name_and_reason(dataset_copy, n_images):
    root = dataset_copy("kaggle")
    path = _image_path(root, 4)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=f"1 of {n_images} images cannot be decoded") as err:
        ingest.build_metadata(root)
    assert f"{path.name}: OSError" in str(err.value)
    assert "truncated" in str(err.value) or "broken" in str(err.value)


def test_text_file_named_jpg_raises_with_name_and_reason(dataset_copy):
    root = dataset_copy("kaggle")
    path = _image_path(root, 0)
    path.write_text("this is not an image\n")
    with pytest.raises(DataError, match="cannot be decoded") as err:
        ingest.build_metadata(root)
    assert f"{path.name}: UnidentifiedImageError" in str(err.value)


def test_skip_mode_drops_undecodable_images_and_returns_them(dataset_copy, n_images):
    root = dataset_copy("kaggle")
    truncated, text = _image_path(root, 4), _image_path(root, 9)
    truncated.write_bytes(truncated.read_bytes()[:200])
    text.write_text("not an image")
    meta, bad = ingest.build_metadata(root, on_bad_image="skip")
    assert len(meta) == n_images - 2
    assert sorted(bad["image_id"]) == sorted([truncated.name, text.name])
    assert list(bad.columns) == ["image_id", "path", "reason"]
    assert bad["reason"].str.len().gt(0).all()
    assert not set(bad["image_id"]) & set(meta["image_id"])


def test_check_decode_false_does_not_open_images(dataset_copy, n_images):
    root = dataset_copy("kaggle")
    _image_path(root, 0).write_text("not an image")
    meta, bad = ingest.build_metadata(root, check_decode=False)
    assert len(meta) == n_images and bad.empty


def test_png_named_jpg_is_kept_and_counted(dataset_copy, caplog):
    root = dataset_copy("kaggle")
    path = _image_path(root, 2)
    Image.new("RGB", (C.IMAGE_WIDTH, C.IMAGE_HEIGHT), (200, 10, 10)).save(path, format="PNG")
    with caplog.at_level(logging.WARNING):
        meta, bad = ingest.build_metadata(root)
    assert path.name in meta["image_id"].tolist() and bad.empty
    assert "1 images named .jpg are another format (PNG: 1)" in caplog.text


@pytest.mark.parametrize(
    ("mode", "fmt"), [("L", "JPEG"), ("CMYK", "JPEG"), ("RGBA", "PNG"), ("P", "PNG")]
)
def test_non_rgb_image_is_kept_and_load_rgb_converts_it(dataset_copy, mode, fmt):
    root = dataset_copy("kaggle")
    path = _image_path(root, 1)
    Image.new(mode, (C.IMAGE_WIDTH, C.IMAGE_HEIGHT)).save(path, format=fmt)
    meta, bad = ingest.build_metadata(root)
    assert path.name in meta["image_id"].tolist() and bad.empty
    assert Image.open(path).mode == mode
    image = ingest.load_rgb(path)
    assert image.mode == "RGB" and image.size == (C.IMAGE_WIDTH, C.IMAGE_HEIGHT)


def test_unlisted_image_files_are_ignored_and_counted(dataset_copy, caplog, n_images):
    root = dataset_copy("kaggle")
    folder = ingest.image_dir(root, "kaggle")
    for name in ("999998.jpg", "999999.jpg"):
        shutil.copy(_image_path(root, 0), folder / name)
    with caplog.at_level(logging.INFO):
        meta, _ = ingest.build_metadata(root)
    assert len(meta) == n_images
    assert "999999.jpg" not in meta["image_id"].tolist()
    assert "2 image files" in caplog.text


def test_decode_check_logs_seconds_per_1000_images(synthetic_roots, caplog):
    with caplog.at_level(logging.INFO):
        ingest.build_metadata(synthetic_roots["kaggle"])
    assert "s per 1000 images" in caplog.text


# ---------------------------------------------------------------------------- output


def test_write_metadata_writes_both_tables(synthetic_roots, tmp_path):
    meta, bad = ingest.build_metadata(synthetic_roots["kaggle"])
    out_meta, out_bad = tmp_path / "data" / "metadata.csv", tmp_path / "data" / "bad.csv"
    ingest.write_metadata(meta, bad, out_meta, out_bad)
    pd.testing.assert_frame_equal(pd.read_csv(out_meta), meta, check_dtype=False)
    assert list(pd.read_csv(out_bad).columns) == ["image_id", "path", "reason"]
    assert sorted(p.name for p in out_meta.parent.iterdir()) == ["bad.csv", "metadata.csv"]


def test_skip_mode_writes_the_dropped_images_to_the_bad_images_table(dataset_copy, tmp_path):
    """The table the workflow writes (results/data/bad_images.csv), read back: one row per
    dropped image with its path and why it cannot be decoded."""
    root = dataset_copy("kaggle")
    truncated, text = _image_path(root, 4), _image_path(root, 9)
    truncated.write_bytes(truncated.read_bytes()[:200])
    text.write_text("not an image")
    meta, bad = ingest.build_metadata(root, on_bad_image="skip")
    out_meta, out_bad = tmp_path / "metadata.csv", tmp_path / "bad_images.csv"
    ingest.write_metadata(meta, bad, out_meta, out_bad)
    table = pd.read_csv(out_bad, dtype=str)
    assert list(table.columns) == ["image_id", "path", "reason"]
    rows = {row.image_id: row for row in table.itertuples(index=False)}
    assert set(rows) == {truncated.name, text.name}
    assert Path(rows[truncated.name].path) == truncated and Path(rows[text.name].path) == text
    assert rows[truncated.name].reason.startswith("OSError")
    assert rows[text.name].reason.startswith("UnidentifiedImageError")
    kept = pd.read_csv(out_meta, dtype={"image_id": str})["image_id"]
    assert not set(rows) & set(kept)
