"""VGG-16 with a one-logit head, the study's two fine-tuning strategies, and staged forwards.

The model is split at the two points where the grid can cache activations:

    image --features[:24]--> prefix (512 x s/16 x s/16) --features[24:]--> features
          (512 x s/32 x s/32) --avgpool, flatten, classifier--> logit

Strategy 1 trains only ``classifier``; strategy 2 also trains ``features[24:]`` (conv5_1..3).
Blocks 1-4 (``features[:24]``) are frozen in both, so their output is the same for every job.

The network is torchvision's VGG-16 graph, built here without importing torchvision: every
job process builds a VGG-16. ``import torchvision`` costs ~2.5 s per process on a CPU
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

from .grid import STRATEGIES

# ----------------------------------------------------------------------------- VGG-16

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


# ----------------------------------------------------------------------------- the study's model

PREFIX_END = 24  # features[:24] = blocks 1-4, frozen in both strategies


def build_model(
    backbone_state: dict[str, torch.Tensor] | None, head_seed: int, assign: bool = False
) -> VGG:
    """VGG-16 loaded from ``backbone_state`` with ``classifier[6]`` replaced by Linear(4096, 1).

    The new head layer gets PyTorch's default Linear initialisation drawn from ``head_seed``,
    so the same seed gives the same model whatever the global RNG state. The backbone's own last
    layer (1000 ImageNet classes, or 1 logit) is replaced. With ``assign`` the model takes the
    state's tensors instead of copies (see ``vgg16_from_state``).
    """
    model = vgg16() if backbone_state is None else vgg16_from_state(backbone_state, assign=assign)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(head_seed)
        model.classifier[6] = nn.Linear(4096, 1)
    return model


def vgg16_from_state(state: dict[str, torch.Tensor], assign: bool = False) -> VGG:
    """VGG-16 holding ``state`` (its last layer sized by the state: 1000 classes or 1 logit).

    The module is built on the meta device without initialisation: no random draw for 138 M
    parameters (seconds on a CPU), which the state overwrites anyway, and no ``torch._dynamo``
    import (~2 s per process), which initialising meta tensors triggers. Without ``assign`` the
    state is copied into fresh memory; with it the model uses the state's tensors themselves
    (for a state just read from a file, memory-mapped: nothing is copied, ~1 s less for 528 MB),
    so the state must not be used for anything else afterwards.
    """
    head_outputs = int(state["classifier.6.weight"].shape[0])
    with torch.device("meta"):
        model = vgg16(num_classes=head_outputs, init_weights=False)
    if not assign:
        model = model.to_empty(device="cpu")
    model.load_state_dict(state, assign=assign)
    return model


def load_trained(state: dict[str, torch.Tensor], assign: bool = False) -> VGG:
    """A model saved by training (1-logit head) from its state dict."""
    if state["classifier.6.weight"].shape[0] != 1:
        raise ValueError("expected a trained model's state dict (a 1-logit classifier[6])")
    return vgg16_from_state(state, assign=assign)


def trainable_modules(model: VGG, strategy: int) -> list[nn.Module]:
    """The modules a strategy trains."""
    if strategy == 1:
        return [model.classifier]
    if strategy == 2:
        return [model.features[PREFIX_END:], model.classifier]
    raise ValueError(f"unknown strategy {strategy!r}: expected one of {sorted(STRATEGIES)}")


def apply_strategy(model: VGG, strategy: int) -> list[nn.Parameter]:
    """Freeze everything, unfreeze what ``strategy`` trains; return the trainable parameters."""
    modules = trainable_modules(model, strategy)
    model.requires_grad_(False)
    for module in modules:
        module.requires_grad_(True)
    return [p for p in model.parameters() if p.requires_grad]


def count_trainable(model: nn.Module) -> int:
    """Number of parameters with ``requires_grad``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def forward_prefix(model: VGG, images: torch.Tensor) -> torch.Tensor:
    """Blocks 1-4: the part frozen by both strategies."""
    return model.features[:PREFIX_END](images)


def forward_from_prefix(model: VGG, prefix: torch.Tensor) -> torch.Tensor:
    """Logits from the output of ``features[:24]``."""
    return forward_from_features(model, model.features[PREFIX_END:](prefix))


def forward_from_features(model: VGG, features: torch.Tensor) -> torch.Tensor:
    """Logits from the output of the whole ``features`` stack."""
    pooled = torch.flatten(model.avgpool(features), 1)
    return model.classifier(pooled).squeeze(1)


def forward_images(model: VGG, images: torch.Tensor) -> torch.Tensor:
    """Logits from normalised images (the end-to-end path); shape (N,)."""
    return model(images).squeeze(1)
