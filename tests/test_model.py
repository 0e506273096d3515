"""VGG-16 with the one-logit head: strategies, frozen layers, seeded heads, staged forwards.

Real torchvision VGG-16 at 32 px; one model is built per module and deep-copied per test.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from celeba_gender import engine
from celeba_gender.model import (
    PREFIX_END,
    apply_strategy,
    build_model,
    count_trainable,
    forward_from_features,
    forward_from_prefix,
    forward_images,
    forward_prefix,
    load_trained,
    trainable_modules,
    vgg16_from_state,
)

IMAGE_SIZE = 32
HEAD_SEED = 0
TRAINABLE = {1: 119_549_953, 2: 126_629_377}


@pytest.fixture(scope="module")
def base_model() -> nn.Module:
    """A random-backbone VGG-16 with the 1-logit head (built once: ~4 s on 2 cores).

    Tests that only freeze and unfreeze use it directly: apply_strategy never touches weights.
    """
    torch.manual_seed(1234)
    return build_model(None, head_seed=HEAD_SEED)


@pytest.fixture
def model(base_model: nn.Module) -> nn.Module:
    """A private copy of ``base_model`` that a test may train or freeze."""
    return copy.deepcopy(base_model)


def tiny_store(n: int, seed: int = 0) -> tuple[np.ndarray, torch.Tensor]:
    """``n`` uint8 images (n, 32, 32, 3) and alternating 0/1 labels."""
    rng = np.random.default_rng(seed)
    store = rng.integers(0, 256, (n, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    labels = torch.arange(n) % 2
    return store, labels.float()


def test_build_model_has_a_one_logit_head(base_model: nn.Module) -> None:
    head = base_model.classifier[6]
    assert isinstance(head, nn.Linear)
    assert (head.in_features, head.out_features) == (4096, 1)


@pytest.mark.parametrize("strategy", [1, 2])
def test_trainable_parameter_count_per_strategy(base_model: nn.Module, strategy: int) -> None:
    params = apply_strategy(base_model, strategy)
    assert sum(p.numel() for p in params) == TRAINABLE[strategy]
    assert count_trainable(base_model) == TRAINABLE[strategy]


def test_strategy1_trains_only_the_classifier(base_model: nn.Module) -> None:
    apply_strategy(base_model, 1)
    trainable = {n for n, p in base_model.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in base_model.named_parameters() if n.startswith("classifier.")}


def test_strategy2_trains_block5_and_the_classifier(base_model: nn.Module) -> None:
    apply_strategy(base_model, 2)
    trainable = {n.rsplit(".", 1)[0] for n, p in base_model.named_parameters() if p.requires_grad}
    block5 = {f"features.{i}" for i in (24, 26, 28)}  # conv5_1..3; ReLUs and pool hold none
    head = {f"classifier.{i}" for i in (0, 3, 6)}
    assert trainable == block5 | head


def test_unknown_strategy_is_refused(base_model: nn.Module) -> None:
    with pytest.raises(ValueError, match="unknown strategy 3"):
        trainable_modules(base_model, 3)


@pytest.mark.parametrize("strategy", [1, 2])
def test_one_optimizer_step_changes_only_trainable_weights(model: nn.Module, strategy: int) -> None:
    params = apply_strategy(model, strategy)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    store, labels = tiny_store(8)
    plan = engine.epoch_plan(len(store), seed=0, epoch=1, augmentations=("hflip",))
    optimizer = engine.make_optimizer(params, lr=1e-3, device=torch.device("cpu"))
    runner = engine.Runner.create(model, "images", torch.device("cpu"))
    engine.train_one_epoch(
        runner, engine.ImageSource(store), labels, plan, optimizer, nn.BCEWithLogitsLoss(), 8
    )
    after = model.state_dict()
    frozen_changed = [
        k for k in before if k not in trainable and not torch.equal(before[k], after[k])
    ]
    trainable_unchanged = [k for k in trainable if torch.equal(before[k], after[k])]
    assert frozen_changed == []
    assert trainable_unchanged == []


@pytest.fixture(scope="module")
def rebuilt(base_model: nn.Module) -> dict[str, nn.Module]:
    """base_model's backbone saved with a 1-logit head and with a 1000-class head, rebuilt with
    the same head_seed under global RNG states unlike base_model's."""
    one_logit = base_model.state_dict()  # a trained model's state: head of 1 output
    thousand = dict(one_logit)
    thousand["classifier.6.weight"] = torch.zeros(1000, 4096)
    thousand["classifier.6.bias"] = torch.zeros(1000)
    torch.manual_seed(1)
    from_one_logit = build_model(one_logit, head_seed=HEAD_SEED)
    torch.manual_seed(2)
    from_thousand = build_model(thousand, head_seed=HEAD_SEED)
    return {"1 logit": from_one_logit, "1000 classes": from_thousand}


