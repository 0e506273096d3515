"""Snakemake wrapper: train and validation loss of every model on one figure (Figure 9)."""

from celeba_gender.metrics_table import load_histories
from celeba_gender.plots import plot_all_loss_curves
from celeba_gender.runlog import job_logging

with job_logging(snakemake.log[0]):
    plot_all_loss_curves(load_histories(snakemake.input.histories), snakemake.output.figure)
