"""Predict P(Male) for images with a trained model, with the preprocessing used in training."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from .io import CelebaGenderError, DataError
from .jobs import load_model_file
from .store import decode_resized, to_normalized

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


def load_for_prediction(model_path: str | os.PathLike) -> tuple[torch.nn.Module, int]:
    """The trained model (eval mode) and the image size it was trained at."""
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
    return model.eval(), int(size)


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
