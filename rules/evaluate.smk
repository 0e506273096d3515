# Test-set evaluation, per-model figures, and the analyses that make conclusions hold.


localrules:
    plot_model,
    plot_confusion,
    plot_loss_curves,
    roc_curves,
    subgroups,
    statistics,


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
    wildcard_constraints:
        model=MODEL_WILDCARD,
        checkpoint="|".join(CHECKPOINTS),
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
        history=f"{EXP}/models/{{model}}/history.csv",
    output:
        curves=report(
            f"{EXP}/figures/models/{{model}}/curves.png",
            caption="../report/curves.rst",
            category="Training",
            subcategory="Curves",
            labels=model_labels,
        ),
        table=report(
            f"{EXP}/figures/models/{{model}}/history_table.png",
            caption="../report/history_table.rst",
            category="Training",
            subcategory="Per-epoch tables",
            labels=model_labels,
        ),
    log:
        f"{EXP}/logs/plots/{{model}}.log",
    message:
        "plot_model {wildcards.model}: training curves and per-epoch table"
    script:
        "../scripts/plot_model.py"


rule plot_confusion:
    input:
        metrics=f"{EXP}/evaluation/{{model}}/{{checkpoint}}/metrics.json",
    output:
        figure=report(
            f"{EXP}/figures/models/{{model}}/confusion_{{checkpoint}}.png",
            caption="../report/confusion.rst",
            category="Evaluation",
            subcategory="Confusion matrices",
            labels=eval_labels,
        ),
    log:
        f"{EXP}/logs/plots/{{model}}_confusion_{{checkpoint}}.log",
    message:
        "plot_confusion {wildcards.model} ({wildcards.checkpoint} epoch): test-set confusion matrix"
    script:
        "../scripts/plot_confusion.py"


rule plot_loss_curves:
    input:
        histories=model_outputs(f"{EXP}/models/{{model}}/history.csv"),
    output:
        figure=report(
            f"{EXP}/figures/loss_curves.png",
            caption="../report/loss_curves.rst",
            category="Training",
            labels={"figure": "loss curves, all models"},
        ),
    log:
        f"{EXP}/logs/plots/loss_curves.log",
    message:
        "plot_loss_curves: train and validation loss of every model on one figure"
    script:
        "../scripts/plot_loss_curves.py"


rule roc_curves:
    input:
        predictions=model_outputs(f"{EXP}/evaluation/{{model}}/last/predictions.csv"),
    output:
        figure=report(
            f"{EXP}/figures/roc_curves.png",
            caption="../report/roc.rst",
            category="Evaluation",
            labels={"figure": "ROC curves"},
        ),
        table=report(
            f"{EXP}/tables/roc_auc.csv",
            caption="../report/roc_auc.rst",
            category="Evaluation",
            labels={"table": "ROC AUC"},
        ),
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
        predictions=f"{EXP}/evaluation/{{model}}/last/predictions.csv",
        metadata=f"{DATA}/metadata.csv",
    output:
        attributes=report(
            f"{EXP}/evaluation/{{model}}/subgroups/attributes.csv",
            caption="../report/subgroup_table.rst",
            category="Subgroups",
            labels=subgroup_table_labels,
        ),
        groups=report(
            f"{EXP}/evaluation/{{model}}/subgroups/groups.csv",
            caption="../report/subgroup_groups.rst",
            category="Subgroups",
            labels=subgroup_groups_labels,
        ),
        summary=f"{EXP}/evaluation/{{model}}/subgroups/summary.json",
        heatmap=report(
            f"{EXP}/figures/models/{{model}}/subgroups.png",
            caption="../report/subgroup_heatmap.rst",
            category="Subgroups",
            labels=subgroup_heatmap_labels,
        ),
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
        model_file=f"{EXP}/models/{{model}}/model.pt",
        predictions=f"{EXP}/evaluation/{{model}}/last/predictions.csv",
        test=f"{DATA}/splits/test.csv",
        store=f"{IMAGES}/test.npy",
    output:
        figure=report(
            f"{EXP}/figures/models/{{model}}/gradcam.png",
            caption="../report/gradcam.rst",
            category="Explanations",
            labels=model_labels,
        ),
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


rule statistics:
    input:
        metrics=model_outputs(
            f"{EXP}/evaluation/{{model}}/{{checkpoint}}/metrics.json",
            checkpoint=CHECKPOINTS,
        ),
        predictions=model_outputs(
            f"{EXP}/evaluation/{{model}}/{{checkpoint}}/predictions.csv",
            checkpoint=CHECKPOINTS,
        ),
        histories=model_outputs(f"{EXP}/models/{{model}}/history.csv"),
    output:
        per_model=report(
            f"{EXP}/tables/model_ci.csv",
            caption="../report/model_ci.rst",
            category="Uncertainty",
            labels={"table": "per-model accuracy with 95% CI"},
        ),
        per_config=report(
            f"{EXP}/tables/seed_summary.csv",
            caption="../report/seed_summary.rst",
            category="Uncertainty",
            labels={"table": "mean over seeds"},
        ),
        collapse=report(
            f"{EXP}/tables/collapse.csv",
            caption="../report/collapse.rst",
            category="Uncertainty",
            labels={"table": "collapse check"},
        ),
        comparison=report(
            f"{EXP}/tables/comparison.json",
            caption="../report/comparison.rst",
            category="Uncertainty",
            labels={"table": "paired comparison of the best configurations"},
        ),
    log:
        f"{EXP}/logs/statistics.log",
    params:
        n_boot=config["evaluate"]["bootstrap"],
    message:
        "statistics: confidence intervals, paired comparison, collapse detection"
    script:
        "../scripts/model_statistics.py"
