"""Snakemake wrapper of rule ingest: read a CelebA layout's attributes and check every image."""

from celeba_gender.ingest import IngestJob, ingest
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]):
    ingest(from_snakemake(IngestJob, snakemake))
