# One training job per (strategy, learning rate, seed); with train.dfr, one DFR job per trained
# model (grid.py: dfr_<model>), whose files sit where the train rule's would.


ruleorder: dfr > train


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


rule dfr:
    input:
        unpack(dfr_inputs),
    output:
        model=f"{EXP}/models/dfr_{{base}}/model.pt",
        best=f"{EXP}/models/dfr_{{base}}/best.pt",
        history=f"{EXP}/models/dfr_{{base}}/history.csv",
        summary=f"{EXP}/models/dfr_{{base}}/dfr.json",
    log:
        f"{EXP}/logs/dfr/{{base}}.log",
    benchmark:
        f"{EXP}/benchmarks/dfr/{{base}}.tsv"
    threads: 1
    resources:
        gpu=1,
    params:
        target=TARGET,
        group_by=GROUP_BY,
        batch_size=config["train"]["batch_size"],
        device=config["train"]["device"],
        gpus=gpu_ids,
    message:
        "dfr {wildcards.base}: refit the last layer on group-balanced validation data"
    script:
        "../scripts/dfr.py"
