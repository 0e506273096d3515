"""Training and evaluation loops: small functions with explicit arguments that return metrics.

Inputs come from a *source*: decoded images (end to end), the cached ``features[:24]`` output
(strategy 2) or the cached ``features`` output (strategy 1). Every source serves the same
batches in the same order for a given (seed, epoch), so the cached and end-to-end paths train
the same model up to the storage dtype of the cache (exactly the same with a float32 cache).
"""

from __future__ import annotations

import datetime
import functools
import logging
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd
import torch
from torch import nn

from .grid import TrainSettings, lift_extra
from .io import save_torch
from .metrics import predicted_class
from .model import apply_strategy, forward_from_features, forward_from_prefix, forward_images
from .runlog import writes_log_file
from .store import to_normalized

log = logging.getLogger(__name__)

HISTORY_COLUMNS = ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds"]
# With train.select_by worst_group: the worst-group validation accuracy of each epoch, after the rest.
WORST_GROUP_COLUMN = "val_worst_group_accuracy"


def pick_device(name: str = "auto") -> torch.device:
    """CUDA if available, else MPS, else CPU (or exactly ``name``)."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def configure_device(device: torch.device, threads: int | None = None) -> None:
    """Thread count on CPU; cuDNN autotuning on CUDA (it picks among convolution algorithms; the
    math settings stay PyTorch's defaults: no TF32 switch is turned on here)."""
    if threads:
        torch.set_num_threads(max(1, threads))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


# --------------------------------------------------------------------------- sources


@dataclass
class EpochPlan:
    """The random choices of one epoch: order, flips, colour jitter."""

    order: torch.Tensor
    flips: torch.Tensor
    jitter: torch.Tensor | None


def epoch_plan(n: int, seed: int, epoch: int, augmentations: tuple[str, ...]) -> EpochPlan:
    """Draw the epoch's order and augmentations from (seed, epoch) alone."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n, generator=gen)
    flips = torch.randint(0, 2, (n,), generator=gen).bool()
    if "hflip" not in augmentations:
        flips = torch.zeros(n, dtype=torch.bool)
    jitter = None
    if "color_jitter" in augmentations:
        jitter = torch.empty(n, 2).uniform_(0.8, 1.2, generator=gen)
    return EpochPlan(order, flips, jitter)


class ImageSource:
    """Normalised images from a decoded uint8 store: the end-to-end path."""

    kind = "images"

    def __init__(self, store: np.ndarray):
        self.store = store

    def __len__(self) -> int:
        return self.store.shape[0]

    def batch(
        self, idx: np.ndarray, flips: torch.Tensor | None, jitter: torch.Tensor | None
    ) -> torch.Tensor:
        x = to_normalized(self.store[idx], flips)
        if jitter is not None:  # brightness and contrast, applied in normalised space
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = (x - mean) * jitter[:, 1].view(-1, 1, 1, 1) + mean * jitter[:, 0].view(-1, 1, 1, 1)
        return x


class CacheSource:
    """Cached activations of shape (N, V, C, H, W); view 1 is the flipped image."""

    def __init__(self, array: np.ndarray, kind: str):
        if kind not in ("prefix", "features"):
            raise ValueError(f"unknown cache kind {kind!r}")
        self.array, self.kind = array, kind

    def __len__(self) -> int:
        return self.array.shape[0]

    def batch(
        self, idx: np.ndarray, flips: torch.Tensor | None, jitter: torch.Tensor | None
    ) -> torch.Tensor:
        if jitter is not None:
            raise ValueError("colour jitter cannot be served from the feature cache")
        views = (
            np.zeros(len(idx), dtype=np.int64) if flips is None else flips.numpy().astype(np.int64)
        )
        if self.array.shape[1] == 1 and views.any():
            raise ValueError("flipped views requested from a cache built without them")
        return torch.from_numpy(np.asarray(self.array[idx, views], dtype=np.float32))


def model_to_device(model: nn.Module, device: torch.device) -> nn.Module:
    """Move ``model`` to ``device`` with channels_last conv weights (NHWC), the layout cuDNN's and
    oneDNN's convolutions are fastest in (~10% for block 5's forward and backward on this CPU)."""
    return model.to(device=device, memory_format=torch.channels_last)


def _to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A batch on ``device`` (pinned, non-blocking copy on CUDA); 4-D batches channels_last."""
    x = x.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else x.to(device)
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


