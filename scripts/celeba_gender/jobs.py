"""Job-level entry points: what each heavy Snakemake rule does, given one job object.

A job object is a dataclass whose fields are named after the rule's inputs, params and outputs
(``out_<name>``); the ``scripts/*.py`` wrappers fill it with ``snakejob.from_snakemake`` and make
one call. Benchmarks and tests build the same objects directly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import platform
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import engine, features, gpus, store, weights
from .grid import TrainSettings
from .groups import GroupSpec, ids_for
from .io import CelebaGenderError, sha256_of, write_csv, write_json
from .metrics import classification_metrics, predicted_class, sigmoid
from .model import build_model, load_trained
from .tracking import open_tracker

log = logging.getLogger(__name__)


def read_split(path: str | os.PathLike) -> pd.DataFrame:
    """A split file (image_id, path, label)."""
    return pd.read_csv(path, dtype={"image_id": str, "path": str, "label": int})


def labels_of(split: pd.DataFrame) -> torch.Tensor:
    return torch.tensor(split["label"].to_numpy(), dtype=torch.float32)


def make_source(
    array_path, split_csv, n: int, settings: TrainSettings, split: str, weights_sha: str
):
    """The input of one split (``n`` images, listed in ``split_csv``, which the caller has read)
    under ``settings``: the decoded images or a checked feature cache."""
    if settings.input == "images":
        return engine.ImageSource(
            store.open_store(array_path, expected_n=n, expected_size=settings.image_size)
        )
    key = features.cache_key(
        weights_sha,
        settings.image_size,
        settings.cache_dtype,
        split_csv,
        settings.views(split),
        settings.precision,
    )
    return engine.CacheSource(features.open_cache(array_path, key), settings.input)


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


def on_one_gpu(job_function: Callable) -> Callable:
    """A GPU job that first claims one GPU of ``job.gpus`` for itself (``gpus.claim_gpu``, before
    torch touches CUDA), logs where it runs as its log's first line, and frees the GPU at its end."""

    @functools.wraps(job_function)
    def run(job):
        with gpus.claim_gpu(job.gpus, job.device) as slot:
            log.info("%s", gpus.host_line(slot))
            result = job_function(job)
            if slot.device is not None:
                log.info("releasing gpu %s", slot.device)
            return result

    return run


@dataclass
class CacheJob:
    """``build_feature_cache``: the frozen VGG-16 layers of one split, for the whole grid."""

    weights: str
    split: str
    store: str
    image_size: int
    views: int
    dtype: str
    precision: str
    batch_size: int
    device: str
    threads: int
    out_prefix: str
    out_features: str
    out_prefix_key: str | None = None  # written last, beside each array (features.key_path)
    out_features_key: str | None = None
    gpus: list[int] | None = None  # the ids it may claim (config gpus; gpus.claim_gpu)


@on_one_gpu
def build_feature_cache(job: CacheJob) -> dict:
    """Compute the frozen layers of one split into the feature cache; return timing figures."""
    dev = engine.pick_device(job.device)
    engine.configure_device(dev, job.threads)
    model = build_model(weights.load_backbone(job.weights), head_seed=0, assign=True)
    n = len(read_split(job.split))
    array = store.open_store(job.store, expected_n=n, expected_size=job.image_size)
    key = features.cache_key(
        sha256_of(job.weights), job.image_size, job.dtype, job.split, job.views, job.precision
    )
    out = {"prefix": job.out_prefix, "features": job.out_features}
    for kind, declared in (("prefix", job.out_prefix_key), ("features", job.out_features_key)):
        if declared is not None and Path(declared) != features.key_path(out[kind]):
            raise ValueError(f"the {kind} key file must be {features.key_path(out[kind])}")
    with out_of_memory_advice(dev, job.batch_size):
        return features.build_cache(model, array, out, key, job.batch_size, dev)


def input_identity(weights_sha256: str, train_csv, val_csv) -> dict:
    """The files a training job reads besides its settings, recorded in ``settings.extra`` so that
    a checkpoint made from other backbone weights or another split is not resumed: the SHA-256 of
    the weights and of the train and val split files."""
    return {
        "weights_sha256": weights_sha256,
        "train_split_sha256": sha256_of(train_csv),
        "val_split_sha256": sha256_of(val_csv),
    }


