"""Snakemake wrapper of rule calibrate."""

from celeba_gender.calibrate import CalibrateJob, calibrate
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]):
    calibrate(from_snakemake(CalibrateJob, snakemake))
