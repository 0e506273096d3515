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

from .io import CelebaGenderError


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
        default="Male",
        help="the CelebA attribute the model predicts, for the wording (default: Male)",
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
    if args.command == "experiments":
        return show_experiments(args)
    if not 0.0 < args.threshold < 1.0:
        parser.error(f"--threshold must lie strictly between 0 and 1, got {args.threshold}")
    if not args.target.strip():
        parser.error("--target must name a CelebA attribute, e.g. Male")
    return run_predict(args)


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

    try:
        names = class_names(args.target)
        model, size = load_for_prediction(args.model)
        size = args.image_size or size
        if not size:
            raise CelebaGenderError(
                f"{args.model} does not record its image size: pass --image-size"
            )
        fit = load_temperature(args.model, args.uncalibrated)
        print(f"# {probability_note(args.model, fit, args.uncalibrated, args.target)}")
        print(f"image\t{probability_column(args.target)}\tprediction")
        for path, logit in predict_images(model, expand_inputs(args.images), size):
            scaled = calibrated_logit(logit, fit)
            positive = bool(predicted_class(scaled, args.threshold))
            print(f"{path}\t{float(sigmoid(scaled)):.4f}\t{names[int(positive)]}")
    except CelebaGenderError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def show_experiments(args: argparse.Namespace) -> int:
    """The ``experiments`` command: the comparison table as text (or CSV) on stdout."""
    from .experiments import collect, comparison_view, display_table

    try:
        comparison = collect(args.results)
    except CelebaGenderError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
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
