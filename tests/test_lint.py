"""The project's lint (ruff, snakefmt, snakemake --lint) as a test, so that the README's test
command catches a formatting slip before CI does (CI runs the same script, .ci/lint); and the
filter that judges ``snakemake --lint json`` (.ci/lint_filter.py) fails on a crash, on no output
and on any finding but the conda/container demand."""

import json
import subprocess
import sys

import pytest

from conftest import REPO

FILTER = REPO / ".ci" / "lint_filter.py"
CONDA = {
    "title": "Specify a conda environment or container for each rule.",
    "body": "This way, the used software for each specific step is documented, ...",
    "links": ["https://snakemake.readthedocs.io/en/latest/snakefiles/deployment.html"],
}
OTHER = {
    "title": "Param is a callable",
    "body": "Use a lambda or a function ...",
    "links": [],
}


def lint_document(*lints: dict, snakefile_lints: tuple = ()) -> str:
    """A ``snakemake --lint json`` document: one rule per lint, and the Snakefile's lints."""
    where = {"rule": "train", "line": 4, "snakefile": "rules/train.smk"}
    return json.dumps(
        {
            "snakefiles": [{"for": {"snakefile": "Snakefile"}, "lints": list(snakefile_lints)}]
            if snakefile_lints
            else [],
            "rules": [{"for": where, "lints": [lint]} for lint in lints],
        }
    )


def judge(text: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(FILTER)], input=text, capture_output=True, text=True, timeout=60
    )


def test_lint_is_clean():
    proc = subprocess.run(
        ["bash", str(REPO / ".ci" / "lint")], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f".ci/lint failed:\n{proc.stdout}\n{proc.stderr}"
    assert "snakemake --lint: clean" in proc.stdout


CRASH = """Traceback (most recent call last):
  File "snakemake/cli.py", line 2401, in main
SyntaxError in file rules/train.smk, line 12
"""


@pytest.mark.parametrize(
    "output",
    ["", "\n", CRASH, "Lints for rule train (line 4, rules/train.smk):\n", "[]", '{"rules": []}'],
    ids=["empty", "blank", "traceback", "text-lints", "json-list", "json-without-snakefiles"],
)
def test_the_lint_filter_fails_on_output_that_is_no_lint_document(output):
    proc = judge(output)
    assert proc.returncode != 0 and "no lint document" in proc.stdout, proc.stdout


def test_the_lint_filter_passes_only_the_conda_demand():
    proc = judge(lint_document(CONDA, CONDA))
    assert proc.returncode == 0 and "clean" in proc.stdout, proc.stdout
    assert judge(lint_document()).returncode == 0  # no lint at all


@pytest.mark.parametrize(
    "document",
    [lint_document(CONDA, OTHER), lint_document(CONDA, snakefile_lints=(OTHER,))],
    ids=["rule", "snakefile"],
)
def test_the_lint_filter_fails_on_any_other_finding(document):
    proc = judge(document)
    assert proc.returncode == 1 and "Param is a callable" in proc.stdout, proc.stdout
