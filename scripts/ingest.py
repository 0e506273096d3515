"""Snakemake wrapper: read a CelebA layout, check every image, write the metadata table."""

from celeba_gender.ingest import build_metadata, detect_layout, write_metadata
from celeba_gender.io import write_json
from celeba_gender.runlog import job_logging

with job_logging(snakemake.log[0]) as log:
    p = snakemake.params
    meta, bad = build_metadata(
        p.root,
        fmt=p.format,
        subset_size=p.subset_size,
        subset_order=p.subset_order,
        seed=p.seed,
        on_bad_image=p.on_bad_image,
        log=log,
        workers=snakemake.threads,
    )
    write_metadata(meta, bad, snakemake.output.metadata, snakemake.output.bad_images)
    summary = {
        "root": p.root,
        "layout": detect_layout(p.root) if p.format == "auto" else p.format,
        "images": len(meta),
        "female": int((meta["label"] == 0).sum()),
        "male": int((meta["label"] == 1).sum()),
        "skipped_bad_images": len(bad),
    }
    write_json(snakemake.output.summary, summary)
    log.info("metadata: %s", summary)
