"""Snakemake wrapper of rule random_weights: a seeded random VGG-16 initialisation (NOT pretrained)."""

from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake
from celeba_gender.weights import RandomWeightsJob, random_weights

with job_logging(snakemake.log[0]):
    random_weights(from_snakemake(RandomWeightsJob, snakemake))
