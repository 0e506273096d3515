"""Snakemake wrapper: metrics.csv and the self-contained results page."""

from pathlib import Path

from celeba_gender.page import build_report
from celeba_gender.runlog import job_logging

with job_logging(snakemake.log[0]):
    i, p = snakemake.input, snakemake.params
    build_report(
        out_html=snakemake.output.html,
        out_metrics=snakemake.output.metrics,
        models=p.models,
        metrics_files=i.metrics,
        history_files=i.histories,
        data_summary=i.data_summary,
        split_sizes=i.split_sizes,
        bad_images=i.bad_images,
        eda={
            "samples": i.eda_samples,
            "gender_counts": i.eda_gender_counts,
            "attribute_counts": i.eda_attribute_counts,
            "correlations": i.eda_correlations,
        },
        curves=i.curves,
        history_tables=i.history_tables,
        confusions_last=i.confusions_last,
        confusions_best=i.confusions_best,
        loss_curves=i.loss_curves,
        roc=i.roc,
        subgroup_heatmaps=i.subgroup_heatmaps,
        subgroup_summaries=i.subgroup_summaries,
        gradcams=i.gradcams,
        model_ci=i.model_ci,
        seed_summary=i.seed_summary,
        collapse=i.collapse,
        comparison=i.comparison,
        config=p.config,
        weights_note=p.weights_note,
        pretrained=p.pretrained,
        workflow_dir=p.workflow_dir,
        benchmark_root="results/benchmarks",
        benchmark_files=p.benchmarks,
    )
