# Helper functions shared by the rules (no rules here).
import math
import sys
from pathlib import Path

import yaml
from snakemake.io import ReportObject
from snakemake.utils import validate

# This workflow's own files come from its folder, never from the working directory: the workflow
# also runs as a module of another project's Snakefile (docs/running.md#as-a-snakemake-module).
COMMON_DIR = workflow.current_basedir  # rules/, as Snakemake's source file
WORKFLOW_DIR = Path(COMMON_DIR.get_path_or_uri(secret_free=True)).parent
sys.path.insert(0, str(WORKFLOW_DIR / "scripts"))
from celeba_gender import grid, parquet, reportitems, sources
from celeba_gender.codedeps import code_dependencies
from celeba_gender.config import (
    check_config,
    coerce_numbers,
    reused_experiment_warning,
)
from celeba_gender.config import outcome_config
from celeba_gender.constants import HUB_CONFIG, LAYOUT_ATTRIBUTE_FILES, format_lr
from celeba_gender.layouts import attribute_file
from celeba_gender.paths import IMAGENET_WEIGHTS, WorkflowPaths, random_weights_file
from celeba_gender.grid import TrainSettings, cache_dtype

# 1e-4 is a number (YAML 1.1 reads it as a string); then the schema (defaults filled in); then
# what the schema cannot say, including whether the data is there: a run that cannot start
# stops here, before any job is planned (snakemake -n too).
coerce_numbers(
    config, yaml.safe_load((WORKFLOW_DIR / "config/schema.yaml").read_text())
)
validate(config, "../config/schema.yaml")
check_config(config)

SPLITS = grid.SPLITS
CHECKPOINTS = grid.CHECKPOINTS


TARGET = grid.target(config)  # data.target: the attribute the models predict
GROUP_BY = grid.group_by(config)  # evaluate.group_by (or the target's default)
# The model cards: the best model by validation (model_card), and each of evaluate.model_cards.
CARDS = ["model_card"] + [f"model_card_{m}" for m in config["evaluate"]["model_cards"]]


wildcard_constraints:
    model=grid.MODEL_WILDCARD,
    base=grid.ERM_WILDCARD,
    card=f"model_card(?:_{grid.MODEL_WILDCARD})?",
    checkpoint="|".join(CHECKPOINTS),
    split="|".join(SPLITS),
    views="[12]",


# Where everything goes (celeba_gender/paths.py): this experiment's folder, and the shared stages'
# folders keyed by what their outputs depend on. Each file is declared once, by the rule that
# writes it; other rules take rules.<rule>.output.<name>.
PATHS = WorkflowPaths.from_config(config)
EXP = PATHS.experiment  # results/experiments/<experiment>
DATA = PATHS.data  # results/data/<data key>: metadata, splits, EDA
IMAGES = PATHS.images  # results/cache/<data key>/images-<S>px
# results/cache/<data key>/features-<backbone>-<S>px-<dtype>-<precision>
FEATURES = PATHS.features
SHARED_LOGS = PATHS.shared_logs
SHARED_BENCHMARKS = PATHS.shared_benchmarks
IMAGE_SIZE = config["train"]["image_size"]
if warning := reused_experiment_warning(config, PATHS.config_file):
    print(f"WARNING: {warning}", file=sys.stderr)
MODELS = [cell.name for cell in grid.models(config["train"])]


def this_workflows_rules():
    """The rules defined by this workflow's files (not by a project that imports it)."""
    rules_dir = WORKFLOW_DIR / "rules"
    for each in workflow.rules:
        defined_in = each.snakefile
        if defined_in and Path(str(defined_in)).resolve().parent == rules_dir.resolve():
            yield each


def track_script_code():
    """Make each rule's wrapper script, and every package module it reaches through its imports
    (found with ``ast``, transitively), inputs named ``code``. Editing a module then reruns
    exactly the rules whose scripts import it. Called by the Snakefile once every rule is
    defined, so that no rule lists its code by hand."""
    package = WORKFLOW_DIR / "scripts" / "celeba_gender"
    for each in this_workflows_rules():
        if each.script:
            script = Path(each.basedir.get_path_or_uri(secret_free=True)) / each.script
            if each.input_modifier is None:  # no input section in the rules file
                each.input_modifier = workflow.modifier.path_modifier
            each.set_input(code=[str(f) for f in code_dependencies(script, package)])


