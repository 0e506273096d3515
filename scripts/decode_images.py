"""Snakemake wrapper of rule decode_images: decode one split's images once into the store."""

from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake
from celeba_gender.store import DecodeJob, decode_images

with job_logging(snakemake.log[0]):
    decode_images(from_snakemake(DecodeJob, snakemake))
