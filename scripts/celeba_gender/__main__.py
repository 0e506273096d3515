"""Command line (``celeba-gender``, or ``python -m celeba_gender``).

``predict --model MODEL.pt IMAGE_OR_FOLDER... [--uncalibrated] [--target ATTR]``: P(Male) per
image, calibrated with the model's temperature file when there is one.
``experiments [--results DIR] [--all] [--checkpoint last|best|both] [--csv]``: the finished
experiments under ``DIR/experiments`` side by side, the settings that differ and key metrics.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .config import setting_keys
from .grid import CHECKPOINTS
from .io import CelebaGenderError

if TYPE_CHECKING:  # pandas and the comparison are imported by the command that needs them
    import pandas as pd

    from .experiments import Comparison


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m celeba_gender")
    sub = parser.add_subparsers(dest="command", required=True)
    predict = sub.add_parser(
        "predict", help="print P(Male) for each image (calibrated when the model has a temperature)"
    )
    predict.add_argument(
        "--model",
        required=True,
        help="a trained model: results/experiments/<name>/models/<model>/model.pt",
    )
    predict.add_argument("images", nargs="+", help="image files or folders of images")
    predict.add_argument(
        "--image-size", type=int, default=None, help="override the training image size"
    )
    predict.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        help="P(male) above which 'male' is printed (0.5: the workflow's rule, logit > 0)",
    )
    predict.add_argument(
        "--uncalibrated",
        action="store_true",
        help="print sigmoid(logit), ignoring the temperature file beside the model",
    )
    predict.add_argument(
        "--target",
        default=None,
        help="the CelebA attribute the model predicts, for the wording (default: the one its "
        "model file records, data.target of its run)",
    )
    experiments = sub.add_parser(
        "experiments", help="compare the finished experiments under RESULTS/experiments"
    )
    experiments.add_argument(
        "--results", default="results", help="the folder holding experiments/ (default: results)"
    )
    experiments.add_argument(
        "--all", action="store_true", help="show every setting, not only those that differ"
    )
    experiments.add_argument(
        "--checkpoint",
        choices=("last", "best", "both"),
        default="both",
        help="the checkpoint rows to show (default: both)",
    )
    experiments.add_argument(
        "--csv", action="store_true", help="write the whole table as CSV to stdout"
    )
    args = parser.parse_args(argv)
    if args.command == "predict" and not 0.0 < args.threshold < 1.0:
        parser.error(f"--threshold must lie strictly between 0 and 1, got {args.threshold}")
    if args.command == "predict" and args.target is not None and not args.target.strip():
        parser.error("--target must name a CelebA attribute, e.g. Male")
    try:
        return (run_predict if args.command == "predict" else show_experiments)(args)
    except CelebaGenderError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def run_predict(args: argparse.Namespace) -> int:
    """The ``predict`` command: a note on what the probability is (a ``#`` line), then one
    tab-separated row per image: path, P(target), the predicted class (P above --threshold)."""
    from .metrics import predicted_class, sigmoid
    from .predict import (
        calibrated_logit,
        expand_inputs,
        load_for_prediction,
        load_temperature,
        predict_images,
        probability_note,
    )
    from .targets import class_names, probability_column

    model, size, recorded = load_for_prediction(args.model)
    target = args.target or recorded
    names = class_names(target)
    size = args.image_size or size
    if not size:
        raise CelebaGenderError(f"{args.model} does not record its image size: pass --image-size")
    fit = load_temperature(args.model, args.uncalibrated)
    print(f"# {probability_note(args.model, fit, args.uncalibrated, target)}")
    print(f"image\t{probability_column(target)}\tprediction")
    for path, logit in predict_images(model, expand_inputs(args.images), size):
        scaled = calibrated_logit(logit, fit)
        positive = bool(predicted_class(scaled, args.threshold))
        print(f"{path}\t{float(sigmoid(scaled)):.4f}\t{names[int(positive)]}")
    return 0


def show_experiments(args: argparse.Namespace) -> int:
    """The ``experiments`` command: the comparison table as text (or CSV) on stdout."""
    from .experiments import collect

    comparison = collect(args.results)
    table, settings = comparison_view(comparison, all_settings=args.all, checkpoint=args.checkpoint)
    unfinished = (
        f"unfinished (not compared): {', '.join(comparison.unfinished)}"
        if comparison.unfinished
        else ""
    )
    try:
        if args.csv:
            table.to_csv(sys.stdout, index=False)
            if unfinished:
                print(unfinished, file=sys.stderr)  # stdout stays pure CSV
            return 0
        print(display_table(table, settings).to_string(index=False))
        if unfinished:
            print(unfinished)
    except BrokenPipeError:  # the reader stopped early (| head): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())


# ----------------------------------------------------------------------------- the terminal view


def interval_text(value: float, low: float, high: float) -> str:
    """``0.683 [0.600, 0.775]``; the value alone when the interval is missing."""
    import pandas as pd

    if pd.isna(value) or pd.isna(low) or pd.isna(high):
        return _number(value)
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def _number(value: float) -> str:
    import pandas as pd

    return "-" if pd.isna(value) else f"{value:.3f}"


def select_checkpoint(table: pd.DataFrame, checkpoint: str = "both") -> pd.DataFrame:
    """The rows of ``checkpoint`` (``last`` or ``best``), or every row for ``both``."""
    if checkpoint == "both":
        return table
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"checkpoint must be last, best or both, got {checkpoint!r}")
    return table[table["checkpoint"] == checkpoint].reset_index(drop=True)


def display_table(table: pd.DataFrame, setting_columns: Sequence[str]) -> pd.DataFrame:
    """The terminal view as text: experiment, ``setting_columns``, model, checkpoint, epoch,
    test accuracy with its interval, F1 and ROC AUC (3 decimals; "-" where missing)."""
    import pandas as pd

    shown = pd.DataFrame({"experiment": table["experiment"].astype(str)})
    for key in setting_columns:
        shown[key] = [v if isinstance(v, str) else "-" for v in table[key]]
    for column in ("model", "checkpoint", "epoch"):
        shown[column] = table[column].astype(str)
    shown["test_accuracy [95% CI]"] = [
        interval_text(*values)
        for values in zip(table["test_accuracy"], table["ci_low"], table["ci_high"], strict=True)
    ]
    shown["f1"] = table["f1"].map(_number)
    shown["roc_auc"] = table["roc_auc"].map(_number)
    return shown


def comparison_view(
    comparison: Comparison, all_settings: bool = False, checkpoint: str = "both"
) -> tuple[pd.DataFrame, list[str]]:
    """The rows of ``checkpoint`` with the settings that differ (every setting with
    ``all_settings``), and those setting columns."""
    from .experiments import all_settings_table

    if all_settings:
        table, keys = all_settings_table(comparison), setting_keys(comparison.settings)
    else:
        table, keys = comparison.table, list(comparison.differing)
    return select_checkpoint(table, checkpoint), keys
