"""Snakemake wrapper: CIs per model and over seeds, paired comparison, collapse detection."""

from celeba_gender.analysis import statistics_job
from celeba_gender.runlog import job_logging

with job_logging(snakemake.log[0]):
    statistics_job(
        metrics_files=snakemake.input.metrics,
        prediction_files=snakemake.input.predictions,
        models=snakemake.params.models,
        n_boot=snakemake.params.n_boot,
        out_per_model=snakemake.output.per_model,
        out_per_config=snakemake.output.per_config,
        out_collapse=snakemake.output.collapse,
        out_comparison=snakemake.output.comparison,
    )
