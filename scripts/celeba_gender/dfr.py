"""Deep feature reweighting (DFR): retrain the last layer on group-balanced validation data.

Kirichenko, Izmailov & Wilson (2022), "Last Layer Re-Training is Sufficient for Robustness to
Spurious Correlations" (reference code: PolinaKirichenko/deep_feature_reweighting,
``dfr_evaluate_spurious.py``, the ``dfr_on_validation_*`` functions). The trained network is kept;
only its last linear layer (VGG-16 ``classifier[6]``, 4096 -> 1) is replaced by an L1-regularised
logistic regression fitted on the 4096-d embeddings it receives (``classifier[:6]`` output, in
eval mode: after the second ReLU, dropout off).

Which data each step sees (group ids from ``groups.GroupSpec``; n_g = images of group g):

1. ``penultimate_embeddings``: the trained model's embeddings of the validation and the test
   split, computed from the feature cache (or images). No fitting.
2. ``split_validation``: the VALIDATION split only, split once into two halves, per group
   (stratified), seeded: the *fit half* gets ceil(n_g / 2) images of group g, the *held-out
   half* the rest. The halves are disjoint.
3. ``Standardizer.fit``: mean and scale of the FIT HALF only (all its images, unbalanced).
4. ``balanced_draws``: from the FIT HALF only; each of ``n_draws`` draws takes m images of every
   group present there, without replacement, m = the smallest group's size in the fit half.
5. ``fit_averaged``: one logistic regression per draw (FIT HALF data), coefficients and
   intercepts averaged over the draws (as the reference code does).
6. C grid: each C's averaged model is scored by its worst-group accuracy on the HELD-OUT HALF
   only (a group absent from it is left out, with a warning); the best C wins, ties going to the
   first C in grid order (the grid runs from weak to strong regularisation). Nothing is fitted
   on the held-out half.
7. Final model: the averaged model of the chosen C fitted on the fit half. Refitting on the fit
   half with the same seeded draws gives exactly the model already scored, so it is kept rather
   than recomputed. Decision: unlike the reference code, whose final fit uses the whole
   validation set, the held-out half stays held out, so the held-out worst-group accuracy of the
   chosen C is a validation figure of the delivered layer (optimistic only by the choice among
   the grid), at the cost of fitting on half the validation images.
8. TEST split: only the final evaluation (``DfrResult.logits`` / ``dfr_predictions``, then
   ``groups.group_table``). It never enters a fit, a scaler or the choice of C.

The training split is not used: what it taught is in the embeddings.

``DfrResult.weight`` / ``bias`` are expressed for the ORIGINAL (unstandardised) embeddings:
logit = w . x + b, so ``DfrResult.to_linear()`` is a drop-in ``torch.nn.Linear(4096, 1)`` for
``classifier[6]`` (``replace_head``). The decision rule stays logit > 0.

L1 logistic regression uses scikit-learn's current API: ``LogisticRegression(C=c, l1_ratio=1.0,
solver="liblinear")`` (``penalty=`` is deprecated since scikit-learn 1.8); sklearn is imported
in the functions that fit, as ``metrics.py`` explains (~1.4 s per import).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import engine, jobs
from .groups import empty_groups, group_accuracy
from .io import CelebaGenderError, sha256_of, write_csv, write_json
from .metrics import bce_with_logits, binary_array, predicted_class
from .model import PREFIX_END

log = logging.getLogger(__name__)

DEFAULT_C_GRID: tuple[float, ...] = (1.0, 0.7, 0.3, 0.1, 0.07, 0.03, 0.01)
DEFAULT_DRAWS = 10
_SPLIT_STREAM = 0xDF1  # seeds the validation split apart from the draws
_DRAW_STREAM = 0xDF2


class DfrError(CelebaGenderError):
    """DFR cannot run on the data given (a class or group missing, mismatched arrays)."""


# ----------------------------------------------------------------------------- embeddings
def embed_from_features(model: nn.Module, features: torch.Tensor) -> torch.Tensor:
    """Penultimate embeddings (``classifier[:6]`` output) from the whole ``features`` output."""
    return model.classifier[:6](torch.flatten(model.avgpool(features), 1))


def embed_from_prefix(model: nn.Module, prefix: torch.Tensor) -> torch.Tensor:
    """Penultimate embeddings from the ``features[:24]`` output (block 5 of the trained model)."""
    return embed_from_features(model, model.features[PREFIX_END:](prefix))


def embed_images(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Penultimate embeddings from normalised images."""
    return embed_from_features(model, model.features(images))


