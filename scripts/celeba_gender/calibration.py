"""Calibration: how far the model's probabilities can be trusted, and temperature scaling.

Everything is computed from logits, as in ``metrics``: p = sigmoid(logit) is P(positive class)
(P(male) for the study's target), the prediction is the positive class when the logit is above
0, and the **top-label confidence** is the probability of the predicted class,
max(p, 1 - p) = sigmoid(|logit|), in [0.5, 1].

Metrics (one model, one split):

- **ECE**, expected calibration error = sum over bins b of (n_b / n) |accuracy_b - confidence_b|,
  with the images binned by top-label confidence, ``ECE_BINS`` = 15 bins, two ways:

  - *equal-width* (Guo et al. 2017): ``CONFIDENCE_RANGE`` [0.5, 1] cut into 15 bins of width
    1/30; a bin holds (lower, upper], the first one also its lower edge 0.5. Guo et al. cut
    [0, 1]; a two-class model's top-label confidence never falls below 0.5, so 7 of those 15
    bins would always be empty.
  - *equal-mass* (Nixon et al. 2019, "adaptive" bins): images sorted by confidence, the image of
    (0-based) rank r goes to bin floor(r * 15 / n), so each bin holds n/15 images. Tied
    confidences share the lowest rank of their tie: a tie is never split across bins (a model
    with constant logits has one bin, and both ECEs are then |accuracy - confidence|).

- **NLL**, the mean negative log-likelihood of the labels (binary cross-entropy from logits,
  ``metrics.bce_with_logits``: the ``test_loss`` of metrics.json), and the **Brier score**, the
  mean of (p - label)^2 over images (the binary Brier score of P(positive)).

Intervals: percentile bootstrap over images (``n_boot`` resamples of n images with replacement,
``seed``, ``level`` 0.95), the four metrics computed on the same resamples. A resample is a vector
of counts (how often each image was drawn), so every metric is a weighted sum and nothing is
copied. ECE is biased upward in a finite sample (noise in a bin's accuracy only adds to
|accuracy - confidence|), and more so in a resample, which repeats images: for a well-calibrated
model the interval can lie above the point estimate. Read it as the spread, not as a correction.

Temperature scaling (Guo et al. 2017): one temperature T > 0 per model and checkpoint, fitted on
the validation split by minimising the NLL of sigmoid(logit / T), searched on log T within
``TEMPERATURE_BOUNDS`` [0.05, 100] (bounded Brent, deterministic). Dividing every logit by the
same T > 0 keeps their signs and order, so accuracy and ROC-AUC do not change; only the
probabilities do. A fit is *flagged* when T ends at a bound (clamped: the NLL kept falling
towards T -> 0, all validation images right and the model still too unsure, or towards
T -> infinity, probabilities pushed to 0.5) or when the logits are (near-)constant (their range
is below ``CONSTANT_LOGIT_RANGE``: a collapsed model, whose T can only match the label balance).
The fit is written beside the model file (``temperature_path``) for ``predict``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from celeba_gender.io import CelebaGenderError, DataError, write_json
from celeba_gender.metrics import bce_with_logits, binary_array, predicted_class, sigmoid
from celeba_gender.plots import plot_reliability_overlay
from celeba_gender.stats import bootstrap_accuracy_ci

ECE_BINS = 15
CONFIDENCE_RANGE: tuple[float, float] = (0.5, 1.0)  # the top-label confidence of two classes
BIN_SCHEMES: tuple[str, ...] = ("width", "mass")
TEMPERATURE_BOUNDS: tuple[float, float] = (0.05, 100.0)
CONSTANT_LOGIT_RANGE = 1e-3  # logits spanning less than this are a collapsed model's
CLAMP_TOLERANCE = 1e-3  # a fitted log T this close to a bound's log is clamped to the bound
TEMPERATURE_SUFFIX = ".temperature.json"  # model.pt -> model.temperature.json

CALIBRATION_SPLITS: tuple[str, ...] = ("val", "test")
CALIBRATION_METRICS: tuple[str, ...] = ("ece_width", "ece_mass", "nll", "brier")
INTERVAL_BOUNDS: tuple[str, ...] = ("", "low", "high")  # the value, then its interval
RELIABILITY_COLUMNS: tuple[str, ...] = (
    "bin",
    "lower",
    "upper",
    "count",
    "confidence",
    "accuracy",
)


def calibration_column(split: str, metric: str, calibrated: bool = False, bound: str = "") -> str:
    """The metrics.csv column of ``metric`` on ``split``: ``test_ece_width``,
    ``test_ece_width_low``, ``test_ece_width_calibrated_high`` (after temperature scaling)."""
    if split not in CALIBRATION_SPLITS or metric not in CALIBRATION_METRICS:
        raise ValueError(f"unknown split/metric {split!r}/{metric!r}")
    if bound not in INTERVAL_BOUNDS:
        raise ValueError(f"bound must be one of {INTERVAL_BOUNDS}, got {bound!r}")
    return f"{split}_{metric}{'_calibrated' if calibrated else ''}{f'_{bound}' if bound else ''}"


# The columns of ``calibration_row``, in order: every metric of each split before and after
# temperature scaling with its interval, then the temperature, its flag and the flag's reason.
CALIBRATION_COLUMNS: tuple[str, ...] = (
    *(
        calibration_column(split, metric, calibrated, bound)
        for split in CALIBRATION_SPLITS
        for calibrated in (False, True)
        for metric in CALIBRATION_METRICS
        for bound in INTERVAL_BOUNDS
    ),
    "temperature",
    "temperature_flag",
    "temperature_reason",
)
# Test accuracy and ROC-AUC with their intervals (``discrimination_row``), for the model card.
DISCRIMINATION_COLUMNS: tuple[str, ...] = (
    "test_accuracy",
    "test_accuracy_low",
    "test_accuracy_high",
    "roc_auc",
    "roc_auc_low",
    "roc_auc_high",
)


# ----------------------------------------------------------------------------- inputs
def labels_and_logits(labels: Any, logits: Any, name: str = "") -> tuple[np.ndarray, np.ndarray]:
    """0/1 labels (int) and finite logits (float64) of the same non-zero length, or DataError."""
    where = f"{name}: " if name else ""
    y = binary_array(labels, f"{name or 'calibration'} labels")
    z = np.asarray(logits, dtype=np.float64)
    if z.shape != y.shape:
        raise DataError(f"{where}expected one logit per label ({y.shape[0]}), got {z.shape}")
    if not y.size:
        raise DataError(f"{where}no images: nothing to calibrate or score")
    if not np.isfinite(z).all():
        raise DataError(
            f"{where}{int((~np.isfinite(z)).sum())} logits are NaN or infinite: "
            "the model diverged; retrain it (or lower train.lr) before calibrating"
        )
    return y, z


def _check_interval_args(n_boot: int, level: float, n_bins: int, scheme: str = "width") -> None:
    if scheme not in BIN_SCHEMES:
        raise ValueError(f"scheme must be one of {BIN_SCHEMES}, got {scheme!r}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")


# ----------------------------------------------------------------------------- binning
def width_bins(confidence: np.ndarray, n_bins: int = ECE_BINS) -> np.ndarray:
    """Equal-width bin (0 .. n_bins - 1) of each confidence in ``CONFIDENCE_RANGE``; a bin holds
    (lower, upper], the first also 0.5."""
    edges = np.linspace(*CONFIDENCE_RANGE, n_bins + 1)
    return np.searchsorted(edges[1:-1], confidence, side="left")


@dataclass(frozen=True)
class _Scored:
    """Per-image quantities of one (labels, logits), computed once for every resample."""

    labels: np.ndarray
    confidence: np.ndarray
    correct: np.ndarray  # 1.0 where the prediction (logit > 0) is the label
    nll: np.ndarray  # per-image binary cross-entropy
    squared_error: np.ndarray  # (p - label)^2
    width_bin: np.ndarray
    order: np.ndarray  # images by increasing confidence (stable)
    tie_first: np.ndarray  # per sorted position: the first sorted position of its tie


def _score(labels: Any, logits: Any, n_bins: int, name: str = "") -> _Scored:
    y, z = labels_and_logits(labels, logits, name)
    confidence = sigmoid(np.abs(z))  # top-label confidence max(p, 1 - p): p of the prediction
    order = np.argsort(confidence, kind="stable")
    sorted_confidence = confidence[order]
    return _Scored(
        labels=y,
        confidence=confidence,
        correct=(predicted_class(z).astype(np.int64) == y).astype(np.float64),
        nll=np.logaddexp(0.0, z) - y * z,
        squared_error=(sigmoid(z) - y) ** 2,
        width_bin=width_bins(confidence, n_bins),
        order=order,
        tie_first=np.searchsorted(sorted_confidence, sorted_confidence, side="left"),
    )


def _mass_bins(scored: _Scored, weights: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-mass bin of each image when image i counts ``weights[i]`` times (ties together)."""
    sorted_weights = weights[scored.order].astype(np.int64)
    before = np.cumsum(sorted_weights) - sorted_weights  # images ranked below each position
    rank = before[scored.tie_first]  # a tie shares the lowest rank of its images
    bins = np.empty_like(rank)
    bins[scored.order] = (rank * n_bins) // int(sorted_weights.sum())
    return bins


