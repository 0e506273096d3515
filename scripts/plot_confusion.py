"""Snakemake wrapper: the test-set confusion matrix of one model."""

import json
from pathlib import Path

from celeba_gender.plots import plot_confusion
from celeba_gender.runlog import job_logging

with job_logging(snakemake.log[0]):
    m = json.loads(Path(snakemake.input.metrics).read_text())
    title = f"{snakemake.wildcards.model} ({snakemake.wildcards.checkpoint} epoch {m['epoch']})"
    plot_confusion(m["tn"], m["fp"], m["fn"], m["tp"], snakemake.output.figure, title=title)