EMBED_FORWARDS = {
    "images": embed_images,
    "prefix": embed_from_prefix,  # strategy 2's cache
    "features": embed_from_features,  # strategy 1's cache
}


@torch.no_grad()
def penultimate_embeddings(
    model: nn.Module, source, batch_size: int = 256, device: torch.device | None = None
) -> np.ndarray:
    """(N, 4096) float32 embeddings of every item of ``source`` in order.

    ``source`` is an ``engine`` source (``CacheSource`` of kind prefix or features, as
    ``jobs.make_source`` opens it for the model's settings, or ``ImageSource``); view 0 only (no
    flip). The model runs in eval mode (dropout off) in float32 without gradients; its previous
    train/eval mode is restored afterwards. The model must already be on ``device``.
    """
    forward = EMBED_FORWARDS.get(source.kind)
    if forward is None:
        raise ValueError(f"unknown source kind {source.kind!r}; expected {sorted(EMBED_FORWARDS)}")
    device = torch.device("cpu") if device is None else device
    width = model.classifier[3].out_features
    out = np.empty((len(source), width), dtype=np.float32)
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(source), batch_size):
            idx = np.arange(start, min(len(source), start + batch_size))
            x = source.batch(idx, None, None).to(device)
            out[idx] = forward(model, x).float().cpu().numpy()
    finally:
        model.train(was_training)
    return out


# ----------------------------------------------------------------------------- steps
def check_inputs(embeddings: np.ndarray, labels, groups, n_groups: int) -> tuple[np.ndarray, ...]:
    """(float64 embeddings, 0/1 labels, int group ids), checked to agree in length and range."""
    x = np.asarray(embeddings, dtype=np.float64)
    y = binary_array(np.asarray(labels).astype(np.int64), "labels")
    g = np.asarray(groups, dtype=np.int64)
    if x.ndim != 2 or not len(x) == len(y) == len(g):
        raise DfrError(
            f"expected embeddings (N, D) with N labels and N group ids, got {x.shape}, "
            f"{len(y)} labels, {len(g)} group ids"
        )
    if not np.isfinite(x).all():
        raise DfrError("embeddings hold NaN or infinite values")
    if len(g) and (g.min() < 0 or g.max() >= n_groups):
        raise DfrError(f"group ids must lie in 0..{n_groups - 1}")
    return x, y, g


def split_validation(groups: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit, held-out) indices into the validation split: per group, a seeded shuffle, the first
    ceil(n_g / 2) to the fit half, the rest held out. Disjoint, each sorted."""
    groups = np.asarray(groups, dtype=np.int64)
    rng = np.random.default_rng([seed, _SPLIT_STREAM])
    fit, held = [], []
    for g in np.unique(groups):
        members = rng.permutation(np.flatnonzero(groups == g))
        cut = math.ceil(len(members) / 2)
        fit.append(members[:cut])
        held.append(members[cut:])
    empty = np.empty(0, dtype=np.int64)
    return np.sort(np.concatenate(fit or [empty])), np.sort(np.concatenate(held or [empty]))


@dataclass(frozen=True)
class Standardizer:
    """Per-dimension mean and scale (standard deviation; 1 where it is ~0, as scikit-learn's
    StandardScaler)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardizer:
        """Mean and scale of ``x`` (the fit half)."""
        x = np.asarray(x, dtype=np.float64)
        std = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(std < 10 * np.finfo(np.float64).eps, 1.0, std))

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.scale


