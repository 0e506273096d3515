"""Snakemake wrapper of rule gradcam: Grad-CAM explanations of one model."""

from celeba_gender.gradcam import GradcamJob, gradcam
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]):
    gradcam(from_snakemake(GradcamJob, snakemake))