# --------------------------------------------------------------------------- loops


class Progress:
    """Per-batch progress of one epoch: a tqdm bar in an interactive session without a log file;
    otherwise (a workflow job writing its log, see ``runlog.job_logging``, or a stream that is
    not a terminal) a plain log line every ``every`` batches, about a fifth of the epoch."""

    def __init__(
        self, total: int, desc: str, every: int | None = None, stream: TextIO | None = None
    ):
        self.total, self.desc, self.n = total, desc, 0
        stream = sys.stderr if stream is None else stream
        self.every = every or max(1, math.ceil(total / 5))
        self.bar = None
        if _is_terminal(stream) and not writes_log_file():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, leave=False, file=stream)

    def update(self, **postfix: float) -> None:
        self.n += 1
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix({k: f"{v:.4f}" for k, v in postfix.items()}, refresh=False)
        elif self.n % self.every == 0 or self.n == self.total:
            extra = " ".join(f"{k}={v:.4f}" for k, v in postfix.items())
            log.info("%s batch %d/%d %s", self.desc, self.n, self.total, extra)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is an interactive terminal (False for files, pipes, closed streams)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


# The forward pass from each input kind's batches to the logits.
FORWARDS: dict[str, Callable[[nn.Module, torch.Tensor], torch.Tensor]] = {
    "images": forward_images,
    "prefix": forward_from_prefix,
    "features": forward_from_features,
}


def autocast(device: torch.device, precision: str):
    """bf16 autocast for ``precision`` bf16 (on CUDA, and on CPU where it is allowed but usually
    slower); for fp32, the study's numerics, a no-op: float32 compute with PyTorch's defaults."""
    enabled = precision == "bf16" and device.type in ("cuda", "cpu")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


@dataclass
class Runner:
    """How batches go through the model: the forward pass of an input kind (images, the cached
    prefix or the cached features) bound to ``model``, compiled with ``torch.compile`` when asked
    (the cached paths too), on ``device`` at ``precision``. One runner serves every source of its
    kind (train and validation)."""

    model: nn.Module
    forward: Callable[[torch.Tensor], torch.Tensor]
    device: torch.device
    precision: str = "fp32"

    @classmethod
    def create(
        cls, model: nn.Module, kind: str, device: torch.device, precision="fp32", compile=False
    ) -> Runner:
        """A runner for sources of ``kind`` (``source.kind``: images, prefix or features)."""
        if precision == "bf16" and device.type == "cpu":
            log.warning("precision bf16 on the CPU: allowed, but usually slower there than fp32")
        forward = functools.partial(FORWARDS[kind], model)
        return cls(model, torch.compile(forward) if compile else forward, device, precision)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The float32 logits of a batch (``source.batch``), which goes to the device first."""
        x = _to_device(x, self.device)
        with autocast(self.device, self.precision):
            return self.forward(x).float()


def train_one_epoch(
    runner: Runner,
    source,
    labels: torch.Tensor,
    plan: EpochPlan,
    optimizer: torch.optim.Optimizer,
    criterion: nn.Module,
    batch_size: int,
    desc: str = "train",
) -> dict[str, float]:
    """One pass over the training set in ``plan.order``; returns mean loss and accuracy."""
    runner.model.train()
    order = plan.order.numpy()
    total_loss, correct, seen = 0.0, 0, 0
    progress = Progress(math.ceil(len(order) / batch_size), desc)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        jitter = None if plan.jitter is None else plan.jitter[idx]
        y = labels[idx].to(runner.device)
        logits = runner.logits(source.batch(idx, plan.flips[idx], jitter))
        loss = criterion(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(idx)
        correct += int((predicted_class(logits.detach()).float() == y).sum())
        seen += len(idx)
        progress.update(loss=total_loss / seen, acc=correct / seen)
    progress.close()
    return {"loss": total_loss / seen, "accuracy": correct / seen}


@torch.no_grad()
def predict_logits(runner: Runner, source, batch_size: int) -> torch.Tensor:
    """Logits for every item of ``source`` in order (no augmentation, eval mode)."""
    runner.model.eval()
    out = []
    for start in range(0, len(source), batch_size):
        idx = np.arange(start, min(len(source), start + batch_size))
        out.append(runner.logits(source.batch(idx, None, None)).cpu())
    return torch.cat(out) if out else torch.empty(0)


def evaluate(
    runner: Runner, source, labels: torch.Tensor, criterion: nn.Module, batch_size: int
) -> dict[str, float]:
    """Mean loss and accuracy of the runner's model on ``source``, and its ``logits``."""
    logits = predict_logits(runner, source, batch_size)
    loss = criterion(logits, labels.float()).item()
    accuracy = (predicted_class(logits).float() == labels).float().mean().item()
    return {"loss": loss, "accuracy": accuracy, "logits": logits}