def balanced_draws(groups: np.ndarray, n_draws: int, seed: int) -> list[np.ndarray]:
    """``n_draws`` index arrays into ``groups`` (the fit half's group ids): each takes m indices
    of every group present, without replacement, m = the smallest present group's size."""
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    groups = np.asarray(groups, dtype=np.int64)
    members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    if not members:
        raise DfrError("balanced draws: the fit half is empty")
    m = min(len(idx) for idx in members)
    rng = np.random.default_rng([seed, _DRAW_STREAM])
    return [
        np.sort(np.concatenate([rng.choice(idx, size=m, replace=False) for idx in members]))
        for _ in range(n_draws)
    ]


def make_logreg(c: float, seed: int):
    """An L1-regularised logistic regression (liblinear), scikit-learn >= 1.8's spelling."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, l1_ratio=1.0, solver="liblinear", random_state=seed)


def fit_averaged(
    x: np.ndarray, y: np.ndarray, draws: Sequence[np.ndarray], c: float, seed: int
) -> tuple[np.ndarray, float]:
    """(coefficients, intercept) averaged over one L1 fit per draw of rows of ``x``, ``y``."""
    coefs, intercepts = [], []
    for draw in draws:
        if len(np.unique(y[draw])) < 2:
            raise DfrError("a balanced draw holds one class only; every class needs a group")
        model = make_logreg(c, seed).fit(x[draw], y[draw])
        coefs.append(model.coef_[0])
        intercepts.append(float(model.intercept_[0]))
    return np.mean(coefs, axis=0), float(np.mean(intercepts))


def to_original_space(
    coef: np.ndarray, intercept: float, standardizer: Standardizer
) -> tuple[np.ndarray, float]:
    """(w, b) with w . x + b = coef . (x - mean) / scale + intercept for raw embeddings x."""
    weight = np.asarray(coef, dtype=np.float64) / standardizer.scale
    return weight, float(intercept - weight @ standardizer.mean)


def heldout_worst_group(
    logits: np.ndarray, labels: np.ndarray, groups: np.ndarray, n_groups: int
) -> float:
    """Worst-group accuracy over the groups present in the held-out half."""
    return float(np.nanmin(group_accuracy(logits, labels, groups, n_groups)[1]))


# ----------------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False)
class DfrResult:
    """The retrained last layer and how it was chosen.

    ``weight`` (D,) and ``bias`` act on raw embeddings: logit = weight . x + bias.
    ``heldout_worst_group`` maps each C of the grid to its held-out worst-group accuracy;
    ``draw_group_size`` is m, the images per group in each balanced draw; the group sizes are
    per group id (0 where a group has no validation image).
    """

    weight: np.ndarray
    bias: float
    c: float
    heldout_worst_group: dict[float, float]
    n_draws: int
    draw_group_size: int
    fit_group_sizes: tuple[int, ...]
    heldout_group_sizes: tuple[int, ...]
    group_names: tuple[str, ...]
    seed: int
    standardizer: Standardizer = field(repr=False, compare=False)

    def logits(self, embeddings: np.ndarray) -> np.ndarray:
        """Logits of raw embeddings (N, D), float64."""
        return np.asarray(embeddings, dtype=np.float64) @ self.weight + self.bias

    def to_linear(self) -> nn.Linear:
        """A ``torch.nn.Linear(D, 1)`` computing the same logits (float32)."""
        layer = nn.Linear(len(self.weight), 1)
        with torch.no_grad():
            layer.weight.copy_(torch.as_tensor(self.weight, dtype=torch.float32).view(1, -1))
            layer.bias.fill_(self.bias)
        return layer

    def summary(self) -> dict:
        """JSON-able record of the choice (no weights): C, per-C scores, draws, group sizes."""
        return {
            "c": self.c,
            "heldout_worst_group_accuracy": self.heldout_worst_group[self.c],
            "heldout_worst_group_by_c": {str(c): v for c, v in self.heldout_worst_group.items()},
            "n_draws": self.n_draws,
            "draw_group_size": self.draw_group_size,
            "fit_group_sizes": dict(zip(self.group_names, self.fit_group_sizes, strict=True)),
            "heldout_group_sizes": dict(
                zip(self.group_names, self.heldout_group_sizes, strict=True)
            ),
            "seed": self.seed,
        }


def replace_head(model: nn.Module, result: DfrResult) -> nn.Module:
    """Put DFR's layer in place of ``model.classifier[6]`` (in place; returns the model)."""
    model.classifier[6] = result.to_linear().to(model.classifier[0].weight.device)
    return model


