# Data: synthetic demo dataset, ingest of a CelebA layout, stratified split.


rule synthesize:
    output:
        attributes=attribute_file(),
    log:
        "results/logs/synthesize.log",
    benchmark:
        "results/benchmarks/synthesize.tsv"
    threads: 2
    params:
        root=synthetic_root,
        n=config["synthetic"]["n_images"],
        seed=config["synthetic"]["seed"],
        layout=config["synthetic"]["layout"],
    message:
        "synthesize: {params.n} CelebA-format images ({params.layout} layout)"
    script:
        "../scripts/synthesize.py"


rule ingest:
    input:
        attributes=ingest_inputs,
    output:
        metadata="results/data/metadata.csv",
        bad_images=report(
            "results/data/bad_images.csv",
            caption="../report/bad_images.rst",
            category="Data",
            labels={"table": "bad images"},
        ),
        summary="results/data/summary.json",
    log:
        "results/logs/ingest.log",
    benchmark:
        "results/benchmarks/ingest.tsv"
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
        metadata="results/data/metadata.csv",
    output:
        train="results/splits/train.csv",
        val="results/splits/val.csv",
        test="results/splits/test.csv",
        sizes=report(
            "results/splits/sizes.csv",
            caption="../report/split_sizes.rst",
            category="Data",
            labels={"table": "split sizes"},
        ),
    log:
        "results/logs/split.log",
    params:
        train=config["split"]["train"],
        val=config["split"]["val"],
        test=config["split"]["test"],
        seed=config["split"]["seed"],
    message:
        "split: stratified train/val/test split (seed {params.seed})"
    script:
        "../scripts/split.py"
