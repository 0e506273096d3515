"""GPU check: the workflow's grid on one GPU, fp32 then bf16, in one command.

For the first hour someone has a GPU. On synthetic CelebA images it runs the package's own job
functions (``celeba_gender.jobs``) in the order the Snakemake rules chain them (decode the
images of each split into a store, build the feature cache of each split, train the 4 models of
the study's grid, lr {1e-3, 1e-4} x strategy {1, 2}, batch 64, evaluate each last-epoch model),
all in this one process, first with ``train.precision`` fp32 and then with bf16. Generating the
images, the stratified split and the backbone (a seeded RANDOM VGG-16, NOT ImageNet, classifier
calibrated as ``scripts/random_weights.py`` does) are set-up, not timed.

Printed per job and per phase (store, cache, train, evaluate) in each mode: images/s, wall seconds,
peak GPU memory (``torch.cuda.max_memory_allocated``, reset before each job) and the process's
peak resident memory; then per model the largest |logit difference| and the share of test
predictions on which fp32 and bf16 agree; and as the last two lines::

    gpu study minutes (fp32): X
    gpu study minutes (bf16): Y

the wall minutes of the whole grid (stores, caches, training, evaluation) in each mode, for the
full study: measured with ``--full``, otherwise projected from the run (the line before says
which). Not included: what Snakemake adds per job (a fresh interpreter, importing torch, creating
the CUDA context: seconds per job, 14 jobs per mode).

Scale. The study: 30,000 images (24,000 / 3,000 / 3,000), 224 px, 10 epochs. The check must end
within 5 minutes on one H200-class GPU (~790 bf16 TFLOP/s, 139 GiB), and the full scale does not
fit (estimate below: ~6 min for fp32 alone). So by default it runs 6,000 images (4,800 / 600 /
600) at 224 px for 2 epochs, the rest of the study unchanged, and projects each job to the full
study: its fixed part (loading the backbone, writing two 528 MB model files, ...) as measured, its
per-image part x 5 (images), and for training 10 epochs at the 2nd epoch's time (the 1st epoch's
extra over it, such as cuDNN's autotuning, counted once). ``--full`` runs the full scale (~13-21
min by the estimate); ``--images N`` (80 / 10 / 10) and ``--epochs N`` set another scale.

Estimate (not a measurement: no GPU was available to this project). Assumed: VGG-16's forward at
224 px in fp32 ~3,000 images/s (15.5 GFLOP per image, ~46 TFLOP/s effective); strategy 2's
block 5 forward + backward and the classifier ~9 GFLOP per training image; bf16 ~3x faster on
the GPU. Host work measured on this project's 2-core CPU: per 64 images of the strategy-2 cache
(25.7 MB in float32) a fancy-indexed read ~3 ms, the pinned copy ~5-25 ms, and numpy's float16 <->
float32 conversion ~65 ms (single-threaded), which bf16's float16 cache pays in the cache build
and in every training batch; synthetic images ~17 ms and store decoding ~3 ms per image per core.

- set-up: 6,000 images on 16 cores ~5 s; the random VGG-16 and its calibration on 256 images
  (CPU) ~10 s; importing torch and creating the CUDA context ~5 s;
- fp32: stores ~2 s; caches (10,800 views, ~55 ms per 64 of GPU and host) ~10 s; training,
  strategy 1 ~1 s of epochs + ~5 s fixed per model, strategy 2 (2 x 75 batches at ~25 ms) ~4 s +
  ~5 s per model; evaluation ~2.5 s per model: ~50 s;
- bf16: the GPU's part faster, the host's float16 conversions slower: caches ~15 s, strategy-2
  epochs ~11 s per model: ~75 s;
- in all ~2.5 min; ~4 min if every per-image rate were half the assumed one.
At the full scale the same figures give ~6 min for fp32 and 6-14 min for bf16, depending on
how fast the GPU machine's CPU converts float16 (bf16 may well be host-bound: the check shows it).

``--smoke`` is a CPU mode (18 images, 6 / 4 / 8, at 32 px, 1 epoch, both precisions: bf16 on a
CPU is slow) that runs every phase and prints the same lines with CPU figures (peak memory: the
process's resident set); without ``--smoke`` and without CUDA it stops at once (exit code 2).

Imports: torch, numpy, pandas and pillow, the standard library and the package (no Snakemake,
scikit-learn, tqdm, torchvision, matplotlib or scipy): a borrowed GPU machine needs only a checkout
and those four packages; nothing is downloaded. Disk under ``--out``: up to ~11 GB by default,
~36 GB with ``--full`` (a mode's stores and caches are deleted after it, model files after their
evaluation; ``--keep`` keeps them).

    PYTHONPATH=scripts python benchmarks/gpu_check.py --out /tmp/gpu_check
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import logging
import os
import platform
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "scripts"))  # the celeba_gender package
sys.path.insert(0, str(HERE))  # grid_speed, beside this file
from grid_speed import (  # noqa: E402
    FULL_STUDY,
    SPLITS,
    Layout,
    PeakMemory,
    make_weights,
    synthetic_table,
)

from celeba_gender import grid  # noqa: E402  (standard library only)
from celeba_gender.grid import cache_dtype  # noqa: E402

MODES = ("fp32", "bf16")
MARKER = ".gpu_check"  # in --out: the folder is this script's (its mode folders are rewritten)
LIMIT_MINUTES = 5
NO_CUDA = (
    "gpu_check: no CUDA device (torch.cuda.is_available() is False); run it on a GPU machine, "
    "or use --smoke on a CPU"
)

# The workflow's ``train`` config section with config/schema.yaml's defaults: the study's grid
# (tests/test_benchmark_smoke.py checks it against the schema; no yaml import here).
STUDY_TRAIN = {
    "image_size": 224,
    "batch_size": 64,
    "epochs": 10,
    "learning_rates": [1.0e-3, 1.0e-4],
    "strategies": [1, 2],
    "seed": 0,
    "seeds": None,
    "augmentations": ["hflip"],
    "cache": "auto",
    "precision": "fp32",
    "cache_dtype": "auto",
    "device": "auto",
    "compile": False,
    "select_by": "val_accuracy",
    "checkpoint_minutes": 10,
    "early_stopping_patience": None,
    "dfr": False,
}


@dataclass(frozen=True)
class Scale:
    train: int
    val: int
    test: int
    epochs: int
    image_size: int

    @classmethod
    def of(cls, images: int, epochs: int, image_size: int) -> Scale:
        """``images`` split 80 / 10 / 10 as the study (val and test rounded, train the rest)."""
        val = test = round(0.1 * images)
        return cls(images - val - test, val, test, epochs, image_size)

    @property
    def images(self) -> int:
        return self.train + self.val + self.test

    @property
    def sizes(self) -> dict[str, int]:
        return {"train": self.train, "val": self.val, "test": self.test}


FULL = Scale.of(sum(FULL_STUDY.values()), STUDY_TRAIN["epochs"], 224)
DEFAULT = Scale.of(6000, 2, 224)
# bf16 autocast on a CPU without bf16 instructions is slow (this project's CPU: ~1.5 s per
# training image of strategy 2, in the classifier's backward), hence few training images
SMOKE = Scale(train=6, val=4, test=8, epochs=1, image_size=32)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="working folder (data, results)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--smoke", action="store_true", help="tiny CPU run of every phase")
    size.add_argument(
        "--full", action="store_true", help="the full study (13-21 min by the estimate)"
    )
    parser.add_argument("--images", type=int, default=None, help="images in all (80/10/10)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0, help="data, weights and training seed")
    parser.add_argument("--keep", action="store_true", help="keep model files and caches")
    args = parser.parse_args(argv)
    if args.images is not None and args.images < 30 or args.epochs is not None and args.epochs < 1:
        parser.error("need --images >= 30 and --epochs >= 1")
    scale = SMOKE if args.smoke else FULL if args.full else DEFAULT
    if args.images is not None:
        scale = Scale.of(args.images, scale.epochs, scale.image_size)
    args.scale = dataclasses.replace(scale, epochs=args.epochs or scale.epochs)
    return args


def train_config(scale: Scale, precision: str, seed: int) -> dict:
    return {
        **STUDY_TRAIN,
        "image_size": scale.image_size,
        "epochs": scale.epochs,
        "precision": precision,
        "seed": seed,
    }


# --------------------------------------------------------------------------- set-up (not timed)


def stratified_split(labels, sizes: dict[str, int], seed: int) -> dict[str, list[int]]:
    """Row numbers of each split, stratified on ``labels``, seeded, without scikit-learn: val and
    test take from each class in proportion to its share (largest remainder; at least one of
    each), train the rest; rows drawn from a seeded shuffle of each class."""
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    classes = np.unique(labels)
    shuffled = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    taken = [0] * len(classes)
    parts: dict[str, list[int]] = {s: [] for s in SPLITS}
    for split in ("val", "test"):
        for k, count in enumerate(quotas(sizes[split], [len(rows) for rows in shuffled])):
            parts[split] += shuffled[k][taken[k] : taken[k] + count].tolist()
            taken[k] += count
    for k, rows in enumerate(shuffled):
        parts["train"] += rows[taken[k] :].tolist()
    return {s: sorted(rows) for s, rows in parts.items()}


def quotas(total: int, counts: list[int]) -> list[int]:
    """``total`` shared among classes of ``counts`` in proportion (largest remainder), at least
    one each."""
    raw = [total * c / sum(counts) for c in counts]
    out = [int(r) for r in raw]
    by_remainder = sorted(range(len(raw)), key=lambda k: raw[k] - out[k], reverse=True)
    for k in by_remainder[: total - sum(out)]:
        out[k] += 1
    return [max(1, q) for q in out]


def make_data(layout: Layout, scale: Scale, seed: int, workers: int) -> dict[str, int]:
    """Synthetic CelebA images and split files (image_id, path, label); the split sizes."""
    from celeba_gender.io import write_csv

    table = synthetic_table(layout, scale.images, seed, workers)
    rows = stratified_split(table["label"], scale.sizes, seed)
    for split in SPLITS:
        write_csv(layout.split(split), table.iloc[rows[split]])
    return {split: len(rows[split]) for split in SPLITS}


# --------------------------------------------------------------------------- measuring


@dataclass
class Record:
    """One job: what it passed through, its wall time, peak memory, and its projection."""

    job: str
    images: int
    wall: float = 0.0
    gpu_mb: float | None = None
    rss_mb: float = 0.0
    projected: float = 0.0  # seconds at the full study
    extra: dict = field(default_factory=dict)

    @property
    def phase(self) -> str:
        return self.job.split("-", 1)[0]


@contextlib.contextmanager
def measured(record: Record, device: str) -> Iterator[None]:
    """Time the block (with the GPU's queue drained) and take its peak memory: the GPU's
    ``max_memory_allocated`` (reset here) and the process's resident set."""
    import torch

    gc.collect()
    cuda = device == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    with PeakMemory() as rss:
        started = time.perf_counter()
        yield
        if cuda:
            torch.cuda.synchronize()
        record.wall = time.perf_counter() - started
    record.rss_mb = rss.peak_mb
    if cuda:
        record.gpu_mb = torch.cuda.max_memory_allocated() / 2**20


@contextlib.contextmanager
def timed_predictions(spent: list[float]) -> Iterator[None]:
    """Instrumentation only (as grid_speed.py does): time ``engine.predict_logits``, the
    per-image part of an evaluation job."""
    from celeba_gender import engine

    predict = engine.predict_logits

    def timed(*args, **kwargs):
        started = time.perf_counter()
        out = predict(*args, **kwargs)
        spent.append(time.perf_counter() - started)
        return out

    engine.predict_logits = timed
    try:
        yield
    finally:
        engine.predict_logits = predict


# --------------------------------------------------------------------------- one mode


@dataclass
class Context:
    shared: Layout  # data, splits, weights
    layout: Layout  # this mode's stores, caches, models, evaluations
    train: dict  # the ``train`` config section
    scale: Scale
    sizes: dict[str, int]
    device: str
    threads: int
    keep: bool


def factor(ctx: Context, split: str) -> float:
    """Images of ``split`` in the full study per image here."""
    return FULL_STUDY[split] / ctx.sizes[split]


def run_store(ctx: Context, split: str) -> Record:
    from celeba_gender import store

    record = Record(f"store-{split}", ctx.sizes[split])
    with measured(record, ctx.device):
        store.build_split_store(
            ctx.shared.split(split), ctx.layout.store(split), ctx.scale.image_size, ctx.threads
        )
    record.projected = record.wall * factor(ctx, split)  # decoding is all per-image work
    return record


def run_cache(ctx: Context, split: str) -> Record:
    from celeba_gender import jobs

    views = grid.split_views(split, ctx.train["augmentations"])
    record = Record(f"cache-{split}", ctx.sizes[split] * views)
    with measured(record, ctx.device):
        timing = jobs.build_feature_cache(
            jobs.CacheJob(
                weights=ctx.shared.weights,
                split=ctx.shared.split(split),
                store=ctx.layout.store(split),
                image_size=ctx.scale.image_size,
                views=views,
                dtype=cache_dtype(ctx.train),
                precision=ctx.train["precision"],
                batch_size=ctx.train["batch_size"],
                device=ctx.device,
                threads=ctx.threads,
                out_prefix=ctx.layout.cache(split, "prefix"),
                out_features=ctx.layout.cache(split, "features"),
            )
        )
    loop = timing["seconds"]
    record.projected = record.wall - loop + loop * factor(ctx, split)
    return record


def settings_for(ctx: Context, name: str):
    from celeba_gender.grid import TrainSettings

    return TrainSettings.from_config({"data": {}, "train": ctx.train}, name)


def run_train(ctx: Context, name: str) -> Record:
    from celeba_gender import jobs

    settings = settings_for(ctx, name)
    passes = (ctx.sizes["train"] + ctx.sizes["val"]) * settings.epochs
    record = Record(f"train-{name}", passes)
    folder = ctx.layout.model_dir(name)
    with measured(record, ctx.device):
        result = jobs.train(
            jobs.TrainJob(
                weights=ctx.shared.weights,
                train=ctx.shared.split("train"),
                val=ctx.shared.split("val"),
                train_input=ctx.layout.cache("train", settings.input),
                val_input=ctx.layout.cache("val", settings.input),
                settings=settings,
                device=ctx.device,
                threads=ctx.threads,
                checkpoint=ctx.layout.out / "checkpoints" / name / "last.pt",
                out_model=folder / "model.pt",
                out_best=folder / "best.pt",
                out_history=folder / "history.csv",
                checkpoint_minutes=ctx.train["checkpoint_minutes"],
            )
        )
    epochs = result["history"]["seconds"].tolist()
    del result  # the best epoch's trainable weights (~0.5 GB)
    first = epochs[0]
    later = sum(epochs[1:]) / len(epochs[1:]) if len(epochs) > 1 else first
    # fixed part as measured; the 1st epoch's extra once; full-study epochs at the later rate
    record.projected = (
        record.wall - sum(epochs) + (first - later) + FULL.epochs * later * factor(ctx, "train")
    )
    record.extra = {"epoch_seconds": epochs}
    return record


def run_evaluate(ctx: Context, name: str) -> Record:
    from celeba_gender import jobs

    kind = settings_for(ctx, name).input
    record = Record(f"evaluate-{name}", ctx.sizes["test"])
    spent: list[float] = []
    with measured(record, ctx.device), timed_predictions(spent):
        metrics = jobs.evaluate(
            jobs.EvaluateJob(
                model=ctx.layout.model_dir(name) / "model.pt",
                weights=ctx.shared.weights,
                test=ctx.shared.split("test"),
                test_input=ctx.layout.cache("test", kind),
                kind=kind,
                batch_size=ctx.train["batch_size"],
                device=ctx.device,
                threads=ctx.threads,
                checkpoint="last",
                out_metrics=ctx.layout.evaluation(name) / "metrics.json",
                out_predictions=ctx.layout.evaluation(name) / "predictions.csv",
            )
        )
    loop = sum(spent)
    record.projected = record.wall - loop + loop * factor(ctx, "test")
    record.extra = {"accuracy": metrics["test_accuracy"]}
    if not ctx.keep:  # two 528 MB files per model
        shutil.rmtree(ctx.layout.model_dir(name), ignore_errors=True)
    return record


def model_names(train: dict) -> list[str]:
    return [m.name for m in grid.models(train)]


def workflow_jobs(train: dict) -> list[tuple[str, str]]:
    """(action, target) in the order the rules chain them."""
    names = model_names(train)
    return (
        [("store", s) for s in SPLITS]
        + [("cache", s) for s in SPLITS]
        + [("train", n) for n in names]
        + [("evaluate", n) for n in names]
    )


RUNNERS = {"store": run_store, "cache": run_cache, "train": run_train, "evaluate": run_evaluate}


def run_mode(ctx: Context) -> list[Record]:
    shutil.rmtree(ctx.layout.out, ignore_errors=True)
    records = []
    for action, target in workflow_jobs(ctx.train):
        logging.getLogger("gpu_check").info("=== %s %s-%s", ctx.train["precision"], action, target)
        records.append(RUNNERS[action](ctx, target))
    if not ctx.keep:  # the feature caches (~27 GB in float32 at the full scale) and stores
        shutil.rmtree(ctx.layout.store("train").parent, ignore_errors=True)
        shutil.rmtree(ctx.layout.cache("train", "prefix").parent, ignore_errors=True)
        shutil.rmtree(ctx.layout.out / "checkpoints", ignore_errors=True)
    return records


# --------------------------------------------------------------------------- report


def fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def row(name: str, images: int, wall: float, gpu_mb, rss_mb, projected: float) -> str:
    rate = images / wall if wall > 0 else 0.0
    return (
        f"  {name:<28} {images:>9,} {rate:>10,.1f} {wall:>8.1f} {fmt(gpu_mb):>11} "
        f"{fmt(rss_mb):>11} {projected:>11.1f}"
    )


def report_mode(mode: str, records: list[Record], cache: str) -> None:
    print(f"{mode} (train.precision {mode}, feature cache {cache}):")
    print(
        f"  {'job':<28} {'images':>9} {'images/s':>10} {'wall s':>8} {'peak GPU MB':>11} "
        f"{'peak RSS MB':>11} {'full-study s':>11}"
    )
    for r in records:
        print(row(r.job, r.images, r.wall, r.gpu_mb, r.rss_mb, r.projected))
    for phase in ("store", "cache", "train", "evaluate"):
        part = [r for r in records if r.phase == phase]
        gpu = [r.gpu_mb for r in part if r.gpu_mb is not None]
        print(
            row(
                f"{mode} {phase} (phase)",
                sum(r.images for r in part),
                sum(r.wall for r in part),
                max(gpu) if gpu else None,
                max(r.rss_mb for r in part),
                sum(r.projected for r in part),
            )
        )


def compare(shared_out: Path, names: list[str], n_test: int) -> None:
    """fp32 against bf16 on the test set, per model: logits and predicted classes."""
    import numpy as np
    import pandas as pd

    print(f"fp32 vs bf16 on the test set ({n_test:,} images, last epoch):")
    print(
        f"  {'model':<20} {'max |logit diff|':>16} {'agreeing predictions':>22} "
        f"{'acc fp32':>9} {'acc bf16':>9}"
    )
    for name in names:
        frames = [
            pd.read_csv(
                Layout(shared_out / mode).evaluation(name) / "predictions.csv",
                dtype={"image_id": str},
            )
            for mode in MODES
        ]
        both = frames[0].merge(frames[1], on="image_id", suffixes=("_a", "_b"), validate="1:1")
        diff = float(np.abs(both["logit_a"] - both["logit_b"]).max())
        agree = int((both["pred_a"] == both["pred_b"]).sum())
        acc = [float((f["pred"] == f["label"]).mean()) for f in frames]
        print(
            f"  {name:<20} {diff:>16.4g} {f'{agree / len(both):.2%} ({agree}/{len(both)})':>22} "
            f"{acc[0]:>9.3f} {acc[1]:>9.3f}"
        )


# --------------------------------------------------------------------------- main


def device_line(device: str) -> str:
    import torch

    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        what = (
            f"cuda: {props.name}, {props.total_memory / 2**30:.0f} GiB "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')})"
        )
    else:
        what = "cpu (--smoke: CPU figures; peak memory is the process's resident set)"
    return f"device {what}; torch {torch.__version__}, Python {sys.version.split()[0]}"


def scale_line(scale: Scale, sizes: dict[str, int]) -> str:
    split = " / ".join(f"{sizes[s]:,}" for s in SPLITS)
    return (
        f"scale: {sum(sizes.values()):,} images ({split} train / val / test), "
        f"{scale.image_size} px, {scale.epochs} epochs, batch {STUDY_TRAIN['batch_size']}, "
        f"4 models (lr 1e-3, 1e-4 x strategy 1, 2)"
    )


def projection_note(scale: Scale) -> str:
    if scale == FULL:
        return "gpu study minutes below: MEASURED at the full study's scale (sum of the job walls)"
    parts = []
    if scale.sizes != FULL.sizes:
        parts.append(f"images {scale.images:,} -> {FULL.images:,} (per split)")
    if scale.epochs != FULL.epochs:
        parts.append(f"epochs {scale.epochs} -> {FULL.epochs}")
    if scale.image_size != FULL.image_size:
        parts.append(f"image size {scale.image_size} px, NOT the study's {FULL.image_size}")
    return (
        f"gpu study minutes below: PROJECTED to the full study ({'; '.join(parts)}) from this run: "
        "each job's fixed part as measured plus its per-image part scaled (training: the 1st "
        "epoch once, the others at the mean rate of the later epochs); column full-study s"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    if not args.smoke and not torch.cuda.is_available():
        print(NO_CUDA, file=sys.stderr)
        return 2
    device = "cpu" if args.smoke else "cuda"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = min(2, cores) if args.smoke else cores
    out = args.out.resolve()
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        print(
            f"gpu_check: {out} is not empty and not a gpu_check folder; give a new --out",
            file=sys.stderr,
        )
        return 2
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("benchmarks/gpu_check.py working folder: rewritten by each run\n")
    logging.basicConfig(
        filename=out / "gpu_check.log",
        filemode="w",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.captureWarnings(True)
    scale = args.scale
    shared = Layout(out)

    print(f"gpu_check: {platform.node()}, {threads} threads")
    if scale != FULL:
        print(
            f"SCALED DOWN from the study's {FULL.images:,} images, {FULL.image_size} px, "
            f"{FULL.epochs} epochs"
            + (" (--smoke)" if args.smoke else f" to end within {LIMIT_MINUTES} min")
            + "; --full runs the full scale"
        )
    started = time.perf_counter()
    sizes = make_data(shared, scale, args.seed, workers=max(1, cores))
    print(scale_line(scale, sizes))
    make_weights(shared, scale.image_size, args.seed)
    print(device_line(device))  # after the set-up: its image workers are forked without CUDA
    if device == "cuda":  # the CUDA context and cuBLAS: once per process, not any job's work
        torch.ones(64, 64, device="cuda").matmul(torch.ones(64, 64, device="cuda"))
        torch.cuda.synchronize()
    print(
        "weights: RANDOM VGG-16 (NOT ImageNet), classifier calibrated on unlabelled training "
        "images; jobs run in this process, in the rules' order, without Snakemake"
    )
    print(
        f"set-up (synthetic images, split, weights; not timed): {time.perf_counter() - started:.1f} s"
    )
    print(
        "images: store decoded; cache image views (2 per training image); train (train + val) x "
        "epochs; evaluate test. full-study s: the job projected to the full study"
    )

    minutes = {}
    for mode in MODES:
        train = train_config(scale, mode, args.seed)
        ctx = Context(shared, Layout(out / mode), train, scale, sizes, device, threads, args.keep)
        records = run_mode(ctx)
        report_mode(mode, records, cache_dtype(train))
        wall = sum(r.wall for r in records)
        projected = sum(r.projected for r in records)
        minutes[mode] = wall / 60 if scale == FULL else projected / 60
        print(
            f"  {mode} grid: {wall:.1f} s measured at this scale; full study "
            f"{projected / 60:.2f} min{'' if scale == FULL else ' (projected)'}"
        )
    compare(out, model_names(train_config(scale, "fp32", args.seed)), sizes["test"])
    print(f"check wall time in all (set-up included): {time.perf_counter() - started:.1f} s")
    print(projection_note(scale))
    for mode in MODES:
        print(f"gpu study minutes ({mode}): {minutes[mode]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
