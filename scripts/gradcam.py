"""Snakemake wrapper: Grad-CAM maps of a fixed set of test images for one model."""

import pandas as pd

from celeba_gender.analysis import gradcam_job
from celeba_gender.jobs import load_model_file, read_split
from celeba_gender.runlog import job_logging
from celeba_gender.store import open_store

with job_logging(snakemake.log[0]):
    model, _ = load_model_file(snakemake.input.model)
    n = len(read_split(snakemake.input.test))
    store = open_store(
        snakemake.input.store, expected_n=n, expected_size=snakemake.params.image_size
    )
    gradcam_job(
        model,
        store,
        pd.read_csv(snakemake.input.predictions, dtype={"image_id": str}),
        n=snakemake.params.n_images,
        out_png=snakemake.output.figure,
        title=f"Grad-CAM of {snakemake.wildcards.model} (last conv block)",
    )
