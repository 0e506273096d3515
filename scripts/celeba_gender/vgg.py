"""torchvision's VGG-16 graph, built without importing torchvision.

Every job process builds a VGG-16. ``import torchvision`` costs ~2.5 s per process on a CPU
machine (its ``ops`` package imports ``torch._dynamo``), which a 4-model grid pays in each of its
~14 jobs. This module builds the same network as ``torchvision.models.vgg16``: the same module
tree (``features`` with the same 31 indices, ``avgpool``, ``classifier`` with 7 layers), the same
state-dict keys and shapes, the same forward, and the same random initialisation drawn in the
same order. tests/test_vgg.py checks all of this against torchvision itself. The ImageNet weights
still come from torchvision (rule ``fetch_imagenet_weights``, ``weights.fetch_imagenet``).
"""

from __future__ import annotations

import torch
from torch import nn

# torchvision's configuration "D" (VGG-16): channels of each 3x3 conv, "M" a 2x2 max-pool.
VGG16_LAYERS: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)  # fmt: skip


class VGG(nn.Module):
    """torchvision.models.VGG without batch norm: features, avgpool (7x7), classifier."""

    def __init__(self, num_classes: int = 1000, init_weights: bool = True, dropout: float = 0.5):
        super().__init__()
        self.features = make_layers(VGG16_LAYERS)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        if init_weights:
            for m in self.modules():  # torchvision's initialisation, in its order
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def make_layers(layers: tuple[int | str, ...]) -> nn.Sequential:
    """Conv 3x3 (padding 1) + ReLU(inplace) per number, MaxPool 2x2 per "M", as torchvision."""
    modules: list[nn.Module] = []
    in_channels = 3
    for item in layers:
        if item == "M":
            modules.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            modules += [nn.Conv2d(in_channels, int(item), kernel_size=3, padding=1), nn.ReLU(True)]
            in_channels = int(item)
    return nn.Sequential(*modules)


def vgg16(num_classes: int = 1000, init_weights: bool = True) -> VGG:
    """``torchvision.models.vgg16(weights=None, num_classes=...)`` without torchvision.

    ``init_weights=False`` skips torchvision's re-initialisation, for a model whose weights are
    loaded next (torchvision does the same when it loads weights).
    """
    return VGG(num_classes=num_classes, init_weights=init_weights)
