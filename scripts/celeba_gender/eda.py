"""Exploratory data analysis: the study's Figures 1-4 and its null-value check.

Each table function takes the metadata frame (``image_id, path, label`` + the 40 attributes as
-1/1) and returns a DataFrame; each ``plot_*`` function saves one PNG atomically and returns
what it drew (the sampled rows, or the figure so tests can inspect its artists).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from celeba_gender.constants import ATTRIBUTES, CLASS_NAMES, LABEL_ATTRIBUTE  # noqa: E402
from celeba_gender.ingest import load_rgb  # noqa: E402
from celeba_gender.io import DataError, save_figure  # noqa: E402
from celeba_gender.plots import LABEL_SIZE, TITLE_SIZE, new_figure, style_axes  # noqa: E402

NEGATIVE_COLOUR = "#2166ac"  # blue: attribute more frequent in women
POSITIVE_COLOUR = "#b2182b"  # red: attribute more frequent in men
GENDER_COLOURS = ("#d6604d", "#4393c3")  # female, male


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
            f"({ATTRIBUTES[0]}, {ATTRIBUTES[1]}, ...); is it results/data/metadata.csv?"
        )
    return columns


def gender_names(labels: pd.Series) -> pd.Series:
    """Map labels 0/1 to "female"/"male"; raise DataError on any other value."""
    bad = labels[~labels.isin([0, 1])]
    if not bad.empty:
        raise DataError(
            f"label must be 0 (female) or 1 (male); row {bad.index[0]} has {bad.iloc[0]!r}"
        )
    return labels.astype(int).map(dict(enumerate(CLASS_NAMES)))


def plot_sample_images(
    meta: pd.DataFrame,
    out_png: str | os.PathLike,
    n: int = 5,
    seed: int = 0,
    load: Callable[[str], Image.Image] = load_rgb,
) -> pd.DataFrame:
    """Figure 1: ``n`` randomly sampled images titled with their gender; return the sampled rows."""
    _require_columns(meta, ("image_id", "path", "label"), "plot_sample_images")
    if meta.empty:
        raise DataError("plot_sample_images: the metadata table has no rows")
    sample = meta.sample(n=min(n, len(meta)), random_state=seed)[["image_id", "path", "label"]]
    sample = sample.assign(gender=gender_names(sample["label"])).reset_index(drop=True)
    fig, axes = new_figure(2.3 * len(sample), 3.3, ncols=len(sample))
    for ax, row in zip(axes, sample.itertuples(index=False), strict=True):
        ax.imshow(load(row.path))
        ax.set_title(row.gender, fontsize=LABEL_SIZE + 1)
        ax.set_xlabel(str(row.image_id), fontsize=8, color="#666666")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{len(sample)} randomly sampled images and their labels", fontsize=TITLE_SIZE)
    save_figure(out_png, fig)
    return sample


def gender_counts(meta: pd.DataFrame) -> pd.DataFrame:
    """Images per gender: columns ``label, gender, count`` (both classes, sorted by label)."""
    _require_columns(meta, ("label",), "gender_counts")
    names = gender_names(meta["label"])
    counts = names.value_counts().reindex(list(CLASS_NAMES), fill_value=0)
    return pd.DataFrame(
        {"label": range(len(CLASS_NAMES)), "gender": list(CLASS_NAMES), "count": counts.to_numpy()}
    )


def plot_gender_counts(counts: pd.DataFrame, out_png: str | os.PathLike) -> Figure:
    """Figure 2: a bar per gender with its count printed on the bar."""
    fig, (ax,) = new_figure(5.5, 4.2)
    bars = ax.bar(counts["gender"], counts["count"], color=GENDER_COLOURS[: len(counts)], width=0.6)
    ax.bar_label(bars, labels=[f"{int(c):,}" for c in counts["count"]], padding=3, fontsize=10)
    ax.set_xlabel("Gender", fontsize=LABEL_SIZE)
    ax.set_ylabel("Number of images", fontsize=LABEL_SIZE)
    ax.set_title(f"Gender distribution (n = {int(counts['count'].sum()):,})", fontsize=TITLE_SIZE)
    ax.margins(y=0.12)
    style_axes(ax, "y")
    save_figure(out_png, fig)
    return fig


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


def plot_attribute_counts(counts: pd.DataFrame, out_png: str | os.PathLike) -> Figure:
    """Figure 3: horizontal bars of the attribute counts, the most frequent on top."""
    ordered = counts.sort_values("count", ascending=True, kind="stable")
    fig, (ax,) = new_figure(8, 0.24 * len(ordered) + 1.4)
    ax.barh(ordered["attribute"], ordered["count"], color="#4c72b0", height=0.7)
    ax.set_xlabel("Number of images with the attribute", fontsize=LABEL_SIZE)
    ax.set_ylabel("Attribute", fontsize=LABEL_SIZE)
    ax.set_title("Images per attribute", fontsize=TITLE_SIZE)
    ax.set_ylim(-0.6, len(ordered) - 0.4)
    style_axes(ax, "x")
    save_figure(out_png, fig)
    return fig


def attribute_correlations(meta: pd.DataFrame) -> pd.DataFrame:
    """Pearson correlation of every attribute (-1/1) with Male, ascending; Male itself excluded.

    Male comes from its own column when present, else from ``label`` (the correlation is the
    same for 0/1 and -1/1 codings). A constant attribute has correlation NaN (listed last).
    """
    columns = [
        a for a in _attribute_columns(meta, "attribute_correlations") if a != LABEL_ATTRIBUTE
    ]
    if LABEL_ATTRIBUTE in meta.columns:
        male = meta[LABEL_ATTRIBUTE].astype(float)
    elif "label" in meta.columns:
        male = 2.0 * meta["label"].astype(float) - 1.0
    else:
        raise DataError(
            f"attribute_correlations: the metadata table has neither a '{LABEL_ATTRIBUTE}' "
            "nor a 'label' column"
        )
    corr = meta[columns].astype(float).corrwith(male)
    frame = pd.DataFrame({"attribute": columns, "corr": corr.to_numpy()})
    return frame.sort_values("corr", ascending=True, na_position="last", ignore_index=True)


def correlation_colours(corr: pd.Series) -> list[str]:
    """Blue for a negative correlation, red for a positive (or zero) one."""
    return [NEGATIVE_COLOUR if value < 0 else POSITIVE_COLOUR for value in corr]


def plot_correlations(corr: pd.DataFrame, out_png: str | os.PathLike) -> Figure:
    """Figure 4: correlation with Male per attribute, negative blue, positive red.

    Male itself and attributes with an undefined (NaN) correlation are left out.
    """
    shown = corr[(corr["attribute"] != LABEL_ATTRIBUTE) & corr["corr"].notna()]
    shown = shown.sort_values("corr", ascending=True, kind="stable")
    fig, (ax,) = new_figure(8, 0.24 * len(shown) + 1.6)
    ax.barh(shown["attribute"], shown["corr"], color=correlation_colours(shown["corr"]), height=0.7)
    ax.axvline(0, color="#333333", linewidth=0.8)
    ax.set_xlim(-1.0, 1.0)
    ax.set_ylim(-0.6, len(shown) - 0.4)
    ax.set_xlabel(f"Pearson correlation with {LABEL_ATTRIBUTE} (-1/1 coding)", fontsize=LABEL_SIZE)
    ax.set_ylabel("Attribute", fontsize=LABEL_SIZE)
    ax.set_title(
        f"Correlation between {LABEL_ATTRIBUTE} and each attribute\n"
        "(blue: more frequent in women, red: more frequent in men)",
        fontsize=TITLE_SIZE,
    )
    style_axes(ax, "x")
    save_figure(out_png, fig)
    return fig
