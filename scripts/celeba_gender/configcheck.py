"""Checks of the workflow's config made when it is parsed, before any job is planned.

``rules/common.smk`` calls them around Snakemake's schema validation: ``coerce_numbers`` first
(so that ``1e-4`` is a number), then the schema, then ``check_config`` (what the schema cannot
express: the split fractions, and whether the data a run needs is there). Standard library only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from celeba_gender import layouts
from celeba_gender.configdiff import changed_settings, outcome_config
from celeba_gender.io import write_text
from celeba_gender.tracking import tracking_available

log = logging.getLogger(__name__)

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
    if config["synthetic"]["enabled"]:
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


def write_resolved_config(config: Mapping, path: str) -> None:
    """An experiment's config as the workflow ran it (schema defaults filled in), as YAML."""
    import yaml

    header = (
        "# The resolved config of this experiment: every key that can change an output (all but\n"
        "# gpus and tracking), defaults filled in (celeba-gender experiments compares these).\n"
    )
    write_text(path, header + yaml.safe_dump(dict(config), sort_keys=False))


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


def check_tracking(config: Mapping) -> None:
    """config tracking: the tracker's package is installed (it is an optional extra)."""
    problem = tracking_available(config.get("tracking", "none"))
    if problem:
        raise ValueError(f"config tracking: {problem}")


def check_config(config: Mapping) -> None:
    """What the schema cannot express; each error names the key."""
    check_split(config["split"])
    check_tracking(config)
    check_data(config)


@dataclass(frozen=True)
class ExperimentConfigJob:
    """The experiment_config rule: the config that determines the experiment's outputs."""

    config: Mapping
    out_config: str


def experiment_config(job: ExperimentConfigJob) -> None:
    write_resolved_config(job.config, job.out_config)
    log.info("resolved config written to %s", job.out_config)
