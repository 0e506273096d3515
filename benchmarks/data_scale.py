"""Data stages at full CelebA scale: ingest, split, decode_images and the EDA rules, measured.

Runs the workflow's own rules with Snakemake (``snakemake --until RULE``, one invocation per stage,
so that every job runs alone on the machine) on a synthetic CelebA in the Kaggle layout (JPEG
files; ``--layout huggingface``: the Hub's parquet shards, ~8,567 rows per shard as in the Hub's
train split, images read from the shards) that lists
``max(--sizes)`` images (202,599 = full CelebA by default), once per size with
``data.subset_size`` = that size (``subset_order: first``): the attribute file and the image
folder are the full dataset's every time, as with the study's 30k subset of real CelebA.
Generating the dataset is set-up, not timed (~20 min for 202,599 images on 2 cores).

Per job it samples, every 0.05 s, the job's process tree under Snakemake (the shell and the
Python process that runs the rule's script) and reports:

- wall seconds: from the job's process appearing to its exit (Snakemake's DAG building and
  bookkeeping around it excluded; the invocation's total is printed beside it);
- seconds per 1,000 images the job handles (ingest and EDA: the subset; decode: its split);
- peak anonymous memory: the largest sum of ``RssAnon`` (``/proc/PID/status``) over the tree,
  i.e. heap and stacks, NOT the pages of the memory-mapped image store, which the kernel can drop
  or write back at any time (they count as ``RssFile``).

The decoded store of 202,599 images at 224 px is ~28.4 GiB: before decoding each size the free disk
under ``--out`` is checked, and if the store does not fit (with 2 GiB to spare) that size is
decoded at the largest smaller image size that fits, which the output says. The stores of each
size are deleted after it is measured (``--keep`` keeps them).

Last lines: the targets of issue 13 and whether each is met (the data stages of 30,000 images
within 5 minutes; peak anonymous memory of every stage under 4 GB at the largest size; no stage's
seconds per 1,000 images growing by more than 25% from one size to the next, i.e. no stage worse
than linear).

    python benchmarks/data_scale.py --out /tmp/scale
    python benchmarks/data_scale.py --out /tmp/scale --layout huggingface
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from celeba_gender import grid  # noqa: E402

FULL_CELEBA = 202599
EDA_RULES = ("eda",)
STAGES = ("ingest", "split", "decode_images", *EDA_RULES)
FALLBACK_SIZES = (224, 192, 160, 128, 112, 96, 64)
SPARE_BYTES = 2 * 1024**3
SAMPLE_SECONDS = 0.05
MEMORY_TARGET_BYTES = 4e9
STAGES_TARGET_SECONDS = 300
TARGET_SIZE = 30000
LINEAR_SLACK = 1.25
LAYOUTS = ("kaggle", "huggingface")
HUB_ROWS_PER_SHARD = 8567  # the Hub's train split: 162,770 rows in 19 shards


# --------------------------------------------------------------------------- process sampling


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def _children() -> dict[int, list[int]]:
    """Every process's children (from the parent field of /proc/PID/stat)."""
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _subtree(root: int, tree: dict[int, list[int]]) -> list[int]:
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(tree.get(pid, []))
    return out


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@dataclass
class JobRecord:
    """One job's process tree under Snakemake: first and last time seen, peak RssAnon."""

    pid: int
    first: float
    last: float
    peak_anon_kb: int = 0
    script: str = ""

    @property
    def seconds(self) -> float:
        return self.last - self.first


class JobSampler:
    """Samples the job process trees below one Snakemake process until stopped."""

    def __init__(self, snakemake_pid: int):
        self.root = snakemake_pid
        self.jobs: dict[int, JobRecord] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> JobSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(SAMPLE_SECONDS)

    def sample(self) -> None:
        now = time.perf_counter()
        tree = _children()
        for child in tree.get(self.root, []):
            pids = _subtree(child, tree)
            anon = sum(_status_kb(pid, "RssAnon") for pid in pids)
            record = self.jobs.setdefault(child, JobRecord(child, now, now))
            record.last = now
            record.peak_anon_kb = max(record.peak_anon_kb, anon)
            if not record.script:
                record.script = next(
                    (_script_name(_cmdline(pid)) for pid in pids if _script_name(_cmdline(pid))),
                    "",
                )


def _script_name(cmdline: str) -> str:
    """The rule's script in a job's command line (Snakemake runs a copy named tmpXXXX.NAME.py)."""
    for word in cmdline.split():
        if word.endswith(".py") and "/.snakemake/scripts/" in word:
            return Path(word).name.split(".", 1)[-1]
    return ""


