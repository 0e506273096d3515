"""Snakemake wrapper of rule subgroups: subgroup audit of one model."""

from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake
from celeba_gender.subgroups import SubgroupsJob, subgroups

with job_logging(snakemake.log[0]):
    subgroups(from_snakemake(SubgroupsJob, snakemake))
