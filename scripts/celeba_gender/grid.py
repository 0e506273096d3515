"""The grid's grammar, defined once: model names <-> (strategy, learning rate, seed), the wildcard
pattern of a model name, the input each strategy trains from, and the views of each split.

Used by the rules (``rules/common.smk``), the jobs and the benchmarks. Standard library only: it
is imported when the workflow is parsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .constants import format_lr

SPLITS: tuple[str, ...] = ("train", "val", "test")
CHECKPOINTS: tuple[str, ...] = ("last", "best")  # the last epoch, the best validation epoch

# What each strategy trains (the study's two strategies): the layers a frozen cache can replace.
STRATEGIES: dict[int, str] = {
    1: "classifier only (features frozen)",
    2: "classifier and features[24:] (the last conv block)",
}
# What a training job reads: cached features (strategy 1), the cached output of features[:24]
# (strategy 2), or decoded images (end to end, either strategy).
CACHE_INPUT: dict[int, str] = {1: "features", 2: "prefix"}
INPUT_KINDS: tuple[str, ...] = ("features", "prefix", "images")
# The augmentations a cache can serve exactly: each cached image is stored in both orientations.
CACHEABLE_AUGMENTATIONS = frozenset({"hflip"})

MODEL_PATTERN = r"s(\d+)_lr([^_/]+)_seed(\d+)"
MODEL_WILDCARD = r"s\d+_lr[^_/]+_seed\d+"  # the same grammar, without groups, for Snakemake


@dataclass(frozen=True)
class ModelId:
    """One cell of the grid (and seed): strategy, learning rate, seed; ``name`` is its token."""

    strategy: int
    lr: float
    seed: int

    @property
    def name(self) -> str:
        return f"s{self.strategy}_lr{format_lr(self.lr)}_seed{self.seed}"

    @classmethod
    def parse(cls, name: str) -> ModelId:
        """``s2_lr1e-4_seed0`` -> ModelId(2, 0.0001, 0)."""
        match = re.fullmatch(MODEL_PATTERN, name)
        if match is None:
            raise ValueError(
                f"{name!r} is not a model name; expected s<strategy>_lr<lr>_seed<seed>, "
                "e.g. s2_lr1e-4_seed0"
            )
        strategy, lr, seed = match.groups()
        return cls(int(strategy), float(lr), int(seed))


def seeds(train: Mapping) -> list[int]:
    """The training seeds of a ``train`` config section: ``seeds``, or the single ``seed``."""
    return list(train.get("seeds") or [train["seed"]])


def models(train: Mapping) -> list[ModelId]:
    """Every model of a ``train`` config section, strategy-major, then learning rate, then seed."""
    return [
        ModelId(int(strategy), float(lr), int(seed))
        for strategy in train["strategies"]
        for lr in train["learning_rates"]
        for seed in seeds(train)
    ]


def cache_usable(train: Mapping) -> bool:
    """Whether training reads the feature cache: ``cache`` is auto (or true) and every
    augmentation is one the cache serves exactly (flips); otherwise training runs end to end."""
    augmentations = set(train.get("augmentations", ()))
    return train.get("cache", "auto") in ("auto", True) and augmentations <= CACHEABLE_AUGMENTATIONS


def input_kind(strategy: int, train: Mapping) -> str:
    """What a model of ``strategy`` trains and is evaluated on under a ``train`` config section."""
    return CACHE_INPUT[int(strategy)] if cache_usable(train) else "images"


def split_views(split: str, augmentations: Iterable[str]) -> int:
    """Views per image of a split's cache: 2 (original, flipped) for train when flips are on."""
    return 2 if split == "train" and "hflip" in set(augmentations) else 1
