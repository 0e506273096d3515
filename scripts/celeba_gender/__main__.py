"""Command line: ``python -m celeba_gender predict --model MODEL.pt IMAGE_OR_FOLDER...``."""

from __future__ import annotations

import argparse
import sys

from .io import CelebaGenderError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m celeba_gender")
    sub = parser.add_subparsers(dest="command", required=True)
    predict = sub.add_parser("predict", help="print P(Male) for each image")
    predict.add_argument(
        "--model", required=True, help="a trained model: results/models/<model>/model.pt"
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
    args = parser.parse_args(argv)
    if not 0.0 < args.threshold < 1.0:
        parser.error(f"--threshold must lie strictly between 0 and 1, got {args.threshold}")

    from .metrics import predicted_class, sigmoid
    from .predict import expand_inputs, load_for_prediction, predict_images

    try:
        model, size = load_for_prediction(args.model)
        size = args.image_size or size
        if not size:
            raise CelebaGenderError(
                f"{args.model} does not record its image size: pass --image-size"
            )
        print("image\tp_male\tprediction")
        for path, logit in predict_images(model, expand_inputs(args.images), size):
            male = predicted_class(logit, args.threshold)
            print(f"{path}\t{float(sigmoid(logit)):.4f}\t{'male' if male else 'female'}")
    except CelebaGenderError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
