"""Train/validation/test split of the metadata table: stratified by the target (sklearn, seeded),
or CelebA's official partition (``split.method: official``).

The label of a split file is the target attribute (``data.target``; 1 = present): for the study's
``Male`` it is the metadata's ``label`` column, as before."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import train_test_split

from celeba_gender.constants import CLASS_NAMES, LABEL_ATTRIBUTE
from celeba_gender.ingest import read_partition
from celeba_gender.io import DataError, write_csv
from celeba_gender.layouts import detect_layout
from celeba_gender.targets import class_names

SPLIT_NAMES: tuple[str, str, str] = ("train", "val", "test")
SPLIT_COLUMNS = ["image_id", "path", "label"]
TOLERANCE = 1e-6

log = logging.getLogger(__name__)


def _check_fractions(train: float, val: float, test: float) -> None:
    fractions = {"train": train, "val": val, "test": test}
    low = [f"{k}={v}" for k, v in fractions.items() if not 0 < v < 1]
    if low:
        raise DataError(
            f"split: fractions must each be between 0 and 1 (exclusive); got {', '.join(low)}."
        )
    total = train + val + test
    if abs(total - 1.0) > TOLERANCE:
        raise DataError(
            f"split: fractions train={train}, val={val}, test={test} sum to {total:.6g}; "
            "they must sum to 1."
        )


def _check_columns(meta: pd.DataFrame) -> None:
    missing = [c for c in SPLIT_COLUMNS if c not in meta.columns]
    if missing:
        raise DataError(
            f"split: the metadata table lacks column(s) {', '.join(missing)} "
            f"(found: {', '.join(map(str, meta.columns))})."
        )


def part_sizes(n: int, train: float, val: float, test: float) -> dict[str, int]:
    """Number of images per part: val and test rounded, train takes the rest."""
    n_val, n_test = round(val * n), round(test * n)
    return {"train": n - n_val - n_test, "val": n_val, "test": n_test}


def _class_counts(frame: pd.DataFrame) -> str:
    n_male = int(frame["label"].sum())
    return f"{len(frame) - n_male} {CLASS_NAMES[0]}, {n_male} {CLASS_NAMES[1]}"


def _check_feasible(meta: pd.DataFrame, sizes: dict[str, int]) -> None:
    """Each part must be able to hold one image of each class."""
    counts = meta["label"].value_counts()
    for label, name in enumerate(CLASS_NAMES):
        have = int(counts.get(label, 0))
        if have < len(SPLIT_NAMES):
            raise DataError(
                f"split: only {have} {name} images (label {label}) among {len(meta)}; each of "
                f"train/val/test needs at least one, so at least {len(SPLIT_NAMES)} are needed."
            )
    for name, size in sizes.items():
        if size < len(CLASS_NAMES):
            raise DataError(
                f"split: the {name} part would hold {size} images ({len(meta)} images, "
                f"sizes {sizes}); it needs at least one image of each class. Use more images "
                "or larger split fractions."
            )


def _check_parts(parts: dict[str, pd.DataFrame], n: int) -> None:
    for name, part in parts.items():
        if part["label"].nunique() < len(CLASS_NAMES):
            raise DataError(
                f"split: the {name} part ({len(part)} of {n} images: {_class_counts(part)}) "
                "lacks one class. Use more images or larger split fractions."
            )


def _split_off(
    table: pd.DataFrame, n_second: int, seed: int, first: str, second: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified split of ``table`` into (len - n_second, n_second) rows; both hold each class."""
    counts = table["label"].value_counts()
    for label, name in enumerate(CLASS_NAMES):
        if counts.get(label, 0) < 2:
            raise DataError(
                f"split: the {first}+{second} part ({len(table)} images: {_class_counts(table)}) "
                f"has {counts.get(label, 0)} {name} images; it needs at least 2 to give one to "
                f"each of {first} and {second}. Use more images or larger split fractions."
            )
    try:
        head, tail = train_test_split(
            table, test_size=n_second, stratify=table["label"], random_state=seed
        )
    except ValueError as exc:
        raise DataError(
            f"split: cannot split {len(table)} images ({_class_counts(table)}) into "
            f"{first} ({len(table) - n_second}) and {second} ({n_second}): {exc}"
        ) from exc
    return head, tail


