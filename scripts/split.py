"""Snakemake wrapper: stratified train/val/test split with a fixed seed."""

import pandas as pd

from celeba_gender.io import write_csv
from celeba_gender.runlog import job_logging
from celeba_gender.split import stratified_split, summary, write_splits

with job_logging(snakemake.log[0]) as log:
    p = snakemake.params
    meta = pd.read_csv(snakemake.input.metadata, dtype={"image_id": str})
    splits = stratified_split(meta, train=p.train, val=p.val, test=p.test, seed=p.seed)
    out = snakemake.output
    write_splits(splits, {"train": out.train, "val": out.val, "test": out.test})
    sizes = summary(splits)
    write_csv(out.sizes, sizes)
    log.info("split sizes:\n%s", sizes.to_string(index=False))
