# Decode every image once, and compute the frozen VGG-16 layers once for the whole grid.


rule decode_images:
    input:
        split="results/splits/{split}.csv",
    output:
        store="results/cache/images/{split}.npy",
        meta="results/cache/images/{split}.npy.json",
    log:
        "results/logs/decode_images/{split}.log",
    benchmark:
        "results/benchmarks/decode_images/{split}.tsv"
    wildcard_constraints:
        split="|".join(SPLITS),
    threads: 2
    params:
        image_size=config["train"]["image_size"],
    message:
        "decode_images {wildcards.split}: decode each image once at {params.image_size} px"
    script:
        "../scripts/decode_images.py"


rule build_feature_cache:
    input:
        weights=weights_file(),
        split="results/splits/{split}.csv",
        store="results/cache/images/{split}.npy",
    output:
        prefix="results/cache/features/{split}.prefix.npy",
        features="results/cache/features/{split}.features.npy",
        prefix_key="results/cache/features/{split}.prefix.npy.key.json",
        features_key="results/cache/features/{split}.features.npy.key.json",
    log:
        "results/logs/build_feature_cache/{split}.log",
    benchmark:
        "results/benchmarks/build_feature_cache/{split}.tsv"
    wildcard_constraints:
        split="|".join(SPLITS),
    threads: 4
    resources:
        gpu=1,
    params:
        image_size=config["train"]["image_size"],
        dtype=cache_dtype(config["train"]),
        precision=config["train"]["precision"],
        batch_size=config["train"]["batch_size"],
        device=config["train"]["device"],
        views=cache_views,
        gpus=gpu_ids,
    message:
        "build_feature_cache {wildcards.split}: the frozen VGG-16 layers, once for all models"
    script:
        "../scripts/build_feature_cache.py"
