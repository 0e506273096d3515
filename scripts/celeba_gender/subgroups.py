"""The ``subgroups`` job: one model's last-epoch test accuracy by every attribute and by the
groups of two attributes (``stats.subgroup_metrics``), with its heat map.

Its own module (not ``groups.py``, which training imports for worst-group selection) because it
draws a figure: editing a figure's code never retrains.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from . import stats
from .io import write_csv, write_json
from .plots import plot_subgroup_heatmap

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubgroupsJob:
    """The subgroups rule: one model's last-epoch test predictions against the attributes."""

    model: str
    predictions: str
    metadata: str
    min_group_size: int
    out_attributes: str
    out_groups: str
    out_summary: str
    out_heatmap: str


def subgroups(job: SubgroupsJob) -> dict:
    """Write the attribute and group tables, the summary and the heat map; return the summary."""
    predictions = pd.read_csv(job.predictions, dtype={"image_id": str})
    metadata = pd.read_csv(job.metadata, dtype={"image_id": str}).drop(columns=["path"])
    attributes, groups, summary = stats.subgroup_metrics(
        predictions, metadata, min_group_size=job.min_group_size
    )
    write_csv(job.out_attributes, attributes)
    write_csv(job.out_groups, groups)
    write_json(job.out_summary, summary)
    plot_subgroup_heatmap(
        *stats.subgroup_accuracy_matrix(groups),
        job.out_heatmap,
        title=f"{job.model}: test accuracy by group",
    )
    log.info("worst group: %s", summary["worst_group"])
    return summary
