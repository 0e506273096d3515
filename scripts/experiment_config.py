"""Snakemake wrapper of rule experiment_config: the experiment's resolved config."""

from celeba_gender.config import ExperimentConfigJob, experiment_config
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]):
    experiment_config(from_snakemake(ExperimentConfigJob, snakemake))
