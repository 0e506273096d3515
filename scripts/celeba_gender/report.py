"""The self-contained results page (``report.html``) and ``metrics.csv``, from every output of
the workflow.

The page embeds every figure as a base64 data URI and carries its own CSS: one file that opens
offline, with no external resource and no JavaScript.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from celeba_gender import reportitems
from celeba_gender.costs import COST_NOTE, cost_display, cost_table
from celeba_gender.grid import numerics_note
from celeba_gender.groups import SUMMARY_KEYS, group_summary
from celeba_gender.io import ReportError, write_text
from celeba_gender.metrics_table import (
    best_model_sentence,
    collect_metrics,
    comparison_display,
    lr_text,
    models_display,
    published_comparison,
    with_evaluation_columns,
    write_metrics,
)
from celeba_gender.plots import load_histories
from celeba_gender.provenance import Provenance, provenance

# The workflow's checkout: scripts/celeba_gender/page.py -> the folder holding the Snakefile.
WORKFLOW_DIR = Path(__file__).resolve().parents[2]

TITLE = "celeba-gender: VGG-16 transfer learning for gender classification on CelebA"
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".svg": "image/svg+xml",
}

Section = tuple[str, str]  # (title, HTML body)

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


# ----------------------------------------------------------------------------- HTML parts


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
        frame = frame.assign(lr=[lr_text(v) for v in frame["lr"]])
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


def noted_table_html(frame: pd.DataFrame, note: str | None = None) -> str:
    """A table, with ``note`` (a sentence) above it when given."""
    table = table_html(frame)
    return table if note is None else f'<p class="muted">{html.escape(note)}</p>\n{table}'


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


def summary_html(dataset_summary: Mapping[str, object]) -> str:
    """The dataset summary (``summary.json``) as an Item / Value table."""
    values = [_summary_value(v) for v in dataset_summary.values()]
    return table_html(pd.DataFrame({"Item": list(dataset_summary), "Value": values}))


def cards_html(cards: Sequence[str]) -> str:
    """Links to the model cards (written beside the page, in its report/ folder)."""
    links = ", ".join(
        f'<a href="{html.escape(name, quote=True)}.md">{html.escape(name)}.md</a>' for name in cards
    )
    return (
        f'<p id="model-cards">Model cards (Markdown, beside this page): {links}. model_card.md is '
        "the best model's by validation.</p>"
    )


def models_html(metrics: pd.DataFrame, select_by: str = "val_accuracy", cards=()) -> str:
    """The Models section: every model's numbers beside the study's, the best model in words,
    the links to the model cards and the per-cell comparison with the study."""
    models = models_display(metrics)
    return "\n".join(
        [
            '<p class="muted">Final-epoch train/validation numbers come from each training '
            "history; test numbers from the evaluation of the named checkpoint. The study's "
            "published test accuracy is shown beside ours (— where the study had no such "
            "cell).</p>",
            _tag_rows(table_html(models, table_id="models"), list(models["Model"])),
            f'<p class="best">{best_model_sentence(metrics, select_by)}</p>',
            cards_html(cards) if cards else "",
            "<h3>Test accuracy per grid cell, beside the study's</h3>",
            table_html(comparison_display(published_comparison(metrics))),
        ]
    )


def figure_html(title: str, path: str | os.PathLike, caption: str) -> str:
    """One embedded figure with its title and caption."""
    return (
        f'<figure><img src="{image_data_uri(path)}" alt="{html.escape(title, quote=True)}">'
        f"<figcaption><strong>{html.escape(title)}.</strong> {html.escape(caption)}</figcaption>"
        "</figure>"
    )


def notes_html(notes: Sequence[str]) -> str:
    """Sentences as a bulleted list."""
    return "\n".join(["<ul>", *(f"<li>{html.escape(note)}</li>" for note in notes), "</ul>"])


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
    sections: Sequence[Section],
    *,
    weights_note: str,
    pretrained: bool,
    numerics_note: str = "",
    title: str = TITLE,
) -> str:
    """Write the self-contained results page to ``out_html`` and return its text: the title, a
    menu of the sections, the weights note (a warning when the backbone was not pretrained),
    the numerics note (which ``train.precision`` ran), then each (title, HTML body) section under a heading with a unique anchor."""
    names = [name for name, _ in sections]
    anchors = section_anchors(names)
    nav = " ".join(
        f'<a href="#{a}">{html.escape(s)}</a>' for s, a in zip(names, anchors, strict=True)
    )
    banner_class = "banner info" if pretrained else "banner warning"
    banner_prefix = "" if pretrained else "⚠ Warning: "
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body><main>",
        f"<h1>{html.escape(title)}</h1>",
        f"<nav>{nav}</nav>",
        f'<div class="{banner_class}" id="weights">{banner_prefix}{html.escape(weights_note)}</div>',
    ]
    if numerics_note:
        parts.append(f'<div class="banner info" id="numerics">{html.escape(numerics_note)}</div>')
    for (name, body), anchor in zip(sections, anchors, strict=True):
        parts.append(f'<h2 id="{anchor}">{html.escape(name)}</h2>')
        if body:
            parts.append(body)
    parts.append("</main></body></html>\n")
    # Non-ASCII characters become character references: the file reads the same in any encoding.
    page = "\n".join(parts).encode("ascii", "xmlcharrefreplace").decode("ascii")
    write_text(out_html, page)
    return page


# ----------------------------------------------------------------------------- the whole page


@dataclass(frozen=True)
class ReportJob:
    """Everything the report rule gives ``report`` (``snakejob.from_snakemake`` fills it).

    ``items_table``: the table of report items (``report/items.yaml``). ``inputs``: every other
    input file, keyed by report item (``reportitems``: ``<rule>_<output>``), a
    list in the order of ``models`` for per-model items (model-major, then checkpoint, for
    per-checkpoint ones). ``captions``: each item's caption template (``report/*.rst``).
    ``benchmark_files`` are the benchmark files of this config's jobs (under one of
    ``benchmark_roots``: the experiment's, then the shared stages'): the cost table shows those
    that exist, so files of models no longer in the config are left out."""

    out_html: str
    out_metrics: str
    models: Sequence[str]
    inputs: Mapping[str, str | Sequence[str]]
    items_table: str  # report/items.yaml: an input, so that editing the table redraws the page
    captions: Mapping[str, str]
    config: Mapping
    weights_note: str
    pretrained: bool
    benchmark_roots: Sequence[str]
    benchmark_files: Sequence[str]
    cards: Sequence[str] = ()  # the model cards' names (report/<name>.md), linked from the page

    def file(self, key: str) -> str:
        """The one file of a per-run item."""
        return str(self.inputs[key])

    def files(self, key: str) -> list[str]:
        """The files of a per-model (or per-checkpoint) item."""
        return [str(path) for path in self.inputs[key]]


def _read_json(path) -> dict:
    return json.loads(Path(path).read_text())


def caption_text(template: str, config: Mapping, **wildcards: str) -> str:
    """A caption template (``report/*.rst``, Jinja) as plain text for the page: rendered with the
    same ``snakemake.wildcards``/``snakemake.config`` as in Snakemake's report, markup dropped."""
    import jinja2

    context = {"snakemake": {"wildcards": wildcards, "config": config}}
    text = jinja2.Template(template, undefined=jinja2.StrictUndefined).render(**context)
    return " ".join(text.replace("``", "").split())


def item_parts(job: ReportJob, item: reportitems.ReportItem) -> list[str]:
    """The page's HTML of one item: its figure(s) with caption, or its table with the caption as
    a note."""
    caption = job.captions[item.key]
    if item.page == "table":
        note = caption_text(caption, job.config)
        return [
            f"<h3>{html.escape(item.title)}</h3>",
            noted_table_html(pd.read_csv(job.file(item.key)), note),
        ]
    if item.per == "run":
        return [figure_html(item.title, job.file(item.key), caption_text(caption, job.config))]
    return [
        figure_html(f"{item.title}: {m}", path, caption_text(caption, job.config, model=m))
        for m, path in zip(job.models, job.files(item.key), strict=True)
    ]


def item_sections(job: ReportJob) -> list[Section]:
    """The Data, Training, Evaluation, Subgroups and Explanations sections: each item the table
    puts on the page, in the table's order."""
    return [
        (name, "\n".join(part for each in items for part in item_parts(job, each)))
        for name, items in reportitems.page_sections().items()
    ]


def worst_groups(models: Sequence[str], subgroup_summaries: Sequence[str]) -> pd.DataFrame:
    """Per model: its accuracy, worst group and that group's accuracy, and the three largest
    accuracy gaps between an attribute's presence and absence (the subgroups rule's summaries)."""
    rows = []
    for model, path in zip(models, subgroup_summaries, strict=True):
        summary = _read_json(path)
        worst = summary.get("worst_group") or {}
        gaps = summary.get("largest_gaps", [])[:3]
        rows.append(
            {
                "model": model,
                "accuracy": summary.get("accuracy"),
                "worst group": worst.get("name"),
                "worst-group n": worst.get("n"),
                "worst-group accuracy": worst.get("accuracy"),
                "largest gaps (present - absent)": ", ".join(
                    f"{g['attribute']} {g['gap']:+.1%}" for g in gaps
                ),
            }
        )
    return pd.DataFrame(rows)


def groups_html(metrics: pd.DataFrame, groups: pd.DataFrame, config: Mapping) -> str:
    """Worst-group and mean-group accuracy per evaluation, then every group's accuracy with its
    Wilson interval; small groups marked (docs/groups.md)."""
    evaluate = config["evaluate"]
    note = (
        f"Groups fixed in advance: the target {config.get('data', {}).get('target', 'Male')} "
        "crossed with "
        f"{', '.join(evaluate.get('group_by') or []) or 'the default attribute'}; test split. "
        f"Groups under {evaluate['min_group_size']} images are marked small and left out of the "
        "worst group. Intervals: 95% Wilson score."
    )
    return (
        noted_table_html(metrics[list(GROUP_SHOWN)], note)
        + "<h3>Accuracy per group</h3>"
        + table_html(groups)
    )


def calibration_html(metrics: pd.DataFrame) -> str:
    """Test calibration per evaluation before and after temperature scaling (fitted on
    validation); intervals in metrics.csv."""
    note = (
        "Top-label ECE (15 equal-width / equal-mass bins), NLL and Brier score on the test split, "
        "before and after one temperature per model and checkpoint fitted on validation "
        "(accuracy and ROC-AUC unchanged). 95% bootstrap intervals are in metrics.csv."
    )
    return noted_table_html(metrics[list(CALIBRATION_SHOWN)], note)


def run_notes(comparison_json: str, collapse: pd.DataFrame) -> list[str]:
    """The Notes: the comparison of the best configurations (with each paired test) and every
    model that collapsed to one class."""
    comparison = _read_json(comparison_json)
    notes = [comparison["sentence"]]
    notes += [
        f"{pair['sentence']} {pair.get('bootstrap_sentence', '')}".strip()
        for pair in comparison.get("pairs", [])
    ]
    notes += [f"{r.model}: {r.collapse_message}" for r in collapse.itertuples() if r.collapsed]
    return notes


GROUP_SHOWN = ("model", "checkpoint", *SUMMARY_KEYS)
CALIBRATION_SHOWN = (
    "model", "checkpoint", "temperature", "temperature_flag", "test_ece_width",
    "test_ece_width_calibrated", "test_ece_mass", "test_ece_mass_calibrated", "test_nll",
    "test_nll_calibrated", "test_brier", "test_brier_calibrated",
)  # fmt: skip


def metrics_table(job: ReportJob) -> tuple[pd.DataFrame, pd.DataFrame]:
    """metrics.csv's table (the evaluations, then their group summaries and calibration) and
    the long group table of every evaluation."""
    metrics = collect_metrics(
        job.files("evaluate_metrics"), load_histories(job.files("train_history"))
    )
    size = int(job.config["evaluate"]["min_group_size"])
    tables = [pd.read_csv(path) for path in job.files("evaluate_groups_table")]
    summaries = pd.DataFrame(
        [{"model": t["model"].iloc[0], "checkpoint": t["checkpoint"].iloc[0],
          **group_summary(t, size)} for t in tables]
    )  # fmt: skip
    calibration = pd.concat(
        [pd.read_csv(path) for path in job.files("calibrate_calibration")], ignore_index=True
    )
    metrics = with_evaluation_columns(with_evaluation_columns(metrics, summaries), calibration)
    return metrics, pd.concat(tables, ignore_index=True)


def report(job: ReportJob) -> pd.DataFrame:
    """Write ``metrics.csv`` and the self-contained ``report.html``; return the metrics table."""
    metrics, groups = metrics_table(job)
    write_metrics(metrics, job.out_metrics)
    select_by = job.config.get("train", {}).get("select_by", "val_accuracy")
    collapse = pd.read_csv(job.file("model_statistics_collapse"))
    costs = cost_display(cost_table(job.benchmark_files, job.benchmark_roots))
    prov = provenance(job.config, WORKFLOW_DIR, metrics["device"])
    tables = [
        ("Accuracy with 95% CI", table_html(pd.read_csv(job.file("model_statistics_per_model")))),
        ("Mean over seeds", table_html(pd.read_csv(job.file("model_statistics_per_config")))),
        ("Collapse check", table_html(collapse)),
        ("Groups by design", groups_html(metrics, groups, job.config)),
        ("Calibration before and after temperature scaling", calibration_html(metrics)),
        (
            "Worst-group accuracy (exploratory screen of every attribute)",
            table_html(worst_groups(job.models, job.files("subgroups_summary"))),
        ),
        ("Cost of this run", noted_table_html(costs, COST_NOTE)),
    ]
    bad = pd.read_csv(job.file("ingest_bad_images"))
    if len(bad):
        tables.append(("Skipped bad images", table_html(bad)))
    sections = [
        ("Dataset", summary_html(_read_json(job.file("ingest_summary")))),
        ("Splits", table_html(pd.read_csv(job.file("split_sizes")))),
        ("Models", models_html(metrics, select_by, job.cards)),
        *item_sections(job),
        *tables,
        ("Notes", notes_html(run_notes(job.file("model_statistics_comparison"), collapse))),
        ("Provenance", provenance_html(prov)),
    ]
    render_html(
        job.out_html,
        sections,
        weights_note=job.weights_note,
        pretrained=job.pretrained,
        numerics_note=numerics_note(job.config["train"]),
        title=f"{TITLE} — experiment {job.config.get('experiment', 'default')}",
    )
    return metrics
