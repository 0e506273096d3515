"""Snakemake wrapper of rule build_feature_cache: the frozen VGG-16 layers of one split, once for all models."""

from celeba_gender.jobs import CacheJob, build_feature_cache
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]):
    build_feature_cache(from_snakemake(CacheJob, snakemake))
