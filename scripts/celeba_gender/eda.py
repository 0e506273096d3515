"""Exploratory data analysis: the tables behind the study's Figures 1-4 and its null check.

Each table function takes the metadata frame (``image_id, path, label`` + the 40 attributes as
-1/1) and returns a DataFrame; ``plots`` draws the figures. ``eda`` runs the EDA rule
(rules/eda.smk): the rule's ``kind`` param picks the table and the figure it writes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from PIL import Image

from celeba_gender import plots
from celeba_gender.constants import ATTRIBUTES, CLASS_NAMES, LABEL_ATTRIBUTE
from celeba_gender.ingest import load_rgb
from celeba_gender.io import DataError, write_csv
from celeba_gender.split import with_target
from celeba_gender.targets import class_names

log = logging.getLogger(__name__)


def _require_columns(meta: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in meta.columns]
    if missing:
        raise DataError(
            f"{what}: the metadata table has no column(s) {', '.join(missing)} "
            f"(found: {', '.join(map(str, meta.columns[:12]))}{', ...' if meta.shape[1] > 12 else ''})"
        )


def _attribute_columns(meta: pd.DataFrame, what: str) -> list[str]:
    columns = [a for a in ATTRIBUTES if a in meta.columns]
    if not columns:
        raise DataError(
            f"{what}: the metadata table has none of the 40 CelebA attribute columns "
            f"({ATTRIBUTES[0]}, {ATTRIBUTES[1]}, ...); "
            "is it results/data/<data key>/metadata.csv?"
        )
    return columns


def gender_names(labels: pd.Series, names: tuple[str, str] = CLASS_NAMES) -> pd.Series:
    """Map labels 0/1 to their class names (female/male for Male); DataError on other values."""
    bad = labels[~labels.isin([0, 1])]
    if not bad.empty:
        raise DataError(
            f"label must be 0 ({names[0]}) or 1 ({names[1]}); row {bad.index[0]} has "
            f"{bad.iloc[0]!r}"
        )
    return labels.astype(int).map(dict(enumerate(names)))


def sample_images(meta: pd.DataFrame, n: int = 5, seed: int = 0, target: str = LABEL_ATTRIBUTE):
    """Figure 1's rows: ``n`` random images (fixed by ``seed``) with ``image_id, path, label,
    gender`` (the class name of the target's label; the study's column name is kept)."""
    _require_columns(meta, ("image_id", "path", "label"), "sample_images")
    if meta.empty:
        raise DataError("sample_images: the metadata table has no rows")
    sample = meta.sample(n=min(n, len(meta)), random_state=seed)[["image_id", "path", "label"]]
    names = gender_names(sample["label"], class_names(target))
    return sample.assign(gender=names).reset_index(drop=True)


def gender_counts(meta: pd.DataFrame, target: str = LABEL_ATTRIBUTE) -> pd.DataFrame:
    """Images per class of the target: columns ``label, gender, count`` (both classes, by label;
    ``gender`` holds the class names, female/male for Male)."""
    _require_columns(meta, ("label",), "gender_counts")
    classes = class_names(target)
    counts = (
        gender_names(meta["label"], classes).value_counts().reindex(list(classes), fill_value=0)
    )
    return pd.DataFrame(
        {"label": range(len(classes)), "gender": list(classes), "count": counts.to_numpy()}
    )


def null_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Null values per column, for every column: columns ``column, nulls``."""
    nulls = frame.isna().sum()
    return pd.DataFrame({"column": [str(c) for c in nulls.index], "nulls": nulls.to_numpy()})


def attribute_counts(meta: pd.DataFrame) -> pd.DataFrame:
    """Images having each attribute (value 1), sorted descending: columns ``attribute, count``."""
    columns = _attribute_columns(meta, "attribute_counts")
    counts = (meta[columns] == 1).sum()
    frame = pd.DataFrame({"attribute": columns, "count": counts.to_numpy()})
    return frame.sort_values(["count", "attribute"], ascending=[False, True], ignore_index=True)


def attribute_correlations(meta: pd.DataFrame, target: str = LABEL_ATTRIBUTE) -> pd.DataFrame:
    """Pearson correlation of every attribute (-1/1) with the target (Male), ascending; the
    target itself excluded.

    Male comes from its own column when present, else from ``label`` (the correlation is the
    same for 0/1 and -1/1 codings). A constant attribute has correlation NaN (listed last).
    """
    columns = [a for a in _attribute_columns(meta, "attribute_correlations") if a != target]
    if target in meta.columns:
        male = meta[target].astype(float)
    elif "label" in meta.columns:
        male = 2.0 * meta["label"].astype(float) - 1.0
    else:
        raise DataError(
            f"attribute_correlations: the metadata table has neither a '{target}' "
            "nor a 'label' column"
        )
    corr = meta[columns].astype(float).corrwith(male)
    frame = pd.DataFrame({"attribute": columns, "corr": corr.to_numpy()})
    return frame.sort_values("corr", ascending=True, na_position="last", ignore_index=True)


# ----------------------------------------------------------------------------- the EDA job
# table name -> (the function computing it, the figure drawn from it or None)
TABLES: dict[str, tuple[Callable[[pd.DataFrame], pd.DataFrame], Callable | None]] = {
    "gender_counts": (gender_counts, plots.plot_gender_counts),
    "null_counts": (null_counts, None),
    "attribute_counts": (attribute_counts, plots.plot_attribute_counts),
    "correlations": (attribute_correlations, plots.plot_correlations),
}


TARGETED = ("gender_counts", "correlations")  # the tables that depend on the target


@dataclass(frozen=True)
class EdaJob:
    """The eda rule: every exploratory table and figure of the study from the metadata table
    (the study's Figures 1-4 and its null check), in one cheap job."""

    metadata: str
    seed: int
    out_samples: str
    out_gender_counts: str
    out_gender_counts_table: str
    out_null_counts: str
    out_attribute_counts: str
    out_attribute_counts_table: str
    out_correlations: str
    out_correlations_table: str
    target: str = LABEL_ATTRIBUTE  # data.target: the label of every table and figure

    def table_file(self, name: str) -> str:
        """Where table ``name`` of TABLES goes (the figure, when it has one, is ``out_<name>``)."""
        return getattr(self, f"out_{name}" if name == "null_counts" else f"out_{name}_table")


def eda(job: EdaJob, load: Callable[[str], Image.Image] = load_rgb) -> None:
    """Draw the sampled images (opened with ``load``), then write each table and its figure."""
    meta = with_target(pd.read_csv(job.metadata, dtype={"image_id": str}), job.target)
    sample = sample_images(meta, seed=job.seed, target=job.target)
    plots.plot_sample_images(sample, [load(path) for path in sample["path"]], job.out_samples)
    for name, (compute, plot) in TABLES.items():
        targeted = {"target": job.target} if name in TARGETED else {}
        table = compute(meta, **targeted)
        write_csv(job.table_file(name), table)
        if plot is not None:
            plot(table, getattr(job, f"out_{name}"), **targeted)
        log.info("%s:\n%s", name, table.to_string(index=False))
