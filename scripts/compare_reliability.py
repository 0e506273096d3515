"""Snakemake wrapper of rule compare_reliability."""

from celeba_gender.calibration import CompareReliabilityJob, compare_reliability
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]):
    compare_reliability(from_snakemake(CompareReliabilityJob, snakemake))
