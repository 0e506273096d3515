"""Snakemake wrapper: ROC curves of every model on one figure, with AUC."""

import pandas as pd

from celeba_gender.io import write_csv
from celeba_gender.plots import plot_roc_curves
from celeba_gender.runlog import job_logging

with job_logging(snakemake.log[0]):
    curves = {}
    for model, path in zip(snakemake.params.models, snakemake.input.predictions, strict=True):
        pred = pd.read_csv(path)
        curves[model] = (pred["label"], pred["logit"])  # ranked by logit: no saturated ties
    aucs = plot_roc_curves(curves, snakemake.output.figure)
    write_csv(
        snakemake.output.table, pd.DataFrame({"model": list(aucs), "roc_auc": list(aucs.values())})
    )
