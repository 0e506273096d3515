"""Grad-CAM for a one-logit (Male) classifier, plus overlays and a figure grid."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from celeba_gender.constants import IMAGENET_MEAN, IMAGENET_STD
from celeba_gender.io import save_figure

SIGNS = ("predicted", "male", "female")
OVERLAY_ALPHA = 0.45


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
    if sign == "male":
        return torch.ones_like(logits)
    if sign == "female":
        return -torch.ones_like(logits)
    return torch.where(logits >= 0, 1.0, -1.0).to(logits.dtype)


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


def to_uint8_image(
    image: torch.Tensor,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> np.ndarray:
    """Undo the ImageNet normalisation of a [3, H, W] tensor; returns uint8 H x W x 3."""
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"to_uint8_image: expected [3, H, W], got {tuple(image.shape)}")
    mean_t = torch.tensor(mean, dtype=torch.float32)[:, None, None]
    std_t = torch.tensor(std, dtype=torch.float32)[:, None, None]
    pixels = (image.detach().cpu().float() * std_t + mean_t).clamp(0, 1)
    return (pixels.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def overlay(image_uint8: np.ndarray, cam: Any, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """Blend a jet-coloured CAM (H x W, in [0, 1]) over an H x W x 3 uint8 image."""
    import matplotlib

    image = np.asarray(image_uint8)
    heat = cam.detach().cpu().numpy() if isinstance(cam, torch.Tensor) else np.asarray(cam)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"overlay: expected a uint8 H x W x 3 image, got {image.dtype} {image.shape}"
        )
    if heat.shape != image.shape[:2]:
        raise ValueError(f"overlay: CAM shape {heat.shape} differs from image {image.shape[:2]}")
    colours = matplotlib.colormaps["jet"](np.clip(heat, 0, 1))[..., :3] * 255
    blended = (1 - alpha) * image.astype(float) + alpha * colours
    return blended.round().clip(0, 255).astype(np.uint8)


def plot_gradcam_grid(
    rows: Sequence[tuple[np.ndarray, Any, str]],
    out_png: str | os.PathLike,
    title: str = "Grad-CAM",
) -> None:
    """One row per (image uint8 H x W x 3, cam H x W, title): the image and its CAM overlay."""
    from matplotlib.figure import Figure

    if not rows:
        raise ValueError("plot_gradcam_grid: no images to plot")
    fig = Figure(figsize=(4.4, 2.3 * len(rows) + 0.4))
    axes = fig.subplots(len(rows), 2, squeeze=False)
    for (image, cam, label), (left, right) in zip(rows, axes, strict=True):
        left.imshow(image)
        left.set_title(label, fontsize=8)
        right.imshow(overlay(image, cam))
        right.set_title("Grad-CAM", fontsize=8)
        for ax in (left, right):
            ax.set_axis_off()
    fig.suptitle(title)
    save_figure(out_png, fig)
