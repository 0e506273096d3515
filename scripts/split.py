"""Snakemake wrapper of rule split: stratified train/val/test split with a fixed seed."""

from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake
from celeba_gender.split import SplitJob, split

with job_logging(snakemake.log[0]):
    split(from_snakemake(SplitJob, snakemake))
