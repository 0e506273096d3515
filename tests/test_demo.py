"""The demo learns: a test that can fail on learning, not only on plumbing.

Runs the README's demo (config/demo.yaml: 1,200 synthetic faces, 120 test images, a random
backbone) end to end and checks that the best model by validation accuracy beats the
majority-class rate on the test set by a margin taken from measured runs (see MARGIN_PP).
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pandas as pd
import pytest

from celeba_gender.metrics_table import best_model
from conftest import REPO

# Measured with the default config (fp32): best-by-validation test accuracy minus the
# majority-class rate, in percentage points. At 120 test images one standard error of an accuracy
# near 65% is ~4.4 pp, so the margin asked for is about two standard errors above chance-level
# answering and well below what the demo reaches.
MEASURED_PP = 12.5  # docs/demo.md: the demo's result on the final code
MARGIN_PP = 5.0


@pytest.mark.slow
def test_the_demo_s_best_model_beats_the_majority_class_rate(tmp_path):
    shutil.copytree(REPO / "config", tmp_path / "config")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(REPO / "Snakefile"),
            "-d",
            str(tmp_path),
            "--cores",
            "2",
            "--configfile",
            str(tmp_path / "config" / "demo.yaml"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    metrics = pd.read_csv(tmp_path / "results/report/metrics.csv")
    best = best_model(metrics)
    test = pd.read_csv(tmp_path / "results/splits/test.csv")
    majority = max(test["label"].mean(), 1 - test["label"].mean())
    margin_pp = 100 * (best["test_accuracy"] - majority)
    print(
        f"best by validation: {best['model']} ({best['checkpoint']}), test accuracy "
        f"{best['test_accuracy']:.2%}, majority rate {majority:.2%}: {margin_pp:+.1f} pp"
    )
    assert margin_pp >= MARGIN_PP
