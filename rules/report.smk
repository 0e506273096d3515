# The aggregated metrics table and the self-contained results page: its inputs are the items of
# celeba_gender/reportitems.py, the one declaration of what the reports show.


localrules:
    report,


rule report:
    input:
        unpack(report_inputs),
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
    message:
        f"report: write {EXP}/report/report.html and metrics.csv"
    script:
        "../scripts/report.py"