def make_optimizer(params: list[nn.Parameter], lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam; the fused kernel where available (on CPU it is ~5x faster for the 119.5 M-parameter head)."""
    try:
        return torch.optim.Adam(params, lr=lr, fused=device.type in ("cpu", "cuda", "mps"))
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr)


# --------------------------------------------------------------------------- checkpoints


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The parameters that training changes (the rest equals the backbone file)."""
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if k in names}


def save_checkpoint(path: str | os.PathLike, **state) -> None:
    """Atomically save a resumable checkpoint (model, optimizer, epoch, RNG, settings, history)."""
    save_torch(path, state)


def load_checkpoint(path: str | os.PathLike, settings: TrainSettings) -> dict | None:
    """The checkpoint at ``path`` if it belongs to ``settings``; None otherwise.

    The settings include ``extra`` (train puts there the image size, the SHA-256 of the
    backbone weights and of the train and val split files, the input kind and the cache dtype),
    so a checkpoint of other weights or another split is never resumed. The warning names what
    differs.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # a checkpoint from an older version or a damaged file
        log.warning("ignoring unreadable checkpoint %s (%s)", path, err)
        return None
    differences = settings_differences(state.get("settings"), settings.to_dict())
    if differences:
        log.warning(
            "ignoring checkpoint %s: it was made with other settings (%s); training starts at "
            "epoch 1",
            path,
            "; ".join(differences),
        )
        return None
    return state


def settings_differences(saved: dict | None, wanted: dict) -> list[str]:
    """What differs between a checkpoint's settings and the job's, one readable item per key
    (``extra`` compared key by key): e.g. ``extra.weights_sha256 4f1c2a9b0e3d… in the
    checkpoint, 397923af8e79… now``."""
    if not isinstance(saved, dict):
        return ["no settings recorded"]
    flat_saved, flat_wanted = lift_extra(saved), lift_extra(wanted)
    keys = sorted(set(flat_saved) | set(flat_wanted))
    return [
        f"{key} {_short(flat_saved.get(key))} in the checkpoint, {_short(flat_wanted.get(key))} now"
        for key in keys
        if flat_saved.get(key) != flat_wanted.get(key)
    ]


def _short(value) -> str:
    """A value for a log line: long strings (hashes) cut to 12 characters, absent as 'none'."""
    if value is None:
        return "none"
    text = str(value)
    return text if len(text) <= 16 else text[:12] + "…"


def rng_states() -> dict:
    """The random states a resumed run needs to repeat an uninterrupted one: the CPU generator
    and, with CUDA, every GPU's generator (dropout on the GPU draws from those)."""
    cuda = list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else []
    return {"rng": torch.get_rng_state(), "cuda_rng": cuda}


