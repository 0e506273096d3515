"""Snakemake wrapper: train one (strategy, learning rate, seed) model of the grid."""

from celeba_gender.jobs import TrainJob, train_job
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]):
    train_job(from_snakemake(TrainJob, snakemake))
