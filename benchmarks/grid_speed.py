"""Grid speed: the study's own training method against the workflow's, on the same data.

(a) **baseline**: the study's method, written here as the study describes it: a ``Dataset`` that
    decodes each JPEG with PIL and applies ``Resize -> ToTensor -> Normalize -> RandomHorizontalFlip``
    every epoch, ``DataLoader(batch_size=64, shuffle=True, num_workers=2)``, the full VGG-16
    forward every step, plain ``torch.optim.Adam``, validation every epoch, the 4 models
    (lr x strategy) trained one after another in one process, then each evaluated on the test set.
(b) **workflow**: the package's job functions in the order the Snakemake rules run them, each in
    its own process as Snakemake does (decode_images x 3, build_feature_cache x 3, train x 4,
    evaluate x 4 on the last epoch), the cache build included in its time.

Both sides use the same synthetic CelebA images, the same split and the same backbone file: a
seeded RANDOM VGG-16 (NOT ImageNet), its classifier calibrated on unlabelled training images as
``scripts/random_weights.py`` does, so that a head on frozen features learns something.

Peak memory: per phase, the resident set size (RSS) of the phase's process sampled every 0.05 s;
per process, ``getrusage`` max RSS, and for the baseline the largest DataLoader worker's max RSS
(which counts the pages it shares copy-on-write with the parent that forked it).
The last line printed is ``grid speedup: X`` (baseline wall time / workflow wall time).

    python benchmarks/grid_speed.py --train-images 96 --epochs 10 --image-size 224 --out /tmp/grid
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))  # the celeba_gender package (heavy modules: lazily)
from celeba_gender import grid  # noqa: E402  (the grid's grammar; no third-party imports)
from celeba_gender.grid import cache_dtype  # noqa: E402

NUM_WORKERS = 2
CALIBRATION_IMAGES = 256
SPLITS = grid.SPLITS
FULL_STUDY = {"train": 24000, "val": 3000, "test": 3000}  # the study's 30k subset, 80/10/10


# --------------------------------------------------------------------------- arguments


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-images", type=int, default=96, help="training images")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=2, help="torch threads per process")
    parser.add_argument("--out", type=Path, required=True, help="working folder (data, results)")
    parser.add_argument("--seed", type=int, default=0, help="data, weights and training seed")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (both sides)")
    parser.add_argument(
        "--keep-models", action="store_true", help="keep the 528 MB model files of the workflow"
    )
    parser.add_argument(
        "--reuse-baseline",
        type=Path,
        default=None,
        metavar="SUMMARY_JSON",
        help="take the baseline's record from an earlier run's summary.json with the same "
        "arguments instead of rerunning it (it takes ~30 min here); says so in the output",
    )
    parser.add_argument("--phase", default=None, help=argparse.SUPPRESS)  # child process entry
    args = parser.parse_args(argv)
    if args.train_images < 16 or args.epochs < 1 or args.image_size < 32:
        parser.error("need --train-images >= 16, --epochs >= 1, --image-size >= 32")
    return args


def split_sizes(train_images: int) -> dict[str, int]:
    """Train N; validation and test N/8 each, at least 16."""
    small = max(16, train_images // 8)
    return {"train": train_images, "val": small, "test": small}


def workflow_train_config(args: argparse.Namespace) -> dict:
    """The workflow's ``train`` config section as the benchmark runs it: the schema's defaults
    (the study's grid: lr 1e-3 and 1e-4 x strategies 1 and 2, batch 64), with the image size,
    epochs and seed of the command line. Both sides run this grid."""
    import yaml

    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    train = {
        key: spec["default"] for key, spec in schema["properties"]["train"]["properties"].items()
    }
    train.update(image_size=args.image_size, epochs=args.epochs, seed=args.seed, seeds=None)
    return train


def model_names(args: argparse.Namespace) -> list[tuple[str, int, float]]:
    """(name, strategy, lr) of the grid in the workflow's order."""
    return [(m.name, m.strategy, m.lr) for m in grid.models(workflow_train_config(args))]


@dataclass(frozen=True)
class Layout:
    """Where everything lives under ``--out``."""

    out: Path

    @property
    def data(self) -> Path:
        return self.out / "data"

    def split(self, name: str) -> Path:
        return self.out / "splits" / f"{name}.csv"

    @property
    def weights(self) -> Path:
        return self.out / "weights" / "vgg16-random-calibrated.pth"

    def store(self, split: str) -> Path:
        return self.out / "workflow" / "cache" / "images" / f"{split}.npy"

    def cache(self, split: str, kind: str) -> Path:
        return self.out / "workflow" / "cache" / "features" / f"{split}.{kind}.npy"

    def model_dir(self, name: str) -> Path:
        return self.out / "workflow" / "models" / name

    def evaluation(self, name: str) -> Path:
        return self.out / "workflow" / "evaluation" / name / "last"

    def phase_json(self, phase: str) -> Path:
        return self.out / "phases" / f"{phase}.json"

    def log(self, phase: str) -> Path:
        return self.out / "logs" / f"{phase}.log"


# --------------------------------------------------------------------------- memory


class PeakMemory:
    """Peak resident memory (MB) of this process while in the block, sampled from /proc.

    Reading ``/proc/self/statm`` costs microseconds, so sampling does not slow the phase (PSS
    through ``smaps_rollup`` costs ~0.1 s per read of a multi-GB process, too much on 2 cores).
    """

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.peak_mb = current_rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_mb = max(self.peak_mb, current_rss_mb())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, current_rss_mb())


