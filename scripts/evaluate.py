"""Snakemake wrapper: test-set metrics and per-image predictions of one trained model."""

from celeba_gender.jobs import evaluate_job
from celeba_gender.runlog import job_logging

with job_logging(snakemake.log[0]):
    evaluate_job(
        model_path=snakemake.input.model,
        test_csv=snakemake.input.test,
        kind=snakemake.params.kind,
        test_input=snakemake.input.test_input,
        weights_path=snakemake.input.weights,
        image_size=snakemake.params.image_size,
        cache_dtype=snakemake.params.cache_dtype,
        device=snakemake.params.device,
        threads=snakemake.threads,
        batch_size=snakemake.params.batch_size,
        name=snakemake.wildcards.model,
        checkpoint_name=snakemake.wildcards.checkpoint,
        out_metrics=snakemake.output.metrics,
        out_predictions=snakemake.output.predictions,
    )
