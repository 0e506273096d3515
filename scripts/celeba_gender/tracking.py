"""Optional live tracking of training jobs: one TensorBoard run per model.

A training job opens a tracker (``open_tracker``) and hands ``Tracker.log_epoch`` each epoch's
history row (``engine.fit``'s ``on_epoch``). With ``tensorboard`` the run folder
``<logdir>/<model>`` gets, per epoch (global step = the epoch number), the scalars in ``TAGS``,
flushed at once so that ``tensorboard --logdir <logdir>`` follows a running job live; on open it
gets the model's settings once, as a text summary (a markdown table, and the settings as JSON for
``read_settings``) and as hparams (a session start info in the run folder itself, no sub-run per
call: TensorBoard's HPARAMS tab then lists one session per model, with the settings as columns
and the scalar tags as metrics).

A job killed and rerun resumes from its last checkpoint and logs its remaining epochs into the
same run folder, in a new events file beside the old one; an epoch logged before the kill and
again after it is read back (``read_scalars``) with the value written last.

TensorBoard is an optional dependency (``pip install -e ".[tracking]"``): it and torch are
imported only when a tensorboard tracker is opened or events are read, never with this module, so
the workflow can check ``tracking_available`` when it is parsed.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .grid import lift_extra
from .io import CelebaGenderError

if TYPE_CHECKING:
    import pandas as pd

TRACKERS: tuple[str, ...] = ("none", "tensorboard")

# TensorBoard tag -> history column (engine.HISTORY_COLUMNS, and the learning rate)
TAGS: dict[str, str] = {
    "loss/train": "train_loss",
    "loss/val": "val_loss",
    "accuracy/train": "train_accuracy",
    "accuracy/val": "val_accuracy",
    "lr": "lr",
    "epoch_seconds": "seconds",
}
SCALAR_COLUMNS = [
    "epoch",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "seconds",
    "lr",
]
# Text summaries, stored under "<tag>/text_summary" (SummaryWriter.add_text appends the suffix)
SETTINGS_TAG = "settings"  # the settings as a markdown table
SETTINGS_JSON_TAG = "settings_json"  # the settings as JSON (an indented code block)
TEXT_SUFFIX = "/text_summary"

INSTALL_HINT = (
    'tracking: tensorboard needs TensorBoard, an optional dependency: pip install -e ".[tracking]"'
)
EVENTS_GLOB = "events.out.tfevents.*"


def tracking_available(kind: str) -> str | None:
    """None if tracker ``kind`` can run here, else why not (the install hint); imports nothing."""
    if kind not in TRACKERS:
        return f"tracking: unknown tracker {kind!r} (one of {', '.join(TRACKERS)})"
    if kind == "tensorboard" and importlib.util.find_spec("tensorboard") is None:
        return INSTALL_HINT
    return None


class Tracker:
    """A tracker that records nothing (``none``); the interface of every tracker. A context
    manager: leaving the ``with`` block closes it."""

    rundir: Path | None = None

    def log_epoch(self, row: Mapping, lr: float) -> None:
        """Record one epoch's history row (``engine.fit``'s ``on_epoch`` row) and learning rate."""

    def close(self) -> None:
        """Write out everything recorded; closing twice is harmless."""

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class TensorBoardTracker(Tracker):
    """Events files in ``rundir`` written with torch's ``SummaryWriter``, flushed every epoch."""

    def __init__(self, rundir: Path, settings: Mapping):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:  # torch raises ImportError when tensorboard is missing
            raise CelebaGenderError(INSTALL_HINT) from err
        self.rundir = rundir
        self.writer = SummaryWriter(log_dir=str(rundir))
        self.writer.add_text(SETTINGS_TAG, settings_table(settings), global_step=0)
        self.writer.add_text(
            SETTINGS_JSON_TAG, _indent(json.dumps(settings, indent=2)), global_step=0
        )
        self.writer.file_writer.add_summary(_session_start(settings), 0)
        self.writer.flush()

    def log_epoch(self, row: Mapping, lr: float) -> None:
        step = int(row["epoch"])
        values = {**row, "lr": lr}
        for tag, column in TAGS.items():
            self.writer.add_scalar(tag, float(values[column]), global_step=step)
        # Seen live: flush waits until the writer's thread has written the queue out (to local
        # files promptly anyway; remote file systems would wait for its 2-minute flush).
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def open_tracker(
    kind: str, logdir: str | os.PathLike | None, run: str, settings: Mapping
) -> Tracker:
    """A tracker of kind ``kind`` (``TRACKERS``) for the run ``run`` (the model's name) under
    ``logdir``, the model's ``settings`` (``TrainSettings.to_dict()``) recorded once on open."""
    if kind == "none":
        return Tracker()
    if kind != "tensorboard":
        raise CelebaGenderError(tracking_available(kind) or f"tracking: {kind!r}")
    if logdir is None or not run:
        raise CelebaGenderError("tracking: tensorboard needs a log folder and a run name")
    return TensorBoardTracker(Path(logdir) / run, settings)


# --------------------------------------------------------------------------- settings


