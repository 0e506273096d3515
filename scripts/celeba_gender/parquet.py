"""The Hugging Face Hub's CelebA as parquet shards: the ``huggingface`` layout.

A shard is named ``{split}-{index:05d}-of-{count:05d}.parquet`` with split ``train``, ``valid``
(or ``validation``) or ``test``. Its columns: ``image`` (a struct of ``bytes``, the encoded image,
and ``path``, the original file name such as ``000001.jpg``, possibly null), ``celeb_id`` (int64)
and the 40 CelebA attributes (booleans, or -1/1 integers).

Rows are addressed without extracting any image: a *row reference* is the shard's path, ``#``, and
the 0-based row number in that shard (``/data/celeba/train-00000-of-00019.parquet#17``). The
metadata table's ``path`` column holds these references for this layout, and the image store
decodes them straight from the shards (:func:`iter_images`), one row group at a time.

pyarrow is needed only for this layout: it comes with the ``hub`` extra, and a missing pyarrow
stops with the install command (:func:`require_pyarrow`).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from celeba_gender import constants as C
from celeba_gender.io import CelebaGenderError, DataError, atomic_path
from celeba_gender.layouts import SHARD_RE, shard_folder  # noqa: F401 (shard_folder: re-exported)

# Official partition code of each split name (as list_eval_partition: 0 train, 1 valid, 2 test).
SPLIT_CODES: dict[str, int] = {"train": 0, "valid": 1, "validation": 1, "test": 2}
ROW_SEPARATOR = "#"
ROW_REF_RE = re.compile(r"^(?P<shard>.+\.parquet)#(?P<row>\d+)$")
if TYPE_CHECKING:  # pandas is imported where tables are read: the store needs only numpy and PIL
    import pandas as pd

READ_BATCH = 256  # rows per batch when image bytes are streamed from a shard
INSTALL_HUB = 'pip install -e ".[hub]"'


def require_pyarrow():
    """Import and return ``pyarrow.parquet``, or stop with the command that installs it."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise CelebaGenderError(
            "The huggingface (parquet) layout needs pyarrow, which is not installed: run "
            f"{INSTALL_HUB} (or pip install pyarrow)."
        ) from exc
    return pq


# ---------------------------------------------------------------------------- shards


def shard_name(split: str, index: int, count: int) -> str:
    """``train-00003-of-00019.parquet``."""
    return f"{split}-{index:05d}-of-{count:05d}.parquet"


def _shard_key(path: Path) -> tuple[int, int]:
    split, index, _count = SHARD_RE.match(path.name).groups()
    return SPLIT_CODES[split], int(index)


def list_shards(folder: str | os.PathLike) -> list[Path]:
    """The shard files directly in ``folder``, in official order: train, valid, test, then by
    shard number (the order of the image ids in the official release)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    shards = [p for p in folder.iterdir() if SHARD_RE.match(p.name) and p.is_file()]
    return sorted(shards, key=_shard_key)


def split_of(shard: str | os.PathLike) -> str:
    """The split a shard file belongs to (``train``, ``valid``/``validation`` or ``test``)."""
    match = SHARD_RE.match(Path(shard).name)
    if match is None:
        raise DataError(f"{shard}: not a shard name (expected e.g. {shard_name('train', 0, 19)})")
    return match.group(1)


# ---------------------------------------------------------------------------- row references


def row_ref(shard: str | os.PathLike, row: int) -> str:
    """The path form of row ``row`` of ``shard``: ``<shard path>#<row>``."""
    return f"{shard}{ROW_SEPARATOR}{row}"


def parse_row_ref(path: str) -> tuple[str, int] | None:
    """(shard path, row) of a row reference; None for an ordinary file path."""
    match = ROW_REF_RE.match(str(path))
    return (match.group("shard"), int(match.group("row"))) if match else None


def describe_ref(path: str) -> str:
    """'train-00000-of-00002.parquet row 4' for a row reference, else the path itself."""
    parsed = parse_row_ref(path)
    return f"{Path(parsed[0]).name} row {parsed[1]}" if parsed else str(path)


# ---------------------------------------------------------------------------- attributes


