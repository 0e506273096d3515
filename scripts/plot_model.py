"""Snakemake wrapper: accuracy/loss curves and the per-epoch table of one model."""

import pandas as pd

from celeba_gender.plots import history_table_figure, plot_history
from celeba_gender.runlog import job_logging

with job_logging(snakemake.log[0]):
    history = pd.read_csv(snakemake.input.history)
    name = snakemake.wildcards.model
    plot_history(history, snakemake.output.curves, title=f"{name}: accuracy and loss per epoch")
    history_table_figure(history, snakemake.output.table, title=f"{name}: per-epoch results")
