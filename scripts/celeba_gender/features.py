"""Feature cache: the frozen VGG-16 layers computed once for the whole grid.

For every image of a split the builder stores
- ``prefix``: the output of ``features[:24]`` (blocks 1-4, frozen in both strategies), input of
  strategy 2;
- ``features``: the output of the whole ``features`` stack (frozen in strategy 1), input of
  strategy 1 (average pooling and the classifier run in the training job).
Training images are stored in both orientations (original, horizontally flipped), so the
random flip draws from the same two views as end-to-end training: each epoch picks one per image.

Arrays are ``.npy`` files of shape (N, V, C, H, W) with V = 2 views for train and 1 otherwise,
stored in ``train.cache_dtype`` (float32 with the default precision fp32, so that training from the
cache matches end-to-end training up to float rounding; float16 with bf16), read back by memory
mapping. A JSON key file, written last,
records what the cache was computed from; a job that finds a missing or different key refuses
the cache instead of reading a stale or half-written one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch

from .engine import autocast, model_to_device
from .io import DataError, atomic_path, sha256_of, write_json
from .model import forward_prefix
from .store import to_normalized

log = logging.getLogger(__name__)

KINDS = ("prefix", "features")


def cache_key(
    weights_sha256: str,
    image_size: int,
    dtype: str,
    split_csv: str | os.PathLike,
    views: int,
    precision: str = "fp32",
) -> dict:
    """Everything that changes the cached values, as a JSON-able dict."""
    return {
        "weights_sha256": weights_sha256,
        "image_size": int(image_size),
        "dtype": dtype,
        "precision": precision,
        "split_sha256": sha256_of(split_csv),
        "views": int(views),
        "torch": torch.__version__.split("+")[0],
    }


def key_path(npy: str | os.PathLike) -> Path:
    return Path(str(npy) + ".key.json")


@torch.no_grad()
def build_cache(
    model: torch.nn.Module,
    store: np.ndarray,
    out: dict[str, str | os.PathLike],
    key: dict,
    batch_size: int,
    device: torch.device,
) -> dict[str, float]:
    """Compute the requested kinds (keys of ``out``: prefix and/or features) for every image,
    as ``key`` says (``cache_key``: its views, dtype and precision); the key is written last.

    Returns timing figures (seconds, images per second).
    """
    unknown = set(out) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown cache kinds {sorted(unknown)}; expected {KINDS}")
    for path in out.values():  # an old key must never vouch for the array about to replace it
        key_path(path).unlink(missing_ok=True)
    views, dtype, precision = key["views"], key["dtype"], key["precision"]
    model_to_device(model.eval(), device)
    n, size = store.shape[0], store.shape[1]
    probe_prefix = forward_prefix(model, to_normalized(store[:1]).to(device))
    shapes = {
        "prefix": probe_prefix.shape[1:],
        "features": model.features[24:](probe_prefix).shape[1:],
    }
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        tmps = {kind: stack.enter_context(atomic_path(path)) for kind, path in out.items()}
        arrays = {
            kind: np.lib.format.open_memmap(
                tmps[kind], mode="w+", dtype=dtype, shape=(n, views, *shapes[kind])
            )
            for kind in out
        }
        for start in range(0, n, batch_size):
            stop = min(n, start + batch_size)
            images = to_normalized(store[start:stop])
            for view in range(views):
                x = images.flip(-1) if view == 1 else images
                x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
                with autocast(device, precision):
                    outputs = {"prefix": forward_prefix(model, x)}
                    if "features" in out:
                        outputs["features"] = model.features[24:](outputs["prefix"])
                for kind, array in arrays.items():
                    array[start:stop, view] = outputs[kind].float().cpu().numpy().astype(dtype)
        for array in arrays.values():
            array.flush()
        del arrays
    seconds = time.perf_counter() - started
    for path in out.values():
        write_json(key_path(path), key)
    log.info("cache: %d images x %d views at %d px in %.1f s", n, views, size, seconds)
    return {"seconds": seconds, "images_per_second": n * views / max(seconds, 1e-9)}


def open_cache(npy: str | os.PathLike, expected_key: dict) -> np.ndarray:
    """Memory-map a cache array after checking it is complete and was built for ``expected_key``."""
    npy = Path(npy)
    kp = key_path(npy)
    if not npy.exists() or not kp.exists():
        raise DataError(
            f"{npy}: feature cache missing or incomplete (no {kp.name}; a build was interrupted). "
            "Delete it and rerun: snakemake rebuilds it."
        )
    found = json.loads(kp.read_text())
    if found != expected_key:
        diff = sorted(
            k for k in set(found) | set(expected_key) if found.get(k) != expected_key.get(k)
        )
        raise DataError(
            f"{npy}: stale feature cache, built for other {', '.join(diff)}. Delete it and rerun."
        )
    return np.load(npy, mmap_mode="r")
