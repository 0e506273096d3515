# The aggregated metrics table and the self-contained results page: its inputs are the items of
# report/items.yaml (celeba_gender/reportitems.py), the one declaration of what the reports show.


localrules:
    report,
    model_card,


rule report:
    input:
        unpack(report_inputs),
        items_table=str(reportitems.ITEMS_FILE),
    output:
        html=f"{EXP}/report/report.html",
        metrics=f"{EXP}/report/metrics.csv",
    log:
        f"{EXP}/logs/report.log",
    params:
        models=MODELS,
        captions=report_captions(),
        config=outcome_config(config),
        weights_note=weights_note(),
        pretrained=config["model"]["weights"] != "random",
        benchmark_files=benchmark_files(),
        benchmark_roots=[f"{EXP}/benchmarks", SHARED_BENCHMARKS],
        cards=CARDS,
    message:
        f"report: write {EXP}/report/report.html and metrics.csv"
    script:
        "../scripts/report.py"


rule model_card:
    input:
        metrics=rules.report.output.metrics,
        sizes=rules.split.output.sizes,
        weights=weights_file(),
        groups=model_outputs(rules.evaluate_groups.output.table, checkpoint=CHECKPOINTS),
        predictions=model_outputs(
            rules.evaluate.output.predictions, checkpoint=CHECKPOINTS
        ),
    output:
        card=f"{EXP}/report/{{card}}.md",
    log:
        f"{EXP}/logs/model_card/{{card}}.log",
    params:
        experiment=config["experiment"],
        select_by=config["train"]["select_by"],
        settings=every_settings(),
        numerics=grid.numerics_note(config["train"]),
        weights_note=weights_note(),
        random_weights=config["model"]["weights"] == "random",
        synthetic=config["synthetic"]["enabled"],
        target=TARGET,
    message:
        "model_card {wildcards.card}: the model card, from the run's own files"
    script:
        "../scripts/model_card.py"
