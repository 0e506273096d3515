"""What ``train.precision: bf16`` changes, measured against the default fp32 on a finished run.

Takes the trained models of a finished workflow run (``--run``: the folder holding ``results/``;
``--experiment``: which experiment, when it holds several; run with the default
``train.precision: fp32``) and scores its test images three ways with the
same trained heads:

- **fp32**: the workflow's default path (float32 compute, float32 feature cache);
- **float16 cache**: float32 compute, the cache stored as float16 (the storage half of bf16);
- **bf16**: the fast mode's evaluation path: the cache built under bf16 autocast and stored as
  float16, the head run under bf16 autocast.

For each model and mode it prints the largest |logit difference| from fp32 (absolute and as a
share of the largest |logit|), the share of test predictions that agree with fp32, and the test
accuracy difference. ``--image-size`` rescores the same test images decoded at another size (224:
the study's); ``--limit`` takes the first N test images (bf16 autocast is slow on CPUs without
bf16 instructions). Training under bf16 is not measured here (it changes the trained model, and
on such CPUs it is impractically slow); ``benchmarks/gpu_check.py`` is where a GPU measures it.

    python benchmarks/precision.py --run . --limit 120
    python benchmarks/precision.py --run . --image-size 224 --limit 16
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from celeba_gender import engine, features, grid, store  # noqa: E402
from celeba_gender.grid import TrainSettings  # noqa: E402
from celeba_gender.jobs import load_model_file, read_split  # noqa: E402
from celeba_gender.metrics import predicted_class  # noqa: E402
from celeba_gender.paths import CONFIG_FILE, EXPERIMENTS, WorkflowPaths  # noqa: E402

CPU = torch.device("cpu")
MODES = {  # mode -> (cache dtype, precision of the cache build and the head)
    "fp32": ("float32", "fp32"),
    "float16 cache": ("float16", "fp32"),
    "bf16": ("float16", "bf16"),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="folder holding results/")
    parser.add_argument(
        "--experiment", default=None, help="the experiment to score (default: the only one)"
    )
    parser.add_argument("--image-size", type=int, default=None, help="default: the run's")
    parser.add_argument("--limit", type=int, default=None, help="first N test images")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)


def experiment_paths(run: Path, experiment: str | None) -> WorkflowPaths:
    """Where the experiment's files are (from the resolved config it wrote), relative to ``run``."""
    folder = run / EXPERIMENTS
    names = (
        [experiment]
        if experiment
        else sorted(p.parent.name for p in folder.glob(f"*/{CONFIG_FILE}"))
    )
    if len(names) != 1 or not (folder / names[0] / CONFIG_FILE).is_file():
        raise SystemExit(
            f"{folder}: pass --experiment, one of: {', '.join(names) or 'none (run the workflow first)'}"
        )
    return WorkflowPaths.from_config(yaml.safe_load((folder / names[0] / CONFIG_FILE).read_text()))


def test_images(
    run: Path, paths: WorkflowPaths, size: int, limit: int | None, folder: Path
) -> tuple[np.ndarray, pd.DataFrame]:
    """The test split's images decoded at ``size`` (the run's own store when the size matches)."""
    split = read_split(run / paths.split_file("test")).iloc[:limit]
    own = run / paths.image_store("test")
    meta = store.open_store(own, expected_n=None) if own.exists() else None
    if meta is not None and meta.shape[1] == size:
        return np.asarray(meta[: len(split)]), split
    return store.build_store(split["path"].tolist(), size, folder / "test.npy", threads=2), split


def mode_logits(
    model, images: np.ndarray, kind: str, mode: str, split_csv, folder: Path, batch: int
):
    """Test logits of ``model`` in ``mode``: through the cache of its input kind."""
    dtype, precision = MODES[mode]
    paths = {kind: folder / f"{mode.replace(' ', '_')}.{kind}.npy"}
    key = features.cache_key("-", images.shape[1], dtype, split_csv, 1, precision)
    features.build_cache(model, images, paths, key, batch, CPU)
    source = engine.CacheSource(features.open_cache(paths[kind], key), kind)
    runner = engine.Runner.create(model, kind, CPU, precision)
    return engine.predict_logits(runner, source, batch).numpy().astype(np.float64)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    paths = experiment_paths(args.run, args.experiment)
    models = sorted((args.run / paths.experiment / "models").glob("*/model.pt"))
    if not models:
        raise SystemExit(
            f"{args.run / paths.experiment}: no trained model (run the workflow first)"
        )
    first = TrainSettings.from_dict(load_model_file(models[0])[1]["settings"])
    size = args.image_size or first.image_size
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        images, split = test_images(args.run, paths, size, args.limit, folder)
        split.to_csv(folder / "test.csv", index=False)  # what the cache keys hash
        labels = split["label"].to_numpy()
        print(f"precision: {len(split)} test images at {size} px, {len(models)} models, CPU")
        for path in models:
            model, record = load_model_file(path)
            kind = grid.CACHE_INPUT[TrainSettings.from_dict(record["settings"]).strategy]
            logits = {}
            for mode in MODES:
                started = time.perf_counter()
                logits[mode] = mode_logits(
                    model, images, kind, mode, folder / "test.csv", folder, args.batch_size
                )
                seconds = time.perf_counter() - started
                reference = logits["fp32"]
                difference = np.abs(logits[mode] - reference).max()
                agree = np.mean(predicted_class(logits[mode]) == predicted_class(reference))
                accuracy = np.mean(predicted_class(logits[mode]) == labels)
                rows.append(
                    {
                        "model": path.parent.name,
                        "mode": mode,
                        "max_abs_logit_diff": difference,
                        "max_diff_of_largest_logit_pct": 100 * difference / np.abs(reference).max(),
                        "agreeing_predictions_pct": 100 * agree,
                        "accuracy_pct": 100 * accuracy,
                        "accuracy_diff_pp": 100
                        * (accuracy - np.mean(predicted_class(reference) == labels)),
                        "seconds": seconds,
                    }
                )
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(4).to_string(index=False))
    worst = (
        table[table["mode"] != "fp32"]
        .groupby("mode")
        .agg(
            max_diff_pct=("max_diff_of_largest_logit_pct", "max"),
            min_agree_pct=("agreeing_predictions_pct", "min"),
            max_abs_acc_diff_pp=("accuracy_diff_pp", lambda d: d.abs().max()),
        )
    )
    for mode, row in worst.iterrows():
        print(
            f"{mode} vs fp32: largest logit difference {row.max_diff_pct:.3f}% of the largest "
            f"|logit|, agreement >= {row.min_agree_pct:.2f}%, |accuracy difference| <= "
            f"{row.max_abs_acc_diff_pp:.2f} pp"
        )


if __name__ == "__main__":
    main()
