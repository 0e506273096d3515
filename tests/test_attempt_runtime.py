"""The training rule's runtime (``attempt_runtime`` in rules/common.smk) for SLURM retries.

The function is taken from rules/common.smk as written (parsed, not copied) and run with a
config filled in by the schema's defaults, the way the workflow sees it.
"""

from __future__ import annotations

import ast
import copy
import math
import re
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

REPO = Path(__file__).resolve().parents[1]
COMMON_SMK = REPO / "rules" / "common.smk"
SCHEMA = REPO / "config" / "schema.yaml"
FULL_CELEBA_IMAGES = 202599
CONFIGS = ("config/config.yaml", "config/demo.yaml", "tests/data/tiny.yaml")

RuntimeFunction = Callable[[object, int], int]


def load_config(relative_path: str, **data_overrides: object) -> dict:
    """A config file with the schema's defaults filled in, ``data`` keys overridden."""
    config = yaml.safe_load((REPO / relative_path).read_text())
    config.setdefault("data", {}).update(data_overrides)
    validate(config, str(SCHEMA))
    return config


def attempt_runtime_for(config: dict) -> RuntimeFunction:
    """rules/common.smk's ``attempt_runtime``, bound to ``config``."""
    # common.smk is Snakemake, not Python (its wildcard_constraints block): parse the top-level
    # functions, each from its ``def`` to the next line that starts in the first column.
    functions = re.findall(r"^def .*?(?=^\S)", COMMON_SMK.read_text() + "\nEND", re.M | re.S)
    module = ast.parse("\n".join(functions), filename=str(COMMON_SMK))
    found = [
        node
        for node in module.body
        if isinstance(node, ast.FunctionDef) and node.name == "attempt_runtime"
    ]
    assert len(found) == 1, f"{COMMON_SMK} defines attempt_runtime {len(found)} times"
    namespace: dict = {"math": math, "config": copy.deepcopy(config)}
    exec(compile(ast.Module(body=found, type_ignores=[]), str(COMMON_SMK), "exec"), namespace)
    return namespace["attempt_runtime"]


@pytest.mark.parametrize("config_path", CONFIGS)
def test_each_attempt_asks_for_more_minutes_than_the_last(config_path: str) -> None:
    runtime = attempt_runtime_for(load_config(config_path))
    minutes = [runtime(None, attempt) for attempt in (1, 2, 3, 4)]
    assert all(isinstance(value, int) and value > 0 for value in minutes), minutes
    assert all(later > earlier for earlier, later in pairwise(minutes)), minutes


def test_subset_size_null_counts_every_celeba_image() -> None:
    every_image = attempt_runtime_for(load_config("config/config.yaml", subset_size=None))
    full_count = attempt_runtime_for(
        load_config("config/config.yaml", subset_size=FULL_CELEBA_IMAGES)
    )
    study_subset = attempt_runtime_for(load_config("config/config.yaml", subset_size=30000))
    assert every_image(None, 1) == full_count(None, 1)
    assert every_image(None, 1) > study_subset(None, 1)


def test_synthetic_data_counts_the_generated_images() -> None:
    synthetic = load_config("tests/data/tiny.yaml")
    assert synthetic["synthetic"]["enabled"] and synthetic["data"]["subset_size"] is None
    same_size_real = load_config(
        "tests/data/tiny.yaml", subset_size=synthetic["synthetic"]["n_images"]
    )
    same_size_real["synthetic"]["enabled"] = False
    assert attempt_runtime_for(synthetic)(None, 1) == attempt_runtime_for(same_size_real)(None, 1)
