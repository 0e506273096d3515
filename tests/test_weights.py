"""Backbone weights: fetching the ImageNet file (offline here), random weights, loading checks.

A seeded random VGG-16 state dict saved by ``make_random`` (528 MB) stands for the ImageNet file;
``fetch_imagenet`` gets its SHA-256 prefix, so every branch runs without internet.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torchvision.models import resnet18

from celeba_gender import weights
from celeba_gender.io import WeightsError, sha256_of, sha256_record_path

OFFLINE_URL = f"http://127.0.0.1:9/{weights.IMAGENET_FILE}"  # port 9 (discard): refused at once
SEED = 5


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory) -> Iterator[dict]:
    """A random VGG-16 state dict on disk, its SHA-256 and its tensors."""
    torch.manual_seed(111)
    path = weights.make_random(tmp_path_factory.mktemp("weights") / "random.pth", SEED)
    state = torch.load(path, map_location="cpu", weights_only=True)
    yield {"path": path, "sha256": sha256_of(path), "state": state}
    path.unlink()  # 528 MB: not for pytest's retained temp dirs


@pytest.fixture
def tmp_path(tmp_path: Path) -> Iterator[Path]:
    """pytest's tmp_path, emptied afterwards: the copies of the 528 MB file are not kept."""
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


def fetch(dest: Path, vgg_file: dict, **kwargs) -> Path:
    """fetch_imagenet with the test file's hash prefix, no hub copy and no internet by default."""
    kwargs.setdefault("url", OFFLINE_URL)
    kwargs.setdefault("sha256_prefix", vgg_file["sha256"][:8])
    kwargs.setdefault("hub_copy", dest.parent / "hub" / weights.IMAGENET_FILE)
    return weights.fetch_imagenet(dest, **kwargs)


def wrong_prefix(sha256: str) -> str:
    return ("1" if sha256[0] == "0" else "0") + sha256[1:8]


# --------------------------------------------------------------------------- fetch_imagenet


def test_fetch_keeps_a_valid_file_already_at_dest(vgg_file, tmp_path) -> None:
    dest = tmp_path / weights.IMAGENET_FILE
    os.link(vgg_file["path"], dest)
    before = dest.stat()
    assert fetch(dest, vgg_file) == dest  # the offline URL was never tried
    after = dest.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_fetch_copies_from_the_torch_hub_cache(vgg_file, tmp_path) -> None:
    hub = tmp_path / "hub" / weights.IMAGENET_FILE
    hub.parent.mkdir()
    os.link(vgg_file["path"], hub)
    dest = tmp_path / "weights" / weights.IMAGENET_FILE
    assert fetch(dest, vgg_file, hub_copy=hub) == dest
    assert sha256_of(dest) == vgg_file["sha256"]
    assert hub.exists()


def test_fetch_refuses_a_file_at_dest_with_the_wrong_hash(vgg_file, tmp_path) -> None:
    dest = tmp_path / weights.IMAGENET_FILE
    os.link(vgg_file["path"], dest)
    with pytest.raises(WeightsError, match=rf"{dest}: SHA-256 .* does not start with"):
        fetch(dest, vgg_file, sha256_prefix=wrong_prefix(vgg_file["sha256"]))


def test_fetch_refuses_a_hub_copy_with_the_wrong_hash(vgg_file, tmp_path) -> None:
    hub = tmp_path / "hub" / weights.IMAGENET_FILE
    hub.parent.mkdir()
    os.link(vgg_file["path"], hub)
    dest = tmp_path / "weights" / weights.IMAGENET_FILE
    with pytest.raises(WeightsError, match=rf"{hub}: SHA-256"):
        fetch(dest, vgg_file, hub_copy=hub, sha256_prefix=wrong_prefix(vgg_file["sha256"]))
    assert not dest.exists()


def test_fetch_offline_says_where_to_put_the_file_and_leaves_nothing(vgg_file, tmp_path) -> None:
    dest = tmp_path / "weights" / weights.IMAGENET_FILE
    with pytest.raises(WeightsError) as error:
        fetch(dest, vgg_file)
    message = str(error.value)
    assert "could not download" in message
    assert str(dest.resolve()) in message
    assert weights.IMAGENET_FILE in message
    assert "random" in message  # the way out without pretrained weights
    assert list(dest.parent.iterdir()) == []  # no partial file, no temporary file


def test_fetch_downloads_from_a_file_url(vgg_file, tmp_path) -> None:
    dest = tmp_path / "weights" / weights.IMAGENET_FILE
    assert fetch(dest, vgg_file, url=vgg_file["path"].as_uri()) == dest
    assert sha256_of(dest) == vgg_file["sha256"]
    assert sorted(p.name for p in dest.parent.iterdir()) == [
        weights.IMAGENET_FILE,
        sha256_record_path(dest).name,  # the hash record, no temporary left behind
    ]


def test_fetch_refuses_a_download_with_the_wrong_hash_and_keeps_nothing(vgg_file, tmp_path) -> None:
    dest = tmp_path / "weights" / weights.IMAGENET_FILE
    url = vgg_file["path"].as_uri()
    with pytest.raises(WeightsError, match="does not start with"):
        fetch(dest, vgg_file, url=url, sha256_prefix=wrong_prefix(vgg_file["sha256"]))
    assert list(dest.parent.iterdir()) == []


def test_imagenet_file_name_and_hash_prefix_are_torchvision_s() -> None:
    assert weights.IMAGENET_FILE == "vgg16-397923af.pth"
    assert weights.IMAGENET_SHA256_PREFIX == "397923af"


