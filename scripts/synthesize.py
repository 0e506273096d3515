"""Snakemake wrapper: write a synthetic CelebA-format dataset (demo and tests)."""

from celeba_gender.runlog import job_logging
from celeba_gender.synth import generate

with job_logging(snakemake.log[0]) as log:
    attributes = generate(
        root=snakemake.params.root,
        n_images=snakemake.params.n,
        seed=snakemake.params.seed,
        layout=snakemake.params.layout,
        workers=snakemake.threads,
    )
    log.info("synthetic dataset written: %s", attributes)
