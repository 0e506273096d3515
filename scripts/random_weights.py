"""Snakemake wrapper: draw a seeded random VGG-16 initialisation (NOT pretrained)."""

from celeba_gender.runlog import job_logging
from celeba_gender.weights import make_random

with job_logging(snakemake.log[0]) as log:
    make_random(snakemake.output[0], seed=int(snakemake.wildcards.init_seed))
    log.info("random VGG-16 weights (NOT pretrained) written to %s", snakemake.output[0])