def annotate_report():
    """Flag each output listed in celeba_gender/reportitems.py (with a caption) for Snakemake's
    native report: its section as category, its caption file, labels from its title (and, per
    model, the model's strategy, learning rate and seed). Called by the Snakefile once every rule
    is defined: the table is the one declaration of what the reports show."""
    for item in reportitems.native_items():
        target = getattr(getattr(rules, item.rule).rule.output, item.output)
        annotation = ReportObject(
            COMMON_DIR.join(f"../report/{item.caption}.rst"),
            item.section,
            item.subcategory,
            report_labels(item),
            [],
            None,
        )
        target.set_flags({**target.flags, "report": annotation})


def report_labels(item):
    """The native report's labels of ``item``: a function of the wildcards for per-model items."""
    kind = "figure" if item.page == "figure" else "table"
    if item.per == "run":
        return {kind: item.title}

    def labels(wildcards):
        cell = grid.ModelId.parse(wildcards.model)
        found = {
            "strategy": str(cell.strategy),
            "learning rate": format_lr(cell.lr),
            "seed": str(cell.seed),
        }
        if item.per == "checkpoint":
            found["checkpoint"] = wildcards.checkpoint
        return {**found, kind: item.title}

    return labels


def report_inputs(wildcards):
    """Every report item of another rule, expanded over the models (and checkpoints): the page's
    inputs, named by item key."""
    found = {}
    for item in reportitems.page_items():
        pattern = getattr(getattr(rules, item.rule).output, item.output)
        if item.per == "run":
            found[item.key] = pattern
        elif item.per == "model":
            found[item.key] = expand(pattern, model=MODELS)
        else:
            found[item.key] = expand(pattern, model=MODELS, checkpoint=CHECKPOINTS)
    return found


def report_captions():
    """Each item's caption template, read once at parse time (a changed caption reruns the page)."""
    return {
        item.key: (WORKFLOW_DIR / "report" / f"{item.caption}.rst").read_text()
        for item in reportitems.page_items()
        if item.caption
    }


# ---------------------------------------------------------------- data


def synthetic_attribute_file():
    layout = config["synthetic"]["layout"]
    return str(Path(config["data"]["root"]) / generated_attribute_file(layout))


def synthetic_root(wildcards, output):
    """data.root, derived from the attribute file the generator writes."""
    depth = len(Path(generated_attribute_file(config["synthetic"]["layout"])).parts)
    return str(Path(output.attributes).parents[depth - 1])


def partition_input(wildcards):
    """CelebA's partition file, read by split.method official (real data: the synthetic data's
    comes with its attribute file)."""
    if config["split"]["method"] != "official" or config["synthetic"]["enabled"]:
        return []
    from celeba_gender.ingest import PARTITION_FILES

    root = Path(config["data"]["root"])
    return [str(root / f) for f in PARTITION_FILES.values() if (root / f).exists()]


def ingest_inputs(wildcards):
    """The attribute file, when the workflow makes it or it is already there (a downloaded
    source: none, the download's marker is the input ``download``)."""
    if config["synthetic"]["enabled"]:
        return [rules.synthesize.output.attributes]
    if downloads():
        return []
    root = Path(config["data"]["root"])
    found = [root / name for name in LAYOUT_ATTRIBUTE_FILES.values()]
    found.append(attribute_file(root, "huggingface"))  # its first train shard, if any
    return [str(path) for path in found if path.is_file()]


# ---------------------------------------------------------------- weights


def weights_file(wildcards=None):
    """The backbone file training reads, whatever model.weights says."""
    weights = config["model"]["weights"]
    if weights == "imagenet":
        return rules.fetch_imagenet_weights.output.weights
    if weights == "random":
        return rules.random_weights.output.weights
    if not Path(weights).is_file():
        raise ValueError(
            f"config model.weights: {weights} does not exist. Use imagenet, random, "
            "or the path of a VGG-16 .pth state dict."
        )
    return weights


def random_weights_calibration(wildcards):
    """The decoded training images a random backbone is calibrated on (none when disabled)."""
    if not config["model"]["calibration_images"]:
        return []
    return expand(rules.decode_images.output.store, split="train")


def weights_note():
    weights = config["model"]["weights"]
    if weights == "random":
        return (
            "weights: random (NOT pretrained: a seeded random initialisation, its classifier "
            "calibrated on unlabelled training images; demo and tests only)"
        )
    if weights == "imagenet":
        return "weights: ImageNet (torchvision VGG16_Weights.IMAGENET1K_V1)"
    return f"weights: {weights}"


# ---------------------------------------------------------------- training inputs