def current_rss_mb() -> float:
    """Resident set size of this process in MB (Linux /proc; 0 where unavailable)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def own_cpu_seconds() -> float:
    """CPU seconds of this process (all threads) and of its waited-for children (workers)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def maxrss_mb() -> dict[str, float]:
    """getrusage max RSS of this process and of its largest waited-for child, in MB (Linux: KB)."""
    return {
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "children_maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


# --------------------------------------------------------------------------- preparation (not timed)


def synthetic_table(layout: Layout, n: int, seed: int, workers: int):
    """Generate ``n`` synthetic CelebA images under ``layout.data``; their (image_id, path, label)
    table. (pandas and the package only: gpu_check.py uses it too.)"""
    import pandas as pd

    from celeba_gender import synth

    attr_file = synth.generate(layout.data, n, seed, "kaggle", workers=workers)
    attributes = pd.read_csv(attr_file, dtype={"image_id": str})
    image_dir = next(p for p in (layout.data / d for d in synth.KAGGLE_IMAGES) if p.is_dir())
    return pd.DataFrame(
        {
            "image_id": attributes["image_id"],
            "path": [str((image_dir / i).resolve()) for i in attributes["image_id"]],
            "label": (attributes["Male"] == 1).astype(int),
        }
    )


def make_splits(layout: Layout, sizes: dict[str, int], seed: int) -> None:
    """Synthetic CelebA images and stratified split files (image_id, path, label)."""
    from sklearn.model_selection import train_test_split

    from celeba_gender.io import write_csv

    table = synthetic_table(layout, sum(sizes.values()), seed, workers=2)
    train, rest = train_test_split(
        table, train_size=sizes["train"], stratify=table["label"], random_state=seed
    )
    val, test = train_test_split(
        rest, train_size=sizes["val"], stratify=rest["label"], random_state=seed
    )
    for name, part in zip(SPLITS, (train, val, test), strict=True):
        write_csv(layout.split(name), part.sort_index())


def make_weights(layout: Layout, image_size: int, seed: int) -> None:
    """A seeded random VGG-16 (NOT pretrained), classifier calibrated on training images."""
    import numpy as np
    import pandas as pd

    from celeba_gender.store import decode_resized, to_normalized
    from celeba_gender.weights import make_random

    paths = pd.read_csv(layout.split("train"))["path"].tolist()[:CALIBRATION_IMAGES]
    images = to_normalized(np.stack([decode_resized(p, image_size) for p in paths]))
    make_random(layout.weights, seed=seed, calibration_images=images)


# --------------------------------------------------------------------------- (a) the study's method


def study_transforms(image_size: int, train: bool):
    """The study's transforms.Compose: Resize, ToTensor, Normalize, RandomHorizontalFlip (train)."""
    from torchvision import transforms

    from celeba_gender.constants import IMAGENET_MEAN, IMAGENET_STD

    steps = [
        transforms.Resize((image_size, image_size)),
        transforms.ToTensor(),
        transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ]
    if train:
        steps.append(transforms.RandomHorizontalFlip())
    return transforms.Compose(steps)


def study_dataset(split_csv: Path, transform):
    """The study's Dataset: open and decode the JPEG with PIL at every access."""
    import pandas as pd
    import torch
    from PIL import Image
    from torch.utils.data import Dataset

    class CelebAGender(Dataset):
        def __init__(self, table: pd.DataFrame):
            self.paths = table["path"].tolist()
            self.labels = table["label"].tolist()

        def __len__(self) -> int:
            return len(self.paths)

        def __getitem__(self, index: int):
            image = Image.open(self.paths[index]).convert("RGB")
            return transform(image), torch.tensor(self.labels[index], dtype=torch.float32)

    return CelebAGender(pd.read_csv(split_csv))


def study_model(weights_path: Path, strategy: int, seed: int):
    """get_model(strategy): VGG-16, one-logit last layer, features frozen (block 5 open for 2)."""
    import torch
    from torch import nn
    from torchvision.models import vgg16

    model = vgg16(weights=None)
    model.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
    torch.manual_seed(seed)
    model.classifier[6] = nn.Linear(4096, 1)
    for param in model.features.parameters():
        param.requires_grad = False
    if strategy == 2:
        for param in model.features[24:].parameters():
            param.requires_grad = True
    return model


def study_epoch(model, loader, criterion, device, optimizer=None) -> tuple[float, float]:
    """One pass: trains when ``optimizer`` is given, else evaluates under no_grad."""
    import torch

    training = optimizer is not None
    model.train(training)
    total_loss, correct, seen = 0.0, 0, 0
    with torch.set_grad_enabled(training):
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            outputs = model(images).squeeze(1)
            loss = criterion(outputs, labels)
            if training:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            total_loss += loss.item() * images.size(0)
            correct += int(((torch.sigmoid(outputs) > 0.5).float() == labels).sum())
            seen += images.size(0)
    return total_loss / seen, correct / seen


def run_baseline(args: argparse.Namespace, layout: Layout) -> dict:
    """The whole study grid in this process; per-phase seconds and peak memory."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    size = args.image_size
    loaders = {
        split: DataLoader(
            study_dataset(layout.split(split), study_transforms(size, split == "train")),
            batch_size=workflow_train_config(args)["batch_size"],
            shuffle=split == "train",
            num_workers=NUM_WORKERS,
        )
        for split in SPLITS
    }
    criterion = nn.BCEWithLogitsLoss()
    phases, models = [], {}
    for name, strategy, lr in model_names(args):
        started, cpu0, load = time.perf_counter(), own_cpu_seconds(), os.getloadavg()[0]
        with PeakMemory() as memory:
            model = study_model(layout.weights, strategy, args.seed).to(device)
            trainable = [p for p in model.parameters() if p.requires_grad]
            optimizer = torch.optim.Adam(trainable, lr=lr)
            setup = time.perf_counter() - started
            train_s = val_s = 0.0
            history = []
            for _ in range(args.epochs):
                t0 = time.perf_counter()
                train_loss, train_acc = study_epoch(
                    model, loaders["train"], criterion, device, optimizer
                )
                t1 = time.perf_counter()
                val_loss, val_acc = study_epoch(model, loaders["val"], criterion, device)
                train_s += t1 - t0
                val_s += time.perf_counter() - t1
                history.append([train_loss, train_acc, val_loss, val_acc])
        models[name] = model
        phases.append(
            {
                "phase": f"baseline train {name}",
                "seconds": time.perf_counter() - started,
                "cpu_seconds": own_cpu_seconds() - cpu0,
                "load_at_start": load,
                "peak_rss_mb": memory.peak_mb,
                "fixed_seconds": setup,
                "scaling": {"train": train_s, "val": val_s},
                "history": history,
            }
        )
    accuracies = {}
    for name, model in models.items():
        started, cpu0, load = time.perf_counter(), own_cpu_seconds(), os.getloadavg()[0]
        with PeakMemory() as memory:
            test_loss, test_acc = study_epoch(model, loaders["test"], criterion, device)
        seconds = time.perf_counter() - started
        accuracies[name] = test_acc
        phases.append(
            {
                "phase": f"baseline test {name}",
                "seconds": seconds,
                "cpu_seconds": own_cpu_seconds() - cpu0,
                "load_at_start": load,
                "peak_rss_mb": memory.peak_mb,
                "fixed_seconds": 0.0,
                "scaling": {"test": seconds},
                "test_loss": test_loss,
            }
        )
    return {"phases": phases, "accuracies": accuracies}


# --------------------------------------------------------------------------- (b) the workflow's jobs


def settings_for(args: argparse.Namespace, name: str):
    """The training settings the workflow would build for model ``name``."""
    from celeba_gender.grid import TrainSettings

    return TrainSettings.from_config({"data": {}, "train": workflow_train_config(args)}, name)


def run_store(args: argparse.Namespace, layout: Layout, split: str) -> dict:
    from celeba_gender import store  # as scripts/decode_images.py: no torch import

    started = time.perf_counter()
    store.build_split_store(layout.split(split), layout.store(split), args.image_size, args.threads)
    return {"scaling": {split: time.perf_counter() - started}}


def run_cache(args: argparse.Namespace, layout: Layout, split: str) -> dict:
    from celeba_gender import jobs

    train = workflow_train_config(args)
    timing = jobs.build_feature_cache(
        jobs.CacheJob(
            weights=layout.weights,
            split=layout.split(split),
            store=layout.store(split),
            image_size=args.image_size,
            views=grid.split_views(split, train["augmentations"]),
            dtype=cache_dtype(train),
            precision=train["precision"],
            batch_size=train["batch_size"],
            device=args.device,
            threads=args.threads,
            out_prefix=layout.cache(split, "prefix"),
            out_features=layout.cache(split, "features"),
        )
    )
    return {"scaling": {split: timing["seconds"]}}


def run_train(args: argparse.Namespace, layout: Layout, name: str) -> dict:
    from celeba_gender import jobs

    settings = settings_for(args, name)
    folder = layout.model_dir(name)
    result = jobs.train(
        jobs.TrainJob(
            weights=layout.weights,
            train=layout.split("train"),
            val=layout.split("val"),
            train_input=layout.cache("train", settings.input),
            val_input=layout.cache("val", settings.input),
            settings=settings,
            device=args.device,
            threads=args.threads,
            checkpoint=layout.out / "workflow" / "checkpoints" / name / "last.pt",
            out_model=folder / "model.pt",
            out_best=folder / "best.pt",
            out_history=folder / "history.csv",
            checkpoint_minutes=workflow_train_config(args)["checkpoint_minutes"],
        )
    )
    history = result["history"]
    return {
        "scaling": {"train": float(history["seconds"].sum())},  # train + validation epochs
        "history": history.drop(columns=["epoch", "seconds"]).to_numpy().tolist(),
    }


def run_evaluate(args: argparse.Namespace, layout: Layout, name: str) -> dict:
    from celeba_gender import engine, jobs

    predict = engine.predict_logits
    spent = []

    def timed_predict(*a, **kw):  # instrumentation only: times the per-image part of the job
        t0 = time.perf_counter()
        out = predict(*a, **kw)
        spent.append(time.perf_counter() - t0)
        return out

    engine.predict_logits = timed_predict
    kind = settings_for(args, name).input
    metrics = jobs.evaluate(
        jobs.EvaluateJob(
            model=layout.model_dir(name) / "model.pt",
            weights=layout.weights,
            test=layout.split("test"),
            test_input=layout.cache("test", kind),
            kind=kind,
            batch_size=workflow_train_config(args)["batch_size"],
            device=args.device,
            threads=args.threads,
            checkpoint="last",
            out_metrics=layout.evaluation(name) / "metrics.json",
            out_predictions=layout.evaluation(name) / "predictions.csv",
        )
    )
    return {"scaling": {"test": sum(spent)}, "accuracy": metrics["test_accuracy"]}


def workflow_phases(args: argparse.Namespace) -> list[str]:
    """The jobs in the order the rules chain them."""
    names = [name for name, _, _ in model_names(args)]
    return (
        [f"store-{s}" for s in SPLITS]
        + [f"cache-{s}" for s in SPLITS]
        + [f"train-{n}" for n in names]
        + [f"evaluate-{n}" for n in names]
    )


def run_setup(args: argparse.Namespace, layout: Layout) -> dict:
    """Synthetic images, split files and backbone weights (in a child: the calibration forward
    would otherwise leave a multi-GB max RSS that ``getrusage`` reports for every later child)."""
    make_splits(layout, split_sizes(args.train_images), args.seed)
    make_weights(layout, args.image_size, args.seed)
    return {"scaling": {}}


def run_phase(args: argparse.Namespace, layout: Layout) -> None:
    """Child process: run one phase, write its JSON record."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import_started = time.perf_counter()
    if args.phase in ("baseline", "setup"):
        import torch  # noqa: F401
        import torchvision  # noqa: F401
    elif args.phase.startswith("store-"):
        from celeba_gender import store  # noqa: F401  (as scripts/decode_images.py: no torch)
    else:
        from celeba_gender import jobs  # noqa: F401  (torch, pandas, numpy; not torchvision)
    started = time.perf_counter()
    action, _, target = args.phase.partition("-")
    with PeakMemory() as memory:
        if action == "setup":
            record = run_setup(args, layout)
        elif action == "baseline":
            record = run_baseline(args, layout)
        elif action == "store":
            record = run_store(args, layout, target)
        elif action == "cache":
            record = run_cache(args, layout, target)
        elif action == "train":
            record = run_train(args, layout, target)
        elif action == "evaluate":
            record = run_evaluate(args, layout, target)
        else:
            raise SystemExit(f"unknown phase {args.phase!r}")
    record.update(
        in_process_seconds=time.perf_counter() - started,
        import_seconds=started - import_started,
        peak_rss_mb=memory.peak_mb,
        **maxrss_mb(),
    )
    path = layout.phase_json(args.phase)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1))
    if args.phase not in ("baseline", "setup"):
        from celeba_gender.runlog import freeze_for_exit

        freeze_for_exit()  # as the job wrappers do at the end of runlog.job_logging


