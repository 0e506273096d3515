"""The ``calibrate`` job: temperature scaling of one model's two checkpoints on the validation
split, with calibration before and after on validation and test, and the reliability diagram.

Its own module (not ``jobs.py``) because it draws a figure: the training and evaluation jobs
import nothing of ``plots``, so editing a figure's code never retrains or re-evaluates. The
calibration maths is ``calibration.py``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import calibration, engine, plots
from .io import write_csv
from .jobs import checkpoint_logits, on_one_gpu, predictions_frame, read_split

log = logging.getLogger(__name__)


@dataclass
class CalibrateJob:
    """``calibrate``: for both checkpoints of one model (``model``: last, ``best``), the
    validation logits, calibration on validation and test before and after temperature scaling
    (``calibration.calibration_row``) and the test accuracy's and ROC-AUC's intervals
    (``calibration.discrimination_row``), one row each in ``out_calibration``; the temperature
    beside each model file (``calibration.temperature_path``, where ``predict`` looks); the
    validation predictions; the reliability diagram of the test split (best checkpoint, before
    and after scaling)."""

    model: str
    best: str
    weights: str
    val: str
    val_input: str
    predictions_last: str
    predictions_best: str
    kind: str
    batch_size: int
    n_boot: int
    device: str
    threads: int
    out_temperature_last: str
    out_temperature_best: str
    out_val_predictions: str
    out_calibration: str
    out_reliability: str
    gpus: list[int] | None = None


def calibration_of(
    val: pd.DataFrame, val_logits: np.ndarray, test: pd.DataFrame, n_boot: int
) -> tuple[dict, object]:
    """(the metrics.csv columns of one checkpoint's calibration, its temperature fit)."""
    fit = calibration.fit_temperature(val["label"], val_logits)
    row = {
        **calibration.discrimination_row(test["label"], test["logit"], n_boot),
        **calibration.calibration_row(
            val["label"], val_logits, test["label"], test["logit"], fit=fit, n_boot=n_boot
        ),
    }
    return row, fit


@on_one_gpu
def calibrate(job: CalibrateJob) -> pd.DataFrame:
    """Write each checkpoint's temperature, the calibration table, the validation predictions
    and the reliability diagram; return the table."""
    dev = engine.pick_device(job.device)
    engine.configure_device(dev, job.threads)
    val = read_split(job.val)
    rows, predictions, tests = [], [], {}
    for checkpoint, model_file, test_file, out_temperature in (
        ("last", job.model, job.predictions_last, job.out_temperature_last),
        ("best", job.best, job.predictions_best, job.out_temperature_best),
    ):
        if Path(out_temperature) != calibration.temperature_path(model_file):
            raise ValueError(f"the temperature of {model_file} must be written beside it")
        logits, _, settings = checkpoint_logits(
            model_file, job.val, job.val_input, "val", job.weights, job.kind, dev, job.batch_size
        )
        tests[checkpoint] = pd.read_csv(test_file, dtype={"image_id": str})
        row, fit = calibration_of(val, logits, tests[checkpoint], job.n_boot)
        calibration.write_temperature(out_temperature, fit)
        rows.append({"model": settings.model_name, "checkpoint": checkpoint, **row})
        predictions.append(predictions_frame(val, logits).assign(checkpoint=checkpoint))
        log.info("%s (%s): temperature %.4g%s, test ECE %.4f -> %.4f", settings.model_name,
                 checkpoint, fit.temperature, " (flagged)" if fit.flagged else "",
                 row["test_ece_width"], row["test_ece_width_calibrated"])  # fmt: skip
    table = pd.DataFrame(rows)
    write_csv(job.out_calibration, table)
    write_csv(job.out_val_predictions, pd.concat(predictions, ignore_index=True))
    temperature = float(table.loc[table["checkpoint"] == "best", "temperature"].iloc[0])
    plots.plot_reliability_overlay(
        calibration.scaling_tables(tests["best"], temperature),
        job.out_reliability,
        title=f"{rows[0]['model']}: test reliability (best checkpoint)",
    )
    return table
