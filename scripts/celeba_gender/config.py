"""The workflow's config: the checks made when it is parsed, the config that determines an
experiment's outputs, and settings of two configs compared key by key.

Checks of the workflow's config made when it is parsed, before any job is planned.

``rules/common.smk`` calls them around Snakemake's schema validation: ``coerce_numbers`` first
(so that ``1e-4`` is a number), then the schema, then ``check_config`` (what the schema cannot
express: the split fractions, and whether the data a run needs is there). Standard library only.

The comparison (``changed_settings``, ``differing_keys``) serves the comparison across
experiments and the warning when an experiment's name is reused with other settings.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from celeba_gender import grid, layouts, sources
from celeba_gender.constants import ATTRIBUTES
from celeba_gender.io import write_text
from celeba_gender.paths import data_settings
from celeba_gender.tracking import tracking_available

log = logging.getLogger(__name__)

NAME_KEY = "experiment"  # the config key naming the experiment: the row label, not a setting
# Top-level keys that say how a run runs (which cards, whether it is watched), never what it
# computes: the config the report and the resolved config record leaves them out, so that
# changing them reruns nothing.
RUN_ONLY_KEYS = ("gpus", "tracking")
# The settings a new experiment may change without rebuilding anything shared (data, split, EDA,
# decoded images, feature caches, weights): setting (dotted key) -> an example changed value,
# which the tests set in a new experiment beside a finished tiny run, one at a time, and dry-run
# (tests/test_experiment_plans.py; docs/experiments.md lists these keys, and a test checks it).
EXPERIMENT_ONLY_SETTINGS: dict[str, object] = {
    "train.epochs": 3,
    "train.learning_rates": [1.0e-4, 3.0e-4],
    "train.strategies": [2],
    "train.seed": 1,
    "train.seeds": [0, 1],
    "train.batch_size": 16,
    "train.device": "cpu",
    "train.select_by": "val_loss",
    "train.early_stopping_patience": 2,
    "train.checkpoint_minutes": 5,
    "train.compile": True,
    "train.dfr": True,
    "evaluate.bootstrap": 100,
    "evaluate.min_group_size": 3,
    "evaluate.gradcam_images": 2,
    "evaluate.group_by": ["Eyeglasses"],
    "evaluate.model_cards": ["s2_lr1e-4_seed0"],  # in tiny.yaml's grid alone and in all at once
    "gpus": [0, 1],
    "tracking": "tensorboard",
}


def outcome_config(config: Mapping) -> dict:
    """``config`` without the keys that do not change any output (``RUN_ONLY_KEYS``), and its
    ``data`` section as the data key sees it (``paths.data_settings``: no download settings
    when the data come from a folder)."""
    found = {key: value for key, value in config.items() if key not in RUN_ONLY_KEYS}
    if isinstance(found.get("data"), Mapping):
        found["data"] = data_settings(found["data"])
    return found


def flatten(mapping: Mapping, prefix: str = "") -> dict[str, object]:
    """A nested mapping as ``{dotted key: value}``; an empty mapping stays one value."""
    flat: dict[str, object] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def setting_text(value: object) -> str:
    """A setting as compact text, the same for equal values: ``null``, ``true``, ``6e-05``,
    ``[0.001, 0.0001]``, ``{a: 1}``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(setting_text(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {setting_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def flat_settings(config: Mapping) -> dict[str, str]:
    """A resolved config as ``{dotted key: text}``, without the experiment's name."""
    return {key: setting_text(value) for key, value in flatten(config).items() if key != NAME_KEY}


def setting_keys(settings: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Every key of any experiment, in the order of first appearance (experiments by name)."""
    keys: dict[str, None] = {}
    for name in sorted(settings):
        keys.update(dict.fromkeys(settings[name]))
    return list(keys)


def differing_keys(settings: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The keys whose value is not the same in every experiment (absent counts as a value)."""
    missing = object()
    return [
        key
        for key in setting_keys(settings)
        if len({s.get(key, missing) for s in settings.values()}) > 1
    ]


def changed_settings(old: Mapping, new: Mapping) -> list[str]:
    """``key: old -> new`` for every setting (not the name) that differs between two configs."""
    before, after = flat_settings(old), flat_settings(new)
    return [
        f"{key}: {before.get(key, '(absent)')} -> {after.get(key, '(absent)')}"
        for key in differing_keys({"0-old": before, "1-new": after})  # keys: old first
    ]


# ----------------------------------------------------------------------------- parse-time checks

# YAML 1.1 (PyYAML) reads 1e-4 or 3E5 as strings: only 1.0e-4 is a float there.
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
# Snakemake's --config reads every value as a string: --config 'gpus=[0,1]' gives ["0", "1"].
_INTEGER = re.compile(r"^[+-]?\d+$")


def _types(schema: Mapping) -> set[str]:
    kind = schema.get("type", ())
    return {kind} if isinstance(kind, str) else set(kind)


def coerce_numbers(value: Any, schema: Mapping) -> Any:
    """``value`` with every string that the schema wants as a number (``1e-4``, ``3e-5``) turned
    into a float, and every string of digits it wants as an integer (``--config 'gpus=[0,1]'``)
    into an int, in nested objects and arrays; everything else is returned unchanged (the schema
    then names what is still wrong). Dicts and lists are changed in place, so Snakemake's config
    object stays the same object."""
    if isinstance(value, str) and "integer" in _types(schema) and _INTEGER.match(value.strip()):
        return int(value)
    if isinstance(value, str) and "number" in _types(schema) and _FLOAT.match(value.strip()):
        return float(value)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key in properties:
                value[key] = coerce_numbers(item, properties[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            value[index] = coerce_numbers(item, schema["items"])
    return value


def check_split(split: Mapping) -> None:
    total = split["train"] + split["val"] + split["test"]
    if abs(total - 1.0) > 1e-6:
        raise ValueError(
            f"config split: train + val + test = {split['train']} + {split['val']} + "
            f"{split['test']} = {total:g}; the three fractions must sum to 1."
        )


def check_data(config: Mapping) -> None:
    """Stop before anything is planned when the run cannot start: ``data.root`` missing or holding
    no known CelebA layout (unless the workflow generates the data), or, when it does generate
    them, ``data.root`` holding something the generator did not write."""
    data = config["data"]
    if data.get("source", "folder") != "folder":
        check_download(config)
    elif config["synthetic"]["enabled"]:
        layouts.check_synthetic_target(data["root"])
    elif data["format"] == "auto":
        layouts.detect_layout(data["root"])
    else:
        layouts.check_root(layouts.absolute(data["root"]))
        attributes = layouts.attribute_file(data["root"], data["format"])
        if not attributes.is_file():
            raise layouts.DataError(
                f"data.format {data['format']}: {attributes} does not exist under data.root "
                f"{data['root']}; set data.format: auto to detect the layout."
            )
        layouts.image_dir(data["root"], data["format"])


def check_download(config: Mapping) -> None:
    """``data.source`` kaggle or huggingface: the download rule will fill ``data.root`` (a missing
    folder is fine); its settings, the layout it gives and the client packages are checked."""
    data, source = config["data"], config["data"]["source"]
    if config["synthetic"]["enabled"]:
        raise layouts.DataError(
            f"config data.source: {source} downloads CelebA into data.root, synthetic.enabled "
            "generates data there; set data.source: folder or synthetic.enabled: false."
        )
    if data["format"] not in ("auto", source):  # each source's layout is named after it
        raise layouts.DataError(
            f"config data.format: {data['format']} cannot read what data.source {source} "
            f"downloads (the {source} layout); set data.format: auto or {source}."
        )
    root = layouts.absolute(data["root"])
    if root.exists() and not root.is_dir():
        raise layouts.DataError(
            f"config data.root: {root} is a file; with data.source {source} it is the folder "
            "the download goes to (created when missing)."
        )
    sources.spec_from_config(data)  # unknown or inconsistent settings
    try:
        sources.require_client(source)
    except sources.DownloadError as err:
        raise sources.DownloadError(f"config data.source: {err}") from None


def reused_experiment_warning(config: Mapping, resolved_file: str) -> str | None:
    """A warning when ``config`` runs an experiment that was run before with other settings
    (its resolved config, ``resolved_file``, says which): the jobs those settings change will
    rerun and replace the experiment's files. None when it is new or unchanged."""
    import yaml

    try:
        with open(resolved_file) as handle:
            before = yaml.safe_load(handle)
    except FileNotFoundError:
        return None
    changes = changed_settings(before or {}, outcome_config(config))
    if not changes:
        return None
    return (
        f"experiment {config['experiment']!r} was run before with other settings "
        f"({'; '.join(changes)}): the jobs they change rerun and replace its files in "
        f"{resolved_file.rsplit('/', 1)[0]}. To keep both, name this run: "
        "--config experiment=NEW_NAME"
    )


def check_config(config: Mapping) -> None:
    """What the schema cannot express; each error names the key."""
    check_split(config["split"])
    # tracking: the tracker's package is installed (it is an optional extra)
    if problem := tracking_available(config.get("tracking", "none")):
        raise ValueError(f"config tracking: {problem}")
    check_groups(config)
    check_data(config)


def check_groups(config: Mapping) -> None:
    """evaluate.group_by names CelebA attributes other than data.target; the models of
    evaluate.model_cards are in the grid; select_by worst_group and train.dfr need groups."""
    target, groups = grid.target(config), grid.group_by(config)
    unknown = [name for name in groups if name not in ATTRIBUTES]
    if unknown or target in groups:
        raise ValueError(
            f"config evaluate.group_by: {groups} must name CelebA attributes other than the "
            f"target {target} (unknown: {unknown or 'none'}); e.g. [Blond_Hair]"
        )
    names = {m.name for m in grid.models(config["train"])}
    missing = [name for name in config["evaluate"].get("model_cards", []) if name not in names]
    if missing:
        raise ValueError(
            f"config evaluate.model_cards: {missing} not in this config's grid; choose among "
            f"{sorted(names)}"
        )


@dataclass(frozen=True)
class ExperimentConfigJob:
    """The experiment_config rule: the config that determines the experiment's outputs."""

    config: Mapping
    out_config: str


def experiment_config(job: ExperimentConfigJob) -> None:
    """An experiment's config as the workflow ran it (schema defaults filled in), as YAML."""
    import yaml

    header = (
        "# The resolved config of this experiment: every key that can change an output (all but\n"
        "# gpus and tracking), defaults filled in (celeba-gender experiments compares these).\n"
    )
    write_text(job.out_config, header + yaml.safe_dump(dict(job.config), sort_keys=False))
    log.info("resolved config written to %s", job.out_config)
