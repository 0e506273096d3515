"""The test infrastructure itself (tests/conftest.py): the dry-run parser never reads a plan it
cannot parse as empty, code edits never touch the checkout, the shared runs' copy of the tree
holds what the workflow reads, keyed by content."""

from __future__ import annotations

import pytest

from conftest import (
    REPO,
    TREE_FILE,
    PlanParseError,
    parse_job_stats,
    touched_plan,
    tree_files,
    tree_key,
    tree_of,
)

STATS = """Building DAG of jobs...
Job stats:
job                     count
--------------------  -------
train                       2
report                      1
all                         1
total                       4

"""
NOTHING = "Building DAG of jobs...\nNothing to be done (all requested files are present and up to date).\n"


def test_a_plan_is_read_from_the_job_stats_printed_once_or_twice():
    assert parse_job_stats(STATS) == {"train": 2, "report": 1, "all": 1}
    assert parse_job_stats(STATS + "Reasons: ...\n" + STATS) == {"train": 2, "report": 1, "all": 1}


def test_nothing_to_be_done_is_the_empty_plan():
    assert parse_job_stats(NOTHING) == {}


@pytest.mark.parametrize(
    "output",
    [
        "",
        "Traceback (most recent call last):\n  ...\nWorkflowError: ...\n",
        STATS.replace("total                       4", "total                       5"),
        STATS.replace("total                       4\n", ""),
        STATS.replace("report                      1", "report   one"),
        STATS.replace("all ", "train "),
        STATS + STATS.replace("train                       2", "train                       3"),
        NOTHING + STATS,
        "Job stats:\njob  count\n---  -----\ntotal 0\n",
    ],
    ids=[
        "empty",
        "crash",
        "total-not-the-sum",
        "no-total",
        "bad-row",
        "rule-twice",
        "tables-differ",
        "nothing-and-stats",
        "no-rows",
    ],
)
def test_output_that_is_no_readable_plan_raises_with_the_output(output):
    with pytest.raises(PlanParseError, match="cannot be read as a plan"):
        parse_job_stats(output)


def test_code_edits_refuse_the_checkout(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    assert tree_of(run) == REPO  # a workdir without a tree file runs the checkout
    with pytest.raises(AssertionError, match="never edit the checkout"):
        touched_plan(run, REPO / "scripts" / "celeba_gender" / "plots.py")
    (run / TREE_FILE).write_text(f"{tmp_path / 'tree'}\n")
    with pytest.raises(AssertionError, match="never edit the checkout"):
        touched_plan(run, REPO / "scripts" / "celeba_gender" / "plots.py")  # not in its tree


def test_the_copy_holds_the_workflow_and_its_test_configs_not_the_tests_or_docs():
    files = tree_files()
    assert {"Snakefile", "config/config.yaml", "tests/data/tiny.yaml"} <= set(files)
    assert any(f.startswith("rules/") for f in files) and any(
        f.startswith("scripts/") for f in files
    )
    assert not [f for f in files if f.startswith(("docs/", ".ci/")) or f == "tests/conftest.py"]
    assert tree_key() == tree_key() and len(tree_key()) == 16
