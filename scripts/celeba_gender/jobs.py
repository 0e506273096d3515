"""Job-level entry points: what each heavy Snakemake rule does, with explicit arguments.

The ``scripts/*.py`` wrappers map ``snakemake.input/output/params`` onto these functions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import engine, features, store, weights
from .io import CelebaGenderError, write_csv, write_json
from .model import build_model, load_trained

log = logging.getLogger(__name__)


def read_split(path: str | os.PathLike) -> pd.DataFrame:
    """A split file (image_id, path, label)."""
    return pd.read_csv(path, dtype={"image_id": str, "path": str, "label": int})


def labels_of(split: pd.DataFrame) -> torch.Tensor:
    return torch.tensor(split["label"].to_numpy(), dtype=torch.float32)


def train_views(augmentations: list[str] | tuple[str, ...]) -> int:
    """Cached views of each training image: original and flipped when flips are on."""
    return 2 if "hflip" in augmentations else 1


def make_source(
    kind: str, array_path: str | os.PathLike, *, split_csv, image_size, views, dtype, weights_sha
):
    """An input source for one split: the decoded images or a checked feature cache."""
    if kind == "images":
        n = len(read_split(split_csv))
        return engine.ImageSource(
            store.open_store(array_path, expected_n=n, expected_size=image_size)
        )
    key = features.cache_key(weights_sha, image_size, dtype, split_csv, views)
    return engine.CacheSource(features.open_cache(array_path, key), kind)


@contextlib.contextmanager
def out_of_memory_advice(device: torch.device, batch_size: int) -> Iterator[None]:
    """Turn torch's out-of-memory error into one that names the batch size and the key to lower."""
    try:
        yield
    except torch.OutOfMemoryError as err:
        raise CelebaGenderError(
            f"out of memory on {device} with batch size {batch_size}: lower train.batch_size "
            f"in the config (or train.image_size). ({err})"
        ) from err


def build_cache_job(
    weights_path, split_csv, store_npy, out: dict[str, str], *, image_size: int, views: int,
    dtype: str, batch_size: int, device: str, threads: int,
) -> dict:  # fmt: skip
    """Compute the frozen layers of one split into the feature cache."""
    dev = engine.pick_device(device)
    engine.configure_device(dev, threads)
    model = build_model(weights.load_backbone(weights_path), head_seed=0, assign=True)
    n = len(read_split(split_csv))
    array = store.open_store(store_npy, expected_n=n, expected_size=image_size)
    key = features.cache_key(weights.sha256_of(weights_path), image_size, dtype, split_csv, views)
    with out_of_memory_advice(dev, batch_size):
        return features.build_cache(model, array, out, key, views, batch_size, dev, dtype)


def checkpoint_identity(
    *, weights_sha256: str, train_csv, val_csv, kind: str, image_size: int, cache_dtype: str
) -> dict:
    """What a training job reads besides its settings, recorded in ``settings.extra`` so that a
    checkpoint made from other backbone weights, another split or another input is not resumed:
    the image size, the weights' SHA-256, the SHA-256 of the train and val split files, the input
    kind and (for a feature cache) its dtype."""
    return {
        "image_size": int(image_size),
        "weights_sha256": weights_sha256,
        "train_split_sha256": weights.sha256_of(train_csv),
        "val_split_sha256": weights.sha256_of(val_csv),
        "input": kind,
        "cache_dtype": None if kind == "images" else cache_dtype,
    }


def train_job(
    *, weights_path, train_csv, val_csv, kind: str, train_input, val_input,
    settings: engine.TrainSettings, image_size: int, cache_dtype: str, device: str, threads: int,
    out_model, out_best, out_history, checkpoint, checkpoint_minutes: float = 0.0,
) -> dict:  # fmt: skip
    """Train one (strategy, lr, seed) model; write the last and best models and the history."""
    dev = engine.pick_device(device)
    engine.configure_device(dev, threads)
    log.info(
        "host %s, CUDA_VISIBLE_DEVICES=%s, SLURM_JOB_ID=%s",
        os.uname().nodename, os.environ.get("CUDA_VISIBLE_DEVICES", "unset"),
        os.environ.get("SLURM_JOB_ID", "none"),
    )  # fmt: skip
    wsha = weights.sha256_of(weights_path)
    identity = checkpoint_identity(
        weights_sha256=wsha, train_csv=train_csv, val_csv=val_csv, kind=kind,
        image_size=image_size, cache_dtype=cache_dtype,
    )  # fmt: skip
    settings = dataclasses.replace(settings, extra={**settings.extra, **identity})
    backbone = weights.load_backbone(weights_path)
    views = train_views(settings.augmentations)
    train_split, val_split = read_split(train_csv), read_split(val_csv)
    common = {"image_size": image_size, "dtype": cache_dtype, "weights_sha": wsha}
    train_source = make_source(kind, train_input, split_csv=train_csv, views=views, **common)
    val_source = make_source(kind, val_input, split_csv=val_csv, views=1, **common)
    model = build_model(backbone, head_seed=settings.seed, assign=True)
    del backbone  # the model holds its tensors now
    log.info(
        "train: strategy %d, lr %g, seed %d, %d epochs, batch %d, input %s, device %s, %d train / %d val",
        settings.strategy, settings.lr, settings.seed, settings.epochs, settings.batch_size, kind,
        dev, len(train_split), len(val_split),
    )  # fmt: skip
    with out_of_memory_advice(dev, settings.batch_size):
        result = engine.fit(
            model, train_source, val_source, labels_of(train_split), labels_of(val_split),
            settings, dev, checkpoint, checkpoint_minutes=checkpoint_minutes,
        )  # fmt: skip
    history = result["history"]
    last = history.iloc[-1].to_dict()
    engine.save_model(out_model, model, settings, int(last["epoch"]), last, device=device_name(dev))
    best_row = history[history["epoch"] == result["best_epoch"]].iloc[0].to_dict()
    model.load_state_dict(result["best_state"], strict=False)
    engine.save_model(
        out_best, model, settings, result["best_epoch"], best_row, device=device_name(dev)
    )
    write_csv(out_history, history)
    Path(checkpoint).unlink(missing_ok=True)
    log.info(
        "done: %d epochs, last val acc %.4f, best epoch %d (val acc %.4f), %.1f s in all",
        len(history), last["val_accuracy"], result["best_epoch"], best_row["val_accuracy"],
        history["seconds"].sum(),
    )  # fmt: skip
    return result


