"""Named experiments side by side: every finished ``<root>/experiments/<name>/``, compared.

An experiment is finished when its folder holds ``config.yaml`` (the resolved config),
``report/metrics.csv`` and ``tables/model_ci.csv``; other folders are skipped and named.
``collect`` reads only what is on disk and returns the comparison table: one row per
experiment x model x checkpoint, the settings that differ between the experiments as dotted
keys (``train.epochs``), then the model's test metrics with their 95% interval.
``write_comparison`` writes it as a CSV and as a self-contained HTML page (the page's CSS and
helpers of ``page``) with the validation curves of chosen models overlaid. ``compare_experiments`` is
the compare rule's job; the terminal view of ``celeba-gender experiments`` is in ``__main__``.
"""

from __future__ import annotations

import html
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from celeba_gender import plots
from celeba_gender.config import (
    differing_keys,
    flat_settings,
    setting_keys,
)
from celeba_gender.io import ReportError, write_csv
from celeba_gender.paths import (
    CONFIG_FILE,
    EXPERIMENTS_DIR,
    METRICS_FILE,
    MODEL_CI_FILE,
    MODELS_DIR,
)
from celeba_gender.report import figure_html, notes_html, render_html, table_html

log = logging.getLogger(__name__)

FINISHED_FILES: tuple[str, ...] = (CONFIG_FILE, METRICS_FILE, MODEL_CI_FILE)

# The comparison table's columns after ``experiment`` and the setting columns.
METRIC_COLUMNS: tuple[str, ...] = (
    "model",
    "strategy",
    "lr",
    "seed",
    "checkpoint",
    "epoch",
    "test_accuracy",
    "ci_low",
    "ci_high",
    "test_loss",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "best_val_accuracy",
    "numerics",
)
INTERVAL_COLUMNS: tuple[str, ...] = ("ci_low", "ci_high")
TITLE = "celeba-gender: comparison of experiments"


@dataclass(frozen=True)
class Comparison:
    """What ``collect`` found under ``root``: the finished experiments (sorted by name), the
    unfinished ones, each finished experiment's flattened settings (dotted key -> text), the
    keys whose values differ between them, and the comparison table."""

    root: Path
    experiments: tuple[str, ...]
    unfinished: tuple[str, ...]
    settings: Mapping[str, Mapping[str, str]]
    differing: tuple[str, ...]
    table: pd.DataFrame


# ----------------------------------------------------------------------------- reading


def experiments_dir(root: str | os.PathLike) -> Path:
    """Where the experiments of ``root`` live: ``<root>/experiments``."""
    return Path(root) / EXPERIMENTS_DIR


def is_finished(folder: str | os.PathLike) -> bool:
    """Whether an experiment folder holds its config, metrics table and interval table."""
    return all((Path(folder) / name).is_file() for name in FINISHED_FILES)


def read_config(path: str | os.PathLike) -> dict:
    """An experiment's resolved config; ReportError when it is not a YAML mapping."""
    try:
        config = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as err:
        raise ReportError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(config, Mapping):
        raise ReportError(f"{path}: expected a mapping of settings, got {type(config).__name__}")
    return dict(config)