# --------------------------------------------------------------------------- orchestration


def spawn(phase: str, argv: list[str], layout: Layout) -> dict:
    """Run a phase in a fresh interpreter (as Snakemake runs a job); wall time includes start-up."""
    layout.log(phase).parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), *argv, "--phase", phase]
    env = {**os.environ, "PYTHONPATH": str(REPO / "scripts")}
    load = os.getloadavg()[0]
    cpu_before = children_cpu_seconds()
    started = time.perf_counter()
    with open(layout.log(phase), "w") as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
    wall = time.perf_counter() - started
    cpu = children_cpu_seconds() - cpu_before
    if proc.returncode != 0:
        tail = layout.log(phase).read_text()[-3000:]
        raise SystemExit(f"phase {phase} failed (exit {proc.returncode}):\n{tail}")
    record = json.loads(layout.phase_json(phase).read_text())
    record.update(wall_seconds=wall, cpu_seconds=cpu, load_at_start=load)
    return record


COMPARED_ARGS = ("train_images", "epochs", "image_size", "threads", "seed", "device")


def reused_baseline(summary_json: Path, args: argparse.Namespace) -> dict:
    """The baseline record of an earlier run with the same arguments (the baseline's code and
    the data, deterministic for the seed, are unchanged between the two runs)."""
    summary = json.loads(summary_json.read_text())
    earlier = summary["args"]
    differing = [k for k in COMPARED_ARGS if earlier.get(k) != str(getattr(args, k))]
    if differing:
        raise SystemExit(
            f"--reuse-baseline {summary_json}: made with other arguments ({', '.join(differing)})"
        )
    print(
        f"baseline: REUSED from {summary_json} (measured {summary.get('finished', 'earlier')}, "
        "same arguments), not rerun"
    )
    return summary["baseline"]