def train_kind(wildcards):
    """What the model trains and is evaluated on: features, prefix (cache) or images."""
    return grid.input_kind(
        grid.ModelId.parse(wildcards.model).strategy, config["train"]
    )


def split_file(split):
    return expand(rules.split.output[split], split=split)[0]


def split_input(split, kind):
    """A split's training input: the decoded images, or its feature cache (``kind``)."""
    if kind == "images":
        return expand(rules.decode_images.output.store, split=split)[0]
    views = grid.split_views(split, config["train"]["augmentations"])
    pattern = getattr(rules.build_feature_cache.output, kind)
    return expand(pattern, split=split, views=views)[0]


def split_inputs(kind, *splits):
    """The backbone file, and each split's file and training input (``kind``)."""
    inputs = {"weights": weights_file()}
    for split in splits:
        inputs[split] = split_file(split)
        inputs[f"{split}_input"] = split_input(split, kind)
    return inputs


def train_inputs(wildcards):
    inputs = split_inputs(train_kind(wildcards), "train", "val")
    if config["train"]["select_by"] == "worst_group":  # the validation images' groups
        inputs["metadata"] = rules.ingest.output.metadata
    return inputs


def trained_models(model):
    """The last- and best-epoch model files of ``model`` (an ERM or a DFR model)."""
    return {
        "model": expand(rules.train.output.model, model=model)[0],
        "best": expand(rules.train.output.best, model=model)[0],
    }


def dfr_inputs(wildcards):
    """What the DFR fit of ERM model ``base`` reads: its model files and the VALIDATION split
    only (no test file: the test split is seen by the evaluate rule alone)."""
    kind = grid.input_kind(grid.ModelId.parse(wildcards.base).strategy, config["train"])
    return {
        **trained_models(wildcards.base),
        **split_inputs(kind, "val"),
        "metadata": rules.ingest.output.metadata,
    }


def evaluation_file(model, point):
    """The test predictions of ``model`` at checkpoint ``point``."""
    return expand(rules.evaluate.output.predictions, model=model, checkpoint=point)[0]


def calibrate_inputs(wildcards):
    """A model's files, the validation split it is calibrated on, its test predictions."""
    return {
        **trained_models(wildcards.model),
        **split_inputs(train_kind(wildcards), "val"),
        **{
            f"predictions_{point}": evaluation_file(wildcards.model, point)
            for point in CHECKPOINTS
        },
    }


def evaluate_inputs(wildcards):
    trained = (
        rules.train.output.model
        if wildcards.checkpoint == "last"
        else rules.train.output.best
    )
    return {
        "model": expand(trained, model=wildcards.model)[0],
        **split_inputs(train_kind(wildcards), "test"),
    }


def evaluate_threads(wildcards):
    """Threads of a test-set evaluation: 1 when it reads the feature cache (a few matrix products,
    so that two evaluations run side by side), 2 when it runs the whole VGG-16 on images.
    """
    return 2 if train_kind(wildcards) == "images" else 1


def train_settings(wildcards):
    """Everything that determines the model (a dict: Snakemake compares plain params)."""
    return TrainSettings.from_config(config, wildcards.model).to_dict()


def every_settings():
    """Each model's settings (model -> dict), for the model cards."""
    return {m: TrainSettings.from_config(config, m).to_dict() for m in MODELS}


def evaluation_of(checkpoint):
    """A model's evaluation file at ``checkpoint`` (the model wildcard left open)."""
    return expand(
        rules.evaluate.output.metrics, checkpoint=checkpoint, allow_missing=True
    )[0]


# Settings that say how a job runs, not what it computes, are "derived" params: their functions
# take ``resources``, and Snakemake leaves such params out of its rerun check. Changing them
# reruns nothing, and the shared stages stay shared between experiments that differ in them.


def gpu_ids(wildcards, resources):
    """config gpus: the device ids a GPU job may claim (celeba_gender.gpus)."""
    return config["gpus"]


def run_device(wildcards, resources):
    """config train.device: the device a job runs on."""
    return config["train"]["device"]


def run_batch_size(wildcards, resources):
    """config train.batch_size, for the jobs where it sets only how many images go through the
    network at once (the feature cache, evaluation): it changes no value beyond float rounding.
    Training takes it in its settings, where it does change the model."""
    return config["train"]["batch_size"]


def results_root(wildcards, output):
    """The folder holding experiments/ (the comparison is written beside it)."""
    return str(Path(output.table).parent)


