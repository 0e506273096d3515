"""Snakemake wrapper: compute the frozen VGG-16 layers of one split for the whole grid."""

from celeba_gender.jobs import CacheJob, build_cache_job
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]) as log:
    timing = build_cache_job(from_snakemake(CacheJob, snakemake))
    log.info("cache built: %.1f s, %.1f images/s", timing["seconds"], timing["images_per_second"])
