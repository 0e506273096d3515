# Backbone weights: fetched once (ImageNet) or drawn once (random), before any training job.


localrules:
    fetch_imagenet_weights,


rule fetch_imagenet_weights:
    output:
        IMAGENET_WEIGHTS,
    log:
        "results/logs/weights/imagenet.log",
    benchmark:
        "results/benchmarks/weights/imagenet.tsv"
    message:
        "fetch_imagenet_weights: fetch the ImageNet VGG-16 weights once (hash-checked)"
    script:
        "../scripts/fetch_weights.py"


rule random_weights:
    input:
        store=random_weights_calibration,
    output:
        "results/weights/vgg16-random-seed{init_seed}.pth",
    log:
        "results/logs/weights/random-seed{init_seed}.log",
    benchmark:
        "results/benchmarks/weights/random-seed{init_seed}.tsv"
    wildcard_constraints:
        init_seed=r"\d+",
    params:
        n_images=config["model"]["calibration_images"],
    message:
        "random_weights seed{wildcards.init_seed}: draw a random (NOT pretrained) VGG-16 initialisation"
    script:
        "../scripts/random_weights.py"
