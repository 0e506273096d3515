# The aggregated metrics table and the self-contained results page.


localrules:
    report,


rule report:
    input:
        metrics_files=model_outputs(
            "results/evaluation/{model}/{checkpoint}/metrics.json",
            checkpoint=CHECKPOINTS,
        ),
        history_files=model_outputs("results/models/{model}/history.csv"),
        data_summary="results/data/summary.json",
        split_sizes="results/splits/sizes.csv",
        bad_images="results/data/bad_images.csv",
        eda_samples="results/figures/eda/samples.png",
        eda_gender_counts="results/figures/eda/gender_counts.png",
        eda_attribute_counts="results/figures/eda/attribute_counts.png",
        eda_correlations="results/figures/eda/correlations.png",
        null_counts="results/tables/null_counts.csv",
        curves=model_outputs("results/figures/models/{model}/curves.png"),
        history_tables=model_outputs("results/figures/models/{model}/history_table.png"),
        confusions_last=model_outputs(
            "results/figures/models/{model}/confusion_last.png"
        ),
        confusions_best=model_outputs(
            "results/figures/models/{model}/confusion_best.png"
        ),
        loss_curves="results/figures/loss_curves.png",
        roc="results/figures/roc_curves.png",
        subgroup_heatmaps=model_outputs("results/figures/models/{model}/subgroups.png"),
        subgroup_summaries=model_outputs(
            "results/evaluation/{model}/subgroups/summary.json"
        ),
        gradcams=model_outputs("results/figures/models/{model}/gradcam.png"),
        model_ci="results/tables/model_ci.csv",
        seed_summary="results/tables/seed_summary.csv",
        collapse="results/tables/collapse.csv",
        comparison="results/tables/comparison.json",
    output:
        html="results/report/report.html",
        metrics=report(
            "results/report/metrics.csv",
            caption="../report/metrics.rst",
            category="Evaluation",
            labels={"table": "metrics of every model"},
        ),
    log:
        "results/logs/report.log",
    params:
        models=MODELS,
        config=config,
        weights_note=weights_note(),
        pretrained=config["model"]["weights"] != "random",
        benchmark_files=benchmark_files(),
        benchmark_root="results/benchmarks",
    message:
        "report: write results/report/report.html and metrics.csv"
    script:
        "../scripts/report.py"
