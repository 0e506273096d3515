"""Snakemake wrapper for the EDA rules: one figure or table per rule (the rule name picks it)."""

import pandas as pd

from celeba_gender import eda
from celeba_gender.io import write_csv
from celeba_gender.runlog import job_logging

with job_logging(snakemake.log[0]) as log:
    meta = pd.read_csv(snakemake.input.metadata, dtype={"image_id": str})
    out = snakemake.output
    if snakemake.rule == "eda_samples":
        eda.plot_sample_images(meta, out.figure, n=5, seed=snakemake.params.seed)
    elif snakemake.rule == "eda_gender_counts":
        counts = eda.gender_counts(meta)
        write_csv(out.table, counts)
        eda.plot_gender_counts(counts, out.figure)
        log.info("gender counts:\n%s", counts.to_string(index=False))
    elif snakemake.rule == "eda_nulls":
        write_csv(out.table, eda.null_counts(meta))
    elif snakemake.rule == "eda_attribute_counts":
        counts = eda.attribute_counts(meta)
        write_csv(out.table, counts)
        eda.plot_attribute_counts(counts, out.figure)
    elif snakemake.rule == "eda_correlations":
        corr = eda.attribute_correlations(meta)
        write_csv(out.table, corr)
        eda.plot_correlations(corr, out.figure)
    else:
        raise ValueError(f"scripts/eda.py does not serve rule {snakemake.rule!r}")
