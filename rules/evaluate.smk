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
        metrics="results/evaluation/{model}/{checkpoint}/metrics.json",
        predictions="results/evaluation/{model}/{checkpoint}/predictions.csv",
    log:
        "results/logs/evaluate/{model}_{checkpoint}.log",
    benchmark:
        "results/benchmarks/evaluate/{model}_{checkpoint}.tsv"
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
        history="results/models/{model}/history.csv",
    output:
        curves=report(
            "results/figures/models/{model}/curves.png",
            caption="../report/curves.rst",
            category="Training",
            subcategory="Curves",
            labels=model_labels,
        ),
        table=report(
            "results/figures/models/{model}/history_table.png",
            caption="../report/history_table.rst",
            category="Training",
            subcategory="Per-epoch tables",
            labels=model_labels,
        ),
    log:
        "results/logs/plots/{model}.log",
    message:
        "plot_model {wildcards.model}: training curves and per-epoch table"
    script:
        "../scripts/plot_model.py"


rule plot_confusion:
    input:
        metrics="results/evaluation/{model}/{checkpoint}/metrics.json",
    output:
        figure=report(
            "results/figures/models/{model}/confusion_{checkpoint}.png",
            caption="../report/confusion.rst",
            category="Evaluation",
            subcategory="Confusion matrices",
            labels=eval_labels,
        ),
    log:
        "results/logs/plots/{model}_confusion_{checkpoint}.log",
    message:
        "plot_confusion {wildcards.model} ({wildcards.checkpoint} epoch): test-set confusion matrix"
    script:
        "../scripts/plot_confusion.py"


rule plot_loss_curves:
    input:
        histories=model_outputs("results/models/{model}/history.csv"),
    output:
        figure=report(
            "results/figures/loss_curves.png",
            caption="../report/loss_curves.rst",
            category="Training",
            labels={"figure": "loss curves, all models"},
        ),
    log:
        "results/logs/plots/loss_curves.log",
    message:
        "plot_loss_curves: train and validation loss of every model on one figure"
    script:
        "../scripts/plot_loss_curves.py"


rule roc_curves:
    input:
        predictions=model_outputs("results/evaluation/{model}/last/predictions.csv"),
    output:
        figure=report(
            "results/figures/roc_curves.png",
            caption="../report/roc.rst",
            category="Evaluation",
            labels={"figure": "ROC curves"},
        ),
        table=report(
            "results/tables/roc_auc.csv",
            caption="../report/roc_auc.rst",
            category="Evaluation",
            labels={"table": "ROC AUC"},
        ),
    log:
        "results/logs/plots/roc_curves.log",
    params:
        models=MODELS,
    message:
        "roc_curves: ROC curves of every model on the test set"
    script:
        "../scripts/roc_curves.py"


rule subgroups:
    input:
        predictions="results/evaluation/{model}/last/predictions.csv",
        metadata="results/data/metadata.csv",
    output:
        attributes=report(
            "results/evaluation/{model}/subgroups/attributes.csv",
            caption="../report/subgroup_table.rst",
            category="Subgroups",
            labels=subgroup_table_labels,
        ),
        groups=report(
            "results/evaluation/{model}/subgroups/groups.csv",
            caption="../report/subgroup_groups.rst",
            category="Subgroups",
            labels=subgroup_groups_labels,
        ),
        summary="results/evaluation/{model}/subgroups/summary.json",
        heatmap=report(
            "results/figures/models/{model}/subgroups.png",
            caption="../report/subgroup_heatmap.rst",
            category="Subgroups",
            labels=subgroup_heatmap_labels,
        ),
    log:
        "results/logs/subgroups/{model}.log",
    params:
        min_group_size=config["evaluate"]["min_group_size"],
    message:
        "subgroups {wildcards.model}: subgroup (fairness) audit on the test set"
    script:
        "../scripts/subgroups.py"


rule gradcam:
    input:
        model_file="results/models/{model}/model.pt",
        predictions="results/evaluation/{model}/last/predictions.csv",
        test="results/splits/test.csv",
        store="results/cache/images/test.npy",
    output:
        figure=report(
            "results/figures/models/{model}/gradcam.png",
            caption="../report/gradcam.rst",
            category="Explanations",
            labels=model_labels,
        ),
    log:
        "results/logs/gradcam/{model}.log",
    benchmark:
        "results/benchmarks/gradcam/{model}.tsv"
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
            "results/evaluation/{model}/{checkpoint}/metrics.json",
            checkpoint=CHECKPOINTS,
        ),
        predictions=model_outputs(
            "results/evaluation/{model}/{checkpoint}/predictions.csv",
            checkpoint=CHECKPOINTS,
        ),
        histories=model_outputs("results/models/{model}/history.csv"),
    output:
        per_model=report(
            "results/tables/model_ci.csv",
            caption="../report/model_ci.rst",
            category="Uncertainty",
            labels={"table": "per-model accuracy with 95% CI"},
        ),
        per_config=report(
            "results/tables/seed_summary.csv",
            caption="../report/seed_summary.rst",
            category="Uncertainty",
            labels={"table": "mean over seeds"},
        ),
        collapse=report(
            "results/tables/collapse.csv",
            caption="../report/collapse.rst",
            category="Uncertainty",
            labels={"table": "collapse check"},
        ),
        comparison=report(
            "results/tables/comparison.json",
            caption="../report/comparison.rst",
            category="Uncertainty",
            labels={"table": "paired comparison of the best configurations"},
        ),
    log:
        "results/logs/statistics.log",
    params:
        n_boot=config["evaluate"]["bootstrap"],
    message:
        "statistics: confidence intervals, paired comparison, collapse detection"
    script:
        "../scripts/model_statistics.py"