def children_cpu_seconds() -> float:
    """User + system CPU seconds of all waited-for child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def phase_ratio(scaling: dict[str, float], sizes: dict[str, int]) -> float:
    """Projected seconds of the per-image part at the full study's size."""
    return sum(seconds * FULL_STUDY[split] / sizes[split] for split, seconds in scaling.items())


def projection_row(record: dict, sizes: dict[str, int]) -> float:
    """A job's projected seconds: fixed (wall - scaling) + scaling x (N_full / N_bench)."""
    fixed = record["wall_seconds"] - sum(record["scaling"].values())
    return max(fixed, 0.0) + phase_ratio(record["scaling"], sizes)


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def header() -> None:
    print(
        f"  {'phase':<34} {'wall s':>8} {'CPU s':>8} {'scaling s':>9} {'peak RSS MB':>11} "
        f"{'load':>5}"
    )


def print_phase(name: str, wall: float, cpu, scaling: float, peak_mb, load) -> None:
    print(
        f"  {name:<34} {wall:8.1f} {fmt(cpu):>8} {scaling:9.1f} {fmt(peak_mb, 0):>11} "
        f"{fmt(load, 2):>5}"
    )


def report_baseline(record: dict, sizes: dict[str, int]) -> float:
    """Print the baseline's phases; return its projected full-study seconds."""
    print("baseline (the study's method, one process; DataLoader workers included in CPU s):")
    header()
    rest = record["wall_seconds"] - sum(p["seconds"] for p in record["phases"])
    projected = max(rest, 0.0)  # interpreter start, imports, DataLoaders
    for phase in record["phases"]:
        scaling = sum(phase["scaling"].values())
        print_phase(
            phase["phase"],
            phase["seconds"],
            phase["cpu_seconds"],
            scaling,
            phase["peak_rss_mb"],
            phase["load_at_start"],
        )
        projected += phase["seconds"] - scaling + phase_ratio(phase["scaling"], sizes)
    print_phase(
        "baseline total (process)",
        record["wall_seconds"],
        record["cpu_seconds"],
        sum(sum(p["scaling"].values()) for p in record["phases"]),
        record["maxrss_mb"],
        record["load_at_start"],
    )
    print(
        f"    peak RSS of the process {record['maxrss_mb']:.0f} MB (getrusage); largest "
        f"DataLoader worker {record['children_maxrss_mb']:.0f} MB (counts the pages it shares "
        "copy-on-write with the main process)"
    )
    return projected


