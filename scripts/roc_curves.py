"""Snakemake wrapper of rule roc_curves: ROC curves of every model on one figure, with AUC."""

from celeba_gender.plots import RocCurvesJob, roc_curves
from celeba_gender.runlog import job_logging
from celeba_gender.snakejob import from_snakemake

with job_logging(snakemake.log[0]):
    roc_curves(from_snakemake(RocCurvesJob, snakemake))
