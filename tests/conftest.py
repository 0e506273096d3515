"""Shared fixtures: small synthetic CelebA datasets in each layout, made once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from celeba_gender.paths import WorkflowPaths

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "data" / "tiny.yaml"

LAYOUTS = ("kaggle", "celeba30k", "original", "huggingface")
N_SYNTH_IMAGES = 40
SYNTH_SEED = 3


@pytest.fixture(scope="session")
def synthetic_roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One read-only synthetic dataset per layout (same seed, so the same images and labels)."""
    from celeba_gender import synth  # imported here so tests without datasets do not need it

    roots = {}
    for layout in LAYOUTS:
        root = tmp_path_factory.mktemp(f"synth_{layout}")
        synth.generate(root, N_SYNTH_IMAGES, SYNTH_SEED, layout)
        roots[layout] = root
    return roots


@pytest.fixture
def dataset_copy(synthetic_roots: dict[str, Path], tmp_path: Path) -> Callable[[str], Path]:
    """Return a function copying a layout's synthetic dataset into ``tmp_path`` (to modify)."""

    def copy(layout: str = "kaggle") -> Path:
        dest = tmp_path / f"data_{layout}"
        shutil.copytree(synthetic_roots[layout], dest)
        return dest

    return copy


@pytest.fixture(scope="session")
def n_images() -> int:
    """Number of images in each synthetic dataset of ``synthetic_roots``."""
    return N_SYNTH_IMAGES


# ---------------------------------------------------------------- the workflow as a subprocess


def snakemake_command(workdir: Path, *args: str, configfile: str | None = "tiny.yaml") -> list:
    """The command that runs the repository's Snakefile in ``workdir`` on 2 cores and 1 GPU slot,
    with ``workdir/configfile`` (None: the workflow's own config/config.yaml only)."""
    config = ["--configfile", str(workdir / configfile)] if configfile else []
    return [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
            "--cores", "2", "--resources", "gpu=1", *config, *args]  # fmt: skip


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the repository's Snakefile in ``workdir`` (which holds a config/ copy)."""
    cmd = snakemake_command(workdir, *args)
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=1800)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def tiny_text(**overrides: str) -> str:
    """tests/data/tiny.yaml with each key of ``overrides`` (a piece of its text) replaced."""
    text = TINY.read_text()
    for key, value in overrides.items():
        text = text.replace(key, value)
    return text


def make_workdir(path: Path, **overrides) -> Path:
    shutil.copytree(REPO / "config", path / "config")
    (path / "tiny.yaml").write_text(tiny_text(**overrides))
    return path


def _resolve(texts: list[str], schema: Path) -> dict:
    """The config Snakemake runs from these YAML texts, each updating the last, numbers
    coerced and schema defaults filled in, as rules/common.smk does."""
    import yaml
    from snakemake.utils import update_config, validate

    from celeba_gender.configcheck import coerce_numbers

    config: dict = {}
    for text in texts:
        update_config(config, yaml.safe_load(text) or {})
    coerce_numbers(config, yaml.safe_load(schema.read_text()))
    validate(config, str(schema))
    return config


def resolved_config(workdir: Path, *configfiles: str) -> dict:
    """The config of a run in ``workdir`` with ``configfiles`` (relative to it) after the
    workflow's own config/config.yaml."""
    names = ("config/config.yaml", *configfiles)
    return _resolve([(workdir / n).read_text() for n in names], workdir / "config/schema.yaml")


def run_paths(workdir: Path, *configfiles: str) -> WorkflowPaths:
    """Where the run in ``workdir`` with ``configfiles`` (default: the tests' tiny.yaml) puts
    everything: the same ``celeba_gender.paths`` derivation as the rules'."""
    return WorkflowPaths.from_config(resolved_config(workdir, *(configfiles or ("tiny.yaml",))))


def tiny_paths(**overrides: str) -> WorkflowPaths:
    """The paths of a run of ``make_workdir(path, **overrides)`` (no folder needed)."""
    texts = [(REPO / "config/config.yaml").read_text(), tiny_text(**overrides)]
    return WorkflowPaths.from_config(_resolve(texts, REPO / "config/schema.yaml"))


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Rule -> number of jobs a dry run would execute."""
    out = snakemake(workdir, "-n", "--quiet", "rules", *args).stdout
    jobs = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("total", "job"):
            jobs[parts[0]] = int(parts[1])
    return jobs


def touched_plan(run: Path, path: Path) -> dict[str, int]:
    """The jobs a dry run of ``run`` plans after the file at ``path`` was edited.

    Snakemake 9 compares checksums of inputs, so a bare mtime bump is not an edit: a comment is
    appended, and the file (content and times) is restored afterwards.
    """
    text, before = path.read_text(), path.stat()
    try:
        path.write_text(text + "\n# edited by the tests\n")
        return planned_jobs(run)
    finally:
        path.write_text(text)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


@pytest.fixture(scope="session")
def workflow_run(tmp_path_factory) -> Path:
    """A finished run of the whole workflow on the tiny synthetic config (shared by the session)."""
    workdir = make_workdir(tmp_path_factory.mktemp("workflow"))
    snakemake(workdir)
    return workdir