def restore_rng_states(state: dict) -> None:
    """Set the generators saved by ``rng_states`` (a checkpoint without CUDA states keeps them)."""
    torch.set_rng_state(state["rng"])
    cuda = list(state.get("cuda_rng") or [])
    if not cuda:
        return
    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if len(cuda) != available:
        log.warning(
            "the checkpoint holds the random states of %d CUDA devices and this job sees %d: "
            "dropout on the GPU will not repeat an uninterrupted run exactly",
            len(cuda),
            available,
        )
        return
    torch.cuda.set_rng_state_all(cuda)


def save_model(
    path: str | os.PathLike,
    model: nn.Module,
    settings: TrainSettings,
    epoch: int,
    metrics: dict,
    device: str = "",
) -> None:
    """A standalone trained model: full state dict plus how, where and how long it was trained."""
    save_checkpoint(
        path,
        state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()},
        settings=settings.to_dict(),
        epoch=epoch,
        metrics=metrics,
        device=device,
    )


# --------------------------------------------------------------------------- fit


def _score(row: dict, select_by: str) -> float:
    if select_by == "worst_group":
        return row[WORST_GROUP_COLUMN]
    return row["val_accuracy"] if select_by == "val_accuracy" else -row["val_loss"]


def _stops_early(epoch: int, best_epoch: int, patience: int | None) -> bool:
    """Whether early stopping ends the run before ``epoch`` (``patience`` epochs without
    improvement since ``best_epoch``)."""
    return patience is not None and best_epoch > 0 and epoch - best_epoch > patience


def job_eta(epoch_seconds: list[float], remaining: int) -> str:
    """The time the job still needs: mean epoch time so far x epochs left, as
    ``eta 0:03:12 for the job`` (an upper bound when early stopping ends the run sooner)."""
    mean = sum(epoch_seconds) / len(epoch_seconds) if epoch_seconds else 0.0
    left = datetime.timedelta(seconds=round(mean * max(0, remaining)))
    return f"eta {left} for the job"


@dataclass
class FitData:
    """What ``fit`` trains and validates on: each split's source and labels, and (for
    ``select_by: worst_group``) the validation images' group ids and the group names."""

    train_source: object
    val_source: object
    train_labels: torch.Tensor
    val_labels: torch.Tensor
    val_groups: np.ndarray | None = None
    group_names: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        """The history's columns: the worst-group one only when groups are given."""
        return HISTORY_COLUMNS + ([WORST_GROUP_COLUMN] if self.val_groups is not None else [])


def fit(
    model: nn.Module,
    data: FitData,
    settings: TrainSettings,
    device: torch.device,
    checkpoint: str | os.PathLike,
    on_epoch: Callable[[dict], None] | None = None,
    checkpoint_minutes: float = 0.0,
) -> dict:
    """Train for ``settings.epochs`` epochs (resuming from ``checkpoint``), validating each epoch.

    A resumable checkpoint is written after every epoch, or, with ``checkpoint_minutes`` > 0,
    after the first epoch that ends at least that many minutes after the last one written (or the
    start): a checkpoint of strategy 1 holds ~1.4 GB (the head and its two Adam moments), which
    costs seconds per epoch on a short CPU run. None is written after the last epoch (the last
    of ``settings.epochs``, or the one after which early stopping ends the run): the caller
    writes the model files next and then deletes the checkpoint.

    Returns {"history": DataFrame, "best_state": trainable state of the best epoch,
    "best_epoch": int, "epochs_run": int}. The model is left at its last epoch.
    """
    params = apply_strategy(model, settings.strategy)
    model_to_device(model, device)
    optimizer = make_optimizer(params, settings.lr, device)
    criterion = nn.BCEWithLogitsLoss()
    torch.manual_seed(settings.seed)
    history, best, start_epoch = _resume(checkpoint, settings, model, optimizer)
    runner = Runner.create(
        model, data.train_source.kind, device, settings.precision, settings.compile
    )
    last_saved = time.perf_counter()
    for epoch in range(start_epoch, settings.epochs + 1):
        if _stops_early(epoch, best["epoch"], settings.patience):
            log.info(
                "early stopping: no improvement of %s for %d epochs",
                settings.select_by,
                settings.patience,
            )
            break
        row = _run_epoch(runner, data, settings, optimizer, criterion, epoch)
        history.append(row)
        improved = _score(row, settings.select_by) > best["score"]
        best_epoch = epoch if improved else best["epoch"]
        last = epoch == settings.epochs or _stops_early(epoch + 1, best_epoch, settings.patience)
        due = not last and time.perf_counter() - last_saved >= 60 * checkpoint_minutes
        state = trainable_state(model) if improved or due else None
        if improved:
            # the same tensors as the checkpoint's model: torch.save stores them once
            best = {"epoch": epoch, "score": _score(row, settings.select_by), "state": state}
        _log_epoch(row, settings.epochs, history, 0 if last else settings.epochs - epoch)
        if due:
            _save_epoch_checkpoint(checkpoint, state, optimizer, epoch, history, best, settings)
            last_saved = time.perf_counter()
        if on_epoch is not None:
            on_epoch(row)
    return {
        "history": pd.DataFrame(history, columns=data.columns),
        "best_state": best["state"],
        "best_epoch": best["epoch"],
        "epochs_run": len(history),
    }


