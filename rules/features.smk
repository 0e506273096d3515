# Decode every image once, and compute the frozen VGG-16 layers once for the whole grid: shared by
# every experiment, in folders keyed by what they depend on (celeba_gender/paths.py). Their params
# are only what determines their outputs (batch size, device and GPU ids are derived params).


rule decode_images:
    input:
        split=lambda wildcards: split_file(wildcards.split),
    output:
        store=f"{IMAGES}/{{split}}.npy",
        meta=f"{IMAGES}/{{split}}.npy.json",
    log:
        f"{SHARED_LOGS}/decode_images/{IMAGE_SIZE}px/{{split}}.log",
    benchmark:
        f"{SHARED_BENCHMARKS}/decode_images/{IMAGE_SIZE}px/{{split}}.tsv"
    threads: 2
    params:
        image_size=config["train"]["image_size"],
    message:
        "decode_images {wildcards.split}: decode each image once at {params.image_size} px"
    script:
        "../scripts/decode_images.py"


rule build_feature_cache:
    input:
        weights=weights_file,
        split=lambda wildcards: split_file(wildcards.split),
        store=rules.decode_images.output.store,
    output:
        prefix=f"{FEATURES}/{{split}}.{{views}}v.prefix.npy",
        features=f"{FEATURES}/{{split}}.{{views}}v.features.npy",
        prefix_key=f"{FEATURES}/{{split}}.{{views}}v.prefix.npy.key.json",
        features_key=f"{FEATURES}/{{split}}.{{views}}v.features.npy.key.json",
    log:
        f"{SHARED_LOGS}/build_feature_cache/{Path(FEATURES).name}/{{split}}.{{views}}v.log",
    benchmark:
        f"{SHARED_BENCHMARKS}/build_feature_cache/{Path(FEATURES).name}/{{split}}.{{views}}v.tsv"
    threads: 4
    resources:
        gpu=1,
    params:
        image_size=config["train"]["image_size"],
        dtype=cache_dtype(config["train"]),
        precision=config["train"]["precision"],
        views=views_wildcard,
        batch_size=run_batch_size,
        device=run_device,
        gpus=gpu_ids,
    message:
        "build_feature_cache {wildcards.split}: the frozen VGG-16 layers, once for all models"
    script:
        "../scripts/build_feature_cache.py"
