"""Smoke test of benchmarks/grid_speed.py: the whole comparison runs at the smallest settings."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "grid_speed.py"


def test_grid_speed_prints_speedup_as_last_line(tmp_path: Path) -> None:
    cmd = [sys.executable, str(SCRIPT), "--train-images", "16", "--epochs", "1",
           "--image-size", "32", "--threads", "2", "--out", str(tmp_path / "bench")]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"grid speedup: \d+(\.\d+)?", last), last
