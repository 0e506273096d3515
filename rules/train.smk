# One training job per (strategy, learning rate, seed).


rule train:
    input:
        unpack(train_inputs),
    output:
        model="results/models/{model}/model.pt",
        best="results/models/{model}/best.pt",
        history=report(
            "results/models/{model}/history.csv",
            caption="../report/history.rst",
            category="Training",
            subcategory="History tables",
            labels=model_labels,
        ),
    log:
        "results/logs/train/{model}.log",
    benchmark:
        "results/benchmarks/train/{model}.tsv"
    wildcard_constraints:
        model=MODEL_WILDCARD,
    retries: 2
    threads: 4
    resources:
        gpu=1,
        runtime=attempt_runtime,
    params:
        settings=train_settings,
        device=config["train"]["device"],
        checkpoint="results/checkpoints/{model}/last.pt",
        checkpoint_minutes=config["train"]["checkpoint_minutes"],
        gpus=gpu_ids,
    message:
        "train {wildcards.model} (strategy {params.settings[strategy]}, input: {params.settings[input]})"
    script:
        "../scripts/train.py"