def _ece(scored: _Scored, bins: np.ndarray, weights: np.ndarray, n_bins: int) -> float:
    """sum_b (n_b / n) |acc_b - conf_b| = sum_b |sum_b correct - sum_b confidence| / n."""
    correct = np.bincount(bins, weights=weights * scored.correct, minlength=n_bins)
    confident = np.bincount(bins, weights=weights * scored.confidence, minlength=n_bins)
    return float(np.abs(correct - confident).sum() / weights.sum())


def _weighted_metrics(scored: _Scored, weights: np.ndarray, n_bins: int) -> dict[str, float]:
    """The ``CALIBRATION_METRICS`` with image i counted ``weights[i]`` times."""
    total = weights.sum()
    return {
        "ece_width": _ece(scored, scored.width_bin, weights, n_bins),
        "ece_mass": _ece(scored, _mass_bins(scored, weights, n_bins), weights, n_bins),
        "nll": float((weights * scored.nll).sum() / total),  # no BLAS call: no thread start
        "brier": float((weights * scored.squared_error).sum() / total),
    }


# ----------------------------------------------------------------------------- metrics
def expected_calibration_error(
    labels: Any, logits: Any, n_bins: int = ECE_BINS, scheme: str = "width"
) -> float:
    """ECE of the top-label confidence in ``n_bins`` equal-width (``scheme="width"``) or
    equal-mass (``"mass"``) bins; see the module docstring."""
    _check_interval_args(1, 0.5, n_bins, scheme)
    scored = _score(labels, logits, n_bins)
    return _weighted_metrics(scored, np.ones(len(scored.labels)), n_bins)[f"ece_{scheme}"]


