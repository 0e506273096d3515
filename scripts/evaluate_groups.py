"""Snakemake wrapper of rule evaluate_groups."""

from celeba_gender.groups import EvaluateGroupsJob, evaluate_groups
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]):
    evaluate_groups(from_snakemake(EvaluateGroupsJob, snakemake))
