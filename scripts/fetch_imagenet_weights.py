"""Snakemake wrapper of rule fetch_imagenet_weights: the hash-checked ImageNet VGG-16 weights."""

from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake
from celeba_gender.weights import FetchImagenetJob, fetch_imagenet_weights

with job_logging(snakemake.log[0]):
    fetch_imagenet_weights(from_snakemake(FetchImagenetJob, snakemake))
