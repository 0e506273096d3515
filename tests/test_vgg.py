"""celeba_gender.model builds exactly torchvision's VGG-16, and job modules do not import torchvision."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torchvision.models import VGG16_Weights
from torchvision.models import vgg16 as torchvision_vgg16

from celeba_gender import model as vgg
from celeba_gender import weights

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.fixture(scope="module")
def pair() -> tuple[torch.nn.Module, torch.nn.Module]:
    """Ours and torchvision's, each drawn from seed 0."""
    torch.manual_seed(0)
    ours = vgg.vgg16()
    torch.manual_seed(0)
    theirs = torchvision_vgg16(weights=None)
    return ours, theirs


def test_module_tree_is_torchvision_s(pair) -> None:
    ours, theirs = pair
    assert repr(ours.features) == repr(theirs.features)
    assert repr(ours.avgpool) == repr(theirs.avgpool)
    assert repr(ours.classifier) == repr(theirs.classifier)
    assert [name for name, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]


def test_state_dict_keys_and_shapes_are_torchvision_s(pair) -> None:
    ours, theirs = pair
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in theirs.state_dict().items()
    }
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_seeded_initialisation_equals_torchvision_s(pair) -> None:
    ours, theirs = pair
    theirs_state = theirs.state_dict()
    for key, value in ours.state_dict().items():
        assert torch.equal(value, theirs_state[key]), key


def test_forward_equals_torchvision_s_for_the_same_weights(pair) -> None:
    ours, theirs = pair
    ours.eval(), theirs.eval()
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(ours(images), theirs(images))


def test_head_size_follows_num_classes() -> None:
    with torch.device("meta"):
        model = vgg.vgg16(num_classes=1)
    assert model.classifier[6].weight.shape == (1, 4096)


def test_imagenet_url_is_torchvision_s() -> None:
    assert VGG16_Weights.IMAGENET1K_V1.url == weights.IMAGENET_URL


@pytest.mark.parametrize("module", ["celeba_gender.jobs", "celeba_gender.predict"])
def test_job_modules_do_not_import_torchvision(module: str) -> None:
    """torchvision's import costs ~2.5 s (torch._dynamo via torchvision.ops) in every job."""
    code = f"import sys, {module}; print('torchvision' in sys.modules)"
    assert run_fresh_python(code) == "False"


def run_fresh_python(code: str) -> str:
    """Standard output of ``code`` run by a new interpreter that imports the package."""
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(SCRIPTS), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_loading_and_evaluating_a_trained_model_does_not_import_dynamo(tmp_path: Path) -> None:
    """torch._dynamo's import costs ~2 s; initialising meta tensors would trigger it."""
    model_file = tmp_path / "model.pt"
    torch.save({"state_dict": vgg.vgg16(num_classes=1).state_dict(), "settings": {}}, model_file)
    code = (
        "import sys, torch\n"
        "from celeba_gender import jobs, weights\n"
        f"model, _ = jobs.load_model_file({str(model_file)!r})\n"
        "model.eval()(torch.zeros(1, 3, 32, 32))\n"
        f"weights.check_vgg16_keys(model.state_dict(), {str(model_file)!r})\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    assert run_fresh_python(code) == "False"
