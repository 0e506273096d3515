"""Tests of the synthetic CelebA generator: statistics, drawing, layouts, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from celeba_gender import synth
from celeba_gender.constants import ATTRIBUTES, IMAGE_HEIGHT, IMAGE_WIDTH
from celeba_gender.layouts import SYNTHETIC_MARKER

N_STATS = 5000


@pytest.fixture(scope="module")
def sampled() -> pd.DataFrame:
    return synth.sample_attributes(N_STATS, seed=3)


@pytest.fixture(scope="module")
def prevalence() -> pd.DataFrame:
    return synth.load_prevalence()


def plain_face(**changes: int) -> dict[str, int]:
    """A young, clean-shaven face with no other attribute, then ``changes``."""
    row = dict.fromkeys(ATTRIBUTES, -1)
    row.update(Young=1, No_Beard=1)
    row.update(changes)
    return row


def draw(row: dict[str, int], seed: int = 11) -> np.ndarray:
    return np.asarray(synth.draw_face(row, np.random.default_rng(seed)), dtype=float)


def relative_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


# ------------------------------------------------------------------------------ attributes
def test_sample_attributes_has_image_id_then_40_attributes_coded_minus1_1(sampled):
    assert list(sampled.columns) == ["image_id", *ATTRIBUTES]
    assert sampled["image_id"].iloc[0] == "000001.jpg"
    assert sampled["image_id"].iloc[-1] == f"{N_STATS:06d}.jpg"
    values = sampled[list(ATTRIBUTES)]
    assert all(pd.api.types.is_integer_dtype(t) for t in values.dtypes)
    assert set(np.unique(values.to_numpy())) == {-1, 1}


def test_sample_attributes_prevalence_matches_csv(sampled, prevalence):
    observed = (sampled[list(ATTRIBUTES)] == 1).mean()
    gaps = (observed - prevalence.loc[list(ATTRIBUTES), "p_all"]).abs()
    assert gaps.max() <= 0.03, gaps.sort_values().tail(3).to_dict()


def test_sample_attributes_correlation_with_male_matches_csv(sampled, prevalence):
    values = sampled[list(ATTRIBUTES)].astype(float)
    corr = values.corrwith(values["Male"])
    gaps = (corr - prevalence.loc[list(ATTRIBUTES), "corr_with_male"]).abs()
    assert gaps.max() <= 0.06, gaps.sort_values().tail(3).to_dict()


def test_sample_attributes_bald_heads_have_no_hair_colour(sampled):
    bald = sampled[sampled["Bald"] == 1]
    colours = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair"]
    assert len(bald) > 50
    assert (bald[colours] == -1).all().all()


def test_sample_attributes_hair_colours_are_exclusive(sampled):
    colours = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair"]
    assert ((sampled[colours] == 1).sum(axis=1) <= 1).all()


def test_sample_attributes_goatee_and_moustache_only_with_a_beard(sampled):
    with_hair = sampled[(sampled["Goatee"] == 1) | (sampled["Mustache"] == 1)]
    assert len(with_hair) > 50
    assert (with_hair["No_Beard"] == -1).all()


def test_sample_attributes_same_seed_same_frame_other_seed_differs():
    first = synth.sample_attributes(300, seed=8)
    pd.testing.assert_frame_equal(first, synth.sample_attributes(300, seed=8))
    assert not first.equals(synth.sample_attributes(300, seed=9))


def test_sample_attributes_rejects_negative_seed():
    with pytest.raises(synth.SynthError, match="seed"):
        synth.sample_attributes(10, seed=-1)


# ------------------------------------------------------------------------------ drawing
def test_draw_face_returns_178x218_rgb_image():
    image = synth.draw_face(plain_face(), np.random.default_rng(0))
    assert image.size == (IMAGE_WIDTH, IMAGE_HEIGHT)
    assert image.mode == "RGB"


def test_draw_face_same_rng_seed_same_pixels_other_seed_differs():
    row = plain_face(Male=1)
    assert np.array_equal(draw(row, seed=4), draw(row, seed=4))
    assert not np.array_equal(draw(row, seed=4), draw(row, seed=5))


def test_draw_face_names_missing_attributes():
    row = plain_face()
    del row["Wearing_Hat"]
    with pytest.raises(synth.SynthError, match="Wearing_Hat"):
        synth.draw_face(row, np.random.default_rng(0))


# attribute flipped, base row, region (rows, columns) where it must show; a full beard is
# drawn when No_Beard = -1 without goatee or moustache, hence the moustache in the goatee base
VISIBLE = {
    "Wearing_Hat": ({}, (slice(0, 60), slice(45, 133))),
    "Eyeglasses": ({}, (slice(98, 126), slice(55, 123))),
    "Wearing_Lipstick": ({}, (slice(140, 166), slice(70, 108))),
    "Goatee": ({"Male": 1, "No_Beard": -1, "Mustache": 1}, (slice(160, 186), slice(75, 103))),
    "Bald": ({"Male": 1, "Black_Hair": 1}, (slice(30, 75), slice(50, 128))),
    "Wearing_Necktie": ({"Male": 1}, (slice(200, 218), slice(75, 103))),
}


@pytest.mark.parametrize("attribute", sorted(VISIBLE))
def test_flipping_an_attribute_changes_pixels_where_it_is_drawn(attribute):
    base, region = VISIBLE[attribute]
    for seed in (1, 2, 3):
        without = draw(plain_face(**base, **{attribute: -1}), seed)[region]
        with_it = draw(plain_face(**base, **{attribute: 1}), seed)[region]
        changed = np.abs(with_it - without).sum(axis=2) > 60  # clearly another colour
        assert changed.mean() > 0.04, (attribute, seed, changed.mean())


def test_flipping_an_attribute_leaves_far_pixels_alone():
    without = draw(plain_face(Wearing_Lipstick=-1))
    with_it = draw(plain_face(Wearing_Lipstick=1))
    assert np.abs(with_it[:80] - without[:80]).mean() < 0.5


def high_frequency_energy(pixels: np.ndarray) -> float:
    grey = pixels.mean(axis=2)
    return float((np.diff(grey, axis=0) ** 2).mean() + (np.diff(grey, axis=1) ** 2).mean())


def test_blurry_lowers_high_frequency_energy():
    for seed in (1, 2, 3):
        sharp = high_frequency_energy(draw(plain_face(Blurry=-1), seed))
        blurred = high_frequency_energy(draw(plain_face(Blurry=1), seed))
        assert blurred < 0.8 * sharp, (seed, sharp, blurred)


# ------------------------------------------------------------------------------ layouts
def image_names(n: int) -> set[str]:
    return {f"{i:06d}.jpg" for i in range(1, n + 1)}


def test_generate_kaggle_writes_images_attributes_and_partition(tmp_path):
    path = synth.generate(tmp_path, n_images=10, seed=2, layout="kaggle")
    assert path == tmp_path / "list_attr_celeba.csv"
    images = {f"img_align_celeba/img_align_celeba/{name}" for name in image_names(10)}
    written = {"list_attr_celeba.csv", "list_eval_partition.csv", SYNTHETIC_MARKER}
    assert relative_files(tmp_path) == images | written
    attrs = pd.read_csv(path)
    pd.testing.assert_frame_equal(attrs, synth.sample_attributes(10, seed=2))
    parts = pd.read_csv(tmp_path / "list_eval_partition.csv")
    assert list(parts.columns) == ["image_id", "partition"]
    assert parts["partition"].tolist() == [0] * 8 + [1, 2]


def test_generate_celeba30k_writes_filename_csv_and_image_folder(tmp_path):
    path = synth.generate(tmp_path, n_images=6, seed=2, layout="celeba30k")
    assert path == tmp_path / "CelebA30k.csv"
    images = {f"CelebA30k/{name}" for name in image_names(6)}
    assert relative_files(tmp_path) == images | {"CelebA30k.csv", SYNTHETIC_MARKER}
    attrs = pd.read_csv(path)
    expected = synth.sample_attributes(6, seed=2).rename(columns={"image_id": "filename"})
    pd.testing.assert_frame_equal(attrs, expected)


def test_generate_original_writes_whitespace_text_files(tmp_path):
    path = synth.generate(tmp_path, n_images=6, seed=2, layout="original")
    assert path == tmp_path / "celeba" / "list_attr_celeba.txt"
    images = {f"celeba/img_align_celeba/{name}" for name in image_names(6)}
    texts = {"celeba/list_attr_celeba.txt", "celeba/list_eval_partition.txt"}
    assert relative_files(tmp_path) == images | texts | {SYNTHETIC_MARKER}
    lines = path.read_text().splitlines()
    assert lines[0] == "6"
    assert lines[1].split() == list(ATTRIBUTES)
    attrs = pd.read_csv(path, sep=r"\s+", header=1, index_col=0)  # as torchvision reads it
    expected = synth.sample_attributes(6, seed=2).set_index("image_id")
    assert np.array_equal(attrs.to_numpy(), expected.to_numpy())
    assert attrs.index.tolist() == expected.index.tolist()
    partition = (tmp_path / "celeba" / "list_eval_partition.txt").read_text().splitlines()
    assert partition[0] == "000001.jpg 0" and partition[-1] == "000006.jpg 2"


def test_original_attr_text_right_aligns_values_to_width_two():
    frame = synth.sample_attributes(2, seed=0)
    frame.loc[0, list(ATTRIBUTES)] = [1, -1] * 20
    line = synth.original_attr_text(frame).splitlines()[2]
    assert line == "000001.jpg" + "  1 -1" * 20


def test_partition_is_80_10_10_in_id_order():
    codes = synth.partition(100)
    assert codes.tolist() == [0] * 80 + [1] * 10 + [2] * 10


def test_generated_images_are_178x218_rgb_jpeg(tmp_path):
    synth.generate(tmp_path, n_images=3, seed=0, layout="celeba30k")
    for path in sorted((tmp_path / "CelebA30k").glob("*.jpg")):
        with Image.open(path) as image:
            assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (178, 218))


def read_bytes(root: Path) -> dict[str, bytes]:
    return {name: (root / name).read_bytes() for name in sorted(relative_files(root))}


def test_generate_same_seed_gives_identical_bytes(tmp_path):
    synth.generate(tmp_path / "a", n_images=4, seed=5, layout="kaggle")
    synth.generate(tmp_path / "b", n_images=4, seed=5, layout="kaggle")
    assert read_bytes(tmp_path / "a") == read_bytes(tmp_path / "b")


def test_generate_other_seed_gives_other_images(tmp_path):
    synth.generate(tmp_path / "a", n_images=4, seed=5, layout="kaggle")
    synth.generate(tmp_path / "b", n_images=4, seed=6, layout="kaggle")
    first, second = read_bytes(tmp_path / "a"), read_bytes(tmp_path / "b")
    jpgs = [name for name in first if name.endswith(".jpg")]
    assert all(first[name] != second[name] for name in jpgs)


def test_generate_with_two_workers_equals_one_worker(tmp_path):
    synth.generate(tmp_path / "one", n_images=8, seed=1, layout="original", workers=1)
    synth.generate(tmp_path / "two", n_images=8, seed=1, layout="original", workers=2)
    assert read_bytes(tmp_path / "one") == read_bytes(tmp_path / "two")


def test_generate_rejects_unknown_layout(tmp_path):
    with pytest.raises(synth.SynthError, match="kaggle, celeba30k, original"):
        synth.generate(tmp_path, n_images=2, seed=0, layout="imagenet")


def test_cli_writes_the_requested_layout(tmp_path, capsys):
    argv = ["--root", str(tmp_path), "--n", "3", "--seed", "4", "--layout", "celeba30k"]
    path = synth.main(argv)
    assert path == tmp_path / "CelebA30k.csv"
    assert capsys.readouterr().out.strip() == str(path)
    assert len(list((tmp_path / "CelebA30k").glob("*.jpg"))) == 3
