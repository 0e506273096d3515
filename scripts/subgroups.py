"""Snakemake wrapper: subgroup audit (accuracy, FPR, FNR by attribute; worst group) of one model."""

import pandas as pd

from celeba_gender.io import write_csv, write_json
from celeba_gender.plots import plot_subgroup_heatmap
from celeba_gender.runlog import job_logging
from celeba_gender.stats import subgroup_accuracy_matrix, subgroup_metrics

with job_logging(snakemake.log[0]) as log:
    predictions = pd.read_csv(snakemake.input.predictions, dtype={"image_id": str})
    metadata = pd.read_csv(snakemake.input.metadata, dtype={"image_id": str}).drop(columns=["path"])
    attributes, groups, summary = subgroup_metrics(
        predictions, metadata, min_group_size=snakemake.params.min_group_size
    )
    write_csv(snakemake.output.attributes, attributes)
    write_csv(snakemake.output.groups, groups)
    write_json(snakemake.output.summary, summary)
    plot_subgroup_heatmap(
        *subgroup_accuracy_matrix(groups),
        snakemake.output.heatmap,
        title=f"{snakemake.wildcards.model}: test accuracy by group",
    )
    log.info("worst group: %s", summary["worst_group"])
