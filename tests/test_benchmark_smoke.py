"""Smoke test of benchmarks/grid_speed.py: the whole comparison runs at the smallest settings."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "grid_speed.py"


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
