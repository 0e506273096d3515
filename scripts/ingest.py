"""Snakemake wrapper: read a CelebA layout, check every image, write the metadata table."""

from celeba_gender.ingest import IngestJob, ingest_job
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]) as log:
    ingest_job(from_snakemake(IngestJob, snakemake), log)