def report_workflow(records: dict[str, dict], sizes: dict[str, int]) -> float:
    """Print the workflow's jobs; return its projected full-study seconds."""
    print("workflow (the package's jobs, one process each, as Snakemake runs them):")
    header()
    projected = 0.0
    for phase, record in records.items():
        print_phase(
            phase,
            record["wall_seconds"],
            record["cpu_seconds"],
            sum(record["scaling"].values()),
            record["maxrss_mb"],
            record["load_at_start"],
        )
        projected += projection_row(record, sizes)
    print_phase(
        "workflow total",
        sum(r["wall_seconds"] for r in records.values()),
        sum(r["cpu_seconds"] for r in records.values()),
        sum(sum(r["scaling"].values()) for r in records.values()),
        max(r["maxrss_mb"] for r in records.values()),
        None,
    )
    for group in ("store", "cache", "train", "evaluate"):
        part = [r for p, r in records.items() if p.startswith(group)]
        wall = sum(r["wall_seconds"] for r in part)
        start = sum(r["wall_seconds"] - r["in_process_seconds"] for r in part)
        print(
            f"    {group:<9} {wall:8.1f} s, of which interpreter start and importing torch and "
            f"the package {start:.1f} s"
        )
    return projected


def report_accuracy(baseline: dict[str, float], workflow: dict[str, float], n_test: int) -> None:
    print(f"test accuracy ({n_test} test images; last epoch; random calibrated backbone):")
    print(f"  {'model':<20} {'baseline':>9} {'workflow':>9} {'diff':>7} {'2 SE':>7}")
    for name, base in baseline.items():
        flow = workflow[name]
        p = (base + flow) / 2
        two_se = 2 * math.sqrt(max(p * (1 - p), 1e-9) / n_test)
        print(f"  {name:<20} {base:9.3f} {flow:9.3f} {flow - base:+7.3f} {two_se:7.3f}")


