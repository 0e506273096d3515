"""Snakemake wrapper of rule dfr."""

from celeba_gender.dfr import DfrJob, dfr
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]):
    dfr(from_snakemake(DfrJob, snakemake))