def _shown(value) -> str:
    """A setting's value in words: strings as they are, lists joined, anything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) if value else "[]"
    return json.dumps(value)


def settings_table(settings: Mapping) -> str:
    """The settings as a two-column markdown table (TensorBoard's TEXT tab renders it)."""
    lines = ["| setting | value |", "| --- | --- |"]
    for key, value in lift_extra(settings).items():
        cell = _shown(value).replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {key} | {cell} |")
    return "\n".join(lines)


def _indent(text: str) -> str:
    """``text`` as a markdown code block; JSON ignores the indent when read back."""
    return "\n".join("    " + line for line in text.splitlines())


def _session_start(settings: Mapping):
    """The hparams plugin's session start info summary, written into the run's own events.

    Settings become hparams, whose values are numbers, strings or booleans: lists and nested
    values become their text (``_shown``); None is left out (a blank cell in the HPARAMS tab), so
    that a key such as ``patience`` has one type, a number, in every run that sets it.

    ``SummaryWriter.add_hparams`` writes it into a new sub-folder (a separate run) per call, with
    an experiment summary that TensorBoard expects from one run only; without an experiment
    summary the HPARAMS tab builds the experiment from every run's session start info (columns:
    the union of the hparams) and takes its scalar tags as metrics.
    """
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    info = plugin_data_pb2.SessionStartInfo(group_name="")
    for key, value in lift_extra(settings).items():
        if value is None:
            continue
        if isinstance(value, bool):  # before numbers: a bool is an int
            info.hparams[key].bool_value = value
        elif isinstance(value, int | float):
            info.hparams[key].number_value = float(value)
        else:
            info.hparams[key].string_value = _shown(value)
    data = plugin_data_pb2.HParamsPluginData(
        session_start_info=info, version=metadata.PLUGIN_DATA_VERSION
    )
    meta = metadata.create_summary_metadata(data)
    return Summary(value=[Summary.Value(tag=metadata.SESSION_START_INFO_TAG, metadata=meta)])


# --------------------------------------------------------------------------- reading back


def events_files(rundir: str | os.PathLike) -> list[Path]:
    """The events files of one run folder (not its sub-folders), oldest first: by the creation
    second in the name (``events.out.tfevents.<seconds>.<host>.<pid>.<n>``), then by host and
    process, then by the process's file counter ``n``."""
    files = [p for p in Path(rundir).glob(EVENTS_GLOB) if p.is_file()]
    if not files:
        raise FileNotFoundError(f"no TensorBoard events files in {rundir}")

    def created(path: Path) -> tuple[int, str, int]:
        head, _, counter = path.name.rpartition(".")
        stamp = path.name.split(".")[3]
        number = int(counter) if counter.isdigit() else -1
        return (int(stamp) if stamp.isdigit() else 0, head, number)

    return sorted(files, key=lambda path: (*created(path), path.name))


def _last_values(rundir: str | os.PathLike, tags) -> dict[tuple[str, int], tuple[tuple, object]]:
    """{(tag, step): (order, value)} of ``tags`` over every events file of ``rundir``. A (tag,
    step) written more than once keeps the value written last: the latest wall time, then the
    later file, then the later event in it; ``order`` is that (wall time, file, event) key."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util import tensor_util

    tags = set(tags)
    latest: dict[tuple[str, int], tuple[tuple, object]] = {}
    for rank, path in enumerate(events_files(rundir)):
        for index, event in enumerate(EventFileLoader(str(path)).Load()):
            if not event.HasField("summary"):
                continue
            for value in event.summary.value:
                if value.tag not in tags or not value.HasField("tensor"):
                    continue
                key, order = (value.tag, int(event.step)), (event.wall_time, rank, index)
                if key not in latest or order >= latest[key][0]:
                    latest[key] = (order, tensor_util.make_ndarray(value.tensor))
    return latest


def read_scalars(rundir: str | os.PathLike) -> pd.DataFrame:
    """One row per logged epoch (``SCALAR_COLUMNS``: the history's columns and ``lr``), from every
    events file of ``rundir``; an epoch logged twice (a resumed job) has its last values."""
    import pandas as pd

    rows: dict[int, dict] = {}
    for (tag, step), (_, value) in _last_values(rundir, TAGS).items():
        rows.setdefault(step, {"epoch": step})[TAGS[tag]] = float(value.item())
    frame = pd.DataFrame([rows[step] for step in sorted(rows)], columns=SCALAR_COLUMNS)
    return frame.astype({"epoch": "int64"})


def read_settings(rundir: str | os.PathLike) -> dict:
    """The settings a tracker recorded in ``rundir`` (the last recorded, for a resumed job)."""
    tags = [SETTINGS_JSON_TAG + TEXT_SUFFIX, SETTINGS_JSON_TAG]
    values = _last_values(rundir, tags).values()
    if not values:
        raise CelebaGenderError(f"no settings recorded in {rundir}")
    text = max(values, key=lambda item: item[0])[1].item()
    return json.loads(text.decode() if isinstance(text, bytes) else text)
