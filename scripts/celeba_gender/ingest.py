"""Read a CelebA folder (Kaggle, CelebA30k, original or huggingface layout) into one checked
metadata table.

The huggingface layout (the Hub's parquet shards, :mod:`celeba_gender.parquet`) keeps its images
inside the shards: its ``path`` column holds row references (``<shard>.parquet#<row>``), and its
images are checked by decoding their bytes straight from the shards.

Every problem a user can fix (missing files, bad attribute values, undecodable images)
raises :class:`celeba_gender.io.DataError` naming the file, the rows and what was expected.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageFile

from celeba_gender import constants as C
from celeba_gender import parquet
from celeba_gender.io import DataError, write_csv, write_json
from celeba_gender.layouts import (
    absolute,
    attribute_file,
    check_layout_name,
    check_root,
    detect_layout,
    downloaded_root,
    file_names,
    image_dir,
)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"})
BAD_IMAGE_COLUMNS = ["image_id", "path", "reason"]
VALID_VALUES = ("-1", "1")
INSPECT_CHUNK = 512  # parquet images held in memory at once by the decode check
SHOW = 10  # how many offending names / rows an error message lists


def _logger(log: logging.Logger | None) -> logging.Logger:
    return log if log is not None else logging.getLogger(__name__)


def _count(n: int, noun: str) -> str:
    """'1 row', '2 rows'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _first(items: Sequence[str], n: int = SHOW) -> str:
    """Join the first ``n`` items, with an ellipsis when there are more."""
    shown = ", ".join(str(i) for i in items[:n])
    return shown + (", …" if len(items) > n else "")


# ---------------------------------------------------------------------------- attributes