@dataclass
class TrainJob:
    """``train``: one model of the grid (``settings`` may be given as its dict, as Snakemake
    params carry it)."""

    weights: str
    train: str
    val: str
    train_input: str
    val_input: str
    settings: TrainSettings
    device: str
    threads: int
    checkpoint: str
    out_model: str
    out_best: str
    out_history: str
    checkpoint_minutes: float = 0.0
    gpus: list[int] | None = None  # the ids it may claim (config gpus; gpus.claim_gpu)
    tracking: Mapping | None = None  # {"kind": config tracking, "logdir": its folder}
    metadata: str | None = None  # the attribute table: validation groups (select_by worst_group)

    def __post_init__(self):
        if not isinstance(self.settings, TrainSettings):
            self.settings = TrainSettings.from_dict(self.settings)


def split_groups(
    split: pd.DataFrame, metadata: str | os.PathLike, target: str, group_by: Sequence[str]
) -> tuple[np.ndarray, tuple[str, ...]]:
    """(group id of each image of ``split``, group names) of target x ``group_by``
    (``groups.GroupSpec``), looked up in the metadata table."""
    spec = GroupSpec(target, tuple(group_by))
    attributes = pd.read_csv(metadata, dtype={"image_id": str})
    return ids_for(split["image_id"], attributes, spec), tuple(spec.names)


def fit_data(job: TrainJob, settings: TrainSettings, wsha: str) -> engine.FitData:
    """The sources and labels ``engine.fit`` reads; with ``select_by: worst_group`` the
    validation images' groups too (from ``job.metadata``)."""
    train_split, val_split = read_split(job.train), read_split(job.val)
    data = engine.FitData(
        make_source(job.train_input, job.train, len(train_split), settings, "train", wsha),
        make_source(job.val_input, job.val, len(val_split), settings, "val", wsha),
        labels_of(train_split),
        labels_of(val_split),
    )
    if settings.select_by == "worst_group":
        if job.metadata is None:
            raise CelebaGenderError("train.select_by worst_group: the rule gave no metadata input")
        data.val_groups, data.group_names = split_groups(
            val_split, job.metadata, settings.target, settings.group_by
        )
    return data


@on_one_gpu
def train(job: TrainJob) -> dict:
    """Train one (strategy, lr, seed) model; write the last and best models and the history."""
    dev = engine.pick_device(job.device)
    engine.configure_device(dev, job.threads)
    wsha = sha256_of(job.weights)
    identity = input_identity(wsha, job.train, job.val)
    settings = dataclasses.replace(job.settings, extra={**job.settings.extra, **identity})
    backbone = weights.load_backbone(job.weights)
    data = fit_data(job, settings, wsha)
    model = build_model(backbone, head_seed=settings.seed, assign=True)
    del backbone  # the model holds its tensors now
    log.info(
        "train %s: strategy %d, lr %g, seed %d, %d epochs, batch %d, input %s, device %s, "
        "%d train / %d val",
        settings.model_name,
        settings.strategy,
        settings.lr,
        settings.seed,
        settings.epochs,
        settings.batch_size,
        settings.input,
        dev,
        len(data.train_labels),
        len(data.val_labels),
    )
    tracking = job.tracking or {"kind": "none", "logdir": None}
    with (
        out_of_memory_advice(dev, settings.batch_size),
        open_tracker(
            tracking["kind"], tracking["logdir"], settings.model_name, settings.to_dict()
        ) as tracker,
    ):
        result = engine.fit(
            model,
            data,
            settings,
            dev,
            job.checkpoint,
            on_epoch=lambda row: tracker.log_epoch(row, settings.lr),
            checkpoint_minutes=job.checkpoint_minutes,
        )
    history = result["history"]
    last = history.iloc[-1].to_dict()
    trained_on = device_name(dev)
    engine.save_model(job.out_model, model, settings, int(last["epoch"]), last, device=trained_on)
    best_row = history[history["epoch"] == result["best_epoch"]].iloc[0].to_dict()
    model.load_state_dict(result["best_state"], strict=False)
    engine.save_model(
        job.out_best, model, settings, result["best_epoch"], best_row, device=trained_on
    )
    write_csv(job.out_history, history)
    Path(job.checkpoint).unlink(missing_ok=True)
    log.info(
        "done: %d epochs, last val acc %.4f, best epoch %d (val acc %.4f), %.1f s in all",
        len(history),
        last["val_accuracy"],
        result["best_epoch"],
        best_row["val_accuracy"],
        history["seconds"].sum(),
    )
    return result