def _resume(checkpoint, settings: TrainSettings, model: nn.Module, optimizer) -> tuple:
    """(history, best, first epoch to run): from ``checkpoint`` when one of these settings is
    there (model, optimizer and RNG states restored), else a fresh start."""
    resumed = load_checkpoint(checkpoint, settings)
    if resumed is None:
        return [], {"epoch": 0, "score": -math.inf, "state": None}, 1
    model.load_state_dict(resumed["model"], strict=False)
    optimizer.load_state_dict(resumed["optimizer"])
    restore_rng_states(resumed)
    log.info("resumed from %s after epoch %d", checkpoint, resumed["epoch"])
    return list(resumed["history"]), dict(resumed["best"]), int(resumed["epoch"]) + 1


def _run_epoch(runner, data: FitData, settings: TrainSettings, optimizer, criterion, epoch) -> dict:
    """Train one epoch, validate, and return the epoch's history row."""
    started = time.perf_counter()
    plan = epoch_plan(len(data.train_source), settings.seed, epoch, settings.augmentations)
    train = train_one_epoch(
        runner,
        data.train_source,
        data.train_labels.float(),
        plan,
        optimizer,
        criterion,
        settings.batch_size,
        desc=f"epoch {epoch}/{settings.epochs}",
    )
    val = evaluate(runner, data.val_source, data.val_labels.float(), criterion, settings.batch_size)
    row = {
        "epoch": epoch,
        "train_loss": train["loss"],
        "train_accuracy": train["accuracy"],
        "val_loss": val["loss"],
        "val_accuracy": val["accuracy"],
        "seconds": time.perf_counter() - started,
    }
    if data.val_groups is not None:
        from .groups import worst_group_validation_accuracy

        row[WORST_GROUP_COLUMN] = worst_group_validation_accuracy(
            val["logits"].numpy(), data.val_labels.numpy(), data.val_groups, data.group_names
        )
    return row


def _log_epoch(row: dict, epochs: int, history: list[dict], remaining: int) -> None:
    log.info(
        "epoch %d/%d: train loss %.4f acc %.4f | val loss %.4f acc %.4f | %.1f s | %s",
        row["epoch"],
        epochs,
        row["train_loss"],
        row["train_accuracy"],
        row["val_loss"],
        row["val_accuracy"],
        row["seconds"],
        job_eta([r["seconds"] for r in history], remaining),
    )


def _save_epoch_checkpoint(checkpoint, state, optimizer, epoch, history, best, settings) -> None:
    """The resumable state after ``epoch``: trainable weights, optimizer, RNG, history, best."""
    save_checkpoint(
        checkpoint,
        model=state,
        optimizer=optimizer.state_dict(),
        epoch=epoch,
        **rng_states(),
        history=history,
        best=best,
        settings=settings.to_dict(),
    )
