"""Snakemake wrapper: metrics.csv and the self-contained results page."""

from celeba_gender.page import ReportJob, build_report
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]):
    build_report(from_snakemake(ReportJob, snakemake))
