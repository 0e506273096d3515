"""The aggregated metrics table, the comparison with the study, and the self-contained HTML page.

The page embeds every figure as a base64 data URI and carries its own CSS: one file that opens
offline, with no external resource and no JavaScript.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from celeba_gender.constants import PUBLISHED_TEST_ACCURACY, format_lr
from celeba_gender.io import CelebaGenderError, write_csv, write_text
from celeba_gender.plots import check_history

METRIC_KEYS: tuple[str, ...] = (
    "model",
    "strategy",
    "lr",
    "seed",
    "checkpoint",
    "n",
    "test_loss",
    "test_accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "tn",
    "fp",
    "fn",
    "tp",
)
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".svg": "image/svg+xml",
}
NOT_PRETRAINED = re.compile(r"not\s+pretrained|\brandom\b", re.IGNORECASE)

FigureItem = tuple[str, str | os.PathLike, str]  # (title, image path, caption)


class ReportError(CelebaGenderError):
    """An input of the report (metrics, history or figure file) is missing or malformed."""


# ----------------------------------------------------------------------------- metrics table


def read_metrics_json(path: str | os.PathLike) -> dict:
    """Read one ``metrics.json`` (or the ``metrics.json`` inside an evaluation folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.json"
    if not path.is_file():
        raise ReportError(
            f"{path}: no such metrics file (expected the evaluate step's metrics.json)"
        )
    try:
        metrics = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ReportError(f"{path}: not valid JSON ({err})") from err
    missing = [k for k in METRIC_KEYS if k not in metrics]
    if missing:
        raise ReportError(
            f"{path}: missing key(s) {', '.join(missing)}; expected {', '.join(METRIC_KEYS)}"
        )
    return metrics


def load_histories(paths: Iterable[str | os.PathLike]) -> dict[str, pd.DataFrame]:
    """Read ``results/models/{model}/history.csv`` files, keyed by the model folder name."""
    histories = {}
    for path in map(Path, paths):
        if not path.is_file():
            raise ReportError(f"{path}: no such training history file")
        histories[path.parent.name] = check_history(pd.read_csv(path), str(path))
    return histories


def collect_metrics(
    metrics_files: Iterable[str | os.PathLike], histories: Mapping[str, pd.DataFrame]
) -> pd.DataFrame:
    """One row per evaluated (model, checkpoint): its grid cell, final-epoch train/val numbers
    (the history's last row), best val accuracy and epoch, every test metric, and the device the
    model was trained on (``device`` of metrics.json; empty when an older file lacks it)."""
    rows = []
    for path in metrics_files:
        metrics = read_metrics_json(path)
        model = str(metrics["model"])
        if model not in histories:
            known = ", ".join(sorted(histories)) or "none"
            raise ReportError(
                f"{path}: no training history for model '{model}' (histories: {known})"
            )
        hist = check_history(histories[model], model)
        last, best = hist.iloc[-1], hist.loc[hist["val_accuracy"].idxmax()]
        rows.append(
            {
                "model": model,
                "strategy": int(metrics["strategy"]),
                "lr": float(metrics["lr"]),
                "seed": int(metrics["seed"]),
                "checkpoint": str(metrics["checkpoint"]),
                "epochs": int(last["epoch"]),
                "final_train_loss": float(last["train_loss"]),
                "final_train_accuracy": float(last["train_accuracy"]),
                "final_val_loss": float(last["val_loss"]),
                "final_val_accuracy": float(last["val_accuracy"]),
                "best_val_accuracy": float(best["val_accuracy"]),
                "best_epoch": int(best["epoch"]),
                **{k: metrics[k] for k in METRIC_KEYS[5:]},
                "device": str(metrics.get("device") or ""),
            }
        )
    if not rows:
        raise ReportError("collect_metrics: no metrics.json was given (expected one per model)")
    frame = pd.DataFrame(rows)
    duplicated = frame[frame.duplicated(["model", "checkpoint"], keep=False)]
    if not duplicated.empty:
        raise ReportError(
            f"collect_metrics: model '{duplicated['model'].iloc[0]}' checkpoint "
            f"'{duplicated['checkpoint'].iloc[0]}' appears in more than one metrics.json"
        )
    return frame.sort_values(
        ["lr", "strategy", "seed", "checkpoint"],
        ascending=[False, True, True, False],
        ignore_index=True,
    )


def write_metrics(metrics: pd.DataFrame, out_csv: str | os.PathLike) -> Path:
    """Write the metrics table (``results/report/metrics.csv``) atomically."""
    write_csv(out_csv, metrics)
    return Path(out_csv)


def published_accuracy(strategy: int, lr: float) -> float:
    """The study's test accuracy (percent) for a grid cell, NaN where it had no such cell."""
    for (s, published_lr), value in PUBLISHED_TEST_ACCURACY.items():
        if s == int(strategy) and math.isclose(published_lr, float(lr), rel_tol=1e-9):
            return value
    return math.nan


def published_comparison(metrics: pd.DataFrame, checkpoint: str = "last") -> pd.DataFrame:
    """Per (strategy, lr): our test accuracy in percent (mean, sd, range over seeds) beside the
    study's. Uses rows of ``checkpoint`` (the study tested after the last epoch) when present."""
    rows = metrics
    if "checkpoint" in metrics.columns and (metrics["checkpoint"] == checkpoint).any():
        rows = metrics[metrics["checkpoint"] == checkpoint]
    used = ", ".join(sorted(map(str, rows["checkpoint"].unique()))) if "checkpoint" in rows else "?"
    percent = rows.assign(acc=100.0 * rows["test_accuracy"].astype(float))
    grouped = percent.groupby(["strategy", "lr"], sort=False)["acc"]
    table = grouped.agg(n_seeds="count", test_accuracy_pct="mean", test_accuracy_pct_sd="std")
    table["test_accuracy_pct_min"] = grouped.min()
    table["test_accuracy_pct_max"] = grouped.max()
    table = table.reset_index()
    table.insert(2, "checkpoint", used)
    table["published_test_accuracy_pct"] = [
        published_accuracy(s, lr) for s, lr in zip(table["strategy"], table["lr"], strict=True)
    ]
    table["difference_pct"] = table["test_accuracy_pct"] - table["published_test_accuracy_pct"]
    return table.sort_values(["lr", "strategy"], ascending=[False, True], ignore_index=True)


def best_model(metrics: pd.DataFrame) -> pd.Series:
    """The row with the highest final validation accuracy (ties: the last-epoch checkpoint)."""
    if metrics.empty:
        raise ReportError("best_model: the metrics table has no rows")
    ranked = metrics.assign(_last=metrics["checkpoint"] == "last").sort_values(
        ["final_val_accuracy", "_last"], ascending=[False, False], kind="stable"
    )
    return ranked.iloc[0].drop("_last")


# ----------------------------------------------------------------------------- HTML page

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0;
       color: #222; background: #fafafa; line-height: 1.45; }
main { max-width: 1500px; margin: 0 auto; padding: 1.5rem 2rem 4rem; }
h1 { font-size: 1.7rem; margin-bottom: 0.3rem; }
h2 { border-bottom: 2px solid #dbe6f3; padding-bottom: 0.2rem; margin-top: 2.2rem; }
nav a { margin-right: 1rem; color: #1f5fa8; }
.banner { padding: 0.9rem 1.2rem; border-radius: 6px; margin: 1rem 0; font-size: 1.05rem; }
.banner.warning { background: #fdecea; border: 2px solid #c62828; color: #8e0000; font-weight: 600; }
.banner.info { background: #e8f1fb; border: 1px solid #9dbce0; }
.table-wrap { max-height: 48rem; overflow: auto; border: 1px solid #ddd; border-radius: 4px;
              margin: 0.6rem 0 1rem; background: white; }
table.data { border-collapse: collapse; font-size: 0.9rem; width: 100%; }
table.data th, table.data td { padding: 0.35rem 0.7rem; border-bottom: 1px solid #e6e6e6;
                               text-align: right; white-space: pre-wrap; max-width: 40rem;
                               overflow-wrap: break-word; vertical-align: top; }
table#models { font-size: 0.85rem; }
table#models th, table#models td { padding: 0.35rem 0.5rem; }
table#models td { white-space: nowrap; }
table.data th:first-child, table.data td:first-child { text-align: left; }
table.data thead th { position: sticky; top: 0; background: #dbe6f3; z-index: 1; }
table.data tbody tr:nth-child(even) { background: #f4f7fb; }
table.data tbody tr:hover { background: #fff6d5; }
.best { background: #eef8ee; border-left: 4px solid #2e7d32; padding: 0.7rem 1rem; }
figure { background: white; border: 1px solid #e2e2e2; border-radius: 4px; margin: 1rem 0;
         padding: 0.8rem; }
figure img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
figcaption { margin-top: 0.5rem; font-size: 0.92rem; color: #444; }
.muted { color: #666; font-size: 0.9rem; }
pre.config { background: white; border: 1px solid #ddd; border-radius: 4px; padding: 0.8rem 1rem;
             font-size: 0.85rem; line-height: 1.35; max-height: 40rem; overflow: auto; }
"""


def is_not_pretrained(weights_note: str) -> bool:
    """True when the weights note says the backbone was not pretrained (random initialisation)."""
    return bool(NOT_PRETRAINED.search(weights_note))


def image_data_uri(path: str | os.PathLike) -> str:
    """``data:<mime>;base64,...`` of an image file; ReportError when missing or of unknown type."""
    path = Path(path)
    mime = IMAGE_TYPES.get(path.suffix.lower())
    if mime is None:
        raise ReportError(
            f"{path}: cannot embed a '{path.suffix}' file (expected {', '.join(IMAGE_TYPES)})"
        )
    if not path.is_file():
        raise ReportError(f"{path}: figure file not found")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def table_html(
    frame: pd.DataFrame, table_id: str | None = None, float_format: str = "{:.4f}"
) -> str:
    """A DataFrame as an escaped HTML table with the page's CSS classes, in a scrolling wrapper.

    Learning rates (an ``lr`` column) are written as in model names (6e-5, not 0.0001)."""
    if "lr" in frame.columns:
        frame = frame.assign(lr=[_lr_text(v) for v in frame["lr"]])
    body = frame.to_html(
        classes="data",
        index=False,
        table_id=table_id,
        float_format=float_format.format,
        na_rep="—",
        border=0,
        escape=True,
    )
    return f'<div class="table-wrap">{body}</div>'


def _lr_text(value) -> str:
    try:
        return format_lr(value)
    except (TypeError, ValueError):
        return str(value)


def _tag_rows(table: str, names: Sequence[str]) -> str:
    """Add ``data-model="<name>"`` to each body row of a ``to_html`` table, in order."""
    head, sep, body = table.partition("<tbody>")
    parts = body.split("<tr>")
    if len(parts) - 1 != len(names):
        raise ReportError(f"models table: {len(parts) - 1} body rows for {len(names)} models")
    tagged = parts[0] + "".join(
        f'<tr data-model="{html.escape(str(name), quote=True)}">{part}'
        for name, part in zip(names, parts[1:], strict=True)
    )
    return head + sep + tagged


def _pct(value: float) -> str:
    return "—" if value is None or pd.isna(value) else f"{100 * float(value):.2f}"


def _num(value: float, digits: int = 4) -> str:
    return "—" if value is None or pd.isna(value) else f"{float(value):.{digits}f}"


def models_display(metrics: pd.DataFrame) -> pd.DataFrame:
    """The model table as shown: accuracies in percent, the study's test accuracy beside ours."""
    published = [
        published_accuracy(s, lr) for s, lr in zip(metrics["strategy"], metrics["lr"], strict=True)
    ]
    ours = 100.0 * metrics["test_accuracy"].astype(float)
    difference = ours - pd.Series(published, index=metrics.index)
    return pd.DataFrame(
        {
            "Model": metrics["model"].astype(str),
            "Strategy": metrics["strategy"].astype(int),
            "LR": [format_lr(lr) for lr in metrics["lr"]],
            "Seed": metrics["seed"].astype(int),
            "Checkpoint": metrics["checkpoint"].astype(str),
            "Train acc %": metrics["final_train_accuracy"].map(_pct),
            "Val acc %": metrics["final_val_accuracy"].map(_pct),
            "Train loss": metrics["final_train_loss"].map(_num),
            "Val loss": metrics["final_val_loss"].map(_num),
            "Test loss": metrics["test_loss"].map(_num),
            "Test acc %": ours.map(lambda v: _num(v, 2)),
            "Study test acc %": [_num(v, 2) for v in published],
            "Δ vs study (pp)": difference.map(lambda v: "—" if pd.isna(v) else f"{v:+.2f}"),
            "Precision": metrics["precision"].map(_num),
            "Recall": metrics["recall"].map(_num),
            "F1": metrics["f1"].map(_num),
            "ROC AUC": metrics["roc_auc"].map(_num),
        }
    )


def comparison_display(comparison: pd.DataFrame) -> pd.DataFrame:
    """The per-cell comparison with the study, formatted for the page."""
    return pd.DataFrame(
        {
            "Strategy": comparison["strategy"].astype(int),
            "LR": [format_lr(lr) for lr in comparison["lr"]],
            "Checkpoint": comparison["checkpoint"].astype(str),
            "Seeds": comparison["n_seeds"].astype(int),
            "Our test acc % (mean)": comparison["test_accuracy_pct"].map(lambda v: _num(v, 2)),
            "SD": comparison["test_accuracy_pct_sd"].map(lambda v: _num(v, 2)),
            "Study test acc %": comparison["published_test_accuracy_pct"].map(lambda v: _num(v, 2)),
            "Δ (pp)": comparison["difference_pct"].map(
                lambda v: "—" if pd.isna(v) else f"{v:+.2f}"
            ),
        }
    )


def best_model_sentence(metrics: pd.DataFrame) -> str:
    """The best model by final validation accuracy, stated in words (escaped HTML)."""
    best = best_model(metrics)
    name = html.escape(str(best["model"]))
    return (
        f"Best model by validation accuracy after the last epoch: <strong>{name}</strong> "
        f"(strategy {int(best['strategy'])}, learning rate {format_lr(best['lr'])}, seed "
        f"{int(best['seed'])}) with a validation accuracy of "
        f"{100 * float(best['final_val_accuracy']):.2f}% and a test accuracy of "
        f"{100 * float(best['test_accuracy']):.2f}% ({html.escape(str(best['checkpoint']))} "
        "checkpoint)."
    )


def section_anchors(names: Sequence[str]) -> list[str]:
    """A unique ``sec-...`` anchor per section, in order (never clashing with the ``models`` table,
    repeated names numbered)."""
    anchors: list[str] = []
    for name in names:
        base = "sec-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "section")
        anchor, i = base, 2
        while anchor in anchors:
            anchor, i = f"{base}-{i}", i + 1
        anchors.append(anchor)
    return anchors


def _summary_value(value: object) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}"
    return str(value)


def figure_html(title: str, path: str | os.PathLike, caption: str) -> str:
    """One embedded figure with its title and caption."""
    return (
        f'<figure><img src="{image_data_uri(path)}" alt="{html.escape(title, quote=True)}">'
        f"<figcaption><strong>{html.escape(title)}.</strong> {html.escape(caption)}</figcaption>"
        "</figure>"
    )


def provenance_html(provenance: Provenance) -> str:
    """The provenance items as a table, then the resolved config as a preformatted YAML block."""
    return (
        table_html(provenance.items)
        + '<h3>Resolved config</h3><pre class="config" id="config">'
        + html.escape(provenance.config)
        + "</pre>"
    )


def render_html(
    out_html: str | os.PathLike,
    *,
    dataset_summary: Mapping[str, object],
    split_summary: pd.DataFrame,
    metrics: pd.DataFrame,
    figures: Mapping[str, Sequence[FigureItem]],
    weights_note: str,
    extra_tables: Mapping[str, pd.DataFrame] | None = None,
    table_notes: Mapping[str, str] | None = None,
    notes: Sequence[str] = (),
    provenance: Provenance | None = None,
    title: str = "celeba-gender: VGG-16 transfer learning for gender classification on CelebA",
    pretrained: bool | None = None,
) -> str:
    """Write the self-contained results page to ``out_html`` and return its text.

    ``pretrained=None`` reads the weights note: "not pretrained" or "random" shows the warning.
    ``table_notes`` maps an extra table's title to a sentence shown above it; ``provenance`` is
    the last section: its items, then the resolved config as a preformatted YAML block.
    """
    extra_tables = extra_tables or {}
    table_notes = table_notes or {}
    warn = is_not_pretrained(weights_note) if pretrained is None else not pretrained
    sections = ["Dataset", "Splits", "Models", *figures, *extra_tables]
    if notes:
        sections.append("Notes")
    if provenance is not None:
        sections.append("Provenance")
    anchors = section_anchors(sections)
    nav = " ".join(
        f'<a href="#{a}">{html.escape(s)}</a>' for s, a in zip(sections, anchors, strict=True)
    )
    heading = iter(
        f'<h2 id="{a}">{html.escape(s)}</h2>' for s, a in zip(sections, anchors, strict=True)
    )
    banner_class = "banner warning" if warn else "banner info"
    banner_prefix = "⚠ Warning: " if warn else ""

    summary = pd.DataFrame(
        {
            "Item": list(dataset_summary),
            "Value": [_summary_value(v) for v in dataset_summary.values()],
        }
    )
    models = models_display(metrics)
    models_table = _tag_rows(table_html(models, table_id="models"), list(models["Model"]))

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body><main>",
        f"<h1>{html.escape(title)}</h1>",
        f"<nav>{nav}</nav>",
        f'<div class="{banner_class}" id="weights">{banner_prefix}{html.escape(weights_note)}</div>',
        next(heading),
        table_html(summary),
        next(heading),
        table_html(split_summary),
        next(heading),
        '<p class="muted">Final-epoch train/validation numbers come from each training history; '
        "test numbers from the evaluation of the named checkpoint. The study's published test "
        "accuracy is shown beside ours (— where the study had no such cell).</p>",
        models_table,
        f'<p class="best">{best_model_sentence(metrics)}</p>',
        "<h3>Test accuracy per grid cell, beside the study's</h3>",
        table_html(comparison_display(published_comparison(metrics))),
    ]
    for items in figures.values():
        parts.append(next(heading))
        parts.extend(figure_html(t, p, c) for t, p, c in items)
    for name, frame in extra_tables.items():
        parts.append(next(heading))
        if name in table_notes:
            parts.append(f'<p class="muted">{html.escape(table_notes[name])}</p>')
        parts.append(table_html(frame))
    if notes:
        parts.extend([next(heading), "<ul>"])
        parts.extend(f"<li>{html.escape(note)}</li>" for note in notes)
        parts.append("</ul>")
    if provenance is not None:
        parts.extend([next(heading), provenance_html(provenance)])
    parts.append("</main></body></html>\n")
    # Non-ASCII characters become character references: the file reads the same in any encoding.
    page = "\n".join(parts).encode("ascii", "xmlcharrefreplace").decode("ascii")
    write_text(out_html, page)
    return page


# ----------------------------------------------------------------------------- the whole page


BENCHMARK_COLUMNS = ("s", "h:m:s", "max_rss", "max_vms", "max_uss", "max_pss", "io_in", "io_out",
                     "mean_load", "cpu_time")  # fmt: skip
COST_COLUMNS = ("job", "wall (s)", "CPU (s)", "peak RSS (MB)")
COST_TOTAL = "TOTAL (sum of job times)"
COST_NOTE = (
    "Wall time, CPU time and peak memory (RSS) of each job, from its Snakemake benchmark: file. "
    f"The {COST_TOTAL} row adds up the jobs' wall and CPU times: jobs that ran side by side "
    "overlap, so it is not the elapsed time of the run. Its peak RSS is the largest job's."
)


def read_benchmark(path: str | os.PathLike) -> dict[str, float]:
    """Wall seconds, CPU seconds and peak RSS (MB) of a Snakemake ``benchmark:`` file (its last
    row: the last repeat). Values Snakemake could not measure ("NA", "-") are NaN."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, sep="\t")
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ReportError(f"{path}: not a Snakemake benchmark file ({err})") from err
    missing = [c for c in ("s", "cpu_time", "max_rss") if c not in frame.columns]
    if frame.empty or missing:
        what = f"no column(s) {', '.join(missing)}" if missing else "no data row"
        raise ReportError(
            f"{path}: not a Snakemake benchmark file ({what}; expected a header "
            f"{' '.join(BENCHMARK_COLUMNS)} and one row per repeat)"
        )
    last = frame.iloc[-1]
    return {"wall (s)": _number(last["s"]), "CPU (s)": _number(last["cpu_time"]),
            "peak RSS (MB)": _number(last["max_rss"])}  # fmt: skip


def _number(value: object) -> float:
    """A benchmark value as a float; NaN for what Snakemake writes when it measured nothing."""
    return float(pd.to_numeric(value, errors="coerce"))


def cost_table(
    benchmark_files: Iterable[str | os.PathLike], root: str | os.PathLike
) -> pd.DataFrame:
    """One row per job, in the order given (its benchmark file, named relative to ``root``
    without ``.tsv``), with its wall time, CPU time and peak memory, then a TOTAL row: the sums
    of wall and CPU time and the largest peak; rounded to 0.1. Files that do not exist (jobs
    this run did not need, such as the weights fetch when the file was copied by hand) are left
    out."""
    rows = [
        {"job": _job_name(path, Path(root)), **read_benchmark(path)}
        for path in map(Path, benchmark_files)
        if path.is_file()
    ]
    table = pd.DataFrame(rows, columns=list(COST_COLUMNS))
    if not table.empty:
        total = {"job": COST_TOTAL, "wall (s)": table["wall (s)"].sum(),
                 "CPU (s)": table["CPU (s)"].sum(), "peak RSS (MB)": table["peak RSS (MB)"].max()}  # fmt: skip
        table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    return table.round(1)


def _job_name(path: Path, root: Path) -> str:
    """``train/s1_lr1e-4_seed0`` for ``<root>/train/s1_lr1e-4_seed0.tsv`` (the stem outside root)."""
    try:
        return path.relative_to(root).with_suffix("").as_posix()
    except ValueError:
        return path.stem


def cost_display(table: pd.DataFrame) -> pd.DataFrame:
    """The cost table as shown: every number with one decimal, "—" where none was measured."""
    shown = table.copy()
    for column in COST_COLUMNS[1:]:
        shown[column] = [_num(value, 1) for value in table[column]]
    return shown


@dataclass(frozen=True)
class Provenance:
    """What produced the results: ``items`` (Item, Value rows: commit, versions, device, host)
    and ``config``, the full resolved config as YAML text."""

    items: pd.DataFrame
    config: str

    def value(self, item: str) -> str:
        """The value of one item (``"torch"``, ``"training device(s)"``, ...)."""
        values = self.items.loc[self.items["Item"] == item, "Value"]
        if values.empty:
            raise KeyError(f"provenance has no item '{item}' (items: {list(self.items['Item'])})")
        return str(values.iloc[0])


def config_yaml(config: Mapping) -> str:
    """The config as block YAML in its own key order (values YAML cannot hold become strings)."""
    import yaml

    plain = json.loads(json.dumps(config, default=str))
    return yaml.safe_dump(plain, sort_keys=False, default_flow_style=False, allow_unicode=True)


def device_names(devices: Iterable[object]) -> str:
    """The distinct non-empty device names, sorted and comma-separated; "unknown" when none."""
    names = {str(d).strip() for d in devices if d is not None and not pd.isna(d)}
    return ", ".join(sorted(n for n in names if n)) or "unknown"


def git_commit(workflow_dir: str | os.PathLike) -> str:
    """``git describe --always --dirty`` of the workflow's checkout (a 12-digit hash)."""
    import subprocess

    try:
        return subprocess.run(
            ["git", "-C", str(workflow_dir), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"


def provenance(
    config: Mapping, workflow_dir: str | os.PathLike, devices: Iterable[object]
) -> Provenance:
    """Git commit, package versions, the training device(s) and the full resolved config."""
    import platform

    import torch
    import torchvision

    try:
        import snakemake

        snakemake_version = snakemake.__version__
    except ImportError:  # the report can also be rendered outside Snakemake
        snakemake_version = "not installed"
    rows = [
        ("workflow commit", git_commit(workflow_dir)),
        ("python", platform.python_version()),
        ("torch", torch.__version__),
        ("torchvision", torchvision.__version__),
        ("snakemake", snakemake_version),
        ("training device(s)", device_names(devices)),
        ("host", platform.node()),
    ]
    return Provenance(pd.DataFrame(rows, columns=["Item", "Value"]), config_yaml(config))
