"""Snakemake wrapper: decode a split's images once into a resized uint8 store."""

from celeba_gender.jobs import build_store_job
from celeba_gender.runlog import job_logging

with job_logging(snakemake.log[0]):
    build_store_job(
        split_csv=snakemake.input.split,
        out_npy=snakemake.output.store,
        image_size=snakemake.params.image_size,
        threads=snakemake.threads,
    )