# --------------------------------------------------------------------------- set-up


def hub_shards(n: int) -> int:
    """Shards per split of the huggingface layout: as many rows per train shard as the Hub's."""
    return max(1, math.ceil(round(0.8 * n) / HUB_ROWS_PER_SHARD))


def ensure_dataset(root: Path, n: int, workers: int, layout: str = "kaggle") -> None:
    """A synthetic CelebA of ``n`` images at ``root`` in ``layout`` (generated once; not timed)."""
    from celeba_gender import synth

    marker, wanted = root / ".scale-benchmark-complete", f"{n} {layout}"
    accepted = {wanted, str(n)} if layout == "kaggle" else {wanted}  # "n": an older marker
    if marker.exists() and marker.read_text().strip() in accepted:
        print(f"dataset: {root} ({n} images, {layout} layout, generated before)", flush=True)
        return
    if root.exists():
        shutil.rmtree(root)
    start = time.perf_counter()
    print(f"dataset: generating {n} synthetic images ({layout} layout) in {root} (not timed) ...",
          flush=True)  # fmt: skip
    synth.generate(root, n, seed=0, layout=layout, workers=workers, shards=hub_shards(n))
    marker.write_text(f"{wanted}\n")
    print(f"dataset: generated in {time.perf_counter() - start:.0f} s", flush=True)


def store_bytes(n: int, size: int) -> int:
    return n * size * size * 3


def pick_image_size(n: int, wanted: int, folder: Path) -> int:
    """``wanted``, or the largest smaller size whose decoded store fits in the free disk."""
    free = shutil.disk_usage(folder).free
    for size in (wanted, *[s for s in FALLBACK_SIZES if s < wanted]):
        if store_bytes(n, size) + SPARE_BYTES <= free:
            return size
    raise SystemExit(f"not enough disk under {folder} for {n} images even at 64 px")


def write_config(work: Path, data_root: Path, n: int, image_size: int) -> Path:
    """The workflow's config/config.yaml for this size: the dataset, its first ``n`` images."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["data"].update(root=str(data_root), subset_size=n, subset_order="first")
    config["model"] = {"weights": "random", "init_seed": 0}
    config["train"]["image_size"] = image_size
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# --------------------------------------------------------------------------- measuring


@dataclass
class StageResult:
    stage: str
    jobs: list[dict] = field(default_factory=list)
    snakemake_seconds: float = 0.0

    @property
    def seconds(self) -> float:
        return sum(job["seconds"] for job in self.jobs)

    @property
    def peak_anon_bytes(self) -> int:
        return max((job["peak_anon_kb"] for job in self.jobs), default=0) * 1024


def run_stage(work: Path, config: Path, stage: str, threads: int) -> StageResult:
    """Run one rule (all its jobs) with Snakemake; sample its jobs."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(work),
           "--configfile", str(config), "--cores", str(threads), "--until", stage,
           "--quiet", "progress"]  # fmt: skip
    log = work / "logs" / f"{stage}.snakemake.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(log, "w") as handle:
        proc = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT)
        with JobSampler(proc.pid) as sampler:
            rc = proc.wait()
    total = time.perf_counter() - start
    if rc != 0:
        raise SystemExit(f"{stage} failed (exit {rc}); see {log}")
    jobs = [
        {"script": r.script, "seconds": r.seconds, "peak_anon_kb": r.peak_anon_kb}
        for r in sampler.jobs.values()
        if r.script  # a job's process tree, not a helper process of Snakemake's own
    ]
    if not jobs:
        raise SystemExit(f"{stage}: no job ran (was it up to date?); see {log}")
    return StageResult(stage, jobs, total)


def handled_images(work: Path, stage: str, n: int) -> list[int]:
    """Images each job of ``stage`` handles: a decode job its split, every other job the subset."""
    if stage != "decode_images":
        return [n]
    import csv

    counts = []
    for split in grid.SPLITS:  # results/data/<data key>/splits/: the one data key of this folder
        (path,) = (work / "results" / "data").glob(f"*/splits/{split}.csv")
        with open(path, newline="") as handle:
            counts.append(sum(1 for _ in csv.DictReader(handle)))
    return counts