def cache_disk_gb(args: argparse.Namespace) -> float:
    """Disk of the full study's feature cache (prefix and features) in the configured dtype."""
    import numpy as np

    train = workflow_train_config(args)
    side = args.image_size // 16
    itemsize = np.dtype(cache_dtype(train)).itemsize
    per_view = (512 * side * side + 512 * (side // 2) ** 2) * itemsize
    views = sum(n * grid.split_views(s, train["augmentations"]) for s, n in FULL_STUDY.items())
    return per_view * views / 1e9


def orchestrate(args: argparse.Namespace, argv: list[str], layout: Layout) -> None:
    sizes = split_sizes(args.train_images)
    shutil.rmtree(layout.out / "workflow", ignore_errors=True)
    shutil.rmtree(layout.out / "phases", ignore_errors=True)
    print(
        f"grid_speed: {sizes['train']} train / {sizes['val']} val / {sizes['test']} test images, "
        f"{args.image_size} px, {args.epochs} epochs, batch {workflow_train_config(args)['batch_size']}, {args.threads} threads, "
        f"device {args.device}, seed {args.seed}; load average {os.getloadavg()[0]:.2f}"
    )
    print(
        "weights: RANDOM VGG-16 (NOT ImageNet), classifier calibrated on unlabelled training "
        "images; the same file for both sides"
    )
    setup = spawn("setup", argv, layout)
    print(f"setup (synthetic images, split, weights; not timed): {setup['wall_seconds']:.1f} s")

    baseline = (
        reused_baseline(args.reuse_baseline, args)
        if args.reuse_baseline
        else spawn("baseline", argv, layout)
    )
    workflow = {phase: spawn(phase, argv, layout) for phase in workflow_phases(args)}
    if not args.keep_models:
        shutil.rmtree(layout.out / "workflow" / "models", ignore_errors=True)

    projected_base = report_baseline(baseline, sizes)
    projected_flow = report_workflow(workflow, sizes)
    flow_acc = {
        phase.removeprefix("evaluate-"): r["accuracy"]
        for phase, r in workflow.items()
        if phase.startswith("evaluate-")
    }
    report_accuracy(baseline["accuracies"], flow_acc, sizes["test"])
    base_wall = baseline["wall_seconds"]
    flow_wall = sum(r["wall_seconds"] for r in workflow.values())
    print(
        f"projection, full study (24k/3k/3k, {args.image_size} px, {args.epochs} epochs, 4 models), "
        "sum over phases of fixed + scaling x N_full/N_bench:"
    )
    print(
        f"  baseline {projected_base / 3600:.1f} h, workflow {projected_flow / 3600:.1f} h "
        f"(x{projected_base / projected_flow:.1f}); cache on disk "
        f"{cache_disk_gb(args):.1f} GB"
    )
    summary = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "sizes": sizes,
        "baseline": baseline,
        "workflow": workflow,
        "projection_seconds": {"baseline": projected_base, "workflow": projected_flow},
        "loadavg_end": os.getloadavg(),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "baseline_reused_from": str(args.reuse_baseline) if args.reuse_baseline else None,
    }
    (layout.out / "summary.json").write_text(json.dumps(summary, indent=1))
    base_cpu = baseline["cpu_seconds"]
    flow_cpu = sum(r["cpu_seconds"] for r in workflow.values())
    print(
        f"CPU seconds (less sensitive to other load on the machine): baseline {base_cpu:.1f}, "
        f"workflow {flow_cpu:.1f}, ratio {base_cpu / flow_cpu:.2f}; load average at the end "
        f"{os.getloadavg()[0]:.2f}"
    )
    print(f"baseline grid wall time {base_wall:.1f} s, workflow grid wall time {flow_wall:.1f} s")
    print(f"grid speedup: {base_wall / flow_wall:.2f}")


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    layout = Layout(args.out.resolve())
    if args.phase is not None:
        run_phase(args, layout)
        return
    orchestrate(args, argv, layout)


if __name__ == "__main__":
    main()
