"""Snakemake wrapper: draw a seeded random VGG-16 initialisation (NOT pretrained)."""

import numpy as np

from celeba_gender.runlog import job_logging
from celeba_gender.store import to_normalized
from celeba_gender.weights import make_random

with job_logging(snakemake.log[0]) as log:
    images = None
    if len(snakemake.input.store):  # a list: empty when calibration is off
        store = np.load(snakemake.input.store[0], mmap_mode="r")
        images = to_normalized(store[: snakemake.params.n_images])
        log.info("calibrating the classifier on %d unlabelled training images", len(images))
    make_random(snakemake.output[0], seed=snakemake.params.init_seed, calibration_images=images)
    log.info("random VGG-16 weights (NOT pretrained) written to %s", snakemake.output[0])
