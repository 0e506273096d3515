"""Obtain and check VGG-16 backbone weights: ImageNet (fetched once), random, or a local file.

Training jobs never download: the rules ``fetch_imagenet_weights`` (a ``localrule``, so on a
cluster it runs on the login node) and ``random_weights`` (rules/weights.smk) put the file that
``model.weights`` names in place before any job that needs it runs.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .io import WeightsError, atomic_path, record_sha256, save_torch, sha256_of
from .model import vgg16
from .store import to_normalized

log = logging.getLogger(__name__)

# torchvision.models.VGG16_Weights.IMAGENET1K_V1.url (tests/test_vgg.py checks it), written out
# so that job processes need not import torchvision.
IMAGENET_URL: str = "https://download.pytorch.org/models/vgg16-397923af.pth"
IMAGENET_FILE: str = IMAGENET_URL.rsplit("/", 1)[-1]  # vgg16-397923af.pth
IMAGENET_SHA256_PREFIX: str = IMAGENET_FILE.rsplit("-", 1)[-1].split(".")[0]  # 397923af


def check_hash(path: str | os.PathLike, prefix: str) -> None:
    """Raise WeightsError unless the file's SHA-256 starts with ``prefix``."""
    actual = sha256_of(path)
    if not actual.startswith(prefix):
        raise WeightsError(
            f"{path}: SHA-256 {actual[:16]}… does not start with {prefix!r} "
            f"(the hash in the name of {IMAGENET_FILE}); the file is corrupt or another model. "
            "Delete it and fetch it again."
        )


def torch_hub_copy() -> Path:
    """Where torch's own cache would hold the ImageNet file ($TORCH_HOME/hub/checkpoints)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / IMAGENET_FILE


def fetch_imagenet(
    dest: str | os.PathLike,
    url: str = IMAGENET_URL,
    sha256_prefix: str = IMAGENET_SHA256_PREFIX,
    hub_copy: str | os.PathLike | None = None,
) -> Path:
    """Put the hash-checked ImageNet VGG-16 state dict at ``dest``.

    Order: ``dest`` already there and valid; torch's hub cache (copied); a download from ``url``.
    If everything fails the error says where to put the file by hand.
    """
    dest = Path(dest)
    hub_copy = Path(hub_copy) if hub_copy is not None else torch_hub_copy()
    if dest.exists():
        check_hash(dest, sha256_prefix)
        record_sha256(dest)
        log.info("weights: %s already present and hash-checked", dest)
        return dest
    if hub_copy.exists():
        check_hash(hub_copy, sha256_prefix)
        with atomic_path(dest) as tmp:
            shutil.copyfile(hub_copy, tmp)
        record_sha256(dest)
        log.info("weights: copied %s from torch's cache %s", dest, hub_copy)
        return dest
    log.info("weights: downloading %s", url)
    try:
        with atomic_path(dest) as tmp:
            torch.hub.download_url_to_file(url, str(tmp), hash_prefix=None, progress=False)
            check_hash(tmp, sha256_prefix)
    except WeightsError:
        raise
    except Exception as err:  # URLError, socket errors, HTTP errors …
        raise WeightsError(
            f"could not download the ImageNet VGG-16 weights from {url} ({type(err).__name__}: "
            f"{err}). Without internet, copy {IMAGENET_FILE} (528 MB, SHA-256 starting with "
            f"{sha256_prefix}) to {dest.resolve()} or to {hub_copy}, or set model.weights to the "
            "path of a VGG-16 state dict, or to 'random' for a run without pretraining."
        ) from err
    record_sha256(dest)
    return dest


def make_random(
    dest: str | os.PathLike, seed: int, calibration_images: torch.Tensor | None = None
) -> Path:
    """Save a seeded random VGG-16 initialisation (NOT pretrained) to ``dest``.

    With ``calibration_images`` (normalised, N x 3 x S x S) the two hidden classifier layers are
    rescaled so that their outputs are centred with unit variance on those images: a
    data-dependent initialisation (Kraehenbuehl et al. 2016; Mishkin and Matas 2016) that uses
    no labels. Without it, frozen random features reach the head with a large common offset and
    the head does not learn within a demo's few hundred steps.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = vgg16()
    if calibration_images is not None:
        calibrate_classifier(model, calibration_images)
    save_torch(dest, model.state_dict())
    record_sha256(dest)
    return Path(dest)


