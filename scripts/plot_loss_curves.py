"""Snakemake wrapper of rule plot_loss_curves: the loss curves of every model on one figure."""

from celeba_gender.plots import LossCurvesJob, plot_loss_curves
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]):
    plot_loss_curves(from_snakemake(LossCurvesJob, snakemake))