def measure_size(args: argparse.Namespace, n: int) -> dict:
    work = args.out / f"n{n}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    image_size = pick_image_size(n, args.image_size, args.out)
    if image_size != args.image_size:
        print(f"n={n}: the {args.image_size}-px store ({store_bytes(n, args.image_size) / 2**30:.1f}"
              f" GiB) does not fit on disk: decoding at {image_size} px", flush=True)  # fmt: skip
    config = write_config(work, args.data, n, image_size)
    stages = []
    for stage in STAGES:
        result = run_stage(work, config, stage, args.threads)
        counts = handled_images(work, stage, n)
        row = {
            "size": n,
            "image_size": image_size,
            "stage": stage,
            "jobs": len(result.jobs),
            "images": sum(counts),
            "seconds": result.seconds,
            "seconds_per_1000": result.seconds / (sum(counts) / 1000),
            "peak_anon_bytes": result.peak_anon_bytes,
            "snakemake_seconds": result.snakemake_seconds,
        }
        stages.append(row)
        print(format_row(row), flush=True)
    if not args.keep:
        shutil.rmtree(work / "results" / "cache", ignore_errors=True)
    return {"size": n, "image_size": image_size, "stages": stages}


# --------------------------------------------------------------------------- report


HEADER = (f"{'images':>8} {'px':>4} {'stage':<22} {'jobs':>4} {'wall s':>8} {'s/1000 img':>10} "
          f"{'peak anon MB':>12} {'snakemake s':>11}")  # fmt: skip


def format_row(row: dict) -> str:
    return (f"{row['size']:>8} {row['image_size']:>4} {row['stage']:<22} {row['jobs']:>4} "
            f"{row['seconds']:>8.1f} {row['seconds_per_1000']:>10.2f} "
            f"{row['peak_anon_bytes'] / 1e6:>12.0f} {row['snakemake_seconds']:>11.1f}")  # fmt: skip


def verdicts(results: list[dict]) -> list[str]:
    """The issue's three targets, each with its figure and whether it is met."""
    by_size = {r["size"]: {s["stage"]: s for s in r["stages"]} for r in results}
    lines = []
    if TARGET_SIZE in by_size:
        total = sum(s["seconds"] for s in by_size[TARGET_SIZE].values())
        ok = "met" if total < STAGES_TARGET_SECONDS else "MISSED"
        lines.append(f"target {TARGET_SIZE} images, data stages < {STAGES_TARGET_SECONDS} s: "
                     f"{total:.0f} s, {ok}")  # fmt: skip
    largest = max(by_size)
    worst = max(by_size[largest].values(), key=lambda s: s["peak_anon_bytes"])
    ok = "met" if worst["peak_anon_bytes"] < MEMORY_TARGET_BYTES else "MISSED"
    lines.append(f"target {largest} images, peak anonymous memory < 4 GB in every stage: largest "
                 f"{worst['peak_anon_bytes'] / 1e9:.2f} GB ({worst['stage']}), {ok}")  # fmt: skip
    sizes = sorted(by_size)
    growth = []
    for small, large in zip(sizes, sizes[1:], strict=False):
        for stage in STAGES:
            a = by_size[small][stage]["seconds_per_1000"]
            b = by_size[large][stage]["seconds_per_1000"]
            growth.append((b / a, stage, small, large))
    if growth:
        ratio, stage, small, large = max(growth)
        ok = "met" if ratio <= LINEAR_SLACK else "MISSED"
        lines.append(f"target no stage worse than linear (s/1000 images growing <= "
                     f"{LINEAR_SLACK}x between sizes): largest growth {ratio:.2f}x ({stage}, "
                     f"{small} -> {large}), {ok}")  # fmt: skip
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="working folder")
    parser.add_argument("--sizes", type=int, nargs="+", default=[3000, TARGET_SIZE, FULL_CELEBA])
    parser.add_argument("--image-size", type=int, default=224, help="decoded image size (px)")
    parser.add_argument("--threads", type=int, default=2, help="Snakemake --cores")
    parser.add_argument("--layout", choices=LAYOUTS, default="kaggle",
                        help="kaggle: JPEG files; huggingface: the Hub's parquet shards")  # fmt: skip
    parser.add_argument("--data", type=Path, default=None,
                        help="dataset folder (default OUT/data, OUT/data-huggingface)")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the decoded stores")
    args = parser.parse_args(argv)
    if min(args.sizes) < 100:
        parser.error("--sizes: at least 100 images each")
    args.data = args.data or args.out / (
        "data" if args.layout == "kaggle" else f"data-{args.layout}"
    )
    return args


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    ensure_dataset(args.data, max(args.sizes), workers=args.threads, layout=args.layout)
    print(f"layout: {args.layout}", flush=True)
    print(HEADER, flush=True)
    results = [measure_size(args, n) for n in sorted(args.sizes)]
    summary = {"args": {k: str(v) for k, v in vars(args).items()}, "results": results}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    for line in verdicts(results):
        print(line)
    return results


if __name__ == "__main__":
    main()
