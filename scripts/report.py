"""Snakemake wrapper of rule report: metrics.csv and the self-contained results page."""

from celeba_gender.report import ReportJob, report
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]):
    report(from_snakemake(ReportJob, snakemake))
