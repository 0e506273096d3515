# Exploratory figures of the study (its Figures 1-4 and its null-value check): one cheap job.


localrules:
    eda,


rule eda:
    input:
        metadata=rules.ingest.output.metadata,
    output:
        samples=f"{DATA}/eda/samples.png",
        gender_counts=f"{DATA}/eda/gender_counts.png",
        gender_counts_table=f"{DATA}/eda/gender_counts.csv",
        null_counts=f"{DATA}/eda/null_counts.csv",
        attribute_counts=f"{DATA}/eda/attribute_counts.png",
        attribute_counts_table=f"{DATA}/eda/attribute_counts.csv",
        correlations=f"{DATA}/eda/correlations.png",
        correlations_table=f"{DATA}/eda/attribute_correlations.csv",
    log:
        f"{SHARED_LOGS}/eda.log",
    params:
        seed=config["split"]["seed"],
        target=TARGET,
    message:
        "eda: sample images, {params.target} class and attribute counts, correlations, null check"
    script:
        "../scripts/eda.py"
