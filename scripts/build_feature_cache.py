"""Snakemake wrapper: compute the frozen VGG-16 layers of one split for the whole grid."""

from celeba_gender.jobs import build_cache_job
from celeba_gender.runlog import job_logging

with job_logging(snakemake.log[0]) as log:
    timing = build_cache_job(
        weights_path=snakemake.input.weights,
        split_csv=snakemake.input.split,
        store_npy=snakemake.input.store,
        out={"prefix": snakemake.output.prefix, "features": snakemake.output.features},
        image_size=snakemake.params.image_size,
        views=snakemake.params.views,
        dtype=snakemake.params.dtype,
        batch_size=snakemake.params.batch_size,
        device=snakemake.params.device,
        threads=snakemake.threads,
    )
    log.info("cache built: %.1f s, %.1f images/s", timing["seconds"], timing["images_per_second"])