def device_name(device: torch.device) -> str:
    """A readable name of the device: the GPU model, or the CPU model."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return (
            f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
        )
    return str(device)


def load_model_file(path: str | os.PathLike) -> tuple[nn.Module, dict]:
    """A model saved by ``train`` and its record (settings, epoch, metrics)."""
    record = weights.load_tensors(path)
    return load_trained(record.pop("state_dict"), assign=True), record


@dataclass
class EvaluateJob:
    """``evaluate``: test-set metrics and per-image predictions of one trained model. The input
    kind, image size and cache dtype come from the model file's settings; ``kind`` (what the rule
    gave it to read) must agree with them."""

    model: str
    weights: str
    test: str
    test_input: str
    kind: str
    batch_size: int
    device: str
    threads: int
    checkpoint: str
    out_metrics: str
    out_predictions: str
    gpus: list[int] | None = None  # the ids it may claim (config gpus; gpus.claim_gpu)


def checkpoint_logits(
    model_file: str,
    split_csv: str,
    split_input: str,
    split: str,
    weights_file: str,
    kind: str,
    device: torch.device,
    batch_size: int,
) -> tuple[np.ndarray, dict, TrainSettings]:
    """(float64 logits of every image of ``split``, the model file's record, its settings) of one
    trained model file, from the input the rule gave (``kind``: images, prefix or features)."""
    model, record = load_model_file(model_file)
    settings = TrainSettings.from_dict(record["settings"])
    if settings.input != kind:
        raise CelebaGenderError(
            f"{model_file} was trained on {settings.input} but the rule gave it {kind} "
            f"({split_input}): delete the model and rerun"
        )
    n = len(read_split(split_csv))
    wsha = sha256_of(weights_file) if settings.input != "images" else ""
    source = make_source(split_input, split_csv, n, settings, split, wsha)
    with out_of_memory_advice(device, batch_size):
        engine.model_to_device(model, device)
        runner = engine.Runner.create(model, settings.input, device, settings.precision)
        logits = engine.predict_logits(runner, source, batch_size)
    return logits.numpy().astype(np.float64), record, settings


def predictions_frame(split: pd.DataFrame, logits: np.ndarray) -> pd.DataFrame:
    """Per-image predictions: image_id, label, logit, prob, pred (logit > 0)."""
    return pd.DataFrame(
        {
            "image_id": split["image_id"],
            "label": split["label"].to_numpy(),
            "logit": logits,
            "prob": sigmoid(logits),
            "pred": predicted_class(logits).astype(int),
        }
    )


@on_one_gpu
def evaluate(job: EvaluateJob) -> dict:
    """Test-set metrics and per-image predictions of one trained model."""
    dev = engine.pick_device(job.device)
    engine.configure_device(dev, job.threads)
    logits, record, settings = checkpoint_logits(
        job.model, job.test, job.test_input, "test", job.weights, job.kind, dev, job.batch_size
    )
    test = read_split(job.test)
    labels = test["label"].to_numpy()
    metrics = classification_metrics(labels, logits)
    metrics.update(
        model=settings.model_name,
        strategy=settings.strategy,
        lr=settings.lr,
        seed=settings.seed,
        numerics=settings.precision,  # train.precision ("precision" is the score)
        checkpoint=job.checkpoint,
        epoch=record["epoch"],
        device=record.get("device", ""),
    )
    write_csv(job.out_predictions, predictions_frame(test, logits))
    write_json(job.out_metrics, metrics)
    log.info(
        "%s (%s): test loss %.4f, accuracy %.4f",
        settings.model_name,
        job.checkpoint,
        metrics["test_loss"],
        metrics["test_accuracy"],
    )
    return metrics
