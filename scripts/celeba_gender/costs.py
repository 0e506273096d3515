"""The cost of a run: wall time, CPU time and peak memory of each job, read from the Snakemake
``benchmark:`` files of the config's jobs."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from celeba_gender.io import ReportError
from celeba_gender.metrics_table import number_text

BENCHMARK_HEADER = "s h:m:s max_rss max_vms max_uss max_pss io_in io_out mean_load cpu_time"
COST_COLUMNS = ("job", "wall (s)", "CPU (s)", "peak RSS (MB)")
# The cost table's columns and the benchmark file's columns they are read from.
BENCHMARK_COLUMNS = {"wall (s)": "s", "CPU (s)": "cpu_time", "peak RSS (MB)": "max_rss"}
COST_TOTAL = "TOTAL (sum of job times)"
COST_NOTE = (
    "Wall time, CPU time and peak memory (RSS) of each job, from its Snakemake benchmark: file. "
    f"The {COST_TOTAL} row adds up the jobs' wall and CPU times: jobs that ran side by side "
    "overlap, so it is not the elapsed time of the run. Its peak RSS is the largest job's."
)


def read_benchmark(path: str | os.PathLike) -> dict[str, float]:
    """Wall seconds, CPU seconds and peak RSS (MB) of a Snakemake ``benchmark:`` file (its last
    row: the last repeat). Values Snakemake could not measure ("NA", "-") are NaN."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, sep="\t")
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ReportError(f"{path}: not a Snakemake benchmark file ({err})") from err
    missing = [c for c in BENCHMARK_COLUMNS.values() if c not in frame.columns]
    if frame.empty or missing:
        what = f"no column(s) {', '.join(missing)}" if missing else "no data row"
        raise ReportError(
            f"{path}: not a Snakemake benchmark file ({what}; expected a header "
            f"{BENCHMARK_HEADER} and one row per repeat)"
        )
    last = frame.iloc[-1]
    return {
        name: float(pd.to_numeric(last[column], errors="coerce"))
        for name, column in BENCHMARK_COLUMNS.items()
    }


def cost_table(
    benchmark_files: Iterable[str | os.PathLike], roots: Sequence[str | os.PathLike]
) -> pd.DataFrame:
    """One row per job, in the order given (its benchmark file, named relative to the first of
    ``roots`` holding it, without ``.tsv``), with its wall time, CPU time and peak memory, then a TOTAL row: the sums
    of wall and CPU time and the largest peak; rounded to 0.1. Files that do not exist (jobs
    this run did not need, such as the weights fetch when the file was copied by hand) are left
    out."""
    rows = [
        {"job": _job_name(path, [Path(root) for root in roots]), **read_benchmark(path)}
        for path in map(Path, benchmark_files)
        if path.is_file()
    ]
    table = pd.DataFrame(rows, columns=list(COST_COLUMNS))
    if not table.empty:
        total = table.agg({"wall (s)": "sum", "CPU (s)": "sum", "peak RSS (MB)": "max"})
        table = pd.concat([table, pd.DataFrame([{"job": COST_TOTAL, **total}])], ignore_index=True)
    return table.round(1)


def _job_name(path: Path, roots: Sequence[Path]) -> str:
    """``train/s1_lr1e-4_seed0`` for ``<root>/train/s1_lr1e-4_seed0.tsv`` (the stem outside every
    root)."""
    for root in roots:
        if path.is_relative_to(root):
            return path.relative_to(root).with_suffix("").as_posix()
    return path.stem


def cost_display(table: pd.DataFrame) -> pd.DataFrame:
    """The cost table as shown: every number with one decimal, "—" where none was measured."""
    shown = table.copy()
    for column in COST_COLUMNS[1:]:
        shown[column] = [number_text(value, 1) for value in table[column]]
    return shown
