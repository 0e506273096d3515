"""Snakemake wrapper: Grad-CAM maps of a fixed set of test images for one model."""

from celeba_gender.gradcam import GradcamJob, gradcam_job
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]):
    gradcam_job(from_snakemake(GradcamJob, snakemake))
