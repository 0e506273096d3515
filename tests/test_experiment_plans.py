"""What a new experiment shares, from dry runs beside the finished shared tiny run
(``workflow_run``): each setting of ``config.EXPERIMENT_ONLY_SETTINGS`` changed alone in a new
experiment plans no job of a shared rule (the heavy tier; all of them at once: the README's
command), and docs/experiments.md and the README list exactly
those settings; another image size gets its own store beside the first.

The shared rules are derived, not named: the rules whose outputs in the finished run
(``snakemake --summary``) live in the shared folders, results/data/, results/cache/ and the
synthetic dataset's data.root. The overlay configs are written to ``tmp_path``; the shared run
is only read.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from celeba_gender import grid
from celeba_gender.config import EXPERIMENT_ONLY_SETTINGS
from conftest import REPO, planned_jobs, run_paths
from conftest import shared_rules as find_shared_rules

pytestmark = pytest.mark.slow

# Changes tested together as well as alone (the earlier test set epochs and patience at once).
COMBINED = {"train.epochs": 5, "train.early_stopping_patience": 2}


def nested(dotted: dict[str, object]) -> dict:
    """``{"train.epochs": 3}`` as ``{"train": {"epochs": 3}}``."""
    tree: dict = {}
    for key, value in dotted.items():
        *parents, leaf = key.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def overlay(folder: Path, name: str, settings: dict[str, object]) -> Path:
    """A config file (after tiny.yaml) naming a new experiment and changing ``settings``."""
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"experiment": name, **nested(settings)}))
    return path


def plan_with(run: Path, configfile: Path) -> dict[str, int]:
    return planned_jobs(run, "--configfile", str(run / "tiny.yaml"), str(configfile))


@pytest.fixture(scope="module")
def shared_rules(workflow_run) -> set[str]:
    """The rules whose outputs in the finished run live in the shared folders."""
    rules = find_shared_rules(workflow_run)
    assert len(rules) >= 6 and "train" not in rules, rules  # not vacuous
    return rules


def test_the_shared_rules_are_those_of_the_data_split_eda_images_caches_and_weights(shared_rules):
    """The derivation finds the data and cache stages (named here only to show it works)."""
    assert {"ingest", "split", "decode_images", "build_feature_cache"} <= shared_rules
    assert not {"train", "evaluate", "report", "compare_experiments"} & shared_rules


def test_a_new_experiment_changing_every_experiment_only_setting_at_once_plans_nothing_shared(
    workflow_run, shared_rules, tmp_path
):
    """One dry run for the README's command; each setting alone is the heavy tier's (below)."""
    name = "variant-all-experiment-only-settings"
    plan = plan_with(workflow_run, overlay(tmp_path, name, dict(EXPERIMENT_ONLY_SETTINGS)))
    assert plan.get("train", 0) >= 1, plan
    assert not shared_rules & set(plan), plan


@pytest.mark.heavy  # one dry run each (~2.5 s each on 2 cores)
@pytest.mark.parametrize(
    "settings",
    [{key: value} for key, value in EXPERIMENT_ONLY_SETTINGS.items()] + [COMBINED],
    ids=[*EXPERIMENT_ONLY_SETTINGS, "+".join(COMBINED)],
)
def test_a_new_experiment_changing_an_experiment_only_setting_plans_nothing_shared(
    workflow_run, shared_rules, tmp_path, settings
):
    name = "variant-" + "-".join(settings).replace(".", "_")
    plan = plan_with(workflow_run, overlay(tmp_path, name, settings))
    assert plan.get("train", 0) >= 1, plan  # a new experiment: its models are trained
    assert not shared_rules & set(plan), (settings, plan)


def test_an_experiment_with_another_image_size_gets_its_own_store_beside_the_first(
    workflow_run, tmp_path
):
    configfile = overlay(tmp_path, "bigger-images", {"train.image_size": 40})
    paths = run_paths(workflow_run, "tiny.yaml", str(configfile))
    first = run_paths(workflow_run)
    assert paths.data == first.data and paths.images != first.images
    assert paths.features != first.features
    plan = plan_with(workflow_run, configfile)
    assert plan.get("decode_images") == len(grid.SPLITS)
    assert {"ingest", "split", "synthesize"}.isdisjoint(plan), plan


# ---------------------------------------------------------------- the docs list the same settings

SCHEMA = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())


def schema_keys(node: dict = SCHEMA, prefix: str = "") -> list[str]:
    keys = []
    for key, sub in node.get("properties", {}).items():
        keys.append(prefix + key)
        keys += schema_keys(sub, f"{prefix}{key}.")
    return keys


def listed_settings(text: str, start: str, end: str) -> set[str]:
    """The settings named in backticks between ``start`` and ``end`` in ``text``, with
    ``section.*`` read as every key of the section and ``key(s)`` as ``key`` and ``keys``."""
    section = text[text.index(start) : text.index(end, text.index(start))]
    found = set()
    for item in re.findall(r"`([a-z_.*()]+)`", section):
        if item.endswith(".*"):
            found |= {
                k
                for k in schema_keys()
                if k.startswith(item[:-1]) and "." not in k[len(item) - 1 :]
            }
        elif item.endswith("(s)"):
            found |= {item[:-3], item[:-3] + "s"}
        else:
            found.add(item)
    return found


@pytest.mark.parametrize(
    ("doc", "start", "end"),
    [
        ("docs/experiments.md", "that table): ", "The shared rules"),
        ("README.md", "Without rebuilding anything shared an experiment may change", "; another"),
    ],
)
def test_the_docs_list_exactly_the_experiment_only_settings(doc, start, end):
    listed = listed_settings((REPO / doc).read_text(), start, end)
    assert listed == set(EXPERIMENT_ONLY_SETTINGS), (
        f"{doc} lists {sorted(listed - set(EXPERIMENT_ONLY_SETTINGS))} not in "
        f"config.EXPERIMENT_ONLY_SETTINGS, misses {sorted(set(EXPERIMENT_ONLY_SETTINGS) - listed)}"
    )
    assert set(EXPERIMENT_ONLY_SETTINGS) <= set(schema_keys())
