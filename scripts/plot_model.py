"""Snakemake wrapper of rule plot_model: one model's curves, per-epoch table and confusion matrices."""

from celeba_gender.plots import PlotModelJob, plot_model
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]):
    plot_model(from_snakemake(PlotModelJob, snakemake))
