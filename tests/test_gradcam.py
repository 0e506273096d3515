"""Grad-CAM: shape and range on VGG-16, that it finds the region a hand-made model uses, and
the images and captions the gradcam job draws."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torchvision.models import vgg16

from celeba_gender.gradcam import grad_cam, gradcam_rows, pick_gradcam_images, vgg_target_layer

SIZE = 32


def _quadrant_mask(top: bool, left: bool, size: int = SIZE) -> torch.Tensor:
    mask = torch.zeros(size, size)
    rows = slice(0, size // 2) if top else slice(size // 2, size)
    cols = slice(0, size // 2) if left else slice(size // 2, size)
    mask[rows, cols] = 1
    return mask


class QuadrantNet(nn.Module):
    """logit = conv features of the `male_quadrant` - `female_weight` x bottom-right ones.

    The input is masked to each quadrant, a fixed positive stride-2 conv reads it (channel 0
    from the male-quadrant copy, channel 1 from the bottom-right copy), ReLU, then a signed sum.
    """

    def __init__(self, female_weight: float = 0.0, bias: float = 0.0, male_quadrant=(True, True)):
        super().__init__()
        self.register_buffer("mask_tl", _quadrant_mask(*male_quadrant))
        self.register_buffer("mask_br", _quadrant_mask(top=False, left=False))
        self.conv = nn.Conv2d(6, 2, kernel_size=3, stride=2, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.head = nn.Linear(2, 1)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0, :3] = 1 / 27
            self.conv.weight[1, 3:] = 1 / 27
            self.head.weight.copy_(torch.tensor([[1.0, -female_weight]]))
            self.head.bias.fill_(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stacked = torch.cat([x * self.mask_tl, x * self.mask_br], dim=1)
        features = self.relu(self.conv(stacked))
        return self.head(features.sum(dim=(2, 3)))


def _quadrant_share(cams: torch.Tensor, top: bool, left: bool) -> torch.Tensor:
    mask = _quadrant_mask(top, left, cams.shape[-1])
    return (cams * mask).sum(dim=(1, 2)) / cams.sum(dim=(1, 2))


@pytest.fixture(scope="module")
def tiny_vgg() -> nn.Module:
    torch.manual_seed(0)
    model = vgg16(weights=None)
    model.classifier[6] = nn.Linear(4096, 1)
    return model


def test_vgg_target_layer_is_relu_after_last_conv(tiny_vgg):
    layer = vgg_target_layer(tiny_vgg)
    assert layer is tiny_vgg.features[29]
    assert isinstance(tiny_vgg.features[28], nn.Conv2d) and isinstance(layer, nn.ReLU)


def test_grad_cam_on_vgg16_has_input_shape_and_unit_range(tiny_vgg):
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    cams = grad_cam(tiny_vgg, vgg_target_layer(tiny_vgg), images)
    assert cams.shape == (2, 64, 64)
    assert torch.isfinite(cams).all()
    assert cams.min() >= 0 and cams.max() <= 1
    assert not cams.requires_grad


def test_grad_cam_on_vgg16_last_conv_layer_works_despite_inplace_relu(tiny_vgg):
    images = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    cams = grad_cam(tiny_vgg, tiny_vgg.features[28], images)
    assert cams.shape == (1, 32, 32)
    assert cams.min() >= 0 and cams.max() <= 1


def test_grad_cam_highlights_the_quadrant_the_model_uses():
    images = torch.rand(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    model = QuadrantNet()
    cams = grad_cam(model, model.relu, images)
    assert (_quadrant_share(cams, top=True, left=True) > 0.8).all()


def test_grad_cam_keeps_orientation_for_top_right_quadrant():
    images = torch.rand(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(5))
    model = QuadrantNet(male_quadrant=(True, False))
    cams = grad_cam(model, model.relu, images)
    assert (_quadrant_share(cams, top=True, left=False) > 0.8).all()


def test_grad_cam_predicted_sign_explains_female_logit_for_predicted_female():
    images = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(4))
    images[0] *= 1 - 0.9 * _quadrant_mask(top=False, left=False)  # dim bottom-right: male
    images[1] *= 1 - 0.9 * _quadrant_mask(top=True, left=True)  # dim top-left: female
    model = QuadrantNet(female_weight=1.0)
    logits = model(images).reshape(-1)
    assert logits[0] > 0 > logits[1]
    cams = grad_cam(model, model.relu, images)  # sign="predicted"
    assert _quadrant_share(cams[:1], top=True, left=True) > 0.8
    assert _quadrant_share(cams[1:], top=False, left=False) > 0.8
    forced_male = grad_cam(model, model.relu, images, sign="male")
    assert (_quadrant_share(forced_male, top=True, left=True) > 0.8).all()


def test_grad_cam_leaves_model_state_as_it_was():
    model = QuadrantNet()
    model.conv.weight.requires_grad_(False)
    model.train()
    hooks_before = len(model.relu._forward_hooks)
    with torch.no_grad():  # grad_cam must still work inside no_grad
        cams = grad_cam(model, model.relu, torch.rand(2, 3, SIZE, SIZE))
    assert cams.shape == (2, SIZE, SIZE)
    assert model.training
    assert len(model.relu._forward_hooks) == hooks_before
    assert model.conv.weight.requires_grad is False
    assert model.head.weight.requires_grad is True
    assert all(p.grad is None for p in model.parameters())


def test_grad_cam_rejects_unknown_sign():
    model = QuadrantNet()
    with pytest.raises(ValueError, match="sign"):
        grad_cam(model, model.relu, torch.rand(1, 3, SIZE, SIZE), sign="positive")


def test_grad_cam_rejects_model_with_two_outputs():
    model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    with pytest.raises(ValueError, match="one logit per image"):
        grad_cam(model, model[1], torch.rand(2, 3, 8, 8))


def _predictions() -> pd.DataFrame:
    """Ten test images: 0-3 female right, 4 female wrong, 5-8 male right, 9 male wrong."""
    labels = [0] * 5 + [1] * 5
    preds = [0, 0, 0, 0, 1, 1, 1, 1, 1, 0]
    return pd.DataFrame(
        {
            "image_id": [f"{i:06d}.jpg" for i in range(10)],
            "label": labels,
            "pred": preds,
            "prob": [0.1, 0.2, 0.3, 0.4, 0.6, 0.9, 0.8, 0.7, 0.95, 0.3],
        }
    )


def test_pick_gradcam_images_takes_right_and_wrong_of_both_classes():
    predictions = _predictions()
    picked = pick_gradcam_images(predictions, n=4, seed=0)
    chosen = predictions.iloc[picked]
    assert sorted(zip(chosen["label"], chosen["label"] == chosen["pred"], strict=True)) == [
        (0, False),
        (0, True),
        (1, False),
        (1, True),
    ]
    assert list(picked) == sorted(picked)
    np.testing.assert_array_equal(picked, pick_gradcam_images(predictions, n=4, seed=0))


def test_pick_gradcam_images_stops_when_images_run_out():
    assert len(pick_gradcam_images(_predictions(), n=50)) == 10


def test_gradcam_rows_pair_each_stored_image_with_its_map_and_caption(tiny_vgg):
    predictions = _predictions()
    store = np.random.default_rng(0).integers(0, 256, (10, SIZE, SIZE, 3), dtype=np.uint8)
    rows = gradcam_rows(tiny_vgg, store, predictions, n=4)
    picked = pick_gradcam_images(predictions, n=4)
    assert len(rows) == 4
    for (image, cam, caption), i in zip(rows, picked, strict=True):
        np.testing.assert_array_equal(image, store[i])
        assert isinstance(cam, np.ndarray) and cam.shape == (SIZE, SIZE)
        assert caption.startswith(f"{predictions.image_id[i]}: true ")
    captions = [caption for _, _, caption in rows]
    assert "000004.jpg: true female, p(male) 0.60 (WRONG)" in captions  # the only wrong female
    assert "000009.jpg: true male, p(male) 0.30 (WRONG)" in captions
    assert sum("(right)" in caption for caption in captions) == 2