def stratified_split(
    meta: pd.DataFrame,
    train: float = 0.8,
    val: float = 0.1,
    test: float = 0.1,
    seed: int = 42,
) -> dict[str, pd.DataFrame]:
    """Split ``meta`` into train/val/test stratified on ``label``.

    Two sklearn ``train_test_split`` calls (train vs rest, then val vs test), both with
    ``random_state=seed``. Each part keeps ``image_id, path, label`` in the input's row order.
    """
    _check_fractions(train, val, test)
    _check_columns(meta)
    table = meta[SPLIT_COLUMNS].reset_index(drop=True)
    sizes = part_sizes(len(table), train, val, test)
    _check_feasible(table, sizes)
    train_part, rest = _split_off(table, sizes["val"] + sizes["test"], seed, "train", "val+test")
    val_part, test_part = _split_off(rest, sizes["test"], seed, "val", "test")
    parts = {
        name: part.sort_index().reset_index(drop=True)
        for name, part in zip(SPLIT_NAMES, (train_part, val_part, test_part), strict=True)
    }
    _check_parts(parts, len(table))
    return parts


def summary(splits: dict[str, pd.DataFrame], target: str = LABEL_ATTRIBUTE) -> pd.DataFrame:
    """One row per split: split, n, and n_<class> per class of the target (n_female, n_male for
    Male; n_not_Smiling, n_Smiling for Smiling)."""
    negative, positive = (f"n_{name.replace(' ', '_')}" for name in class_names(target))
    rows = []
    for name, part in splits.items():
        n_pos = int(part["label"].sum())
        rows.append({"split": name, "n": len(part), negative: len(part) - n_pos, positive: n_pos})
    return pd.DataFrame(rows, columns=["split", "n", negative, positive])


def with_target(meta: pd.DataFrame, target: str) -> pd.DataFrame:
    """The metadata with ``label`` = the target attribute (1 = present); Male's is ``label``."""
    if target == LABEL_ATTRIBUTE:
        return meta
    if target not in meta.columns:
        raise DataError(f"split: data.target {target!r} is not a column of the metadata table")
    return meta.assign(label=meta[target].eq(1).astype(int))


# CelebA's list_eval_partition codes
PARTITION_CODES: dict[int, str] = {0: "train", 1: "val", 2: "test"}


def official_split(meta: pd.DataFrame, partition: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``meta``'s images by CelebA's own partition (``ingest.read_partition``: image_id,
    partition 0/1/2), in the metadata's order; DataError naming an image without one."""
    _check_columns(meta)
    codes = partition.drop_duplicates("image_id").set_index("image_id")["partition"]
    found = meta["image_id"].map(codes)
    if found.isna().any():
        missing = meta.loc[found.isna(), "image_id"]
        raise DataError(
            f"split: {len(missing)} image(s) have no official partition, e.g. {missing.iloc[0]}; "
            "use split.method: stratified, or the partition file of this dataset"
        )
    parts = {
        name: meta.loc[found == code, SPLIT_COLUMNS].reset_index(drop=True)
        for code, name in PARTITION_CODES.items()
    }
    _check_parts(parts, len(meta))
    return parts


def write_splits(splits: dict[str, pd.DataFrame], out_paths: dict[str, str | os.PathLike]) -> None:
    """Write each split to its path (``image_id,path,label``), atomically."""
    missing = [name for name in splits if name not in out_paths]
    if missing:
        raise ValueError(f"split: no output path for split(s) {', '.join(missing)}")
    for name, part in splits.items():
        write_csv(out_paths[name], part[SPLIT_COLUMNS])


@dataclass(frozen=True)
class SplitJob:
    """The split rule: the metadata table cut into train/val/test by the fractions and seed."""

    metadata: str
    train: float
    val: float
    test: float
    seed: int
    out_train: str
    out_val: str
    out_test: str
    out_sizes: str
    target: str = LABEL_ATTRIBUTE
    method: str = "stratified"
    root: str = ""  # data.root and data.format: where the official partition is
    format: str = "auto"
    partition: list[str] | None = None  # the partition file (an input, for Snakemake)


def split(job: SplitJob) -> pd.DataFrame:
    """Write the three split files and their sizes table; return the sizes."""
    meta = with_target(pd.read_csv(job.metadata, dtype={"image_id": str}), job.target)
    if job.method == "official":
        layout = detect_layout(job.root) if job.format == "auto" else job.format
        splits = official_split(meta, read_partition(job.root, layout))
    else:
        splits = stratified_split(meta, job.train, job.val, job.test, seed=job.seed)
    write_splits(splits, {"train": job.out_train, "val": job.out_val, "test": job.out_test})
    sizes = summary(splits, job.target)
    write_csv(job.out_sizes, sizes)
    log.info("split sizes:\n%s", sizes.to_string(index=False))
    return sizes
