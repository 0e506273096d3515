# Test-set evaluation, per-model figures, and the analyses that make conclusions hold.


localrules:
    evaluate_groups,
    compare_reliability,
    plot_model,
    plot_loss_curves,
    roc_curves,
    subgroups,
    model_statistics,


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        metrics=f"{EXP}/evaluation/{{model}}/{{checkpoint}}/metrics.json",
        predictions=f"{EXP}/evaluation/{{model}}/{{checkpoint}}/predictions.csv",
    log:
        f"{EXP}/logs/evaluate/{{model}}_{{checkpoint}}.log",
    benchmark:
        f"{EXP}/benchmarks/evaluate/{{model}}_{{checkpoint}}.tsv"
    threads: evaluate_threads
    resources:
        gpu=1,
    params:
        kind=train_kind,
        batch_size=config["train"]["batch_size"],
        device=config["train"]["device"],
        gpus=gpu_ids,
    message:
        "evaluate {wildcards.model} ({wildcards.checkpoint} epoch) on the test set "
        "(input: {params.kind}, threads: {threads})"
    script:
        "../scripts/evaluate.py"


rule evaluate_groups:
    input:
        predictions=rules.evaluate.output.predictions,
        metadata=rules.ingest.output.metadata,
    output:
        table=f"{EXP}/evaluation/{{model}}/{{checkpoint}}/groups.csv",
    log:
        f"{EXP}/logs/groups/{{model}}_{{checkpoint}}.log",
    params:
        target=TARGET,
        group_by=GROUP_BY,
        min_group_size=config["evaluate"]["min_group_size"],
    message:
        "evaluate_groups {wildcards.model} ({wildcards.checkpoint} epoch): test accuracy per "
        "group of {params.target} x {params.group_by}"
    script:
        "../scripts/evaluate_groups.py"


rule calibrate:
    input:
        unpack(calibrate_inputs),
    output:
        temperature_last=f"{EXP}/models/{{model}}/model.temperature.json",
        temperature_best=f"{EXP}/models/{{model}}/best.temperature.json",
        val_predictions=f"{EXP}/evaluation/{{model}}/val_predictions.csv",
        calibration=f"{EXP}/evaluation/{{model}}/calibration.csv",
        reliability=f"{EXP}/figures/models/{{model}}/reliability.png",
    log:
        f"{EXP}/logs/calibrate/{{model}}.log",
    benchmark:
        f"{EXP}/benchmarks/calibrate/{{model}}.tsv"
    threads: evaluate_threads
    resources:
        gpu=1,
    params:
        kind=train_kind,
        batch_size=config["train"]["batch_size"],
        n_boot=config["evaluate"]["bootstrap"],
        device=config["train"]["device"],
        gpus=gpu_ids,
    message:
        "calibrate {wildcards.model}: validation logits, temperature, calibration before/after"
    script:
        "../scripts/calibrate.py"


rule plot_model:
    input:
        history=rules.train.output.history,
        metrics_last=evaluation_of("last"),
        metrics_best=evaluation_of("best"),
    output:
        curves=f"{EXP}/figures/models/{{model}}/curves.png",
        table=f"{EXP}/figures/models/{{model}}/history_table.png",
        confusion_last=f"{EXP}/figures/models/{{model}}/confusion_last.png",
        confusion_best=f"{EXP}/figures/models/{{model}}/confusion_best.png",
    log:
        f"{EXP}/logs/plots/{{model}}.log",
    message:
        "plot_model {wildcards.model}: training curves, per-epoch table, confusion matrices"
    script:
        "../scripts/plot_model.py"


rule plot_loss_curves:
    input:
        histories=model_outputs(rules.train.output.history),
    output:
        figure=f"{EXP}/figures/loss_curves.png",
    log:
        f"{EXP}/logs/plots/loss_curves.log",
    params:
        models=MODELS,
    message:
        "plot_loss_curves: train and validation loss of every model on one figure"
    script:
        "../scripts/plot_loss_curves.py"


rule roc_curves:
    input:
        predictions=model_outputs(rules.evaluate.output.predictions, checkpoint="last"),
    output:
        figure=f"{EXP}/figures/roc_curves.png",
        table=f"{EXP}/tables/roc_auc.csv",
    log:
        f"{EXP}/logs/plots/roc_curves.log",
    params:
        models=MODELS,
    message:
        "roc_curves: ROC curves of every model on the test set"
    script:
        "../scripts/roc_curves.py"


rule subgroups:
    input:
        predictions=expand(
            rules.evaluate.output.predictions, checkpoint="last", allow_missing=True
        )[0],
        metadata=rules.ingest.output.metadata,
    output:
        attributes=f"{EXP}/evaluation/{{model}}/subgroups/attributes.csv",
        groups=f"{EXP}/evaluation/{{model}}/subgroups/groups.csv",
        summary=f"{EXP}/evaluation/{{model}}/subgroups/summary.json",
        heatmap=f"{EXP}/figures/models/{{model}}/subgroups.png",
    log:
        f"{EXP}/logs/subgroups/{{model}}.log",
    params:
        min_group_size=config["evaluate"]["min_group_size"],
    message:
        "subgroups {wildcards.model}: subgroup (fairness) audit on the test set"
    script:
        "../scripts/subgroups.py"


rule gradcam:
    input:
        model_file=rules.train.output.model,
        predictions=expand(
            rules.evaluate.output.predictions, checkpoint="last", allow_missing=True
        )[0],
        test=split_file("test"),
        store=expand(rules.decode_images.output.store, split="test")[0],
    output:
        figure=f"{EXP}/figures/models/{{model}}/gradcam.png",
    log:
        f"{EXP}/logs/gradcam/{{model}}.log",
    benchmark:
        f"{EXP}/benchmarks/gradcam/{{model}}.tsv"
    threads: 1
    params:
        n_images=config["evaluate"]["gradcam_images"],
        image_size=config["train"]["image_size"],
    message:
        "gradcam {wildcards.model}: Grad-CAM explanations on fixed test images"
    script:
        "../scripts/gradcam.py"


rule model_statistics:
    input:
        metrics=model_outputs(rules.evaluate.output.metrics, checkpoint=CHECKPOINTS),
        predictions=model_outputs(
            rules.evaluate.output.predictions, checkpoint=CHECKPOINTS
        ),
        histories=model_outputs(rules.train.output.history),
    output:
        per_model=f"{EXP}/tables/model_ci.csv",
        per_config=f"{EXP}/tables/seed_summary.csv",
        collapse=f"{EXP}/tables/collapse.csv",
        comparison=f"{EXP}/tables/comparison.json",
    log:
        f"{EXP}/logs/statistics.log",
    params:
        n_boot=config["evaluate"]["bootstrap"],
        select_by=config["train"]["select_by"],
    message:
        "model_statistics: confidence intervals, paired comparison, collapse detection"
    script:
        "../scripts/model_statistics.py"


rule compare_reliability:
    input:
        comparison=rules.model_statistics.output.comparison,
        predictions=model_outputs(rules.evaluate.output.predictions, checkpoint="last"),
        calibrations=model_outputs(rules.calibrate.output.calibration),
    output:
        figure=f"{EXP}/figures/reliability_pair.png",
    log:
        f"{EXP}/logs/plots/reliability_pair.log",
    params:
        models=MODELS,
    message:
        "compare_reliability: test reliability of the two compared configurations"
    script:
        "../scripts/compare_reliability.py"
