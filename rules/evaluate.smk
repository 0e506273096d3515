# Test-set evaluation, per-model figures, and the analyses that make conclusions hold.


localrules:
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
    message:
        "model_statistics: confidence intervals, paired comparison, collapse detection"
    script:
        "../scripts/model_statistics.py"
