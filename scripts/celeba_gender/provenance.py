"""What produced the results: the workflow's commit, package versions, the training device(s),
the host and the full resolved config."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Provenance:
    """What produced the results: ``items`` (Item, Value rows: commit, versions, device, host)
    and ``config``, the full resolved config as YAML text."""

    items: pd.DataFrame
    config: str


def config_yaml(config: Mapping) -> str:
    """The config as block YAML in its own key order (values YAML cannot hold become strings)."""
    import yaml

    plain = json.loads(json.dumps(config, default=str))
    return yaml.safe_dump(plain, sort_keys=False, default_flow_style=False, allow_unicode=True)


def device_names(devices: Iterable[object]) -> str:
    """The distinct non-empty device names, sorted and comma-separated; "unknown" when none."""
    names = {str(d).strip() for d in devices if d is not None and not pd.isna(d)}
    return ", ".join(sorted(n for n in names if n)) or "unknown"


def git_commit(workflow_dir: str | os.PathLike) -> str:
    """``git describe --always --dirty`` of the workflow's checkout (a 12-digit hash)."""
    command = ["git", "-C", str(workflow_dir), "describe", "--always", "--dirty", "--abbrev=12"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return done.stdout.strip()


def provenance(
    config: Mapping, workflow_dir: str | os.PathLike, devices: Iterable[object]
) -> Provenance:
    """Git commit, package versions, the training device(s) and the full resolved config."""
    import torch
    import torchvision

    try:
        import snakemake

        snakemake_version = snakemake.__version__
    except ImportError:  # the report can also be rendered outside Snakemake
        snakemake_version = "not installed"
    rows = [
        ("workflow commit", git_commit(workflow_dir)),
        ("python", platform.python_version()),
        ("torch", torch.__version__),
        ("torchvision", torchvision.__version__),
        ("snakemake", snakemake_version),
        ("training device(s)", device_names(devices)),
        ("host", platform.node()),
    ]
    return Provenance(pd.DataFrame(rows, columns=["Item", "Value"]), config_yaml(config))
