"""Settings of two configs compared key by key (the comparison across experiments, and the
warning when an experiment's name is reused with other settings). Standard library only."""

from __future__ import annotations

from collections.abc import Mapping

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
    "train.learning_rates": [3.0e-4],
    "train.strategies": [2],
    "train.seed": 1,
    "train.seeds": [0, 1],
    "train.batch_size": 16,
    "train.device": "cpu",
    "train.select_by": "val_loss",
    "train.early_stopping_patience": 2,
    "train.checkpoint_minutes": 5,
    "train.compile": True,
    "evaluate.bootstrap": 100,
    "evaluate.min_group_size": 3,
    "evaluate.gradcam_images": 2,
    "gpus": [0, 1],
    "tracking": "tensorboard",
}


def outcome_config(config: Mapping) -> dict:
    """``config`` without the keys that do not change any output (``RUN_ONLY_KEYS``)."""
    return {key: value for key, value in config.items() if key not in RUN_ONLY_KEYS}


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
