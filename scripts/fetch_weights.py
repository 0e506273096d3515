"""Snakemake wrapper: fetch the ImageNet VGG-16 weights once, hash-checked."""

from celeba_gender.runlog import job_logging
from celeba_gender.weights import fetch_imagenet

with job_logging(snakemake.log[0]) as log:
    path = fetch_imagenet(snakemake.output[0])
    log.info("ImageNet weights ready: %s", path)