def device_name(device: torch.device) -> str:
    """A readable name of the device: the GPU model, or the CPU model."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        import platform

        return (
            f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
        )
    return str(device)


def load_model_file(path: str | os.PathLike) -> tuple[nn.Module, dict]:
    """A model saved by ``train_job`` and its record (settings, epoch, metrics)."""
    record = weights.load_tensors(path)
    return load_trained(record.pop("state_dict"), assign=True), record


def classification_metrics(labels: np.ndarray, probs: np.ndarray) -> dict:
    """Loss, accuracy, precision, recall, F1, ROC-AUC and the confusion matrix at 0.5.

    Plain numpy (the definitions of sklearn.metrics, tests/test_metrics.py checks them against
    it): importing sklearn costs ~1.4 s in each evaluation job.
    """
    labels = labels.astype(int)
    preds = (probs >= 0.5).astype(int)
    eps = 1e-7
    p = np.clip(probs, eps, 1 - eps)
    tp = int(np.sum((preds == 1) & (labels == 1)))
    fp = int(np.sum((preds == 1) & (labels == 0)))
    fn = int(np.sum((preds == 0) & (labels == 1)))
    tn = int(np.sum((preds == 0) & (labels == 0)))
    return {
        "n": int(len(labels)),
        "test_loss": float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p))),
        "test_accuracy": float(np.mean(preds == labels)),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "roc_auc": roc_auc(labels, probs),
        "tn": tn, "fp": fp, "fn": fn, "tp": tp,
    }  # fmt: skip


def _ratio(numerator: int, denominator: int) -> float:
    """numerator / denominator, 0.0 when the denominator is 0 (sklearn's zero_division=0)."""
    return float(numerator / denominator) if denominator else 0.0


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with tied scores averaged); NaN for one class."""
    labels = np.asarray(labels).astype(int)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(np.asarray(scores), return_inverse=True, return_counts=True)
    first_rank = np.cumsum(counts) - counts + 1
    ranks = (first_rank + (counts - 1) / 2)[inverse]  # 1-based, ties share their mean rank
    return float((ranks[labels == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def evaluate_job(
    *, model_path, test_csv, kind: str, test_input, weights_path, image_size: int, cache_dtype: str,
    device: str, threads: int, batch_size: int, name: str, checkpoint_name: str,
    out_metrics, out_predictions,
) -> dict:  # fmt: skip
    """Test-set metrics and per-image predictions of one trained model."""
    dev = engine.pick_device(device)
    engine.configure_device(dev, threads)
    model, record = load_model_file(model_path)
    test = read_split(test_csv)
    wsha = weights.sha256_of(weights_path) if kind != "images" else ""
    source = make_source(
        kind,
        test_input,
        split_csv=test_csv,
        image_size=image_size,
        views=1,
        dtype=cache_dtype,
        weights_sha=wsha,
    )
    with out_of_memory_advice(dev, batch_size):
        engine.model_to_device(model, dev)
        logits = engine.predict_logits(model, source, dev, batch_size)
    probs = torch.sigmoid(logits).numpy().astype(float)
    labels = test["label"].to_numpy()
    metrics = classification_metrics(labels, probs)
    settings = record["settings"]
    metrics.update(
        model=name, strategy=settings["strategy"], lr=settings["lr"], seed=settings["seed"],
        checkpoint=checkpoint_name, epoch=record["epoch"], device=record.get("device", ""),
    )  # fmt: skip
    predictions = pd.DataFrame(
        {
            "image_id": test["image_id"],
            "label": labels,
            "prob": probs,
            "pred": (probs >= 0.5).astype(int),
        }
    )
    write_csv(out_predictions, predictions)
    write_json(out_metrics, metrics)
    log.info(
        "%s (%s): test loss %.4f, accuracy %.4f",
        name,
        checkpoint_name,
        metrics["test_loss"],
        metrics["test_accuracy"],
    )
    return metrics
