"""Snakemake wrapper of rule evaluate: evaluate one model checkpoint on the test set."""

from celeba_gender.jobs import EvaluateJob, evaluate
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]):
    evaluate(from_snakemake(EvaluateJob, snakemake))