def _read_csv_strings(path: Path, **kwargs) -> pd.DataFrame:
    """Read ``path`` keeping every cell as text (empty cells stay ''), header names stripped."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", **kwargs)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"ingest: attribute file {path} has no rows.") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"ingest: attribute file {path} cannot be parsed: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.fillna("")


def _read_kaggle(path: Path) -> pd.DataFrame:
    frame = _read_csv_strings(path, skipinitialspace=True)
    first = frame.columns[0]
    if first in C.ATTRIBUTES:
        raise DataError(
            f"ingest: {path} has no file-name column: its first column is the attribute "
            f"{first!r}. Expected the image file names (e.g. 000001.jpg) in the first column."
        )
    return frame.rename(columns={first: "image_id"})


def _read_celeba30k(path: Path) -> pd.DataFrame:
    frame = _read_csv_strings(path, skipinitialspace=True)
    if "filename" not in frame.columns:
        raise DataError(
            f"ingest: {path} has no column 'filename' (found {len(frame.columns)} columns: "
            f"{_first(list(frame.columns), 8)}). Expected the image file names in a "
            "'filename' column."
        )
    return frame.rename(columns={"filename": "image_id"})


def _read_original(path: Path) -> pd.DataFrame:
    with path.open(encoding="utf-8-sig") as handle:
        count_line = handle.readline().strip()
        names = handle.readline().split()
    try:
        declared = int(count_line)
    except ValueError as exc:
        raise DataError(
            f"ingest: {path} line 1 should be the number of images, found {count_line!r}."
        ) from exc
    if not names:
        raise DataError(f"ingest: {path} line 2 should list the attribute names; it is empty.")
    frame = _read_csv_strings(path, sep=r"\s+", skiprows=2, header=None)
    if frame.shape[1] != len(names) + 1:
        raise DataError(
            f"ingest: {path} rows have {frame.shape[1]} fields but line 2 names "
            f"{len(names)} attributes (expected {len(names) + 1}: file name and one value each)."
        )
    frame.columns = ["image_id", *names]
    if declared != len(frame):
        raise DataError(
            f"ingest: {path} line 1 declares {declared} images but the file has "
            f"{len(frame)} rows. The file is probably truncated or edited; re-download it."
        )
    return frame


def _check_columns(frame: pd.DataFrame, path: Path) -> None:
    attrs = [c for c in frame.columns if c != "image_id"]
    if C.LABEL_ATTRIBUTE not in frame.columns:
        raise DataError(
            f"ingest: {path.name} has no column '{C.LABEL_ATTRIBUTE}' (found {len(attrs)} "
            f"attribute columns: {_first(attrs, 8)}). Is data.root pointing at a CelebA "
            f"folder? (file: {path})"
        )
    missing = [a for a in C.ATTRIBUTES if a not in frame.columns]
    if missing:
        raise DataError(
            f"ingest: {path} lacks {len(missing)} of the 40 CelebA attribute columns: "
            f"{_first(missing)}."
        )


def _check_values(values: pd.DataFrame, path: Path, first_line: int) -> pd.DataFrame:
    """Return ``values`` as -1/1 ints, or raise naming the columns and lines that are not."""
    ok = values.isin(VALID_VALUES)
    if not ok.to_numpy().all():
        values = values.apply(lambda col: col.str.strip())
        ok = values.isin(VALID_VALUES)
    bad = ~ok.to_numpy()
    if bad.any():
        bad_rows = np.flatnonzero(bad.any(axis=1))
        per_column = bad.sum(axis=0)
        columns = [
            f"{c} ({_count(n, 'row')})"
            for c, n in zip(values.columns, per_column, strict=True)
            if n
        ]
        examples = []
        for row in bad_rows[:SHOW]:
            cells = [
                f"{c}={values.iat[row, j]!r}" for j, c in enumerate(values.columns) if bad[row, j]
            ]
            examples.append(f"line {row + first_line}: {', '.join(cells[:3])}")
        raise DataError(
            f"ingest: {path}: {_count(len(bad_rows), 'row')} with values other than -1 or 1 "
            f"(or empty cells), in {_count(len(columns), 'column')}: {_first(columns)}. "
            "First rows: "
            f"{'; '.join(examples)}. Attribute values must be -1 (absent) or 1 (present)."
        )
    return pd.DataFrame(
        np.where(values.to_numpy() == "1", 1, -1).astype(np.int8),
        columns=values.columns,
        index=values.index,
    )


def _check_ids(ids: pd.Series, path: Path, first_line: int) -> None:
    empty = np.flatnonzero(ids.str.strip().eq("").to_numpy())
    if len(empty):
        lines = [str(i + first_line) for i in empty]
        raise DataError(
            f"ingest: {path}: {_count(len(empty), 'row')} with an empty file name "
            f"(lines {_first(lines)})."
        )
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):
        groups = pd.Series(dup.index, index=dup.to_numpy()).groupby(level=0, sort=False)
        shown = [  # one past SHOW, so that _first marks that there are more
            f"{name} (lines {', '.join(str(i + first_line) for i in rows)})"
            for name, rows in itertools.islice(groups, SHOW + 1)
        ]
        raise DataError(
            f"ingest: {path}: {_count(groups.ngroups, 'image id')} listed more than once "
            f"({len(dup)} rows): {_first(shown)}. "
            "Each image must be listed once."
        )


def read_attributes(root: str | os.PathLike, layout: str) -> pd.DataFrame:
    """Read and check the attribute file: ``image_id`` then the 40 attributes as -1/1 ints.
    (huggingface: the rows of every shard, in official order.)"""
    if layout == "huggingface":
        return read_hub_table(root)[["image_id", *C.ATTRIBUTES]]
    path = attribute_file(root, layout)
    if not path.is_file():
        raise DataError(
            f"ingest: attribute file {path} not found (the {layout} layout expects "
            f"{C.LAYOUT_ATTRIBUTE_FILES[layout]} under data.root)."
        )
    if path.stat().st_size == 0:
        raise DataError(f"ingest: attribute file {path} is empty.")
    reader = {"kaggle": _read_kaggle, "celeba30k": _read_celeba30k, "original": _read_original}
    frame = reader[layout](path)
    first_line = 3 if layout == "original" else 2  # file line of the first data row
    if frame.empty:
        raise DataError(f"ingest: attribute file {path} has a header but no rows.")
    _check_columns(frame, path)
    ids = frame["image_id"].astype(str).reset_index(drop=True)
    _check_ids(ids, path, first_line)
    values = _check_values(
        frame[list(C.ATTRIBUTES)].reset_index(drop=True).astype(str), path, first_line
    )
    return pd.concat([ids.str.strip().rename("image_id"), values], axis=1)


def read_hub_table(root: str | os.PathLike) -> pd.DataFrame:
    """The huggingface layout's rows: image_id, the 40 attributes (-1/1), partition (0 train,
    1 valid, 2 test: the split of the shard the row comes from), path (``<shard>#<row>``)."""
    return parquet.read_attributes(image_dir(root, "huggingface"))


PARTITION_FILES = {
    "kaggle": "list_eval_partition.csv",
    "original": "celeba/list_eval_partition.txt",
}


def read_partition(root: str | os.PathLike, layout: str) -> pd.DataFrame:
    """The official partition (image_id, partition: 0 train, 1 valid, 2 test) of a layout that
    records it: kaggle and original (their partition files), huggingface (the shard names)."""
    check_layout_name(layout)
    if layout == "huggingface":
        return read_hub_table(root)[["image_id", "partition"]]
    if layout not in PARTITION_FILES:
        raise DataError(f"ingest: the {layout} layout has no official partition.")
    path = absolute(root) / PARTITION_FILES[layout]
    if not path.is_file():
        raise DataError(f"ingest: partition file {path} not found.")
    if layout == "kaggle":
        frame = _read_csv_strings(path, skipinitialspace=True)
    else:
        frame = _read_csv_strings(path, sep=r"\s+", header=None, names=["image_id", "partition"])
    frame.columns = ["image_id", "partition"]
    return frame.astype({"partition": int})


# ---------------------------------------------------------------------------- images


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Open an image fully and return it as RGB (grayscale, CMYK, RGBA, P are converted).
    ``path`` may be a parquet row reference (the huggingface layout: ``<shard>.parquet#<row>``)."""
    if isinstance(path, str) and parquet.parse_row_ref(path):
        ((_, data, _),) = parquet.iter_images([path])
        opened = parquet.open_image_bytes(data)
    else:
        opened = Image.open(path)
    with opened as image:
        image.load()
        return image.convert("RGB")


def _inspect_image(path, opener=Image.open) -> tuple[str | None, str | None, int, int, str | None]:
    """Decode ``path`` (or, with ``opener`` ``parquet.open_image_bytes``, a parquet row's bytes,
    where no bytes is a reason too) fully: (format, mode, width, height, reason it is unusable or
    None)."""
    try:
        with opener(path) as image:
            image.load()
            if image.mode != "RGB":
                image.convert("RGB")
            return image.format, image.mode, image.width, image.height, None
    except Exception as exc:  # any failure means the file cannot be used
        return None, None, 0, 0, f"{type(exc).__name__}: {exc}"


def default_workers() -> int:
    """Threads for the decode check: the CPU count clamped to 2..4."""
    return min(4, max(2, os.cpu_count() or 2))


def _inspect_rows(paths: Sequence[str], rows: list, pool: ThreadPoolExecutor) -> None:
    """Fill ``rows`` for the parquet row references of ``paths``, streaming their shards and
    decoding ``INSPECT_CHUNK`` images at a time in ``pool``."""
    where = [i for i, p in enumerate(paths) if parquet.parse_row_ref(p)]
    stream = parquet.iter_images([paths[i] for i in where])
    while chunk := list(itertools.islice(stream, INSPECT_CHUNK)):
        encoded = [data for _, data, _ in chunk]
        results = pool.map(_inspect_image, encoded, itertools.repeat(parquet.open_image_bytes))
        for (position, _, _), result in zip(chunk, results, strict=True):
            rows[where[position]] = result


def check_images(paths: Sequence[str], workers: int | None = None) -> pd.DataFrame:
    """Fully decode every image: columns path, format, mode, width, height, reason. A path may be
    a parquet row reference (``<shard>.parquet#<row>``): its bytes are read from the shard."""
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        rows = [None] * len(paths)
        files = [i for i, p in enumerate(paths) if not parquet.parse_row_ref(p)]
        for i, row in zip(files, pool.map(_inspect_image, [paths[i] for i in files]), strict=True):
            rows[i] = row
        if len(files) < len(paths):  # pyarrow is needed only for row references
            _inspect_rows(paths, rows, pool)
    frame = pd.DataFrame(rows, columns=["format", "mode", "width", "height", "reason"])
    frame.insert(0, "path", list(paths))
    return frame


def _check_present(
    meta: pd.DataFrame, all_ids: pd.Series, folder: Path, log: logging.Logger
) -> None:
    on_disk = set(file_names(folder))
    missing = [i for i in meta["image_id"] if i not in on_disk]
    if missing:
        raise DataError(
            f"ingest: {len(missing)} of {len(meta)} listed images are missing from {folder}: "
            f"{_first(missing)}. Check data.root (and data.format), or that the download "
            "was fully extracted."
        )
    listed = set(all_ids)
    unlisted = sum(
        1 for n in on_disk if Path(n).suffix.lower() in IMAGE_SUFFIXES and n not in listed
    )
    if unlisted:
        log.info(
            "ingest: %d image files in %s are not in the attribute file; ignored", unlisted, folder
        )


def _log_image_report(report: pd.DataFrame, ids: pd.Series, log: logging.Logger) -> None:
    good = report["reason"].isna()
    named = ids.str.lower().str.endswith((".jpg", ".jpeg")).to_numpy()
    odd_format = good & named & report["format"].ne("JPEG")
    odd_mode = good & report["mode"].ne("RGB")
    for column, odd, what in (
        ("format", odd_format, "named .jpg are another format (%s): %s; kept"),
        ("mode", odd_mode, "are not RGB (%s): %s; kept, converted to RGB when read"),
    ):
        if odd.any():
            log.warning(
                "ingest: %d images " + what,
                int(odd.sum()),
                ", ".join(f"{k}: {v}" for k, v in Counter(report.loc[odd, column]).items()),
                _first(list(ids[odd])),
            )
    odd_size = good & (report["width"].ne(C.IMAGE_WIDTH) | report["height"].ne(C.IMAGE_HEIGHT))
    if odd_size.any():
        log.info(
            "ingest: %d images are not %dx%d (they are resized for training)",
            int(odd_size.sum()),
            C.IMAGE_WIDTH,
            C.IMAGE_HEIGHT,
        )


def _where(path: str) -> str:
    """' (train-00000-of-00019.parquet row 4)' for a parquet row reference, else ''."""
    return f" ({parquet.describe_ref(path)})" if parquet.parse_row_ref(path) else ""


def _decode_check(
    meta: pd.DataFrame, on_bad_image: str, workers: int | None, log: logging.Logger
) -> tuple[pd.DataFrame, pd.DataFrame]:
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        log.warning("ingest: PIL LOAD_TRUNCATED_IMAGES is on; truncated images go undetected")
    start = time.perf_counter()
    report = check_images(list(meta["path"]), workers)
    seconds = time.perf_counter() - start
    log.info(
        "ingest: decoded %d images in %.1f s (%.2f s per 1000 images, %d threads)",
        len(meta),
        seconds,
        1000 * seconds / max(len(meta), 1),
        workers or default_workers(),
    )
    ids = meta["image_id"].reset_index(drop=True)
    _log_image_report(report, ids, log)
    bad_mask = report["reason"].notna().to_numpy()
    table = pd.concat([ids, report[["path", "reason"]]], axis=1).to_numpy()
    bad = pd.DataFrame(table[bad_mask], columns=BAD_IMAGE_COLUMNS)
    if len(bad) and on_bad_image == "error":
        lines = [f"  {i}{_where(p)}: {r}" for i, p, r in bad.head(SHOW).itertuples(index=False)]
        more = f"\n  … and {len(bad) - SHOW} more" if len(bad) > SHOW else ""
        raise DataError(
            f"ingest: {len(bad)} of {len(meta)} images cannot be decoded "
            f"(in {Path(bad['path'].iloc[0]).parent}):\n"
            + "\n".join(lines)
            + more
            + "\nRe-download or remove them, or set data.on_bad_image: skip to drop them "
            "(they are then listed in the bad-images table)."
        )
    if len(bad):
        log.warning(
            "ingest: skipped %d undecodable images: %s", len(bad), _first(list(bad["image_id"]))
        )
    return meta.loc[~bad_mask].reset_index(drop=True), bad


def _select_subset(
    attrs: pd.DataFrame, subset_size: int | None, subset_order: str, seed: int, source: Path
) -> pd.DataFrame:
    if subset_order not in ("first", "random"):
        raise DataError(f"ingest: data.subset_order is {subset_order!r}; expected first or random.")
    if subset_size is None:
        return attrs
    if subset_size < 1:
        raise DataError(f"ingest: data.subset_size is {subset_size}; it must be at least 1.")
    if subset_size > len(attrs):
        raise DataError(
            f"ingest: data.subset_size is {subset_size} but {source} lists only {len(attrs)} "
            "images. Lower data.subset_size or set it to null to use every image."
        )
    if subset_order == "first":
        return attrs.iloc[:subset_size].reset_index(drop=True)
    return attrs.sample(n=subset_size, random_state=seed).sort_index().reset_index(drop=True)


def _check_classes(meta: pd.DataFrame, source: Path) -> None:
    counts = meta["label"].value_counts()
    if len(meta) == 0:
        raise DataError(f"ingest: no usable images are left from {source}.")
    if len(counts) < 2:
        label = int(counts.index[0])
        raise DataError(
            f"ingest: all {len(meta)} images are {C.CLASS_NAMES[label]} "
            f"({C.LABEL_ATTRIBUTE} = {1 if label else -1}) and none "
            f"{C.CLASS_NAMES[1 - label]}; the classifier needs both classes. Check the "
            f"{C.LABEL_ATTRIBUTE} column of {source}, or change data.subset_size/subset_order."
        )


def build_metadata(
    root: str | os.PathLike,
    fmt: str = "auto",
    subset_size: int | None = None,
    subset_order: str = "first",
    seed: int = 42,
    on_bad_image: str = "error",
    check_decode: bool = True,
    log: logging.Logger | None = None,
    workers: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read ``root`` into (metadata, bad_images).

    metadata: image_id, path (absolute), label (0 female / 1 male), the 40 attributes (-1/1).
    bad_images: image_id, path, reason of the images dropped with ``on_bad_image='skip'``.
    """
    log = _logger(log)
    if on_bad_image not in ("error", "skip"):
        raise DataError(f"ingest: data.on_bad_image is {on_bad_image!r}; expected error or skip.")
    root = absolute(root)
    check_root(root)
    layout = detect_layout(root) if fmt == "auto" else fmt
    check_layout_name(layout)
    hub = layout == "huggingface"
    if hub:  # the attributes with their rows' references, as one table
        source = image_dir(root, layout)
        attrs = read_hub_table(root).drop(columns="partition")
    else:
        source, attrs = attribute_file(root, layout), read_attributes(root, layout)
    log.info("ingest: %s layout, %d images listed in %s", layout, len(attrs), source)
    subset = _select_subset(attrs, subset_size, subset_order, seed, source)
    folder = source if hub else image_dir(root, layout)
    paths = subset["path"] if hub else str(folder) + os.sep + subset["image_id"]
    meta = pd.concat(
        [
            subset["image_id"],
            paths.rename("path"),
            subset[C.LABEL_ATTRIBUTE].eq(1).astype(int).rename("label"),
            subset[list(C.ATTRIBUTES)].astype(int),
        ],
        axis=1,
    )
    if not hub:
        _check_present(meta, attrs["image_id"], folder, log)
    if len(attrs) > len(meta):
        log.info(
            "ingest: %d listed images are outside the subset; not used", len(attrs) - len(meta)
        )
    bad = pd.DataFrame(columns=BAD_IMAGE_COLUMNS)
    if check_decode:
        meta, bad = _decode_check(meta, on_bad_image, workers, log)
    _check_classes(meta, source)
    n_male = int(meta["label"].sum())
    log.info(
        "ingest: %d images kept (%d female, %d male), %d bad",
        len(meta),
        len(meta) - n_male,
        n_male,
        len(bad),
    )
    return meta, bad


def write_metadata(
    meta: pd.DataFrame,
    bad: pd.DataFrame,
    out_meta: str | os.PathLike,
    out_bad: str | os.PathLike,
) -> None:
    """Write the metadata and bad-images tables as CSV, each atomically."""
    write_csv(out_meta, meta)
    write_csv(out_bad, bad)


@dataclass
class IngestJob:
    """``ingest``: read ``root`` (``data.*``), check every image, write the metadata table, the
    skipped bad images and a summary. ``attributes`` are the attribute files the rule depends on
    (the layout decides which one is read). ``download``: with a downloaded source, the verified
    download's marker (``celeba_gender.download``), which names the folder read instead of
    ``root`` (the download root)."""

    root: str
    format: str
    subset_size: int | None
    subset_order: str
    seed: int
    on_bad_image: str
    threads: int
    out_metadata: str
    out_bad_images: str
    out_summary: str
    attributes: Sequence[str] = ()
    download: str | Sequence[str] = ()


def data_folder(job: IngestJob) -> str:
    """The folder ingest reads: ``root``, or the data root a download's marker names."""
    markers = [job.download] if isinstance(job.download, str) else list(job.download)
    return str(downloaded_root(markers[0])) if markers else job.root


def ingest(job: IngestJob, log: logging.Logger | None = None) -> dict:
    """Run the ingest rule's job; return its summary."""
    root = data_folder(job)
    meta, bad = build_metadata(
        root,
        fmt=job.format,
        subset_size=job.subset_size,
        subset_order=job.subset_order,
        seed=job.seed,
        on_bad_image=job.on_bad_image,
        log=log,
        workers=job.threads,
    )
    write_metadata(meta, bad, job.out_metadata, job.out_bad_images)
    summary = {
        "root": root,
        "layout": detect_layout(root) if job.format == "auto" else job.format,
        "images": len(meta),
        "female": int((meta["label"] == 0).sum()),
        "male": int((meta["label"] == 1).sum()),
        "skipped_bad_images": len(bad),
    }
    write_json(job.out_summary, summary)
    _logger(log).info("metadata: %s", summary)
    return summary
