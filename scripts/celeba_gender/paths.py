"""Where every output of the workflow lives: one experiment's folder and the shared, keyed stages.

An **experiment** (config key ``experiment``) owns every output that depends on training or
evaluation settings: ``results/experiments/<name>/`` holds its resolved config, models,
checkpoints, evaluations, figures, tables, logs, benchmark files, tracking logs and report.
Running another experiment never writes there.

The stages whose outputs two experiments can share live outside every experiment, in folders
named after exactly what their outputs depend on, so that an experiment that differs only in
training settings reuses them, and two experiments that differ in, say, image size keep two
stores side by side instead of rebuilding one each time they alternate:

- ``results/data/<data key>/``: ingest (metadata), split and the EDA, keyed by ``data.*``,
  ``split.*`` (and ``synthetic.*`` when the data is generated): :func:`data_key`;
- ``results/cache/<data key>/images-<S>px/``: the decoded images at image size S;
- ``results/cache/<data key>/features-<backbone>-<S>px-<dtype>-<precision>/``: the feature cache,
  one file per split and number of views (``train.2v.features.npy``): :func:`feature_folder`;
- the backbone: ImageNet's file under ``resources/weights/``; a random backbone under
  ``results/weights/`` (calibrated on training images: under the images' folder).

``WorkflowPaths.from_config`` derives all of them from a validated config (schema defaults
filled in); the rules, the tests and the comparison across experiments use it, so a path is
written once. Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .constants import LABEL_ATTRIBUTE
from .grid import cache_dtype

RESULTS = "results"
EXPERIMENTS_DIR = "experiments"
EXPERIMENTS = f"{RESULTS}/{EXPERIMENTS_DIR}"
# In an experiment's folder: its resolved config, its report's metrics, its intervals.
CONFIG_FILE = "config.yaml"
METRICS_FILE = "report/metrics.csv"
MODEL_CI_FILE = "tables/model_ci.csv"
MODELS_DIR = "models"  # models/<model>/{model.pt, best.pt, history.csv}
IMAGENET_WEIGHTS = "resources/weights/vgg16-397923af.pth"
# The config sections the data stages read (ingest, split, EDA): the data key hashes them.
DATA_SECTIONS = ("data", "split")
# Keys added after data keys were first written: left out of the hash at these defaults, so that
# a config that does not change them keeps its data key (and its shared stages).
LATER_DEFAULTS = {
    ("data", "target"): LABEL_ATTRIBUTE,
    ("split", "method"): "stratified",
    ("synthetic", "group_rates"): None,
}


def _digest(value) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "data"


# data.source and data.download (celeba_gender.download): with the default source, folder, they
# are left out of the data key (and of the resolved config), so that today's configs keep their
# data key; with a download source, the source and that source's settings count.
FOLDER_SOURCE = "folder"
DOWNLOAD_KEYS = ("source", "download")


def data_settings(data: Mapping) -> dict:
    """``data.*`` as far as it determines the data: without ``source``/``download`` when the
    source is a folder, with only the chosen source's ``download`` settings otherwise."""
    source = data.get("source", FOLDER_SOURCE)
    found = {key: value for key, value in data.items() if key not in DOWNLOAD_KEYS}
    if source != FOLDER_SOURCE:
        found["source"] = source
        found["download"] = dict((data.get("download") or {}).get(source) or {})
    return found


def data_key(config: Mapping) -> str:
    """``<data folder name>-<subset size or all>-<hash>``: names what ingest, split and the EDA
    read. The hash covers ``data.*`` (:func:`data_settings`) and ``split.*``, and ``synthetic.*``
    when the workflow generates the data; any change of them gives another key (another folder),
    except keys added later (``LATER_DEFAULTS``) while they hold their defaults."""
    sections = {name: dict(config[name]) for name in DATA_SECTIONS}
    sections["data"] = data_settings(config["data"])
    if config.get("synthetic", {}).get("enabled"):
        sections["synthetic"] = dict(config["synthetic"])
    for (section, key), default in LATER_DEFAULTS.items():
        if section in sections and sections[section].get(key, default) == default:
            sections[section].pop(key, None)
    n = config["data"]["subset_size"]
    return f"{_slug(Path(config['data']['root']).name)}-{n or 'all'}-{_digest(sections)}"


