"""Grad-CAM for a one-logit (Male) classifier, and the ``gradcam`` rule's job: the maps of a
fixed set of test images of one model (``plots.plot_gradcam_grid`` draws them)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from celeba_gender import plots
from celeba_gender.constants import CLASS_NAMES
from celeba_gender.jobs import load_model_file, read_split
from celeba_gender.store import open_store, to_normalized

log = logging.getLogger(__name__)

SIGNS = ("predicted", "male", "female")


def vgg_target_layer(model: nn.Module) -> nn.Module:
    """The ReLU after VGG-16's last conv layer (``features[29]``, i.e. relu5_3)."""
    features = getattr(model, "features", None)
    if not isinstance(features, nn.Sequential) or len(features) < 30:
        raise ValueError(
            "vgg_target_layer: expected a torchvision VGG-16 (model.features with 31 layers)"
        )
    if not isinstance(features[28], nn.Conv2d) or not isinstance(features[29], nn.ReLU):
        raise ValueError(
            f"vgg_target_layer: expected features[28] Conv2d and features[29] ReLU, got "
            f"{type(features[28]).__name__} and {type(features[29]).__name__}"
        )
    return features[29]


def _score_signs(logits: torch.Tensor, sign: str) -> torch.Tensor:
    """+1 to explain the male logit, -1 to explain the female (negated) logit, per image."""
    if sign == "predicted":
        return torch.where(logits >= 0, 1.0, -1.0).to(logits.dtype)
    return torch.full_like(logits, 1.0 if sign == "male" else -1.0)


def grad_cam(
    model: nn.Module,
    target_layer: nn.Module,
    images: torch.Tensor,
    sign: str = "predicted",
) -> torch.Tensor:
    """Grad-CAM maps [N, H, W] in [0, 1] for a model with one logit (Male).

    sign: "predicted" explains the positive logit for images predicted male (logit >= 0) and
    the negative logit for images predicted female; "male" / "female" force one direction.
    The model runs in eval mode; its train/eval mode, parameters' requires_grad and .grad are
    left as they were, and the hooks are removed. Maps are upsampled to the input size and
    scaled per image by min-max (all zeros where the map is flat).
    """
    if sign not in SIGNS:
        raise ValueError(f"grad_cam: sign must be one of {SIGNS}, got {sign!r}")
    if images.ndim != 4:
        raise ValueError(f"grad_cam: expected images [N, C, H, W], got shape {tuple(images.shape)}")
    captured: dict[str, torch.Tensor] = {}

    def keep_activation(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
        captured["activation"] = output
        return output.clone()  # later in-place ops (ReLU(inplace=True)) must not alter it

    params = list(model.parameters())
    requires_grad = [p.requires_grad for p in params]
    was_training = model.training
    handle = target_layer.register_forward_hook(keep_activation)
    try:
        for p in params:
            p.requires_grad_(False)
        model.eval()
        with torch.enable_grad():
            inputs = images.detach().clone().requires_grad_(True)
            logits = model(inputs)
            if logits.numel() != len(images):
                raise ValueError(
                    f"grad_cam: expected one logit per image, got output shape "
                    f"{tuple(logits.shape)}"
                )
            logits = logits.reshape(-1)
            if "activation" not in captured:
                raise ValueError("grad_cam: target_layer was not called in the forward pass")
            activation = captured["activation"]
            score = (_score_signs(logits.detach(), sign) * logits).sum()
            (gradient,) = torch.autograd.grad(score, activation)
    finally:
        handle.remove()
        for p, flag in zip(params, requires_grad, strict=True):
            p.requires_grad_(flag)
        model.train(was_training)
    return _cam_from(activation.detach(), gradient.detach(), images.shape[-2:])


def _cam_from(
    activation: torch.Tensor, gradient: torch.Tensor, size: Sequence[int]
) -> torch.Tensor:
    """Channel weights = spatial mean of gradients; ReLU of the weighted sum; min-max scaled."""
    weights = gradient.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * activation).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=tuple(size), mode="bilinear", align_corners=False)[:, 0]
    flat = cam.flatten(1)
    low = flat.min(dim=1).values[:, None, None]
    span = flat.max(dim=1).values[:, None, None] - low
    return torch.where(span > 1e-12, (cam - low) / span.clamp_min(1e-12), torch.zeros_like(cam))


# ----------------------------------------------------------------------------- the gradcam job
def pick_gradcam_images(predictions: pd.DataFrame, n: int, seed: int = 0) -> np.ndarray:
    """Row indices of up to ``n`` test images: correct and wrong, of both classes, fixed by ``seed``."""
    rng = np.random.default_rng(seed)
    groups = []
    for label in (0, 1):
        for correct in (True, False):
            mask = (predictions["label"] == label) & ((predictions["pred"] == label) == correct)
            groups.append(list(rng.permutation(np.flatnonzero(mask.to_numpy()))))
    chosen: list[int] = []
    while len(chosen) < n and any(groups):
        for group in groups:
            if group and len(chosen) < n:
                chosen.append(int(group.pop()))
    return np.array(sorted(chosen), dtype=int)


def gradcam_rows(
    model: nn.Module, store: np.ndarray, predictions: pd.DataFrame, n: int
) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(image uint8 H x W x 3, Grad-CAM map H x W, caption) of ``n`` fixed test images (correct
    and wrong, both classes); ``store`` holds the test images in the order of ``predictions``."""
    idx = pick_gradcam_images(predictions, n)
    if len(idx) == 0:
        log.warning("no test images for Grad-CAM")
        return []
    cams = grad_cam(model, vgg_target_layer(model), to_normalized(store[idx])).cpu().numpy()
    rows = []
    for cam, i in zip(cams, idx, strict=True):
        row = predictions.iloc[i]
        verdict = "right" if row["pred"] == row["label"] else "WRONG"
        caption = (
            f"{row['image_id']}: true {CLASS_NAMES[row['label']]}, "
            f"p(male) {row['prob']:.2f} ({verdict})"
        )
        rows.append((np.asarray(store[i]), cam, caption))
    return rows


@dataclass
class GradcamJob:
    """``gradcam``: Grad-CAM maps of a fixed set of test images for one model."""

    model: str
    model_file: str
    predictions: str
    test: str
    store: str
    n_images: int
    image_size: int
    out_figure: str


def gradcam(job: GradcamJob) -> None:
    """Draw the Grad-CAM maps (last conv block) of ``job.n_images`` test images of one model."""
    model, _ = load_model_file(job.model_file)
    n = len(read_split(job.test))
    store = open_store(job.store, expected_n=n, expected_size=job.image_size)
    predictions = pd.read_csv(job.predictions, dtype={"image_id": str})
    rows = gradcam_rows(model, store, predictions, job.n_images)
    plots.plot_gradcam_grid(rows, job.out_figure, f"Grad-CAM of {job.model} (last conv block)")
