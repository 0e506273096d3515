"""Smoke tests of the benchmarks (grid_speed, gpu_check, precision, data_scale, group_robustness,
code_size, compare_runs)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "grid_speed.py"


@pytest.mark.heavy
def test_grid_speed_prints_speedup_as_last_line(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        str(SCRIPT),
        "--train-images",
        "16",
        "--epochs",
        "1",
        "--image-size",
        "32",
        "--threads",
        "2",
        "--out",
        str(tmp_path / "bench"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"grid speedup: \d+(\.\d+)?", last), last


def load_grid_speed():
    import importlib.util

    spec = importlib.util.spec_from_file_location("grid_speed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_reuse_baseline_takes_the_record_of_a_run_with_the_same_arguments(tmp_path: Path) -> None:
    import json

    import pytest

    grid_speed = load_grid_speed()
    argv = ["--train-images", "96", "--epochs", "10", "--image-size", "224", "--out", str(tmp_path)]
    args = grid_speed.parse_args(argv)
    record = {"wall_seconds": 1751.4, "accuracies": {"s1_lr1e-3_seed0": 0.625}}
    summary = tmp_path / "summary.json"
    summary.write_text(
        json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "baseline": record})
    )
    assert grid_speed.reused_baseline(summary, args) == record
    other = grid_speed.parse_args([*argv[:2], "--epochs", "5", *argv[4:]])
    with pytest.raises(SystemExit, match="made with other arguments \\(epochs\\)"):
        grid_speed.reused_baseline(summary, other)


GPU_CHECK = REPO / "benchmarks" / "gpu_check.py"
# What a borrowed GPU machine may lack: gpu_check.py must run without any of them.
ABSENT = ("tqdm", "sklearn", "snakemake", "torchvision", "matplotlib", "scipy", "yaml")
WITHOUT_OPTIONAL_PACKAGES = """
import runpy, sys
for name in {absent!r}:
    sys.modules[name] = None  # any import of them (or of a submodule) raises ImportError
