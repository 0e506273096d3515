"""The grid's grammar, defined once: model names <-> (strategy, learning rate, seed), the wildcard
pattern of a model name, the input each strategy trains from, and the views of each split.

The same module holds everything else that determines a trained model: ``TrainSettings``, one
object built once from the config. ``TrainSettings.from_config(config, model_name)`` is called
by the workflow when it is parsed (``rules/common.smk``), handed to the training job as a dict
param (Snakemake reruns a job whose params change only for plain values), rebuilt with
``from_dict`` and recorded in every model file and checkpoint.

Used by the rules, the jobs and the benchmarks. Standard library only: it is imported when the
workflow is parsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields

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


# ----------------------------------------------------------------------------- settings

PRECISIONS: tuple[str, ...] = ("fp32", "bf16")
# The cache dtype that ``train.cache_dtype: auto`` means under each precision: float32 keeps the
# study's numerics; float16 halves the cache (``.npy`` cannot hold bfloat16).
AUTO_CACHE_DTYPE: dict[str, str] = {"fp32": "float32", "bf16": "float16"}


def numerics_note(train: Mapping) -> str:
    """The numerics a ``train`` config section runs, in words (the report's banner)."""
    precision = train.get("precision", "fp32")
    dtype = cache_dtype(train)
    if precision == "fp32":
        return (
            f"numerics: fp32, the study's (float32 compute with PyTorch's default math settings; "
            f"feature cache {dtype})"
        )
    return (
        f"numerics: bf16 (the fast mode: bf16 autocast for cache, training and evaluation; "
        f"feature cache {dtype}), NOT the study's float32: see docs/configuration.md for the "
        "measured deviation"
    )


def lift_extra(settings: Mapping) -> dict:
    """A settings dict with the entries of ``extra`` lifted to ``extra.<key>``: how checkpoint
    warnings and the tracking logs name them."""
    out = {k: v for k, v in settings.items() if k != "extra"}
    extra = settings.get("extra")
    if isinstance(extra, Mapping):
        out.update({f"extra.{k}": v for k, v in extra.items()})
    elif "extra" in settings:
        out["extra"] = extra
    return out


def cache_dtype(train: Mapping) -> str:
    """The feature cache's dtype under a ``train`` config section (``auto`` follows precision)."""
    dtype = train.get("cache_dtype", "auto")
    return AUTO_CACHE_DTYPE[train.get("precision", "fp32")] if dtype == "auto" else dtype


@dataclass(frozen=True)
class TrainSettings:
    """What a training job does; two jobs with equal settings (and equal input files, recorded in
    ``extra``: the weights' and split files' SHA-256) train the same model."""

    strategy: int
    lr: float
    seed: int
    epochs: int
    batch_size: int
    image_size: int = 224
    input: str = "images"  # INPUT_KINDS: features, prefix (feature cache) or images
    cache_dtype: str | None = None  # the feature cache's dtype; None when training on images
    precision: str = "fp32"  # PRECISIONS: fp32 (the study's numerics) or bf16 autocast
    augmentations: tuple[str, ...] = ("hflip",)
    select_by: str = "val_accuracy"
    patience: int | None = None
    compile: bool = False
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping, model: str) -> TrainSettings:
        """The settings of model ``model`` (a grid name such as s2_lr1e-4_seed0) under ``config``."""
        cell = ModelId.parse(model)
        train = config["train"]
        kind = input_kind(cell.strategy, train)
        return cls(
            strategy=cell.strategy,
            lr=cell.lr,
            seed=cell.seed,
            epochs=int(train["epochs"]),
            batch_size=int(train["batch_size"]),
            image_size=int(train["image_size"]),
            input=kind,
            cache_dtype=None if kind == "images" else cache_dtype(train),
            precision=train["precision"],
            augmentations=tuple(train["augmentations"]),
            select_by=train["select_by"],
            patience=train["early_stopping_patience"],
            compile=bool(train["compile"]),
        )

    @classmethod
    def from_dict(cls, values: Mapping) -> TrainSettings:
        """The inverse of ``to_dict`` (unknown keys are an error that names them)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training settings: {', '.join(unknown)}")
        values = dict(values)
        if "augmentations" in values:
            values["augmentations"] = tuple(values["augmentations"])
        return cls(**values)

    def to_dict(self) -> dict:
        """Plain JSON-able values (lists, not tuples): Snakemake params, model files, checkpoints."""
        out = asdict(self)
        out["augmentations"] = list(self.augmentations)
        return out

    @property
    def model_name(self) -> str:
        return ModelId(self.strategy, self.lr, self.seed).name

    def views(self, split: str) -> int:
        """Views per image of ``split`` in the feature cache these settings read."""
        return split_views(split, self.augmentations)
