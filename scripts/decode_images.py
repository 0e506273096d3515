"""Snakemake wrapper: decode a split's images once into a resized uint8 store."""

from celeba_gender.runlog import job_logging
from celeba_gender.store import build_split_store  # no torch: decoding needs PIL and numpy

with job_logging(snakemake.log[0]):
    build_split_store(
        split_csv=snakemake.input.split,
        out_npy=snakemake.output.store,
        image_size=snakemake.params.image_size,
        threads=snakemake.threads,
    )