def negative_log_likelihood(labels: Any, logits: Any) -> float:
    """Mean negative log-likelihood of the labels under sigmoid(logit) (BCE with logits)."""
    return bce_with_logits(*labels_and_logits(labels, logits))


def brier_score(labels: Any, logits: Any) -> float:
    """Mean squared difference between P(positive) = sigmoid(logit) and the 0/1 label."""
    y, z = labels_and_logits(labels, logits)
    return float(np.mean((sigmoid(z) - y) ** 2))


def bootstrap_calibration(
    labels: Any,
    logits: Any,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    n_bins: int = ECE_BINS,
) -> dict[str, tuple[float, float, float]]:
    """Each of ``CALIBRATION_METRICS`` as (value, low, high): the value on all images and the
    percentile-bootstrap interval over ``n_boot`` resamples of the images (seeded)."""
    _check_interval_args(n_boot, level, n_bins)
    scored = _score(labels, logits, n_bins)
    n = len(scored.labels)
    point = _weighted_metrics(scored, np.ones(n), n_bins)
    rng = np.random.default_rng(seed)
    draws = np.empty((n_boot, len(CALIBRATION_METRICS)))
    for i in range(n_boot):
        weights = np.bincount(rng.integers(0, n, size=n), minlength=n).astype(np.float64)
        draws[i] = list(_weighted_metrics(scored, weights, n_bins).values())
    low, high = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return {
        name: (point[name], float(low[j]), float(high[j]))
        for j, name in enumerate(CALIBRATION_METRICS)
    }


