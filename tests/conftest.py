"""Shared fixtures: small synthetic CelebA datasets in each layout, made once per session."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

LAYOUTS = ("kaggle", "celeba30k", "original")
N_SYNTH_IMAGES = 40
SYNTH_SEED = 3


@pytest.fixture(scope="session")
def synthetic_roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One read-only synthetic dataset per layout (same seed, so the same images and labels)."""
    from celeba_gender import synth  # imported here so tests without datasets do not need it

    roots = {}
    for layout in LAYOUTS:
        root = tmp_path_factory.mktemp(f"synth_{layout}")
        synth.generate(root, N_SYNTH_IMAGES, SYNTH_SEED, layout)
        roots[layout] = root
    return roots


@pytest.fixture
def dataset_copy(synthetic_roots: dict[str, Path], tmp_path: Path) -> Callable[[str], Path]:
    """Return a function copying a layout's synthetic dataset into ``tmp_path`` (to modify)."""

    def copy(layout: str = "kaggle") -> Path:
        dest = tmp_path / f"data_{layout}"
        shutil.copytree(synthetic_roots[layout], dest)
        return dest

    return copy


@pytest.fixture(scope="session")
def n_images() -> int:
    """Number of images in each synthetic dataset of ``synthetic_roots``."""
    return N_SYNTH_IMAGES
