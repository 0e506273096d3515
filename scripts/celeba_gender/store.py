"""Decoded image store: every image of a split decoded once, resized, kept as uint8 on disk.

Layout: a ``.npy`` array of shape (N, S, S, 3), uint8, in the row order of the split file,
read back through memory mapping. Training (end to end) and the feature-cache builder read
batches from it instead of decoding JPEGs every epoch for every model.

The resize is PIL's bilinear resize to (S, S), which is what torchvision's
``Resize((S, S))`` does on a PIL image, so tensors made from the store equal the study's
``Resize -> ToTensor -> Normalize`` pipeline.

A path may be a parquet row reference (``<shard>.parquet#<row>``, the huggingface layout, see
:mod:`celeba_gender.parquet`): those images are decoded straight from the shards' bytes, one
batch of rows at a time, without any JPEG file being written.
"""

from __future__ import annotations

import csv
import itertools
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from . import parquet
from .constants import IMAGENET_MEAN, IMAGENET_STD
from .io import DataError, atomic_path, write_json

if TYPE_CHECKING:  # torch is imported where tensors are made: decoding needs only PIL and numpy
    from collections.abc import Callable

    import torch

log = logging.getLogger(__name__)
DECODE_CHUNK = 512  # images decoded per batch of tasks handed to the thread pool


def decode_resized(path: str | os.PathLike, size: int) -> np.ndarray:
    """One image as (S, S, 3) uint8: decoded, converted to RGB, bilinear-resized."""
    return _decode(lambda: Image.open(path), size, lambda: str(path))


def decode_resized_bytes(data: bytes | None, size: int, where: str) -> np.ndarray:
    """``decode_resized`` of encoded image bytes (a parquet row; ``where`` names it)."""
    return _decode(
        lambda: parquet.open_image_bytes(data), size, lambda: parquet.describe_ref(where)
    )


def _decode(
    open_image: Callable[[], Image.Image], size: int, name: Callable[[], str]
) -> np.ndarray:
    """The image ``open_image()`` opens, as ``decode_resized`` returns it; a DataError naming
    ``name()`` when it cannot be decoded."""
    try:
        with open_image() as image:
            rgb = image.convert("RGB")
    except (OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{name()}: cannot decode image ({err})") from err
    return np.asarray(rgb.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def _fill(array, paths: list[str], size: int, pool: ThreadPoolExecutor) -> None:
    """Decode ``paths`` into ``array``: image files through the pool, parquet row references
    streamed by shard."""
    refs = [i for i, p in enumerate(paths) if parquet.parse_row_ref(p)]
    ref_set = set(refs)
    files = [i for i in range(len(paths)) if i not in ref_set]
    # In chunks: Executor.map submits every task at once, which for 200k images keeps
    # 200k futures (and any decoded images not yet written) alive.
    for start in range(0, len(files), DECODE_CHUNK):
        chunk = files[start : start + DECODE_CHUNK]
        for i, pixels in zip(
            chunk, pool.map(lambda i: decode_resized(paths[i], size), chunk), strict=True
        ):
            array[i] = pixels
    stream = parquet.iter_images([paths[i] for i in refs]) if refs else iter(())
    while chunk := list(itertools.islice(stream, DECODE_CHUNK)):
        decoded = pool.map(lambda item: decode_resized_bytes(item[1], size, item[2]), chunk)
        for (position, _, _), pixels in zip(chunk, decoded, strict=True):
            array[refs[position]] = pixels


def build_store(
    paths: list[str], size: int, out_npy: str | os.PathLike, threads: int = 2
) -> np.ndarray:
    """Decode ``paths`` into a uint8 store at ``out_npy`` (written atomically); return a memmap.
    Parquet row references among ``paths`` are decoded from their shards' bytes."""
    out_npy = Path(out_npy)
    with atomic_path(out_npy) as tmp:
        array = np.lib.format.open_memmap(
            tmp, mode="w+", dtype=np.uint8, shape=(len(paths), size, size, 3)
        )
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            _fill(array, paths, size, pool)
        array.flush()
        del array
    write_json(store_meta_path(out_npy), {"n": len(paths), "size": size})
    log.info("store: %d images at %d px -> %s", len(paths), size, out_npy)
    return open_store(out_npy, expected_n=len(paths), expected_size=size)


def build_split_store(split_csv: str | os.PathLike, out_npy, image_size: int, threads: int):
    """Decode the images of a split file (its ``path`` column, in order) into a store."""
    with open(split_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and "path" not in rows[0]:
        raise DataError(f"{split_csv}: no 'path' column (expected image_id,path,label)")
    return build_store([row["path"] for row in rows], image_size, out_npy, threads=threads)


def store_meta_path(npy: str | os.PathLike) -> Path:
    """The JSON sidecar that is written after the array is complete."""
    return Path(str(npy) + ".json")


def open_store(
    npy: str | os.PathLike, expected_n: int | None = None, expected_size: int | None = None
) -> np.ndarray:
    """Memory-map a store, checking that it is complete and of the expected shape."""
    npy = Path(npy)
    meta_path = store_meta_path(npy)
    if not npy.exists() or not meta_path.exists():
        raise DataError(
            f"{npy}: image store missing or incomplete (no {meta_path.name}); rebuild it"
        )
    meta = json.loads(meta_path.read_text())
    array = np.load(npy, mmap_mode="r")
    expected = (meta["n"], meta["size"], meta["size"], 3)
    if array.shape != expected or array.dtype != np.uint8:
        raise DataError(
            f"{npy}: shape {array.shape} {array.dtype}, expected {expected} uint8; rebuild it"
        )
    if expected_n is not None and meta["n"] != expected_n:
        raise DataError(
            f"{npy}: holds {meta['n']} images, the split lists {expected_n}; rebuild it"
        )
    if expected_size is not None and meta["size"] != expected_size:
        raise DataError(
            f"{npy}: images of {meta['size']} px, expected {expected_size} px; rebuild it"
        )
    return array


def to_normalized(
    batch_uint8: np.ndarray | torch.Tensor, flips: torch.Tensor | None = None
) -> torch.Tensor:
    """(B, S, S, 3) uint8 -> (B, 3, S, S) float32: ToTensor, ImageNet Normalize, optional hflip.

    ``flips`` is a bool tensor of length B; flipped rows are mirrored left-right.
    """
    import torch

    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    x = torch.from_numpy(np.array(batch_uint8)).permute(0, 3, 1, 2).float().div_(255.0)
    if flips is not None and bool(flips.any()):
        x[flips] = x[flips].flip(-1)
    return (x - mean) / std


@dataclass(frozen=True)
class DecodeJob:
    """The decode_images rule: one split's images decoded once at ``image_size`` px."""

    split: str
    image_size: int
    threads: int
    out_store: str
    out_meta: str


def decode_images(job: DecodeJob) -> np.ndarray:
    """Decode the images of ``job.split`` into the store (its JSON sidecar written last)."""
    if Path(job.out_meta) != store_meta_path(job.out_store):
        raise ValueError(f"decode_images: the sidecar must be {store_meta_path(job.out_store)}")
    return build_split_store(job.split, job.out_store, job.image_size, job.threads)
