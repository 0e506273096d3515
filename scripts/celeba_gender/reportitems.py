"""Every item of the two reports, declared once in ``report/items.yaml``: which rule's output
it is, where it goes.

Each item names a file by the rule and output name that make it (never a path), the report
section it belongs to, its title and its caption (``report/<caption>.rst``, a Jinja template that
both reports render). From this one table:

- ``rules/common.smk: annotate_report`` flags each output that has a caption for Snakemake's
  native report (``snakemake --report``): category = section, the caption, labels from the title
  and, per model, the model's strategy, learning rate and seed;
- the ``report`` rule's inputs are every item of another rule, expanded over the models (and
  checkpoints) as ``per`` says; the self-contained page (``report.py``) draws its figure
  sections from the table in its order and reads its tables by item key.

Adding a figure to both reports is one line in the YAML file, a caption file, and the code that
draws it. Imported when the workflow is parsed (standard library and PyYAML only).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import yaml

ITEMS_FILE = Path(__file__).resolve().parents[2] / "report" / "items.yaml"
PER = ("run", "model", "checkpoint")  # one file per run, per model, per (model, checkpoint)
PAGE = ("figure", "table")  # how the page shows an item in its section
PAGE_RULE = "report"  # the rule that writes the page: its own items are not its inputs


@dataclass(frozen=True)
class ReportItem:
    """One output shown by the reports.

    ``caption``: the stem of its ``report/*.rst`` caption; None for a file only the page reads
    (kept out of the native report). ``page``: how the page shows it in its section: "figure"
    (embedded, with its caption), "table" (with its caption as a note), or None (the page reads
    it for another section, or not at all).
    ``subcategory``: the native report's subcategory, for per-model items of one section.
    """

    rule: str
    output: str
    section: str
    title: str
    caption: str | None = None
    per: str = "run"
    page: str | None = None
    subcategory: str | None = None

    @property
    def key(self) -> str:
        """``<rule>_<output>``: the item's name as an input of the report rule."""
        return f"{self.rule}_{self.output}"


def load_items(path: Path = ITEMS_FILE) -> tuple[ReportItem, ...]:
    """The table in ``path``, checked: known keys, each item once, a known ``per`` and ``page``
    (a page item needs a caption); ValueError naming the offending item otherwise."""
    names = {f.name for f in fields(ReportItem)}
    items = []
    for entry in yaml.safe_load(path.read_text()):
        unknown = set(entry) - names
        if unknown:
            raise ValueError(f"{path}: item {entry}: unknown key(s) {sorted(unknown)}")
        items.append(ReportItem(**entry))
    keys = [each.key for each in items]
    for each in items:
        if keys.count(each.key) > 1:
            raise ValueError(f"{path}: report item {each.key} is declared twice")
        if each.per not in PER:
            raise ValueError(f"{path}: report item {each.key}: per {each.per!r} not in {PER}")
        if each.page is not None and (each.page not in PAGE or each.caption is None):
            raise ValueError(f"{path}: report item {each.key}: page {each.page!r} needs a caption")
    return tuple(items)


ITEMS: tuple[ReportItem, ...] = load_items()


def page_items() -> tuple[ReportItem, ...]:
    """The items the page reads: every item but the page rule's own outputs."""
    return tuple(item for item in ITEMS if item.rule != PAGE_RULE)


def native_items() -> tuple[ReportItem, ...]:
    """The items of Snakemake's native report: those with a caption."""
    return tuple(item for item in ITEMS if item.caption is not None)


def page_sections() -> dict[str, tuple[ReportItem, ...]]:
    """The page's item sections in table order: section -> the items it shows."""
    sections: dict[str, list[ReportItem]] = {}
    for each in ITEMS:
        if each.page is not None:
            sections.setdefault(each.section, []).append(each)
    return {name: tuple(items) for name, items in sections.items()}