@pytest.mark.parametrize("head", ["1 logit", "1000 classes"])
def test_backbones_with_1000_class_and_1_logit_heads_both_load(
    base_model: nn.Module, rebuilt: dict[str, nn.Module], head: str
) -> None:
    expected = base_model.state_dict()
    loaded = rebuilt[head].state_dict()
    assert loaded.keys() == expected.keys()
    differing = [k for k in expected if not torch.equal(loaded[k], expected[k])]
    assert differing == []  # backbone from the file, head from the same head_seed


def test_same_head_seed_gives_the_same_head_whatever_the_global_rng(
    base_model: nn.Module, rebuilt: dict[str, nn.Module]
) -> None:
    for other in rebuilt.values():
        assert torch.equal(other.classifier[6].weight, base_model.classifier[6].weight)
        assert torch.equal(other.classifier[6].bias, base_model.classifier[6].bias)


def test_head_is_pytorch_default_linear_init_drawn_from_head_seed(base_model: nn.Module) -> None:
    torch.manual_seed(HEAD_SEED)
    expected = nn.Linear(4096, 1)
    assert torch.equal(base_model.classifier[6].weight, expected.weight)
    assert torch.equal(base_model.classifier[6].bias, expected.bias)


@pytest.fixture(scope="module")
def staged(base_model: nn.Module) -> dict[str, torch.Tensor]:
    """The staged forwards of four images in eval mode."""
    model = base_model.eval()  # no dropout; train_one_epoch switches copies back to train mode
    store, _ = tiny_store(4, seed=1)
    images = engine.ImageSource(store).batch(np.arange(4), None, None)
    with torch.no_grad():
        prefix = forward_prefix(model, images)
        features = model.features[PREFIX_END:](prefix)
        out = {
            "prefix": prefix,
            "features": features,
            "images": forward_images(model, images),
            "from_prefix": forward_from_prefix(model, prefix),
            "from_features": forward_from_features(model, features),
        }
    base_model.train()
    return out


def test_staged_shapes_at_32_px(staged: dict[str, torch.Tensor]) -> None:
    assert staged["prefix"].shape == (4, 512, IMAGE_SIZE // 16, IMAGE_SIZE // 16)
    assert staged["features"].shape == (4, 512, IMAGE_SIZE // 32, IMAGE_SIZE // 32)
    assert staged["images"].shape == (4,)


def test_staged_forwards_agree(staged: dict[str, torch.Tensor]) -> None:
    scale = staged["images"].abs().max().item()
    assert scale > 0
    torch.testing.assert_close(staged["from_prefix"], staged["images"], rtol=0, atol=1e-5 * scale)
    torch.testing.assert_close(staged["from_features"], staged["images"], rtol=0, atol=1e-5 * scale)


# --------------------------------------------------------------------------- loading states


def test_assigned_and_copied_models_are_the_same_model(base_model: nn.Module) -> None:
    state = {k: v.clone() for k, v in base_model.state_dict().items()}
    copied = build_model(state, head_seed=HEAD_SEED)
    assigned = build_model(state, head_seed=HEAD_SEED, assign=True)
    for key, value in copied.state_dict().items():
        assert torch.equal(value, assigned.state_dict()[key]), key
    images = torch.randn(2, 3, IMAGE_SIZE, IMAGE_SIZE)
    with torch.no_grad():
        assert torch.equal(copied.eval()(images), assigned.eval()(images))


def test_assign_uses_the_state_s_tensors_and_copying_does_not(base_model: nn.Module) -> None:
    state = {k: v.clone() for k, v in base_model.state_dict().items()}
    key = "features.0.weight"
    assigned = vgg16_from_state(state, assign=True)
    copied = vgg16_from_state(state)
    assert assigned.state_dict()[key].data_ptr() == state[key].data_ptr()
    assert copied.state_dict()[key].data_ptr() != state[key].data_ptr()


def test_load_trained_refuses_a_backbone_with_1000_classes(base_model: nn.Module) -> None:
    state = dict(base_model.state_dict())
    state["classifier.6.weight"] = torch.zeros(1000, 4096)
    state["classifier.6.bias"] = torch.zeros(1000)
    with pytest.raises(ValueError, match="1-logit"):
        load_trained(state)