sys.argv = [{script!r}, *{args!r}]
runpy.run_path({script!r}, run_name="__main__")
"""


def run_gpu_check(args: list[str], cwd: Path, env: dict | None = None, timeout: int = 600):
    """benchmarks/gpu_check.py in a fresh interpreter with the optional packages made
    unimportable, from the repository with PYTHONPATH=scripts as its docstring says."""
    import os

    code = WITHOUT_OPTIONAL_PACKAGES.format(absent=ABSENT, script=str(GPU_CHECK), args=args)
    env = {**os.environ, "PYTHONPATH": str(REPO / "scripts"), **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )


@pytest.mark.heavy
def test_gpu_check_smoke_prints_every_phase_and_the_minutes_last(tmp_path: Path) -> None:
    """--smoke on the CPU: every job and phase line of both modes, the fp32/bf16 comparison, and
    the two minutes lines last; without tqdm, scikit-learn, Snakemake, torchvision, matplotlib,
    scipy or yaml importable (the progress lines then carry the package's own meter)."""
    out = tmp_path / "check"
    proc = run_gpu_check(["--smoke", "--out", str(out)], cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-4000:]
    lines = proc.stdout.strip().splitlines()
    assert re.fullmatch(r"gpu study minutes \(fp32\): \d+(\.\d+)?", lines[-2]), lines[-2]
    assert re.fullmatch(r"gpu study minutes \(bf16\): \d+(\.\d+)?", lines[-1]), lines[-1]
    models = ["s1_lr1e-3_seed0", "s1_lr1e-4_seed0", "s2_lr1e-3_seed0", "s2_lr1e-4_seed0"]
    number = r"[\d,]+(\.\d+)?"
    jobs = [f"store-{s}" for s in ("train", "val", "test")]
    jobs += [f"cache-{s}" for s in ("train", "val", "test")]
    jobs += [f"train-{m}" for m in models] + [f"evaluate-{m}" for m in models]
    for mode in ("fp32", "bf16"):
        cache = "float32" if mode == "fp32" else "float16"
        first = lines.index(f"{mode} (train.precision {mode}, feature cache {cache}):")
        last = next(i for i, x in enumerate(lines) if x.startswith(f"  {mode} grid: "))
        block = lines[first:last]
        phases = [f"{mode} {p} (phase)" for p in ("store", "cache", "train", "evaluate")]
        for name in jobs + phases:
            # name, images, images/s, wall s, peak GPU MB ("-" on the CPU), peak RSS MB, full-study s
            pattern = rf"  {re.escape(name)} +{number} +{number} +{number} +- +{number} +{number}"
            assert any(re.fullmatch(pattern, line) for line in block), (name, block[:20])
    compared = lines[lines.index("fp32 vs bf16 on the test set (8 images, last epoch):") :]
    for model in models:
        assert any(re.fullmatch(rf"  {model} +\S+ +\d+\.\d\d% \(\d/8\) .*", x) for x in compared)
    assert any(line.startswith("gpu study minutes below: PROJECTED") for line in lines)
    log = (out / "gpu_check.log").read_text()
    # engine.Progress: a plain line every fifth of an epoch (the log is not a terminal)
    assert re.search(r"epoch 1/1 batch 1/1 loss=\d+\.\d+ acc=\d\.\d+", log), log[-2000:]


def test_gpu_check_without_cuda_stops_at_once_with_exit_code_2(tmp_path: Path) -> None:
    proc = run_gpu_check(
        ["--out", str(tmp_path / "check")], cwd=REPO, env={"CUDA_VISIBLE_DEVICES": ""}
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "gpu_check: no CUDA device (torch.cuda.is_available() is False)" in proc.stderr
    assert "--smoke" in proc.stderr and not (tmp_path / "check").exists()


def load_gpu_check():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_check", GPU_CHECK)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_gpu_check_runs_the_schema_default_grid() -> None:
    """gpu_check.py writes the workflow's train defaults out (no yaml import): they must be
    config/schema.yaml's."""
    import yaml

    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    defaults = {k: v["default"] for k, v in schema["properties"]["train"]["properties"].items()}
    assert defaults == load_gpu_check().STUDY_TRAIN


def test_gpu_check_split_is_stratified_exact_and_seeded() -> None:
    import numpy as np

    gpu_check = load_gpu_check()
    labels = np.array([1] * 300 + [0] * 700)
    np.random.default_rng(1).shuffle(labels)
    sizes = {"train": 800, "val": 100, "test": 100}
    parts = gpu_check.stratified_split(labels, sizes, seed=0)
    assert {k: len(v) for k, v in parts.items()} == sizes
    assert sorted(sum(parts.values(), [])) == list(range(1000))
    assert [int(labels[parts[s]].sum()) for s in ("train", "val", "test")] == [240, 30, 30]
    assert parts == gpu_check.stratified_split(labels, sizes, seed=0)
    assert parts != gpu_check.stratified_split(labels, sizes, seed=1)
    tiny = gpu_check.stratified_split(labels[:18], gpu_check.SMOKE.sizes, seed=0)
    assert all(len(set(labels[:18][rows])) == 2 for rows in tiny.values())


@pytest.mark.slow
@pytest.mark.heavy
def test_precision_benchmark_scores_a_finished_run_in_every_mode(workflow_run: Path) -> None:
    """benchmarks/precision.py on the tiny run's models: fp32 agrees with itself exactly, and the
    float16-cache and bf16 modes print their deviation lines."""
    script = REPO / "benchmarks" / "precision.py"
    cmd = [sys.executable, str(script), "--run", str(workflow_run), "--limit", "8"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "precision: 8 test images at 32 px, 2 models, CPU"
    fp32 = [line.split() for line in lines if " fp32 " in f" {line} " and "vs" not in line]
    assert fp32 and all(float(row[2]) == 0.0 and float(row[4]) == 100.0 for row in fp32)
    assert lines[-2].startswith("bf16 vs fp32: largest logit difference ")
    assert lines[-1].startswith("float16 cache vs fp32: largest logit difference ")


@pytest.mark.slow
@pytest.mark.heavy
@pytest.mark.parametrize("layout", ["kaggle", "huggingface"])
def test_data_scale_benchmark_measures_every_data_stage_at_each_size(
    tmp_path: Path, layout: str
) -> None:
    """benchmarks/data_scale.py at two small sizes, in the JPEG (kaggle) and the parquet
    (huggingface) layout: one line per size and stage, with a job, a wall time and a peak
    anonymous memory each, the summary file, and the target lines."""
    if layout == "huggingface":
        pytest.importorskip("pyarrow")
    script = REPO / "benchmarks" / "data_scale.py"
    cmd = [sys.executable, str(script), "--out", str(tmp_path), "--sizes", "100", "160",
           "--image-size", "48", "--layout", layout]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [line.split() for line in proc.stdout.splitlines() if re.match(r"^ +(100|160) ", line)]
    stages = ["ingest", "split", "decode_images", "eda"]
    assert [(r[0], r[2]) for r in rows] == [(n, s) for n in ("100", "160") for s in stages]
    for row in rows:
        jobs, wall, peak_mb = int(row[3]), float(row[4]), float(row[6])
        assert jobs == (3 if row[2] == "decode_images" else 1), row
        assert wall > 0 and peak_mb > 5, row  # a Python process has megabytes of heap
    assert "target 160 images, peak anonymous memory < 4 GB in every stage" in proc.stdout
    assert "target no stage worse than linear" in proc.stdout
    assert (tmp_path / "summary.json").is_file() and f"layout: {layout}" in proc.stdout
    assert not list(tmp_path.glob("n*/results/cache/*/images-48px/*.npy"))  # stores removed


GROUP_ROBUSTNESS = REPO / "benchmarks" / "group_robustness.py"


def load_group_robustness():
    import importlib.util

    spec = importlib.util.spec_from_file_location("group_robustness", GROUP_ROBUSTNESS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_group_robustness_config_is_valid_and_its_default_size_measures_blond_men(tmp_path):
    """The benchmark's run config passes the schema with no group_rates, DFR on, groups by
    Blond_Hair; at the default size the generator's rate of blond men (measured on 60,000 drawn
    faces) puts at least min_group_size of them in the test split, in expectation."""
    import shutil

    from celeba_gender import synth

    bench = load_group_robustness()
    args = bench.parse_args(["--out", str(tmp_path)])
    shutil.copytree(REPO / "config", tmp_path / "config")
    import yaml

    (tmp_path / "group_robustness.yaml").write_text(yaml.safe_dump(bench.run_config(args)))
    paths = bench.paths_of(tmp_path)
    assert paths.experiment.endswith("group_robustness")
    config = bench.run_config(args)
    assert "group_rates" not in config["synthetic"] and config["train"]["dfr"] is True
    attributes = synth.sample_attributes(60_000, 0)
    rate = ((attributes["Male"] == 1) & (attributes["Blond_Hair"] == 1)).mean()
    assert 1 / 200 < rate < 1 / 100  # CelebA: about 1 in 120
    assert args.images * args.split[2] * rate >= args.min_group_size


@pytest.mark.heavy
def test_group_robustness_smoke_prints_erm_and_dfr_worst_group_last(tmp_path: Path) -> None:
    """benchmarks/group_robustness.py at 300 images, 32 px, 1 epoch: every group of both kinds
    and checkpoints, the too-small note (no blond man in the test split at this size) and the
    ERM and DFR worst-group lines last."""
    import os

    cmd = [sys.executable, str(GROUP_ROBUSTNESS), "--images", "300", "--split", "0.5", "0.25",
           "0.25", "--image-size", "32", "--epochs", "1", "--batch-size", "32",
           "--min-group-size", "5", "--out", str(tmp_path / "bench")]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO / "scripts")}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    lines = proc.stdout.strip().splitlines()
    for kind in ("erm", "dfr"):
        for checkpoint in ("last", "best"):
            assert f"{kind} {checkpoint}:" in lines
    assert sum("male · blond hair" in line for line in lines) >= 4
    assert "too few to measure" in proc.stdout
    number = r"\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]"
    assert re.fullmatch(rf"erm worst-group accuracy \(best checkpoint\): {number} .+ n \d+", lines[-2])  # fmt: skip
    assert re.fullmatch(rf"dfr worst-group accuracy \(best checkpoint\): {number} .+ n \d+", lines[-1])  # fmt: skip
    assert (tmp_path / "bench" / "summary.json").is_file()


def test_code_size_counts_each_group_and_leaves_out_docstrings_and_comments(
    tmp_path: Path,
) -> None:
    """benchmarks/code_size.py on a two-commit repository: the groups, the code lines (no blank
    line, comment or docstring), rules and report() declarations, and the comparison line."""
    files = {
        "Snakefile": 'include: "rules/a.smk"\n\n# a comment\n',
        "rules/a.smk": 'rule a:\n    output:\n        report("x.png", caption="c.rst"),\n',
        "scripts/w.py": '"""A wrapper."""\n\nprint(1)\n',
        "scripts/celeba_gender/m.py": (
            '"""Doc."""\n\n\ndef f(x):\n    """Doc\n    on two lines."""\n'
            '    # a comment\n    return {\n        "k": x,\n    }\n'
        ),
        "tests/t.py": "print(2)\n",  # not counted
    }
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    (tmp_path / "scripts/w.py").write_text('"""A wrapper."""\n')
    subprocess.run([*git, "commit", "-qam", "two"], check=True)
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import code_size
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    first = code_size.measure(tmp_path, "HEAD~1")
    assert first == {
        **{"rules_lines": 6, "rules_code": 4, "wrappers_lines": 3, "wrappers_code": 1},
        **{"package_lines": 10, "package_code": 4, "modules": 1, "rules": 1},
        **{"report_declarations": 1, "total_lines": 19, "total_code": 9},
    }
    script = [sys.executable, str(REPO / "benchmarks/code_size.py"), "--repo", str(tmp_path)]
    proc = subprocess.run([*script, "HEAD~1", "HEAD"], capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines()[-1] == "HEAD against HEAD~1: lines -2, code lines -1"


def test_compare_runs_tells_timings_from_numbers(tmp_path: Path) -> None:
    """benchmarks/compare_runs.py on two small results folders: identical files counted, a model
    file and a history that differ only by their timings named with what differs inside, logs
    left out, and a differing metrics.csv failing the run."""
    import torch

    for side, seconds in (("before", 1.5), ("after", 2.5)):
        root = tmp_path / side
        (root / "models").mkdir(parents=True)
        (root / "logs").mkdir()
        (root / "logs" / "x.log").write_text(side)  # left out
        (root / "metrics.csv").write_text("model,accuracy\na,0.5\n")
        torch.save({"w": torch.ones(2), "seconds": seconds}, root / "models" / "model.pt")
        (root / "models" / "history.csv").write_text(f"epoch,loss,seconds\n1,0.7,{seconds}\n")
    script = [sys.executable, str(REPO / "benchmarks" / "compare_runs.py")]
    dirs = [str(tmp_path / "before"), str(tmp_path / "after")]
    proc = subprocess.run([*script, *dirs], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "differs: models/history.csv  (differing inside: seconds)" in lines
    assert "differs: models/model.pt  (differing inside: /seconds)" in lines
    assert lines[-1] == (
        "1 identical, 2 differing, 0 only before, 0 only after; metrics.csv: all identical"
    )
    (tmp_path / "after" / "metrics.csv").write_text("model,accuracy\na,0.6\n")
    proc = subprocess.run([*script, *dirs], capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[-1].endswith("metrics.csv: differs: metrics.csv")