def _read_table(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    """The ``columns`` of a CSV table; ReportError when it is unreadable or lacks one."""
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ReportError(f"{path}: not a readable CSV table ({err})") from err
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ReportError(
            f"{path}: missing column(s) {', '.join(missing)} "
            f"(found: {', '.join(map(str, frame.columns))})"
        )
    return frame[list(columns)]


def experiment_rows(folder: str | os.PathLike) -> pd.DataFrame:
    """One finished experiment's rows: its metrics with the interval of each (model,
    checkpoint) from ``model_ci.csv`` (NaN where that table has no such row)."""
    folder = Path(folder)
    metric_columns = [c for c in METRIC_COLUMNS if c not in INTERVAL_COLUMNS]
    metrics = _read_table(folder / METRICS_FILE, metric_columns)
    intervals = _read_table(folder / MODEL_CI_FILE, ["model", "checkpoint", *INTERVAL_COLUMNS])
    for frame, path in ((metrics, METRICS_FILE), (intervals, MODEL_CI_FILE)):
        twice = frame[frame.duplicated(["model", "checkpoint"])]
        if not twice.empty:
            raise ReportError(
                f"{folder / path}: model '{twice['model'].iloc[0]}' checkpoint "
                f"'{twice['checkpoint'].iloc[0]}' appears more than once"
            )
    rows = metrics.merge(intervals, on=["model", "checkpoint"], how="left", sort=False)
    return rows[list(METRIC_COLUMNS)]


def with_settings(
    rows: pd.DataFrame, settings: Mapping[str, Mapping[str, str]], keys: Sequence[str]
) -> pd.DataFrame:
    """``rows`` (``experiment`` + metric columns) with a column per setting key after
    ``experiment``; a key an experiment lacks is missing (None) there."""
    table = rows[["experiment"]].copy()
    for key in keys:
        table[key] = [settings[name].get(key) for name in rows["experiment"]]
    return pd.concat([table, rows.drop(columns="experiment")], axis=1)


def collect(root: str | os.PathLike = "results") -> Comparison:
    """Read every experiment under ``<root>/experiments`` (see the module doc); ReportError when
    the folder is missing or holds no finished experiment."""
    folder = experiments_dir(root)
    if not folder.is_dir():
        raise ReportError(f"{folder}: no such folder (no experiment has been run under {root} yet)")
    names = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    finished = tuple(n for n in names if is_finished(folder / n))
    unfinished = tuple(n for n in names if n not in finished)
    if not finished:
        found = f"unfinished: {', '.join(unfinished)}" if unfinished else "it is empty"
        raise ReportError(
            f"{folder}: no finished experiment ({found}); one is finished when it holds "
            f"{', '.join(FINISHED_FILES)}"
        )
    settings = {n: flat_settings(read_config(folder / n / CONFIG_FILE)) for n in finished}
    rows = pd.concat(
        [experiment_rows(folder / n).assign(experiment=n) for n in finished], ignore_index=True
    )
    differing = tuple(differing_keys(settings))
    return Comparison(
        root=Path(root),
        experiments=finished,
        unfinished=unfinished,
        settings=settings,
        differing=differing,
        table=with_settings(rows, settings, differing),
    )


def all_settings_table(comparison: Comparison) -> pd.DataFrame:
    """The comparison table with every setting as a column, not only those that differ."""
    rows = comparison.table.drop(columns=list(comparison.differing))
    return with_settings(rows, comparison.settings, setting_keys(comparison.settings))


def settings_overview(comparison: Comparison) -> pd.DataFrame:
    """Every setting (rows) of every finished experiment (columns), those that differ first."""
    keys = setting_keys(comparison.settings)
    differing = set(comparison.differing)
    keys = [k for k in keys if k in differing] + [k for k in keys if k not in differing]
    frame = pd.DataFrame({"setting": keys})
    for name in comparison.experiments:
        frame[name] = [comparison.settings[name].get(k) for k in keys]
    return frame


# ----------------------------------------------------------------------------- chosen models


def best_models(table: pd.DataFrame) -> list[tuple[str, str]]:
    """Each experiment's model with the highest ``best_val_accuracy`` (ties: the first model
    name), as (experiment, model) pairs in the table's experiment order."""
    chosen = []
    for name, rows in table.groupby("experiment", sort=False):
        scores = rows.groupby("model")["best_val_accuracy"].max().dropna()
        if scores.empty:
            log.warning("%s: no model has a best validation accuracy; none is plotted", name)
            continue
        ranked = scores.reset_index().sort_values(
            ["best_val_accuracy", "model"], ascending=[False, True], kind="stable"
        )
        chosen.append((str(name), str(ranked["model"].iloc[0])))
    return chosen


def history_path(root: str | os.PathLike, experiment: str, model: str) -> Path:
    """A model's training history: ``<root>/experiments/<name>/models/<model>/history.csv``."""
    return experiments_dir(root) / experiment / MODELS_DIR / model / "history.csv"


def read_histories(
    root: str | os.PathLike, chosen: Sequence[tuple[str, str]]
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """The histories of the chosen (experiment, model) pairs keyed ``"experiment / model"``,
    and the labels of those whose ``history.csv`` is missing."""
    histories, missing = {}, []
    for experiment, model in chosen:
        label, path = f"{experiment} / {model}", history_path(root, experiment, model)
        if path.is_file():
            histories[label] = plots.check_history(pd.read_csv(path), str(path))
        else:
            log.warning("%s: no training history, not plotted", path)
            missing.append(label)
    return histories, missing


def _weights_banner(comparison: Comparison) -> tuple[str, bool]:
    """The page's weights note (each experiment's ``model.weights``) and whether all were
    pretrained (a random backbone turns the banner into a warning)."""
    weights = {n: comparison.settings[n].get("model.weights", "?") for n in comparison.experiments}
    note = "weights: " + "; ".join(f"{n}: {w}" for n, w in weights.items())
    return note, all(w != "random" for w in weights.values())


def curves_html(comparison: Comparison, chosen: Sequence[tuple[str, str]]) -> str:
    """The figure of the chosen models' validation curves, embedded (a note when none has a
    history on disk)."""
    histories, missing = read_histories(comparison.root, chosen)
    notes = [f"No training history on disk for {', '.join(missing)}."] if missing else []
    if not histories:
        return notes_html(notes or ["No model was chosen."])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "validation_curves.png"
        plots.plot_validation_curves(histories, path)
        figure = figure_html(
            "Validation curves",
            path,
            "Validation accuracy and loss per epoch of "
            + ", ".join(histories)
            + " (experiment / model).",
        )
    return figure + (notes_html(notes) if notes else "")


def comparison_page(
    comparison: Comparison, out_html: str | os.PathLike, chosen: Sequence[tuple[str, str]]
) -> str:
    """Write the self-contained comparison page and return its text."""
    lead = (
        f"{len(comparison.experiments)} finished experiment(s) under "
        f"{experiments_dir(comparison.root)}: {', '.join(comparison.experiments)}."
    )
    if comparison.unfinished:
        lead += f" Unfinished, not compared: {', '.join(comparison.unfinished)}."
    differ = ", ".join(comparison.differing) or "none (a single experiment, or identical configs)"
    weights_note, pretrained = _weights_banner(comparison)
    sections = [
        (
            "Comparison",
            f'<p class="muted">{html.escape(lead)} Settings that differ: {html.escape(differ)}. '
            "One row per experiment x model x checkpoint; the test accuracy's 95% interval is "
            "ci_low to ci_high.</p>\n" + table_html(comparison.table, table_id="comparison"),
        ),
        ("Validation curves", curves_html(comparison, chosen)),
        ("Settings", table_html(settings_overview(comparison), table_id="settings")),
    ]
    return render_html(
        out_html, sections, weights_note=weights_note, pretrained=pretrained, title=TITLE
    )


def write_comparison(
    root: str | os.PathLike,
    out_csv: str | os.PathLike,
    out_html: str | os.PathLike,
    models: Sequence[tuple[str, str]] | None = None,
) -> Comparison:
    """Write the comparison table (CSV, atomically) and its page; plot ``models`` ((experiment,
    model) pairs; default: each experiment's best model on validation). Returns the comparison."""
    comparison = collect(root)
    chosen = best_models(comparison.table) if models is None else list(models)
    known = set(zip(comparison.table["experiment"], comparison.table["model"], strict=True))
    unknown = [f"{e} / {m}" for e, m in chosen if (e, m) not in known]
    if unknown:
        raise ReportError(f"no such finished experiment / model: {', '.join(unknown)}")
    write_csv(out_csv, comparison.table)
    comparison_page(comparison, out_html, chosen)
    return comparison


# ----------------------------------------------------------------------------- the rule


@dataclass
class CompareJob:
    """The compare rule: this experiment's outputs are only its triggers; the table and page
    compare every finished experiment under ``root``."""

    report: str
    model_ci: str
    config: str
    root: str
    out_table: str
    out_html: str


def compare_experiments(job: CompareJob) -> None:
    """Write the comparison table and page of every finished experiment under ``job.root``."""
    comparison = write_comparison(job.root, job.out_table, job.out_html)
    trigger = Path(job.report).resolve()
    ours = {
        (experiments_dir(job.root) / n / METRICS_FILE).resolve() for n in comparison.experiments
    }
    if trigger not in ours:
        log.warning("%s is not the metrics table of a compared experiment", job.report)
    if comparison.unfinished:
        log.info("unfinished, not compared: %s", ", ".join(comparison.unfinished))
    log.info("comparison:\n%s", comparison.table.to_string(index=False))
