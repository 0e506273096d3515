"""Snakemake wrapper: test-set metrics and per-image predictions of one trained model."""

from celeba_gender.jobs import EvaluateJob, evaluate_job
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]):
    evaluate_job(from_snakemake(EvaluateJob, snakemake))
