# Backbone weights: fetched once (ImageNet) or drawn once (random), before any training job.


localrules:
    fetch_imagenet_weights,


rule fetch_imagenet_weights:
    output:
        weights=IMAGENET_WEIGHTS,
    log:
        "results/logs/weights/imagenet.log",
    benchmark:
        "results/benchmarks/weights/imagenet.tsv"
    message:
        "fetch_imagenet_weights: fetch the ImageNet VGG-16 weights once (hash-checked)"
    script:
        "../scripts/fetch_imagenet_weights.py"


rule random_weights:
    input:
        store=random_weights_calibration,
    output:
        weights=random_weights_file(config),
    log:
        f"{SHARED_LOGS}/weights/{Path(random_weights_file(config)).stem}.log",
    benchmark:
        f"{SHARED_BENCHMARKS}/weights/{Path(random_weights_file(config)).stem}.tsv"
    params:
        n_images=config["model"]["calibration_images"],
        init_seed=config["model"]["init_seed"],
    message:
        "random_weights seed{params.init_seed}: draw a random (NOT pretrained) VGG-16 initialisation"
    script:
        "../scripts/random_weights.py"
