"""Snakemake wrapper of rule compare_experiments: every finished experiment side by side."""

from celeba_gender.experiments import CompareJob, compare_experiments
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]):
    compare_experiments(from_snakemake(CompareJob, snakemake))
