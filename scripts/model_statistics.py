"""Snakemake wrapper: CIs per model and over seeds, paired comparison, collapse detection."""

from celeba_gender.analysis import StatisticsJob, statistics_job
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]):
    statistics_job(from_snakemake(StatisticsJob, snakemake))
