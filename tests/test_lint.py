"""The project's lint (ruff, snakefmt, snakemake --lint) as a test, so that the README's test
command catches a formatting slip before CI does (CI runs the same script, .ci/lint)."""

import subprocess

from conftest import REPO


def test_lint_is_clean():
    proc = subprocess.run(
        ["bash", str(REPO / ".ci" / "lint")], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f".ci/lint failed:\n{proc.stdout}\n{proc.stderr}"
    assert "snakemake --lint: clean" in proc.stdout
