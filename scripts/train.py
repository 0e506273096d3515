"""Snakemake wrapper: train one (strategy, learning rate, seed) model of the grid."""

from celeba_gender.engine import TrainSettings
from celeba_gender.jobs import train_job
from celeba_gender.runlog import job_logging

with job_logging(snakemake.log[0]):
    s = snakemake.params.settings
    settings = TrainSettings(
        strategy=s["strategy"],
        lr=s["lr"],
        epochs=s["epochs"],
        batch_size=s["batch_size"],
        seed=s["seed"],
        augmentations=tuple(s["augmentations"]),
        select_by=s["select_by"],
        patience=s["patience"],
        compile=s["compile"],
        source=snakemake.params.kind,
    )
    train_job(
        weights_path=snakemake.input.weights,
        train_csv=snakemake.input.train,
        val_csv=snakemake.input.val,
        kind=snakemake.params.kind,
        train_input=snakemake.input.train_input,
        val_input=snakemake.input.val_input,
        settings=settings,
        image_size=snakemake.params.image_size,
        cache_dtype=snakemake.params.cache_dtype,
        device=snakemake.params.device,
        threads=snakemake.threads,
        out_model=snakemake.output.model,
        out_best=snakemake.output.best,
        out_history=snakemake.output.history,
        checkpoint=snakemake.params.checkpoint,
        checkpoint_minutes=snakemake.params.checkpoint_minutes,
    )
