"""DFR against its ERM base model, end to end (heavy tier): a synthetic dataset with a planted
spurious correlation (tests/data/dfr_margin.yaml: P(Blond_Hair | male) = 0.15, P(Blond_Hair |
female) = 0.85, 800 images at 32 px, split 0.4/0.3/0.3, random backbone, strategy 1, one
learning rate, 3 epochs, ``train.dfr: true``, groups by ``Blond_Hair``) run through Snakemake up
to metrics.csv; DFR's worst-group test accuracy must beat its ERM base model's by a margin.

Measured once (2026-12-06, 2 shared CPU cores, snakemake up to metrics.csv: 2 min 8 s), test
split 240 images, groups n = 24 (female · not blond hair), 113 (female · blond hair), 78 (male ·
not blond hair), 25 (male · blond hair):

| checkpoint | ERM worst group        | DFR worst group        | gain  | test accuracy ERM -> DFR |
|------------|------------------------|------------------------|-------|--------------------------|
| last       | 0.040 (male · blond)   | 0.440 (male · blond)   | 0.400 | 0.713 -> 0.600           |
| best       | 0.042 (female · not b.)| 0.400 (male · blond)   | 0.358 | 0.721 -> 0.563           |

The assertion margin, 0.18, is half the smaller measured gain (the run is seeded: a rerun on
the same versions gives the same figures; the margin leaves room for other torch/BLAS builds).
Plainly: DFR helps the worst group here, but its groups end up between 0.40 and 0.75, near
chance for the rare ones, and its average accuracy falls by 11-16 points: the random backbone's
penultimate layer carries little of the core (Male) signal, so rebalancing the last layer mostly
trades the majority groups' accuracy for the minority groups'. The DFR models' validation
worst-group figure in metrics.csv is the held-out half's (n = 7 blond men there: 0.143), not
the test split's.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from celeba_gender import groups
from conftest import REPO, snakemake

CONFIG = REPO / "tests" / "data" / "dfr_margin.yaml"
BASE = "s1_lr1e-4_seed0"
MARGIN = 0.18  # half the smaller measured gain (0.358, best checkpoint)
EXPERIMENT = "results/experiments/dfr_margin"


@pytest.mark.heavy
def test_dfr_beats_its_erm_base_model_on_the_worst_group(tmp_path):
    shutil.copytree(REPO / "config", tmp_path / "config")
    shutil.copy(CONFIG, tmp_path / "tiny.yaml")  # conftest.snakemake's config file name
    snakemake(tmp_path, "--", f"{EXPERIMENT}/report/metrics.csv")
    metrics = pd.read_csv(tmp_path / EXPERIMENT / "report" / "metrics.csv")
    spec = groups.GroupSpec("Male", ("Blond_Hair",))
    assert set(metrics["model"]) == {BASE, f"dfr_{BASE}"}
    assert metrics["min_group_size"].eq(5).all()
    summary = json.loads(
        (tmp_path / EXPERIMENT / "models" / f"dfr_{BASE}" / "dfr.json").read_text()
    )
    for checkpoint in ("last", "best"):
        rows = metrics[metrics["checkpoint"] == checkpoint].set_index("kind")
        erm, dfr = rows.loc["erm"], rows.loc["dfr"]
        for name in spec.names:  # every group measurable, with its interval, in both rows
            n, accuracy, low, high = (dfr[groups.group_column(name, s)] for s in ("n", "accuracy", "low", "high"))  # fmt: skip
            assert n >= 20 and not dfr[groups.group_column(name, "small")], (name, n)
            assert low <= accuracy <= high and n == erm[groups.group_column(name, "n")]
        gain = dfr["worst_group_accuracy"] - erm["worst_group_accuracy"]
        assert gain >= MARGIN, (checkpoint, erm["worst_group_accuracy"], dfr["worst_group_accuracy"])  # fmt: skip
        # the DFR model's validation worst-group figure is its held-out half's (dfr.json)
        assert dfr["val_worst_group_accuracy"] == pytest.approx(
            summary[checkpoint]["heldout_worst_group_accuracy"]
        )
