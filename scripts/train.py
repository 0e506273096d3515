"""Snakemake wrapper of rule train: train one model of the grid."""

from celeba_gender.jobs import TrainJob, train
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]):
    train(from_snakemake(TrainJob, snakemake))
