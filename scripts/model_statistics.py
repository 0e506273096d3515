"""Snakemake wrapper of rule model_statistics: intervals, paired comparison and collapse check of every model."""

from celeba_gender.analysis import StatisticsJob, model_statistics
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]):
    model_statistics(from_snakemake(StatisticsJob, snakemake))
