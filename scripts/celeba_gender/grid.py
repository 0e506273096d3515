"""The grid's grammar, defined once: model names <-> (kind, strategy, learning rate, seed), the
wildcard pattern of a model name, the input each strategy trains from, and the views of each split.

Two kinds of model: ``erm`` (trained by the train rule: ``s2_lr1e-4_seed0``) and ``dfr`` (the same
network with its last layer refitted on group-balanced validation data by the dfr rule:
``dfr_s2_lr1e-4_seed0``, one per ERM model when ``train.dfr`` is true).

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

from .constants import LABEL_ATTRIBUTE, format_lr

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
# The augmentations a cache can serve exactly: each cached image is stored in both orientations.
CACHEABLE_AUGMENTATIONS = frozenset({"hflip"})

KINDS: tuple[str, ...] = ("erm", "dfr")  # trained by the train rule; refitted by the dfr rule
DFR_PREFIX = "dfr_"
MODEL_PATTERN = r"(dfr_)?s(\d+)_lr([^_/]+)_seed(\d+)"
MODEL_WILDCARD = r"(?:dfr_)?s\d+_lr[^_/]+_seed\d+"  # the same grammar, without groups
ERM_WILDCARD = r"s\d+_lr[^_/]+_seed\d+"  # ERM models only (the base of a DFR model)


@dataclass(frozen=True)
class ModelId:
    """One cell of the grid (and seed): strategy, learning rate, seed, and the model's ``kind``
    (erm or dfr); ``name`` is its token."""

    strategy: int
    lr: float
    seed: int
    kind: str = "erm"

    @property
    def name(self) -> str:
        prefix = DFR_PREFIX if self.kind == "dfr" else ""
        return f"{prefix}s{self.strategy}_lr{format_lr(self.lr)}_seed{self.seed}"

    @property
    def base(self) -> ModelId:
        """The ERM model a DFR model is refitted from (itself for an ERM model)."""
        return ModelId(self.strategy, self.lr, self.seed)

    @classmethod
    def parse(cls, name: str) -> ModelId:
        """``s2_lr1e-4_seed0`` -> ModelId(2, 0.0001, 0); ``dfr_s2_lr1e-4_seed0`` -> kind dfr."""
        match = re.fullmatch(MODEL_PATTERN, name)
        if match is None:
            raise ValueError(
                f"{name!r} is not a model name; expected [dfr_]s<strategy>_lr<lr>_seed<seed>, "
                "e.g. s2_lr1e-4_seed0"
            )
        dfr, strategy, lr, seed = match.groups()
        return cls(int(strategy), float(lr), int(seed), "dfr" if dfr else "erm")


def seeds(train: Mapping) -> list[int]:
    """The training seeds of a ``train`` config section: ``seeds``, or the single ``seed``."""
    return list(train.get("seeds") or [train["seed"]])


def models(train: Mapping) -> list[ModelId]:
    """Every model of a ``train`` config section, strategy-major, then learning rate, then seed;
    with ``dfr`` true, the DFR model of each ERM model after all of them."""
    erm = [
        ModelId(int(strategy), float(lr), int(seed))
        for strategy in train["strategies"]
        for lr in train["learning_rates"]
        for seed in seeds(train)
    ]
    dfr = [ModelId(m.strategy, m.lr, m.seed, "dfr") for m in erm] if train.get("dfr") else []
    return erm + dfr


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

# The cache dtype that ``train.cache_dtype: auto`` means under each precision: float32 keeps the
# study's numerics; float16 halves the cache (``.npy`` cannot hold bfloat16).
AUTO_CACHE_DTYPE: dict[str, str] = {"fp32": "float32", "bf16": "float16"}


def numerics_note(train: Mapping) -> str:
    """The numerics a ``train`` config section runs, in words (the report's banner)."""
    dtype = cache_dtype(train)
    if train.get("precision", "fp32") == "fp32":
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
    input: str = "images"  # features, prefix (feature cache) or images
    cache_dtype: str | None = None  # the feature cache's dtype; None when training on images
    precision: str = "fp32"  # fp32 (the study's numerics) or bf16 autocast
    augmentations: tuple[str, ...] = ("hflip",)
    select_by: str = "val_accuracy"
    patience: int | None = None
    compile: bool = False
    extra: dict = field(default_factory=dict)
    # Left out of ``to_dict`` at their defaults, so that an ERM model of the Male target selected
    # by validation accuracy has the settings dict (params, model files) it always had.
    target: str = LABEL_ATTRIBUTE  # data.target: the attribute the model predicts
    group_by: tuple[str, ...] = ()  # evaluate.group_by, when select_by is worst_group
    kind: str = "erm"  # KINDS

    OPTIONAL_DEFAULTS = {"target": LABEL_ATTRIBUTE, "group_by": [], "kind": "erm"}

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
            target=target(config),
            group_by=tuple(group_by(config)) if train["select_by"] == "worst_group" else (),
            kind=cell.kind,
        )

    @classmethod
    def from_dict(cls, values: Mapping) -> TrainSettings:
        """The inverse of ``to_dict`` (unknown keys are an error that names them)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training settings: {', '.join(unknown)}")
        values = dict(values)
        for key in ("augmentations", "group_by"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)

    def to_dict(self) -> dict:
        """Plain JSON-able values (lists, not tuples): Snakemake params, model files, checkpoints.
        The ``OPTIONAL_DEFAULTS`` fields are left out at their defaults."""
        out = asdict(self)
        out["augmentations"] = list(self.augmentations)
        out["group_by"] = list(self.group_by)
        for key, default in self.OPTIONAL_DEFAULTS.items():
            if out[key] == default:
                del out[key]
        return out

    @property
    def model_name(self) -> str:
        return ModelId(self.strategy, self.lr, self.seed, self.kind).name

    def views(self, split: str) -> int:
        """Views per image of ``split`` in the feature cache these settings read."""
        return split_views(split, self.augmentations)


# ----------------------------------------------------------------------------- groups


def target(config: Mapping) -> str:
    """data.target: the CelebA attribute the models predict (Male by default)."""
    return config["data"].get("target") or LABEL_ATTRIBUTE


def group_by(config: Mapping) -> list[str]:
    """evaluate.group_by, or the target's default (null): Blond_Hair for Male, Male otherwise."""
    chosen = config["evaluate"].get("group_by")
    if chosen is not None:
        return list(chosen)
    return ["Blond_Hair"] if target(config) == LABEL_ATTRIBUTE else [LABEL_ATTRIBUTE]


def ranking_column(select_by: str) -> str:
    """The validation figure (a history and metrics.csv column) by which the best model of a grid
    is chosen: the worst-group accuracy under ``select_by: worst_group``, else the accuracy."""
    return "val_worst_group_accuracy" if select_by == "worst_group" else "val_accuracy"


def kind_of(model: str) -> str:
    """erm or dfr, from a model's name."""
    return ModelId.parse(model).kind
