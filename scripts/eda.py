"""Snakemake wrapper for the EDA rules: one table and/or figure per rule (``params.kind``)."""

from celeba_gender.eda import EdaJob, eda_job
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]):
    eda_job(from_snakemake(EdaJob, snakemake))