def views_wildcard(wildcards):
    """Views per image of a feature cache, from its file name (``train.2v.features.npy``)."""
    return int(wildcards.views)


def tracking(wildcards, resources):
    """config tracking, and where the experiment's tracking logs go (celeba_gender.tracking)."""
    return {"kind": config["tracking"], "logdir": PATHS.tracking}


def attempt_runtime(wildcards, attempt):
    """Minutes for a training job, growing with each retry (a resubmitted job resumes).

    30 min plus images x epochs x (image_size / 224)^2 / 400, times the attempt number.
    images: data.subset_size, or with null every image of full CelebA (202,599 in its
    attribute file; the real count is only known after ingest); with synthetic data at most
    synthetic.n_images.
    """
    full_celeba_images = 202599
    images = config["data"]["subset_size"] or full_celeba_images
    if config["synthetic"]["enabled"]:
        images = min(images, config["synthetic"]["n_images"])
    scale = (config["train"]["image_size"] / 224) ** 2
    base = 30 + images * config["train"]["epochs"] * scale / 400
    return int(math.ceil(base * attempt))


# ---------------------------------------------------------------- outputs


def model_outputs(pattern, **extra):
    return expand(pattern, model=MODELS, **extra)


def benchmark_files():
    """The benchmark files of this config's jobs, in the order the jobs run: the report's cost
    table reads those that exist, never those of models dropped from the config. The patterns
    are the rules' own ``benchmark:`` paths, so they cannot drift apart.
    """
    files = [rules.synthesize.benchmark] if config["synthetic"]["enabled"] else []
    files.append(rules.ingest.benchmark)
    if config["model"]["weights"] == "imagenet":
        files.append(rules.fetch_imagenet_weights.benchmark)
    elif config["model"]["weights"] == "random":
        files.append(rules.random_weights.benchmark)
    files += expand(rules.decode_images.benchmark, split=SPLITS)
    if grid.cache_usable(config["train"]):
        files += [
            expand(rules.build_feature_cache.benchmark, split=split, views=views)[0]
            for split, views in cache_views()
        ]
    erm = [m for m in MODELS if grid.ModelId.parse(m).kind == "erm"]
    files += expand(rules.train.benchmark, model=erm)
    files += [
        expand(rules.dfr.benchmark, base=grid.ModelId.parse(m).base.name)[0]
        for m in MODELS
        if m not in erm
    ]
    files += model_outputs(rules.evaluate.benchmark, checkpoint=CHECKPOINTS)
    files += model_outputs(rules.calibrate.benchmark)
    files += model_outputs(rules.gradcam.benchmark)
    return [str(path) for path in files]


def cache_views():
    """(split, views per image) of each split's feature cache."""
    return [
        (split, grid.split_views(split, config["train"]["augmentations"]))
        for split in SPLITS
    ]


# ---------------------------------------------------------------- data sources (issue 19)
# data.source: folder reads data.root as it is; kaggle and huggingface download CelebA into it
# first (rule download, celeba_gender.download), and ingest reads the folder the verified
# download's marker names.


def downloads():
    """Whether data.source is a download (kaggle, huggingface), not a folder."""
    return config["data"]["source"] != "folder"


def generated_attribute_file(layout):
    """The attribute file the synthetic generator writes in ``layout``, relative to data.root:
    for the huggingface layout its first train shard (synth.generate writes 2 per split).
    """
    if layout == "huggingface":
        return f"{HUB_CONFIG}/{parquet.shard_name('train', 0, 2)}"
    return LAYOUT_ATTRIBUTE_FILES[layout]


def download_marker():
    """The download's verified marker (sources.marker_path), relative like data.root; with a
    folder source the rule is never asked for (the name stays valid)."""
    root = config["data"]["root"]
    source = config["data"]["source"] if downloads() else "folder"
    return str(Path(root) / sources.marker_name(source))


def download_root(wildcards, output):
    """data.root, derived from the marker the download writes into it."""
    return str(Path(output.marker).parent)


def download_settings():
    """data.download.<source>: the pinned identity the download fetches (none for a folder)."""
    if not downloads():
        return {}
    return dict(config["data"]["download"][config["data"]["source"]])


def download_decode_size(wildcards, resources):
    """train.image_size: the image store the free-space check reserves room for. A derived
    param (it takes resources): changing the image size does not redo the download."""
    return config["train"]["image_size"]


def ingest_download(wildcards):
    """The verified download's marker, when data.source is a download; else nothing."""
    return [rules.download.output.marker] if downloads() else []
