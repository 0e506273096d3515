"""Snakemake wrapper: write the experiment's resolved config into its folder."""

from celeba_gender.configcheck import write_resolved_config
from celeba_gender.runlog import job_logging

with job_logging(snakemake.log[0]) as log:
    write_resolved_config(snakemake.params.config, snakemake.output[0])
    log.info("resolved config written to %s", snakemake.output[0])
