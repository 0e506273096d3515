# One training job per (strategy, learning rate, seed).


rule train:
    input:
        unpack(train_inputs),
    output:
        model=f"{EXP}/models/{{model}}/model.pt",
        best=f"{EXP}/models/{{model}}/best.pt",
        history=f"{EXP}/models/{{model}}/history.csv",
    log:
        f"{EXP}/logs/train/{{model}}.log",
    benchmark:
        f"{EXP}/benchmarks/train/{{model}}.tsv"
    retries: 2
    threads: 4
    resources:
        gpu=1,
        runtime=attempt_runtime,
    params:
        settings=train_settings,
        device=config["train"]["device"],
        checkpoint=f"{EXP}/checkpoints/{{model}}/last.pt",
        checkpoint_minutes=config["train"]["checkpoint_minutes"],
        gpus=gpu_ids,
        tracking=tracking,
    message:
        "train {wildcards.model} (strategy {params.settings[strategy]}, input: {params.settings[input]})"
    script:
        "../scripts/train.py"