@torch.no_grad()
def calibrate_classifier(model: torch.nn.Module, images: torch.Tensor) -> None:
    """Data-dependent initialisation of the two hidden classifier layers on ``images`` (no labels).

    ``classifier[0]`` is made to see standardised inputs (each of the 25,088 pooled features
    centred and scaled by its spread on ``images``), then both hidden layers are rescaled to
    centred, unit-variance outputs. The random directions stay those of the seeded init.
    """
    model.eval()
    x = torch.flatten(model.avgpool(model.features(images)), 1)
    first = model.classifier[0]
    mean, spread = x.mean(0), x.std(0)
    spread = spread + 0.1 * spread.mean() + 1e-6  # features constant on these images stay small
    first.weight.div_(spread[None, :])
    first.bias.sub_(first.weight @ mean)
    for index in (0, 3):
        layer = model.classifier[index]
        z = layer(x)
        mean, std = z.mean(0), z.std(0) + 1e-6
        layer.weight.div_(std[:, None])
        layer.bias.sub_(mean).div_(std)
        x = torch.relu(layer(x))


def load_tensors(path: str | os.PathLike):
    """``torch.load(path, weights_only=True)``, memory-mapped when the file allows it.

    With ``mmap`` the tensors are paged in from the file as they are copied into a model: ~0.04 s
    instead of ~2.5 s to read 528 MB into fresh memory first. Files in the pre-1.6 (non-zip)
    format, such as torchvision's ImageNet VGG-16 of 2017, cannot be mapped and are read whole.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as err:
        if "zipfile" not in str(err):
            raise
        return torch.load(path, map_location="cpu", weights_only=True)


def load_backbone(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a VGG-16 state dict with ``weights_only=True`` and check its keys and shapes."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(
            f"model.weights: {path} does not exist. Set model.weights to imagenet, random, or the "
            "path of a VGG-16 .pth state dict."
        )
    try:
        state = load_tensors(path)
    except Exception as err:
        raise WeightsError(
            f"{path} could not be loaded as a PyTorch state dict with weights_only=True "
            f"({type(err).__name__}: {err}). Expected a .pth file saved with "
            "torch.save(model.state_dict(), path)."
        ) from err
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(
            f"{path} holds a {type(state).__name__}, not a state dict (a mapping from parameter "
            "names to tensors). Save it with torch.save(model.state_dict(), path)."
        )
    check_vgg16_keys(state, path)
    return state


def check_vgg16_keys(state: dict[str, torch.Tensor], path: str | os.PathLike) -> None:
    """Raise WeightsError unless ``state`` fits torchvision's VGG-16 (head of 1000 or 1 outputs)."""
    with torch.device("meta"):  # shapes only: skips initialising 138 M parameters (seconds)
        reference = vgg16(init_weights=False).state_dict()  # no init: no torch._dynamo import
    missing = [k for k in reference if k not in state]
    unexpected = [k for k in state if k not in reference]
    wrong = [
        f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})"
        for k, v in reference.items()
        if k in state and state[k].shape != v.shape and not k.startswith("classifier.6.")
    ]
    head = state.get("classifier.6.weight")
    if head is not None and tuple(head.shape) not in {(1000, 4096), (1, 4096)}:
        wrong.append(
            f"classifier.6.weight {tuple(head.shape)} (expected (1000, 4096) or (1, 4096))"
        )
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (first: {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (first: {', '.join(unexpected[:3])})")
        if wrong:
            parts.append(f"{len(wrong)} wrong shapes (first: {'; '.join(wrong[:3])})")
        raise WeightsError(
            f"{path} is not a torchvision VGG-16 state dict: {'; '.join(parts)}. "
            "Use the weights of torchvision.models.vgg16."
        )


@dataclass(frozen=True)
class FetchImagenetJob:
    """The fetch_imagenet_weights rule: the hash-checked ImageNet file at its one place."""

    out_weights: str


def fetch_imagenet_weights(job: FetchImagenetJob) -> Path:
    path = fetch_imagenet(job.out_weights)
    log.info("ImageNet weights ready: %s", path)
    return path


@dataclass(frozen=True)
class RandomWeightsJob:
    """The random_weights rule: ``store`` holds the decoded training images when the classifier
    is calibrated on ``n_images`` of them (an empty list when calibration is off)."""

    store: Sequence[str]
    n_images: int
    init_seed: int
    out_weights: str


def random_weights(job: RandomWeightsJob) -> Path:
    """Draw the seeded random VGG-16 (NOT pretrained), calibrated when the job says so."""
    images = None
    if job.store:
        store = np.load(job.store[0], mmap_mode="r")
        images = to_normalized(store[: job.n_images])
        log.info("calibrating the classifier on %d unlabelled training images", len(images))
    path = make_random(job.out_weights, seed=job.init_seed, calibration_images=images)
    log.info("random VGG-16 weights (NOT pretrained) written to %s", path)
    return path