def reliability_table(
    labels: Any, logits: Any, n_bins: int = ECE_BINS, scheme: str = "width"
) -> pd.DataFrame:
    """The reliability diagram's data, one row per bin (``RELIABILITY_COLUMNS``): bin, lower and
    upper confidence (the bin's edges for equal-width bins, its smallest and largest confidence
    for equal-mass ones), count, mean confidence, accuracy. Equal-width bins are all listed
    (an empty one with count 0 and NaN confidence and accuracy); equal-mass ones only when they
    hold images (ties can leave some empty). sum(count * |accuracy - confidence|) / n is the
    ECE."""
    _check_interval_args(1, 0.5, n_bins, scheme)
    scored = _score(labels, logits, n_bins)
    ones = np.ones(len(scored.labels))
    bins = scored.width_bin if scheme == "width" else _mass_bins(scored, ones, n_bins)
    frame = pd.DataFrame({"bin": bins, "c": scored.confidence, "ok": scored.correct})
    table = frame.groupby("bin").agg(
        lower=("c", "min"), upper=("c", "max"), count=("c", "size"), confidence=("c", "mean"),
        accuracy=("ok", "mean"),
    )  # fmt: skip
    if scheme == "width":
        table = table.reindex(range(n_bins))
        edges = np.linspace(*CONFIDENCE_RANGE, n_bins + 1)
        table["lower"], table["upper"] = edges[:-1], edges[1:]
        table["count"] = table["count"].fillna(0)
    table = table.rename_axis("bin").reset_index()
    table["count"] = table["count"].astype(np.int64)
    return table[list(RELIABILITY_COLUMNS)]


def scaling_tables(
    predictions: pd.DataFrame, temperature: float, prefix: str = ""
) -> dict[str, pd.DataFrame]:
    """The reliability tables of ``predictions`` (label, logit) before and after scaling by
    ``temperature``, named "<prefix>before scaling" and "<prefix>after (T = <temperature>)"."""
    labels, logits = predictions["label"], predictions["logit"]
    scaled = apply_temperature(logits, temperature)
    return {
        f"{prefix}before scaling": reliability_table(labels, logits),
        f"{prefix}after (T = {temperature:.3g})": reliability_table(labels, scaled),
    }


