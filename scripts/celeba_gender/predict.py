"""Predict P(Male) for images with a trained model, with the preprocessing used in training.

The probability is calibrated by default: when a temperature file (``calibration.
temperature_path``: ``model.temperature.json`` beside ``model.pt``) exists, P = sigmoid(logit /
T); ``uncalibrated`` asks for sigmoid(logit). The header says which (``probability_note``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from .calibration import TemperatureFit, read_temperature, temperature_path
from .constants import LABEL_ATTRIBUTE
from .io import CelebaGenderError, DataError
from .jobs import load_model_file
from .store import decode_resized, to_normalized
from .targets import probability_label

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def expand_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given; folders replaced by their image files (sorted)."""
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files.extend(sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        elif item.exists():
            files.append(item)
        else:
            raise DataError(f"{item}: no such file or folder")
    if not files:
        raise DataError("no images to predict (folders hold no .jpg/.png files)")
    return files


def load_for_prediction(model_path: str | os.PathLike) -> tuple[torch.nn.Module, int, str]:
    """The trained model (eval mode), the image size it was trained at, and the attribute it
    predicts (``data.target`` of its run, recorded in its settings; Male in model files written
    before targets were recorded)."""
    path = Path(model_path)
    if not path.is_file():
        raise CelebaGenderError(
            f"--model {path}: no such file "
            "(expected results/experiments/<name>/models/<model>/model.pt)"
        )
    try:
        model, record = load_model_file(path)
    except Exception as err:
        raise CelebaGenderError(
            f"--model {path}: not a model written by the workflow's train rule ({err})"
        ) from err
    settings = record.get("settings", {})
    # image_size is a training setting; model files of earlier versions kept it in "extra"
    size = settings.get("image_size") or settings.get("extra", {}).get("image_size") or 0
    return model.eval(), int(size), str(settings.get("target") or LABEL_ATTRIBUTE)


def predict_images(
    model: torch.nn.Module, paths: list[Path], image_size: int, batch_size: int = 32
) -> Iterator[tuple[Path, float]]:
    """(path, logit) per image; a file that is not an image raises DataError naming it."""
    for start in range(0, len(paths), batch_size):
        chunk = paths[start : start + batch_size]
        pixels = []
        for path in chunk:
            try:
                pixels.append(decode_resized(path, image_size))
            except DataError as err:
                raise DataError(f"{path}: not an image the model can read ({err})") from err
        with torch.no_grad():
            logits = model(to_normalized(np.stack(pixels))).squeeze(1)
        yield from zip(chunk, logits.tolist(), strict=True)


def load_temperature(
    model_path: str | os.PathLike, uncalibrated: bool = False
) -> TemperatureFit | None:
    """The temperature fitted for the model (the file beside it), or None: when ``uncalibrated``
    is asked for or no file exists. An unreadable file raises CelebaGenderError naming it."""
    if uncalibrated:
        return None
    path = temperature_path(model_path)
    return read_temperature(path) if path.is_file() else None


def calibrated_logit(logit: float, fit: TemperatureFit | None) -> float:
    """logit / T with the model's temperature; the raw logit without one."""
    return float(logit) / fit.temperature if fit is not None else float(logit)


def probability_note(
    model_path: str | os.PathLike,
    fit: TemperatureFit | None,
    uncalibrated: bool = False,
    target: str = LABEL_ATTRIBUTE,
) -> str:
    """What the printed probability is, in words: e.g. "P(Male), calibrated with temperature
    1.83 fitted on validation (model.temperature.json)"."""
    label, file_name = probability_label(target), temperature_path(model_path).name
    if fit is not None:
        split = {"val": "validation", "test": "test", "train": "training"}.get(fit.split, fit.split)
        flag = f"; flagged: {fit.reason}" if fit.flagged else ""
        return (
            f"{label}, calibrated with temperature {fit.temperature:.3g} fitted on {split} "
            f"({file_name}{flag})"
        )
    if uncalibrated:
        return f"{label}, uncalibrated (--uncalibrated: sigmoid of the raw logit)"
    return f"{label}, uncalibrated: no temperature file beside the model ({file_name})"