# ----------------------------------------------------------------------------- DFR
def _warn_missing(sizes: np.ndarray, names: Sequence[str], half: str) -> None:
    if missing := empty_groups(names, sizes):
        log.warning(
            "DFR: group(s) %s have no image in the %s half of the validation split and are "
            "left out of it",
            ", ".join(map(repr, missing)),
            half,
        )


def dfr_fit(
    val_embeddings: np.ndarray,
    val_labels,
    val_groups,
    group_names: Sequence[str],
    c_grid: Sequence[float] = DEFAULT_C_GRID,
    n_draws: int = DEFAULT_DRAWS,
    seed: int = 0,
) -> DfrResult:
    """Run DFR on the validation split (steps 2-7 of the module docstring).

    ``val_groups`` are group ids 0..len(group_names)-1 (``groups.GroupSpec``). The test split
    is not an argument: evaluate the result on it afterwards (``dfr_predictions``).
    """
    if not c_grid:
        raise ValueError("c_grid is empty")
    n_groups = len(group_names)
    x, y, g = check_inputs(val_embeddings, val_labels, val_groups, n_groups)
    fit, held = split_validation(g, seed)
    fit_sizes, held_sizes = (np.bincount(g[rows], minlength=n_groups) for rows in (fit, held))
    _warn_missing(fit_sizes, group_names, "fit")
    _warn_missing(held_sizes, group_names, "held-out")
    if len(np.unique(y[fit])) < 2 or not len(held):
        raise DfrError(
            "DFR needs both classes in the fit half and a non-empty held-out half: the "
            f"validation split has {len(y)} images, groups of sizes {fit_sizes + held_sizes}"
        )
    scaler = Standardizer.fit(x[fit])
    x_fit, x_held = scaler.transform(x[fit]), scaler.transform(x[held])
    draws = balanced_draws(g[fit], n_draws, seed)
    scores, models = {}, {}
    for c in map(float, c_grid):
        coef, intercept = models[c] = fit_averaged(x_fit, y[fit], draws, c, seed)
        scores[c] = heldout_worst_group(x_held @ coef + intercept, y[held], g[held], n_groups)
        log.info("DFR: C %g, held-out worst-group accuracy %.4f", c, scores[c])
    best = max(scores, key=lambda c: (scores[c], -list(scores).index(c)))
    weight, bias = to_original_space(*models[best], scaler)
    return DfrResult(
        weight=weight,
        bias=bias,
        c=best,
        heldout_worst_group=scores,
        n_draws=n_draws,
        draw_group_size=len(draws[0]) // int((fit_sizes > 0).sum()),
        fit_group_sizes=tuple(int(n) for n in fit_sizes),
        heldout_group_sizes=tuple(int(n) for n in held_sizes),
        group_names=tuple(group_names),
        seed=seed,
        standardizer=scaler,
    )


def dfr_predictions(
    result: DfrResult, image_ids: Sequence[str], embeddings: np.ndarray, labels
) -> pd.DataFrame:
    """Per-image predictions of the DFR layer, with the columns of the evaluate rule's
    predictions.csv (image_id, label, logit, prob, pred): the input of ``groups.group_table``."""
    logits = result.logits(embeddings)
    labels = binary_array(np.asarray(labels).astype(np.int64), "labels")
    if not len(image_ids) == len(logits) == len(labels):
        raise DfrError("image ids, embeddings and labels differ in length")
    split = pd.DataFrame({"image_id": list(image_ids), "label": labels})
    return jobs.predictions_frame(split, logits)