# ----------------------------------------------------------------------------- ROC-AUC interval
def bootstrap_roc_auc(
    labels: Any, logits: Any, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """ROC-AUC (ranked by logit, ties counted half, as ``metrics.roc_auc``) and its percentile
    bootstrap interval over images: (auc, low, high); NaN where a resample has one class only
    is left out of the quantiles (all NaN with one class in ``labels``)."""
    _check_interval_args(n_boot, level, 1)
    y, z = labels_and_logits(labels, logits)
    order = np.argsort(z, kind="stable")
    sorted_z, sorted_y = z[order], y[order].astype(np.float64)
    group = np.cumsum(np.r_[True, np.diff(sorted_z) != 0]) - 1  # tie group of each position

    def auc(weights: np.ndarray) -> float:
        w = weights[order]
        negatives = np.bincount(group, weights=w * (1 - sorted_y))
        positives = np.bincount(group, weights=w * sorted_y)
        if not negatives.sum() or not positives.sum():
            return math.nan
        below = np.cumsum(negatives) - negatives
        wins = (positives * (below + 0.5 * negatives)).sum()
        return float(wins / (positives.sum() * negatives.sum()))

    n = len(y)
    point = auc(np.ones(n))
    if math.isnan(point):
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    draws = [auc(np.bincount(rng.integers(0, n, size=n), minlength=n)) for _ in range(n_boot)]
    low, high = np.nanquantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return point, float(low), float(high)


def discrimination_row(
    labels: Any, logits: Any, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, float]:
    """Test accuracy (decision rule logit > 0) and ROC-AUC, each with its percentile bootstrap
    interval over images, keyed by ``DISCRIMINATION_COLUMNS`` (the model card's numbers)."""
    y, z = labels_and_logits(labels, logits, "test")
    accuracy = bootstrap_accuracy_ci(y, predicted_class(z).astype(int), n_boot, seed, level)
    auc = bootstrap_roc_auc(y, z, n_boot, seed, level)
    return dict(zip(DISCRIMINATION_COLUMNS, (*accuracy, *auc), strict=True))


# ----------------------------------------------------------------------------- temperature
@dataclass(frozen=True)
class TemperatureFit:
    """A fitted temperature: T, whether it is flagged and why ("" when not), the NLL of the fit
    data before (T = 1) and after, how many images (``n``) of which split it was fitted on, and
    the bounds it was searched within."""

    temperature: float
    flagged: bool
    reason: str
    nll_before: float
    nll_after: float
    n: int
    split: str = "val"
    bounds: tuple[float, float] = TEMPERATURE_BOUNDS

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bounds": list(self.bounds)}

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> TemperatureFit:
        return cls(
            temperature=float(record["temperature"]),
            flagged=bool(record["flagged"]),
            reason=str(record.get("reason", "")),
            nll_before=float(record["nll_before"]),
            nll_after=float(record["nll_after"]),
            n=int(record["n"]),
            split=str(record.get("split", "val")),
            bounds=tuple(float(b) for b in record.get("bounds", TEMPERATURE_BOUNDS)),
        )


def _check_temperature(temperature: float) -> float:
    value = float(temperature)
    if not (math.isfinite(value) and value > 0):
        raise CelebaGenderError(
            f"temperature must be a finite number above 0, got {temperature!r}: "
            "refit it with calibration.fit_temperature on the validation logits"
        )
    return value


def apply_temperature(logits: Any, temperature: float) -> np.ndarray:
    """logit / T (float64): calibrated logits; sigmoid of them is the calibrated probability."""
    return np.asarray(logits, dtype=np.float64) / _check_temperature(temperature)


def fit_temperature(
    labels: Any,
    logits: Any,
    bounds: tuple[float, float] = TEMPERATURE_BOUNDS,
    split: str = "val",
) -> TemperatureFit:
    """The T in ``bounds`` minimising the NLL of sigmoid(logit / T) on (labels, logits) of
    ``split``; flagged when clamped to a bound or when the logits are (near-)constant."""
    low, high = (_check_temperature(b) for b in bounds)
    if not low < 1.0 < high:
        raise ValueError(f"bounds must contain 1 (no scaling) strictly, got {bounds}")
    y, z = labels_and_logits(labels, logits, f"{split} split")
    nll_before = bce_with_logits(y, z)
    if not np.any(z):  # every T gives p = 0.5: nothing to fit
        reason = "all logits are 0 (a collapsed model): no temperature changes p = 0.5; T = 1"
        return TemperatureFit(1.0, True, reason, nll_before, nll_before, len(y), split, (low, high))

    def nll(log_t: float) -> float:
        return bce_with_logits(y, z * math.exp(-log_t))

    log_low, log_high = math.log(low), math.log(high)
    found = minimize_scalar(nll, bounds=(log_low, log_high), method="bounded")
    log_t = min((log_low, float(found.x), log_high), key=nll)  # the bounds themselves too
    reasons = []
    spread = float(np.ptp(z))
    if spread < CONSTANT_LOGIT_RANGE:
        reasons.append(
            f"near-constant logits (range {spread:.3g} < {CONSTANT_LOGIT_RANGE:g}): a collapsed "
            "model; T only matches the label balance"
        )
    temperature = math.exp(log_t)
    for bound, log_bound, side in ((low, log_low, "lower"), (high, log_high, "upper")):
        if abs(log_t - log_bound) < CLAMP_TOLERANCE:
            temperature = bound
            reasons.append(f"clamped to the {side} bound {bound:g} of {low:g}..{high:g}")
    nll_after = bce_with_logits(y, z / temperature)
    reason = "; ".join(reasons)
    return TemperatureFit(
        temperature, bool(reasons), reason, nll_before, nll_after, len(y), split, (low, high)
    )


def temperature_path(model_path: str | os.PathLike) -> Path:
    """The temperature file of a model file, beside it: ``models/<model>/model.pt`` ->
    ``model.temperature.json``, ``best.pt`` -> ``best.temperature.json``."""
    path = Path(model_path)
    return path.with_name(path.stem + TEMPERATURE_SUFFIX)


def write_temperature(path: str | os.PathLike, fit: TemperatureFit) -> Path:
    """Write ``fit`` as JSON to ``path`` (``temperature_path(model)``) atomically."""
    write_json(path, {**fit.to_dict(), "method": "temperature scaling, NLL of sigmoid(logit/T)"})
    return Path(path)


def read_temperature(path: str | os.PathLike) -> TemperatureFit:
    """The fit written by ``write_temperature``; CelebaGenderError naming the file otherwise."""
    path = Path(path)
    try:
        fit = TemperatureFit.from_dict(json.loads(path.read_text()))
    except FileNotFoundError as err:
        raise CelebaGenderError(f"{path}: no such temperature file") from err
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CelebaGenderError(
            f"{path}: not a temperature file written by calibration.write_temperature ({err!r}); "
            "delete it and rerun the calibration job"
        ) from err
    _check_temperature(fit.temperature)
    return fit


# ----------------------------------------------------------------------------- the row
def calibration_row(
    val_labels: Any,
    val_logits: Any,
    test_labels: Any,
    test_logits: Any,
    *,
    fit: TemperatureFit | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    n_bins: int = ECE_BINS,
) -> dict[str, Any]:
    """One metrics.csv row (``CALIBRATION_COLUMNS``) of a model checkpoint: every calibration
    metric on val and test with its interval, before and after temperature scaling with ``fit``
    (fitted here on the val logits when None). The val numbers after scaling are in-sample (T
    was fitted there); the test numbers are the held-out ones."""
    fit = fit if fit is not None else fit_temperature(val_labels, val_logits)
    data = {"val": (val_labels, val_logits), "test": (test_labels, test_logits)}
    row: dict[str, Any] = {}
    for split, (labels, logits) in data.items():
        for calibrated in (False, True):
            scaled = apply_temperature(logits, fit.temperature) if calibrated else logits
            intervals = bootstrap_calibration(labels, scaled, n_boot, seed, level, n_bins)
            for metric, values in intervals.items():
                for bound, value in zip(INTERVAL_BOUNDS, values, strict=True):
                    row[calibration_column(split, metric, calibrated, bound)] = value
    row.update(
        temperature=fit.temperature, temperature_flag=fit.flagged, temperature_reason=fit.reason
    )
    return {column: row[column] for column in CALIBRATION_COLUMNS}


# ----------------------------------------------------------------------------- the compared pair
@dataclass(frozen=True)
class CompareReliabilityJob:
    """The compare_reliability rule: the test reliability curves (last epoch, before temperature
    scaling) of the pair the statistics rule compared (its first seed's pair); with one
    configuration only, that model before and after scaling."""

    comparison: str
    predictions: list[str]
    calibrations: list[str]
    models: list[str]
    out_figure: str


def compare_reliability(job: CompareReliabilityJob) -> None:
    """Draw the overlay of the compared pair."""
    pairs = [p for p in json.loads(Path(job.comparison).read_text()).get("pairs", [])
             if p.get("model_b")]  # fmt: skip
    frames = {m: pd.read_csv(p) for m, p in zip(job.models, job.predictions, strict=True)}
    if pairs:
        names = (pairs[0]["model_a"], pairs[0]["model_b"])
        tables = {m: reliability_table(frames[m]["label"], frames[m]["logit"]) for m in names}
        title = "Test reliability of the compared pair (last epoch)"
    else:
        model = job.models[0]
        row = pd.read_csv(job.calibrations[0]).set_index("checkpoint").loc["last"]
        tables = scaling_tables(frames[model], row["temperature"], f"{model} ")
        title = "Test reliability (one configuration: before and after scaling)"
    plot_reliability_overlay(tables, job.out_figure, title=title)