def _check_schema(schema, shard: Path) -> None:
    names = set(schema.names)
    missing = [a for a in ("image", *C.ATTRIBUTES) if a not in names]
    if missing:
        raise DataError(
            f"ingest: {shard} lacks {len(missing)} of the expected columns (image and the 40 "
            f"attributes): {', '.join(missing[:10])}{', …' if len(missing) > 10 else ''}."
        )
    image = schema.field("image").type
    fields = {image.field(i).name for i in range(image.num_fields)} if image.num_fields else set()
    if "bytes" not in fields:
        raise DataError(
            f"ingest: {shard}: column 'image' is {image}, expected a struct of bytes and path."
        )


def _as_signs(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(values as -1/1 int8, mask of the cells that are neither true/false nor -1/1)."""
    if col.dtype == bool:
        return np.where(col.to_numpy(), 1, -1).astype(np.int8), np.zeros(len(col), bool)
    cells = col.to_numpy(dtype=object)
    positive = np.array([c is True or (type(c) is not bool and c == 1) for c in cells], bool)
    negative = np.array([c is False or (type(c) is not bool and c == -1) for c in cells], bool)
    return np.where(positive, 1, -1).astype(np.int8), ~(positive | negative)


def _attribute_values(frame: pd.DataFrame, shard: Path) -> pd.DataFrame:
    """The 40 attribute columns as -1/1 int8, or raise naming the shard, columns and rows."""
    import pandas as pd

    out, problems = {}, []
    for name in C.ATTRIBUTES:
        out[name], bad = _as_signs(frame[name])
        if bad.any():
            rows = np.flatnonzero(bad)
            cells = [frame[name].iat[r] for r in rows[:3]]
            shown = ", ".join(
                f"row {r}: {getattr(c, 'item', lambda c=c: c)()!r}"
                for r, c in zip(rows, cells, strict=False)
            )
            problems.append(f"{name} ({len(rows)} rows; {shown})")
    if problems:
        raise DataError(
            f"ingest: {shard}: attribute values other than true/false or -1/1 in "
            f"{len(problems)} columns: {'; '.join(problems[:5])}. Re-download the shard."
        )
    return pd.DataFrame(out, index=frame.index)


def read_shard_attributes(shard: Path) -> pd.DataFrame:
    """One shard's rows: image_id, the 40 attributes (-1/1), partition, path (row reference)."""
    pq = require_pyarrow()
    try:
        handle = pq.ParquetFile(shard)
        _check_schema(handle.schema_arrow, shard)
        table = handle.read(columns=[*C.ATTRIBUTES, "image.path"])
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        raise DataError(f"ingest: {shard} cannot be read as parquet: {exc}") from exc
    frame = table.select(list(range(len(C.ATTRIBUTES)))).to_pandas()  # attribute columns
    names = table.column(len(C.ATTRIBUTES)).to_pylist()  # image.path: a struct or its field
    names = [n.get("path") if isinstance(n, dict) else n for n in names]
    ids = [Path(name).name if name else f"{shard.stem}_{row:06d}" for row, name in enumerate(names)]
    values = _attribute_values(frame, shard)
    values.insert(0, "image_id", ids)
    values["partition"] = SPLIT_CODES[split_of(shard)]
    values["path"] = [row_ref(shard, row) for row in range(len(frame))]
    return values


def read_attributes(folder: Path) -> pd.DataFrame:
    """Every shard of ``folder`` in official order: image_id, the 40 attributes (-1/1 int8),
    partition (0 train, 1 valid, 2 test, from the shard's name), path (row reference)."""
    import pandas as pd

    shards = list_shards(folder)
    if not shards:
        raise DataError(f"ingest: no parquet shards ({shard_name('train', 0, 19)} …) in {folder}.")
    frame = pd.concat([read_shard_attributes(shard) for shard in shards], ignore_index=True)
    _check_unique_ids(frame)
    return frame


def _check_unique_ids(frame: pd.DataFrame) -> None:
    dup = frame[frame["image_id"].duplicated(keep=False)]
    if len(dup):
        groups = list(dup.groupby("image_id", sort=False)["path"])
        shown = [
            f"{name} ({', '.join(describe_ref(p) for p in refs)})" for name, refs in groups[:10]
        ]
        raise DataError(
            f"ingest: {len(groups)} image ids appear in more than one row: "
            f"{'; '.join(shown)}. Each image must be listed once."
        )


# ---------------------------------------------------------------------------- images


def _group_refs(paths: Sequence[str]) -> dict[str, list[tuple[int, int]]]:
    """shard -> [(row in shard, position in ``paths``)], rows ascending."""
    groups: dict[str, list[tuple[int, int]]] = {}
    for position, path in enumerate(paths):
        parsed = parse_row_ref(path)
        if parsed is None:
            raise DataError(f"{path}: not a parquet row reference (<shard>.parquet#<row>)")
        groups.setdefault(parsed[0], []).append((parsed[1], position))
    return {shard: sorted(rows) for shard, rows in groups.items()}


def iter_images(paths: Sequence[str]) -> Iterator[tuple[int, bytes | None, str]]:
    """Yield (position in ``paths``, encoded image bytes or None, row reference) for every row
    reference of ``paths``, streaming each shard's ``image`` column in batches of READ_BATCH rows
    (memory: one batch, never a whole shard). A row past the end of its shard raises."""
    pq = require_pyarrow()
    for shard, rows in _group_refs(paths).items():
        try:
            handle = pq.ParquetFile(shard)
        except (OSError, ValueError) as exc:
            raise DataError(f"{shard} cannot be read as parquet: {exc}") from exc
        n_rows = handle.metadata.num_rows
        if rows[-1][0] >= n_rows:
            raise DataError(
                f"{row_ref(shard, rows[-1][0])}: the shard has only {n_rows} rows; "
                "the split file does not match the data (rerun ingest)."
            )
        yield from _stream_shard(handle, shard, rows)


def _stream_shard(handle, shard: str, rows: list[tuple[int, int]]) -> Iterator:
    wanted, start = 0, 0
    for batch in handle.iter_batches(batch_size=READ_BATCH, columns=["image"]):
        end = start + batch.num_rows
        if wanted < len(rows) and rows[wanted][0] < end:
            data = batch.column(0).field("bytes")
            while wanted < len(rows) and rows[wanted][0] < end:
                row, position = rows[wanted]
                yield position, data[row - start].as_py(), row_ref(shard, row)
                wanted += 1
        if wanted == len(rows):
            return
        start = end


def open_image_bytes(data: bytes | None):
    """A PIL image from encoded bytes (not yet loaded); None or empty bytes raise ValueError."""
    from PIL import Image

    if not data:
        raise ValueError("no image bytes (null or empty)")
    return Image.open(io.BytesIO(data))


# ---------------------------------------------------------------------------- writing shards


def _shard_table(frame: pd.DataFrame, images: Sequence[bytes], boolean: bool):
    import pyarrow as pa

    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    columns = {
        "image": pa.array(
            [{"bytes": b, "path": p} for b, p in zip(images, frame["image_id"], strict=True)],
            type=image_type,
        ),
        "celeb_id": pa.array(frame["celeb_id"].to_numpy(dtype=np.int64), type=pa.int64()),
    }
    for name in C.ATTRIBUTES:
        values = frame[name].to_numpy(dtype=int)
        columns[name] = pa.array(values == 1) if boolean else pa.array(values, type=pa.int64())
    return pa.table(columns)


def write_shards(
    frame: pd.DataFrame,
    images: Sequence[bytes],
    folder: str | os.PathLike,
    split: str,
    count: int,
    row_group_size: int = 16,
    boolean: bool = True,
) -> list[Path]:
    """Write ``frame`` (image_id, celeb_id, the 40 attributes as -1/1) with its encoded
    ``images`` as ``count`` shards of ``split`` in ``folder`` (each atomically), in the Hub's
    format: attributes as booleans (or -1/1 int64 with ``boolean=False``)."""
    pq = require_pyarrow()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for index, part in enumerate(np.array_split(np.arange(len(frame)), max(1, count))):
        table = _shard_table(frame.iloc[part], [images[i] for i in part], boolean)
        path = folder / shard_name(split, index, count)
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp, row_group_size=row_group_size)
        written.append(path)
    return written
