"""Snakemake wrapper of rule model_card."""

from celeba_gender.modelcard import ModelCardJob, model_card
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]):
    model_card(from_snakemake(ModelCardJob, snakemake))
