"""Snakemake wrapper of rule eda: the study's exploratory tables and figures."""

from celeba_gender.eda import EdaJob, eda
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]):
    eda(from_snakemake(EdaJob, snakemake))
