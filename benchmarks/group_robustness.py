"""ERM against DFR on the worst group: target ``Male`` grouped by ``Blond_Hair`` on a synthetic
CelebA with the generator's own attribute rates (no ``synthetic.group_rates``: blond men are
about 1 face in 166 in the generator, 1 in 120 in CelebA), run through the workflow's Snakefile.

One strategy-1 model (one learning rate, one seed) on a seeded random VGG-16 (``model.weights:
random``, NOT ImageNet), ``train.dfr: true``, both checkpoints; the rules run up to each model's
``groups.csv`` and DFR's ``dfr.json`` (no calibration, Grad-CAM or report). Printed: every group's
n, accuracy and 95% Wilson interval per model and checkpoint, the worst group (groups with n >=
``--min-group-size`` only) and last the ERM and DFR worst-group lines of the best checkpoint.

The default size, 40,000 images with the study's 0.8/0.1/0.1 split, puts about 24 blond men in
the test split and 24 in validation (so about 12 in DFR's fit half): the smallest size at which
the rare group clears the default ``min_group_size`` of 20. At 224 px that is hours of CPU (the
feature cache and the head's training scale with the images); smaller sizes run in minutes and
then say that the rare group is too small to measure.

    PYTHONPATH=scripts python3 benchmarks/group_robustness.py --out /tmp/groups
    PYTHONPATH=scripts python3 benchmarks/group_robustness.py --images 16000 --split 0.4 0.3 0.3 \
        --image-size 32 --epochs 3 --batch-size 32 --out /tmp/groups   # RESULTS.md's run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from celeba_gender import groups  # noqa: E402
from celeba_gender.grid import ModelId  # noqa: E402
from celeba_gender.paths import WorkflowPaths  # noqa: E402

TARGET, GROUP_BY = "Male", ["Blond_Hair"]
RARE = "male · blond hair"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=40_000, help="synthetic images (40,000)")
    parser.add_argument("--split", type=float, nargs=3, default=[0.8, 0.1, 0.1],
                        metavar=("TRAIN", "VAL", "TEST"), help="split fractions (0.8 0.1 0.1)")  # fmt: skip
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--min-group-size", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="generator, split and training seed")
    parser.add_argument("--cores", type=int, default=2, help="Snakemake --cores")
    parser.add_argument("--out", type=Path, required=True, help="working folder (the run)")
    return parser.parse_args(argv)


def run_config(args: argparse.Namespace) -> dict:
    train, val, test = args.split
    return {
        "experiment": "group_robustness",
        "data": {"root": "results/synthetic_data", "subset_size": None, "target": TARGET},
        "synthetic": {"enabled": True, "n_images": args.images, "seed": args.seed},
        "split": {"train": train, "val": val, "test": test, "seed": args.seed},
        "model": {"weights": "random"},
        "train": {
            "image_size": args.image_size,
            "batch_size": args.batch_size,
            "epochs": args.epochs,
            "learning_rates": [args.learning_rate],
            "strategies": [1],
            "seed": args.seed,
            "checkpoint_minutes": 0,
            "dfr": True,
        },
        "evaluate": {"group_by": GROUP_BY, "min_group_size": args.min_group_size},
    }


def paths_of(out: Path) -> WorkflowPaths:
    """The run's paths, from the config Snakemake resolves (schema defaults filled in)."""
    from snakemake.utils import update_config, validate

    from celeba_gender.config import coerce_numbers

    config: dict = {}
    for name in ("config/config.yaml", "group_robustness.yaml"):
        update_config(config, yaml.safe_load((out / name).read_text()) or {})
    schema = out / "config" / "schema.yaml"
    coerce_numbers(config, yaml.safe_load(schema.read_text()))
    validate(config, str(schema))
    return WorkflowPaths.from_config(config)


