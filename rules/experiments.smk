# The experiment's resolved config, and the comparison of every finished experiment on disk.


localrules:
    experiment_config,
    compare_experiments,


rule experiment_config:
    output:
        config=PATHS.config_file,
    log:
        f"{EXP}/logs/experiment_config.log",
    params:
        config=outcome_config(config),
    message:
        "experiment_config: the resolved config of experiment {params.config[experiment]}"
    script:
        "../scripts/experiment_config.py"


rule compare_experiments:
    input:
        report=rules.report.output.metrics,
        model_ci=rules.model_statistics.output.per_model,
        config=rules.experiment_config.output.config,
    output:
        table="results/experiments.csv",
        html="results/experiments.html",
    log:
        "results/logs/compare_experiments.log",
    params:
        root=results_root,
    message:
        "compare_experiments: every finished experiment under results/experiments, side by side"
    script:
        "../scripts/compare_experiments.py"
