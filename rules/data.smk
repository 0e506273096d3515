# Data: synthetic demo dataset, CelebA downloaded (Kaggle or the Hub), ingest of a CelebA layout,
# stratified split.


localrules:
    download,


rule synthesize:
    output:
        attributes=synthetic_attribute_file(),
    log:
        f"{SHARED_LOGS}/synthesize.log",
    benchmark:
        f"{SHARED_BENCHMARKS}/synthesize.tsv"
    threads: 2
    params:
        root=synthetic_root,
        n_images=config["synthetic"]["n_images"],
        seed=config["synthetic"]["seed"],
        layout=config["synthetic"]["layout"],
        group_rates=config["synthetic"]["group_rates"],
    message:
        "synthesize: {params.n_images} CelebA-format images ({params.layout} layout)"
    script:
        "../scripts/synthesize.py"


rule download:
    output:
        marker=download_marker(),
    log:
        f"{SHARED_LOGS}/download.log",
    params:
        root=download_root,
        source=config["data"]["source"],
        settings=download_settings(),
        decode_size=download_decode_size,
    message:
        "download: CelebA from {params.source} into {params.root}, verified (resumes when rerun; size and progress in {log})"
    script:
        "../scripts/download.py"


rule ingest:
    input:
        attributes=ingest_inputs,
        download=ingest_download,
    output:
        metadata=f"{DATA}/metadata.csv",
        bad_images=f"{DATA}/bad_images.csv",
        summary=f"{DATA}/summary.json",
    log:
        f"{SHARED_LOGS}/ingest.log",
    benchmark:
        f"{SHARED_BENCHMARKS}/ingest.tsv"
    threads: 2
    params:
        root=config["data"]["root"],
        format=config["data"]["format"],
        subset_size=config["data"]["subset_size"],
        subset_order=config["data"]["subset_order"],
        seed=config["split"]["seed"],
        on_bad_image=config["data"]["on_bad_image"],
    message:
        "ingest: read the CelebA attributes in {params.root} and check every image"
    script:
        "../scripts/ingest.py"


rule split:
    input:
        metadata=rules.ingest.output.metadata,
        partition=partition_input,
    output:
        train=f"{DATA}/splits/train.csv",
        val=f"{DATA}/splits/val.csv",
        test=f"{DATA}/splits/test.csv",
        sizes=f"{DATA}/splits/sizes.csv",
    log:
        f"{SHARED_LOGS}/split.log",
    params:
        train=config["split"]["train"],
        val=config["split"]["val"],
        test=config["split"]["test"],
        seed=config["split"]["seed"],
        target=TARGET,
        method=config["split"]["method"],
        root=config["data"]["root"],
        format=config["data"]["format"],
    message:
        "split: {params.method} train/val/test split by {params.target} (seed {params.seed})"
    script:
        "../scripts/split.py"
