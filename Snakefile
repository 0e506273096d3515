# celeba-gender: transfer-learning gender classification on CelebA with VGG-16.
# This file only wires the workflow together; rules live in rules/, logic in scripts/.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/eda.smk"
include: "rules/weights.smk"
include: "rules/features.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"
include: "rules/experiments.smk"


rule all:
    default_target: True
    input:
        rules.report.output.html,
        rules.report.output.metrics,
        expand(rules.model_card.output.card, card=CARDS),
        rules.compare_experiments.output.table,
        rules.compare_experiments.output.html,


# Every rule's wrapper script and the package modules it imports become its inputs, and the
# outputs listed in celeba_gender/reportitems.py are flagged for Snakemake's native report.
track_script_code()
annotate_report()
