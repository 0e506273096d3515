"""Snakemake wrapper of rule download: fetch CelebA from Kaggle or the Hub, verified (marker)."""

from celeba_gender.download import DownloadJob, download
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]):
    download(from_snakemake(DownloadJob, snakemake))