# --------------------------------------------------------------------------- make_random


def test_make_random_is_deterministic_for_a_seed(vgg_file, tmp_path) -> None:
    torch.manual_seed(222)  # another global RNG state than the fixture's
    path = weights.make_random(tmp_path / "again.pth", SEED)
    again = torch.load(path, map_location="cpu", weights_only=True)
    assert again.keys() == vgg_file["state"].keys()
    assert all(torch.equal(again[k], v) for k, v in vgg_file["state"].items())
    # the same bytes under another file name: the model cards' weights SHA-256 is reproducible
    assert sha256_of(path) == vgg_file["sha256"]


def test_make_random_writes_a_vgg16_with_the_1000_class_head(vgg_file) -> None:
    assert vgg_file["state"]["classifier.6.weight"].shape == (1000, 4096)
    assert len(vgg_file["state"]) == 32  # 13 conv + 3 linear layers, weight and bias each


# --------------------------------------------------------------------------- load_backbone


def test_load_backbone_loads_a_vgg16_state_dict(vgg_file) -> None:
    state = weights.load_backbone(vgg_file["path"])
    assert state.keys() == vgg_file["state"].keys()
    assert all(torch.equal(state[k], v) for k, v in vgg_file["state"].items())


def test_load_backbone_accepts_a_1_logit_head(vgg_file, tmp_path) -> None:
    state = dict(vgg_file["state"])
    state["classifier.6.weight"] = torch.zeros(1, 4096)
    state["classifier.6.bias"] = torch.zeros(1)
    path = tmp_path / "trained.pth"
    torch.save(state, path)
    assert weights.load_backbone(path)["classifier.6.weight"].shape == (1, 4096)


def test_load_backbone_unwraps_a_state_dict_entry(vgg_file, tmp_path) -> None:
    path = tmp_path / "record.pth"
    torch.save({"state_dict": vgg_file["state"], "epoch": 3}, path)
    assert weights.load_backbone(path).keys() == vgg_file["state"].keys()


def test_load_backbone_refuses_a_missing_path(tmp_path) -> None:
    path = tmp_path / "nowhere.pth"
    with pytest.raises(WeightsError, match=rf"model.weights: {path} does not exist"):
        weights.load_backbone(path)


def test_load_backbone_refuses_a_text_file(tmp_path) -> None:
    path = tmp_path / "weights.pth"
    path.write_text("these are not weights\n")
    with pytest.raises(WeightsError, match=rf"{path} could not be loaded as a PyTorch state dict"):
        weights.load_backbone(path)


def test_load_backbone_refuses_a_saved_list(tmp_path) -> None:
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(2), torch.ones(2)], path)
    with pytest.raises(WeightsError, match=rf"{path} holds a list, not a state dict"):
        weights.load_backbone(path)


class Pickled:
    """An arbitrary class: only a full unpickle (weights_only=False) could rebuild it."""


def test_load_backbone_never_unpickles_arbitrary_objects(vgg_file, tmp_path) -> None:
    path = tmp_path / "with_object.pth"
    torch.save({"state_dict": {"features.0.weight": torch.zeros(1)}, "extra": Pickled()}, path)
    with pytest.raises(WeightsError, match="weights_only=True"):
        weights.load_backbone(path)


def test_load_backbone_refuses_another_architecture(tmp_path) -> None:
    path = tmp_path / "resnet18.pth"
    torch.save(resnet18(weights=None).state_dict(), path)
    with pytest.raises(
        WeightsError, match=rf"{path} is not a torchvision VGG-16 state dict: .*missing keys"
    ):
        weights.load_backbone(path)


def test_load_backbone_refuses_a_vgg16_with_a_10_class_head(vgg_file, tmp_path) -> None:
    state = dict(vgg_file["state"])
    state["classifier.6.weight"] = torch.zeros(10, 4096)
    state["classifier.6.bias"] = torch.zeros(10)
    path = tmp_path / "ten.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"classifier\.6\.weight \(10, 4096\)"):
        weights.load_backbone(path)


def test_load_backbone_refuses_a_vgg16_with_a_missing_layer(vgg_file, tmp_path) -> None:
    state = {k: v for k, v in vgg_file["state"].items() if not k.startswith("features.28.")}
    path = tmp_path / "short.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"2 missing keys \(first: features\.28\.weight"):
        weights.load_backbone(path)


# --------------------------------------------------------------------------- load_tensors


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy-pre-1.6"])
def test_load_tensors_reads_both_serialisation_formats(tmp_path: Path, zip_format: bool) -> None:
    """The ImageNet file of 2017 is in the old format, which cannot be memory-mapped."""
    path = tmp_path / "state.pth"
    torch.save({"w": torch.arange(6.0)}, path, _use_new_zipfile_serialization=zip_format)
    state = weights.load_tensors(path)
    assert torch.equal(state["w"], torch.arange(6.0))


def test_load_tensors_still_refuses_pickled_objects(tmp_path: Path) -> None:
    path = tmp_path / "object.pth"
    torch.save({"w": torch.zeros(1), "obj": Path("x")}, path)
    with pytest.raises(Exception, match="weights_only"):
        weights.load_tensors(path)


# --------------------------------------------------------------------------- recorded hashes


def test_make_random_records_the_hash_of_what_it_wrote(tmp_path: Path) -> None:
    dest = tmp_path / "random.pth"
    weights.make_random(dest, seed=0)
    record = json.loads(sha256_record_path(dest).read_text())
    assert record["sha256"] == hashlib.sha256(dest.read_bytes()).hexdigest()