def backbone_id(model: Mapping) -> str:
    """The backbone in a cache folder's name: ``imagenet``, ``random0`` (``random0-cal256`` when
    calibrated on training images) or ``file-<stem>-<hash of its path>`` for a user's file."""
    weights = model["weights"]
    if weights == "imagenet":
        return "imagenet"
    if weights == "random":
        calibration = model.get("calibration_images", 0)
        suffix = f"-cal{calibration}" if calibration else ""
        return f"random{model.get('init_seed', 0)}{suffix}"
    return f"file-{_slug(Path(weights).stem)}-{_digest(weights)}"


def random_weights_file(config: Mapping) -> str:
    """Where ``model.weights: random`` draws its backbone: beside the decoded training images it
    is calibrated on (``model.calibration_images``), or under ``results/weights/`` without them."""
    model = config["model"]
    name = f"vgg16-{backbone_id({**model, 'weights': 'random'})}.pth"
    if model.get("calibration_images", 0):
        return f"{RESULTS}/cache/{data_key(config)}/images-{config['train']['image_size']}px/{name}"
    return f"{RESULTS}/weights/{name}"


def feature_folder(config: Mapping, dtype: str) -> str:
    """``features-<backbone>-<S>px-<dtype>-<precision>``: what a feature cache depends on (with
    the data key of its parent folder and the split and views in its file names)."""
    train = config["train"]
    return (
        f"features-{backbone_id(config['model'])}-{train['image_size']}px-{dtype}-"
        f"{train['precision']}"
    )


@dataclass(frozen=True)
class WorkflowPaths:
    """The folders of one config's run (strings, relative to the working directory)."""

    experiment: str  # results/experiments/<name>
    data: str  # results/data/<data key>
    images: str  # results/cache/<data key>/images-<S>px
    features: str  # results/cache/<data key>/features-...
    weights: str  # the backbone file training reads
    shared_logs: str  # results/logs/<data key>
    shared_benchmarks: str  # results/benchmarks/<data key>

    @classmethod
    def from_config(cls, config: Mapping) -> WorkflowPaths:
        """The paths of ``config`` (validated, defaults filled in)."""
        key = data_key(config)
        cache = f"{RESULTS}/cache/{key}"
        weights = config["model"]["weights"]
        if weights == "imagenet":
            weights = IMAGENET_WEIGHTS
        elif weights == "random":
            weights = random_weights_file(config)
        return cls(
            experiment=f"{EXPERIMENTS}/{config['experiment']}",
            data=f"{RESULTS}/data/{key}",
            images=f"{cache}/images-{config['train']['image_size']}px",
            features=f"{cache}/{feature_folder(config, cache_dtype(config['train']))}",
            weights=weights,
            shared_logs=f"{RESULTS}/logs/{key}",
            shared_benchmarks=f"{RESULTS}/benchmarks/{key}",
        )

    # ---------------------------------------------------------------- files used in many places

    @property
    def config_file(self) -> str:
        return f"{self.experiment}/{CONFIG_FILE}"

    def split_file(self, split: str) -> str:
        return f"{self.data}/splits/{split}.csv"

    def image_store(self, split: str) -> str:
        return f"{self.images}/{split}.npy"

    def feature_file(self, split: str, views: int, kind: str) -> str:
        """A split's cache (``kind``: prefix or features) with ``views`` views per image."""
        return f"{self.features}/{split}.{views}v.{kind}.npy"

    def model_dir(self, model: str) -> str:
        return f"{self.experiment}/{MODELS_DIR}/{model}"

    def evaluation_dir(self, model: str, checkpoint: str) -> str:
        return f"{self.experiment}/evaluation/{model}/{checkpoint}"

    @property
    def report(self) -> str:
        return f"{self.experiment}/report/report.html"

    @property
    def metrics(self) -> str:
        return f"{self.experiment}/{METRICS_FILE}"

    @property
    def tracking(self) -> str:
        return f"{self.experiment}/tensorboard"
