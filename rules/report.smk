# The aggregated metrics table and the self-contained results page.


localrules:
    report,


rule report:
    input:
        metrics_files=model_outputs(
            f"{EXP}/evaluation/{{model}}/{{checkpoint}}/metrics.json",
            checkpoint=CHECKPOINTS,
        ),
        history_files=model_outputs(f"{EXP}/models/{{model}}/history.csv"),
        data_summary=f"{DATA}/summary.json",
        split_sizes=f"{DATA}/splits/sizes.csv",
        bad_images=f"{DATA}/bad_images.csv",
        eda_samples=f"{DATA}/eda/samples.png",
        eda_gender_counts=f"{DATA}/eda/gender_counts.png",
        eda_attribute_counts=f"{DATA}/eda/attribute_counts.png",
        eda_correlations=f"{DATA}/eda/correlations.png",
        null_counts=f"{DATA}/eda/null_counts.csv",
        curves=model_outputs(f"{EXP}/figures/models/{{model}}/curves.png"),
        history_tables=model_outputs(
            f"{EXP}/figures/models/{{model}}/history_table.png"
        ),
        confusions_last=model_outputs(
            f"{EXP}/figures/models/{{model}}/confusion_last.png"
        ),
        confusions_best=model_outputs(
            f"{EXP}/figures/models/{{model}}/confusion_best.png"
        ),
        loss_curves=f"{EXP}/figures/loss_curves.png",
        roc=f"{EXP}/figures/roc_curves.png",
        subgroup_heatmaps=model_outputs(f"{EXP}/figures/models/{{model}}/subgroups.png"),
        subgroup_summaries=model_outputs(
            f"{EXP}/evaluation/{{model}}/subgroups/summary.json"
        ),
        gradcams=model_outputs(f"{EXP}/figures/models/{{model}}/gradcam.png"),
        model_ci=f"{EXP}/tables/model_ci.csv",
        seed_summary=f"{EXP}/tables/seed_summary.csv",
        collapse=f"{EXP}/tables/collapse.csv",
        comparison=f"{EXP}/tables/comparison.json",
    output:
        html=f"{EXP}/report/report.html",
        metrics=report(
            f"{EXP}/report/metrics.csv",
            caption="../report/metrics.rst",
            category="Evaluation",
            labels={"table": "metrics of every model"},
        ),
    log:
        f"{EXP}/logs/report.log",
    params:
        models=MODELS,
        config=outcome_config(config),
        weights_note=weights_note(),
        pretrained=config["model"]["weights"] != "random",
        benchmark_files=benchmark_files(),
        benchmark_roots=[f"{EXP}/benchmarks", SHARED_BENCHMARKS],
    message:
        f"report: write {EXP}/report/report.html and metrics.csv"
    script:
        "../scripts/report.py"