def fmt(row: pd.Series) -> str:
    if row["n"] == 0:
        return "n = 0"
    return f"{row['accuracy']:.3f} [{row['low']:.3f}, {row['high']:.3f}] (n = {row['n']})"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "config", out / "config", dirs_exist_ok=True)
    (out / "group_robustness.yaml").write_text(yaml.safe_dump(run_config(args), sort_keys=False))
    paths = paths_of(out)
    base = ModelId(1, args.learning_rate, args.seed).name
    models = {"erm": base, "dfr": f"dfr_{base}"}
    targets = [
        f"{paths.evaluation_dir(m, c)}/groups.csv"
        for m in models.values()
        for c in ("last", "best")
    ]
    targets.append(f"{paths.model_dir(models['dfr'])}/dfr.json")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO / "scripts"), os.environ.get("PYTHONPATH")]))}  # fmt: skip
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(out),
           "--cores", str(args.cores), "--resources", "gpu=1",
           "--configfile", str(out / "group_robustness.yaml"), "--", *targets]  # fmt: skip
    started = time.perf_counter()
    with open(out / "snakemake.log", "w") as log:
        proc = subprocess.run(cmd, cwd=out, env=env, stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        print(f"group_robustness: snakemake failed, see {out / 'snakemake.log'}", file=sys.stderr)
        return proc.returncode
    tables = {
        (kind, c): pd.read_csv(out / paths.evaluation_dir(m, c) / "groups.csv")
        for kind, m in models.items()
        for c in ("last", "best")
    }
    dfr = json.loads((out / paths.model_dir(models["dfr"]) / "dfr.json").read_text())
    print(
        f"group_robustness: {args.images} synthetic images (generator rates, no group_rates), "
        f"split {args.split}, {args.image_size} px, random VGG-16 (not pretrained), strategy 1, "
        f"lr {args.learning_rate:g}, {args.epochs} epochs, seed {args.seed}; "
        f"snakemake wall {wall:.0f} s"
    )
    summary: dict = {"args": {k: str(v) for k, v in vars(args).items()}, "wall_seconds": wall}
    for (kind, checkpoint), table in tables.items():
        row = groups.group_summary(table, args.min_group_size)
        print(f"{kind} {checkpoint}:")
        for _, group in table.iterrows():
            small = "  (small: left out of the worst group)" if group["small"] else ""
            print(f"  {group['group']:<26} {fmt(group)}{small}")
        worst = table[table["group"] == row["worst_group"]]
        text = fmt(worst.iloc[0]) if len(worst) else "none (no group is large enough)"
        print(f"  worst group: {row['worst_group'] or '-'} {text}; average accuracy "
              f"{row['average_accuracy']:.3f}")  # fmt: skip
        summary[f"{kind}_{checkpoint}"] = {**row, "table": table.to_dict("records")}
    summary["dfr"] = dfr
    for checkpoint in ("last", "best"):
        print(f"dfr {checkpoint}: C {dfr[checkpoint]['c']}, images per group per balanced draw "
              f"{dfr[checkpoint]['draw_group_size']}, fit-half groups "
              f"{dfr[checkpoint]['fit_group_sizes']}")  # fmt: skip
    rare_n = int(tables[("erm", "best")].set_index("group").loc[RARE, "n"])
    if rare_n < args.min_group_size:
        print(f"the rare group ({RARE}) has {rare_n} test images < min group size "
              f"{args.min_group_size}: too few to measure; the worst group below is another one")  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    for kind in ("erm", "dfr"):
        row = summary[f"{kind}_best"]
        worst = tables[(kind, "best")].set_index("group")
        interval = (
            f"[{worst.loc[row['worst_group'], 'low']:.3f}, {worst.loc[row['worst_group'], 'high']:.3f}]"
            if row["worst_group"] else "[nan, nan]"
        )  # fmt: skip
        print(f"{kind} worst-group accuracy (best checkpoint): {row['worst_group_accuracy']:.3f} "
              f"{interval} {row['worst_group'] or '-'} n {row['worst_group_n']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