# ----------------------------------------------------------------------------- the dfr job
@dataclass
class DfrJob:
    """``dfr``: the DFR model of one ERM model, for each of its checkpoints (``model``: last,
    ``best``). It reads the validation split only (its cache, its labels, its images' groups
    from ``metadata``): no test file is an input. It writes model files like the train rule's
    (the network with DFR's last layer, settings of kind ``dfr``), a history with one row per
    checkpoint epoch (train columns: the fit half; val columns: the held-out half) and the
    choices (``out_summary``)."""

    model: str
    best: str
    weights: str
    val: str
    val_input: str
    metadata: str
    target: str
    group_by: list[str]
    batch_size: int
    device: str
    threads: int
    out_model: str
    out_best: str
    out_history: str
    out_summary: str
    gpus: list[int] | None = None


def half_scores(result: DfrResult, x: np.ndarray, y: np.ndarray, g: np.ndarray) -> dict:
    """BCE loss, accuracy and worst-group accuracy of the DFR layer on rows of one half."""
    logits = result.logits(x)
    accuracy = float((predicted_class(logits).astype(np.int64) == y).mean())
    worst = heldout_worst_group(logits, y, g, len(result.group_names))
    return {"loss": bce_with_logits(y, logits), "accuracy": accuracy, "worst_group": worst}


def _refit_checkpoint(job: DfrJob, source_file: str, out_file: str, val, groups, names, dev):
    """Fit DFR on one checkpoint's validation embeddings and write its model file; return its
    history row and summary."""
    started = time.perf_counter()
    model, record = jobs.load_model_file(source_file)
    settings = jobs.TrainSettings.from_dict(record["settings"])
    source = jobs.make_source(
        job.val_input, job.val, len(val), settings, "val", sha256_of(job.weights)
    )
    engine.model_to_device(model, dev)
    embeddings = penultimate_embeddings(model, source, job.batch_size, dev)
    labels = val["label"].to_numpy()
    result = dfr_fit(embeddings, labels, groups, names, seed=settings.seed)
    row = {"epoch": int(record["epoch"])}
    # train columns: the fit half; val columns: the held-out half, scored last (its worst group)
    for prefix, rows in zip(("train", "val"), split_validation(groups, settings.seed), strict=True):
        scores = half_scores(result, embeddings[rows], labels[rows], groups[rows])
        row |= {f"{prefix}_loss": scores["loss"], f"{prefix}_accuracy": scores["accuracy"]}
    row |= {
        "seconds": time.perf_counter() - started,
        "val_worst_group_accuracy": scores["worst_group"],
    }
    replace_head(model, result)
    dfr_settings = dataclasses.replace(settings, kind="dfr")
    engine.save_model(out_file, model, dfr_settings, row["epoch"], row, record.get("device", ""))
    return row, {**result.summary(), "epoch": row["epoch"], "base_model": settings.model_name}


@jobs.on_one_gpu
def dfr(job: DfrJob) -> dict:
    """Refit the last layer of both checkpoints of one ERM model on group-balanced validation
    data; write the DFR model files, the history and the summary."""
    dev = engine.pick_device(job.device)
    engine.configure_device(dev, job.threads)
    val = jobs.read_split(job.val)
    groups, names = jobs.split_groups(val, job.metadata, job.target, job.group_by)
    rows, summary = [], {}
    for checkpoint, source_file, out_file in (
        ("last", job.model, job.out_model),
        ("best", job.best, job.out_best),
    ):
        row, summary[checkpoint] = _refit_checkpoint(
            job, source_file, out_file, val, groups, names, dev
        )
        rows.append(row)
        log.info("DFR %s (%s): held-out worst-group accuracy %.4f, C %g", summary[checkpoint][
            "base_model"], checkpoint, row["val_worst_group_accuracy"], summary[checkpoint]["c"])  # fmt: skip
    history = pd.DataFrame(rows).drop_duplicates("epoch").sort_values("epoch")
    write_csv(job.out_history, history)
    write_json(job.out_summary, summary)
    return summary
