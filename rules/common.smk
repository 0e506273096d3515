# Helper functions shared by the rules (no rules here).
import math
import sys
from pathlib import Path

import yaml
from snakemake.utils import validate

# The package's constants (names shared with the jobs; no third-party imports).
sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))
from celeba_gender import grid
from celeba_gender.codedeps import code_dependencies
from celeba_gender.configcheck import (
    check_config,
    coerce_numbers,
    reused_experiment_warning,
)
from celeba_gender.configdiff import outcome_config
from celeba_gender.constants import LAYOUT_ATTRIBUTE_FILES, format_lr
from celeba_gender.paths import IMAGENET_WEIGHTS, WorkflowPaths, random_weights_file
from celeba_gender.settings import TrainSettings, cache_dtype

# 1e-4 is a number (YAML 1.1 reads it as a string); then the schema (defaults filled in); then
# what the schema cannot say, including whether the data is there: a run that cannot start
# stops here, before any job is planned (snakemake -n too).
coerce_numbers(
    config, yaml.safe_load((Path(workflow.basedir) / "config/schema.yaml").read_text())
)
validate(config, "../config/schema.yaml")
check_config(config)

SPLITS = grid.SPLITS
CHECKPOINTS = grid.CHECKPOINTS
MODEL_WILDCARD = grid.MODEL_WILDCARD

# Where everything goes (celeba_gender/paths.py): this experiment's folder, and the shared stages'
# folders keyed by what their outputs depend on.
PATHS = WorkflowPaths.from_config(config)
EXP = PATHS.experiment  # results/experiments/<experiment>
DATA = PATHS.data  # results/data/<data key>: metadata, splits, EDA
IMAGES = PATHS.images  # results/cache/<data key>/images-<S>px
FEATURES = (
    PATHS.features
)  # results/cache/<data key>/features-<backbone>-<S>px-<dtype>-<precision>
SHARED_LOGS = PATHS.shared_logs
if warning := reused_experiment_warning(config, PATHS.config_file):
    print(f"WARNING: {warning}", file=sys.stderr)
SHARED_BENCHMARKS = PATHS.shared_benchmarks
IMAGE_SIZE = config["train"]["image_size"]
FEATURE_TAG = Path(FEATURES).name
RANDOM_WEIGHTS = random_weights_file(
    config
)  # the random_weights rule's output, whatever weights says


def track_script_code():
    """Make each rule's wrapper script, and every package module it reaches through its imports
    (found with ``ast``, transitively), inputs named ``code``. Editing a module then reruns
    exactly the rules whose scripts import it. Called by the Snakefile once every rule is
    defined, so that no rule lists its code by hand."""
    package = Path(workflow.basedir) / "scripts" / "celeba_gender"
    for each in workflow.rules:
        if each.script:
            script = Path(each.basedir.get_path_or_uri(secret_free=True)) / each.script
            if each.input_modifier is None:  # no input section in the rules file
                each.input_modifier = workflow.modifier.path_modifier
            each.set_input(code=[str(f) for f in code_dependencies(script, package)])


MODELS = [cell.name for cell in grid.models(config["train"])]


def model_labels(wildcards):
    cell = grid.ModelId.parse(wildcards.model)
    return {
        "strategy": str(cell.strategy),
        "learning rate": format_lr(cell.lr),
        "seed": str(cell.seed),
    }


def eval_labels(wildcards):
    return {**model_labels(wildcards), "checkpoint": wildcards.checkpoint}


def subgroup_table_labels(wildcards):
    """Labels of the per-attribute subgroup table (a "kind" tells it from the other two)."""
    return {**model_labels(wildcards), "kind": "attribute table"}


def subgroup_groups_labels(wildcards):
    """Labels of the per-(sex x attribute) group table."""
    return {**model_labels(wildcards), "kind": "group table"}


def subgroup_heatmap_labels(wildcards):
    """Labels of the subgroup heat map."""
    return {**model_labels(wildcards), "kind": "heatmap"}


# ---------------------------------------------------------------- data


def attribute_file():
    layout = config["synthetic"]["layout"]
    return str(Path(config["data"]["root"]) / LAYOUT_ATTRIBUTE_FILES[layout])


def synthetic_root(wildcards, output):
    """data.root, derived from the attribute file the generator writes."""
    depth = len(Path(LAYOUT_ATTRIBUTE_FILES[config["synthetic"]["layout"]]).parts)
    return str(Path(output.attributes).parents[depth - 1])


def ingest_inputs(wildcards):
    """The attribute file, when the workflow makes it or it is already there."""
    if config["synthetic"]["enabled"]:
        return [attribute_file()]
    root = Path(config["data"]["root"])
    return [
        str(root / name)
        for name in LAYOUT_ATTRIBUTE_FILES.values()
        if (root / name).exists()
    ]


# ---------------------------------------------------------------- weights


def weights_file():
    """The backbone file training reads, whatever model.weights says."""
    weights = config["model"]["weights"]
    if weights not in ("imagenet", "random") and not Path(weights).is_file():
        raise ValueError(
            f"config model.weights: {weights} does not exist. Use imagenet, random, "
            "or the path of a VGG-16 .pth state dict."
        )
    return PATHS.weights


def random_weights_calibration(wildcards):
    """The decoded training images a random backbone is calibrated on (none when disabled)."""
    return [PATHS.image_store("train")] if config["model"]["calibration_images"] else []


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


def split_input(split, kind):
    """A split's training input: the decoded images, or its feature cache (``kind``)."""
    if kind == "images":
        return PATHS.image_store(split)
    views = grid.split_views(split, config["train"]["augmentations"])
    return PATHS.feature_file(split, views, kind)


def train_inputs(wildcards):
    kind = train_kind(wildcards)
    return {
        "weights": weights_file(),
        "train": PATHS.split_file("train"),
        "val": PATHS.split_file("val"),
        "train_input": split_input("train", kind),
        "val_input": split_input("val", kind),
    }


def evaluate_inputs(wildcards):
    model_file = "model.pt" if wildcards.checkpoint == "last" else "best.pt"
    return {
        "model": f"{PATHS.model_dir(wildcards.model)}/{model_file}",
        "weights": weights_file(),
        "test": PATHS.split_file("test"),
        "test_input": split_input("test", train_kind(wildcards)),
    }


def evaluate_threads(wildcards):
    """Threads of a test-set evaluation: 1 when it reads the feature cache (a few matrix products,
    so that two evaluations run side by side), 2 when it runs the whole VGG-16 on images.
    """
    return 2 if train_kind(wildcards) == "images" else 1


def train_settings(wildcards):
    """Everything that determines the model (a dict: Snakemake compares plain params)."""
    return TrainSettings.from_config(config, wildcards.model).to_dict()


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
    files += model_outputs(rules.train.benchmark)
    files += model_outputs(rules.evaluate.benchmark, checkpoint=CHECKPOINTS)
    files += model_outputs(rules.gradcam.benchmark)
    return [str(path) for path in files]


def cache_views():
    """(split, views per image) of each split's feature cache."""
    return [
        (split, grid.split_views(split, config["train"]["augmentations"]))
        for split in SPLITS
    ]
