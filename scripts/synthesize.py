"""Snakemake wrapper of rule synthesize: generate a synthetic CelebA-format dataset."""

from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake
from celeba_gender.synth import SynthesizeJob, synthesize

with job_logging(snakemake.log[0]):
    synthesize(from_snakemake(SynthesizeJob, snakemake))
