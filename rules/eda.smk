# Exploratory figures of the study (its Figures 1-4 and its null-value check).


localrules:
    eda_samples,
    eda_gender_counts,
    eda_nulls,
    eda_attribute_counts,
    eda_correlations,


rule eda_samples:
    input:
        metadata=f"{DATA}/metadata.csv",
    output:
        figure=report(
            f"{DATA}/eda/samples.png",
            caption="../report/eda_samples.rst",
            category="Data",
            labels={"figure": "sample images"},
        ),
    log:
        f"{SHARED_LOGS}/eda/samples.log",
    params:
        kind="samples",
        seed=config["split"]["seed"],
    message:
        "eda_samples: 5 random images with their labels"
    script:
        "../scripts/eda.py"


rule eda_gender_counts:
    input:
        metadata=f"{DATA}/metadata.csv",
    output:
        figure=report(
            f"{DATA}/eda/gender_counts.png",
            caption="../report/eda_gender_counts.rst",
            category="Data",
            labels={"figure": "gender counts"},
        ),
        table=report(
            f"{DATA}/eda/gender_counts.csv",
            caption="../report/eda_gender_counts_table.rst",
            category="Data",
            labels={"table": "gender counts"},
        ),
    log:
        f"{SHARED_LOGS}/eda/gender_counts.log",
    params:
        kind="gender_counts",
    message:
        "eda_gender_counts: images per gender"
    script:
        "../scripts/eda.py"


rule eda_nulls:
    input:
        metadata=f"{DATA}/metadata.csv",
    output:
        table=report(
            f"{DATA}/eda/null_counts.csv",
            caption="../report/eda_nulls.rst",
            category="Data",
            labels={"table": "null counts"},
        ),
    log:
        f"{SHARED_LOGS}/eda/nulls.log",
    params:
        kind="nulls",
    message:
        "eda_nulls: null values per column"
    script:
        "../scripts/eda.py"


rule eda_attribute_counts:
    input:
        metadata=f"{DATA}/metadata.csv",
    output:
        figure=report(
            f"{DATA}/eda/attribute_counts.png",
            caption="../report/eda_attribute_counts.rst",
            category="Data",
            labels={"figure": "attribute counts"},
        ),
        table=report(
            f"{DATA}/eda/attribute_counts.csv",
            caption="../report/eda_attribute_counts_table.rst",
            category="Data",
            labels={"table": "attribute counts"},
        ),
    log:
        f"{SHARED_LOGS}/eda/attribute_counts.log",
    params:
        kind="attribute_counts",
    message:
        "eda_attribute_counts: images having each attribute"
    script:
        "../scripts/eda.py"


rule eda_correlations:
    input:
        metadata=f"{DATA}/metadata.csv",
    output:
        figure=report(
            f"{DATA}/eda/correlations.png",
            caption="../report/eda_correlations.rst",
            category="Data",
            labels={"figure": "correlations with Male"},
        ),
        table=report(
            f"{DATA}/eda/attribute_correlations.csv",
            caption="../report/eda_correlations_table.rst",
            category="Data",
            labels={"table": "correlations with Male"},
        ),
    log:
        f"{SHARED_LOGS}/eda/correlations.log",
    params:
        kind="correlations",
    message:
        "eda_correlations: correlation of each attribute with Male"
    script:
        "../scripts/eda.py"
