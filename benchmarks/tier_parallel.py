"""Test files one after another against two at a time: what `.ci/run`'s `-n 2` buys.

Runs pytest on the same test files (default: three heavy-tier files that each run a tiny study
of their own) twice in one session: first in one process, one file after the other, then with
pytest-xdist two files at a time (``-n 2 --dist loadfile``, as `.ci/run` runs the heavy tier).
Prints each run's wall time and its child processes' CPU time (user + system: how many of the
machine's cores the tests kept busy), then the speed-up as the last line. Either run failing
stops the script with pytest's output.

    python3 benchmarks/tier_parallel.py
    python3 benchmarks/tier_parallel.py --marker heavy tests/test_module.py tests/test_gpus.py
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FILES = ["tests/test_module.py", "tests/test_groups_workflow.py", "tests/test_gpus.py"]


def cpu_seconds() -> float:
    """User + system CPU time of this process's finished children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_pytest(files: list[str], marker: str, extra: list[str]) -> tuple[float, float]:
    """Wall and child CPU seconds of one pytest run; exits with its output if it fails."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", marker, *extra,
           *files]  # fmt: skip
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    wall, cpu = time.monotonic() - wall0, cpu_seconds() - cpu0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}")
    print(f"  {proc.stdout.strip().splitlines()[-1]}")
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", default=DEFAULT_FILES, help="test files")
    parser.add_argument("--marker", default="heavy", help="pytest -m expression")
    args = parser.parse_args()
    print(f"test files: {' '.join(args.files)} (-m {args.marker}); {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    runs = {}
    for name, extra in (("one by one", []), ("two at a time", ["-n", "2", "--dist", "loadfile"])):
        wall, cpu = run_pytest(args.files, args.marker, extra)
        runs[name] = wall
        print(f"{name:14s} wall {wall:7.1f} s  CPU {cpu:7.1f} s  cores busy {cpu / wall:.2f}")
    print(f"speed-up of two at a time: {runs['one by one'] / runs['two at a time']:.2f}")


if __name__ == "__main__":
    main()
