"""Live tracking with TensorBoard (celeba_gender.tracking): what a tracker writes is read back.

TensorBoard is an optional dependency, but it is installed wherever the tests run: it is imported
here directly, so that a missing TensorBoard fails these tests instead of skipping them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import tensorboard  # noqa: F401  (required: see the module docstring)
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.plugins.hparams import metadata as hparams_metadata

from celeba_gender import tracking
from celeba_gender.grid import TrainSettings
from celeba_gender.io import CelebaGenderError
from conftest import REPO

RUN = "s1_lr1e-4_seed0"
SETTINGS = TrainSettings(
    strategy=1, lr=1e-4, seed=0, epochs=3, batch_size=8, extra={"weights_sha256": "4f1c|2a9b"}
).to_dict()
HISTORY = [
    {
        "epoch": 1,
        "train_loss": 0.693,
        "train_accuracy": 0.51,
        "val_loss": 0.61,
        "val_accuracy": 0.625,
        "seconds": 12.3,
    },
    {
        "epoch": 2,
        "train_loss": 0.5123456,
        "train_accuracy": 0.7,
        "val_loss": 0.48,
        "val_accuracy": 0.75,
        "seconds": 11.9,
    },
    {
        "epoch": 3,
        "train_loss": 0.41,
        "train_accuracy": 0.8125,
        "val_loss": 0.45,
        "val_accuracy": 0.7777,
        "seconds": 12.05,
    },
]


def expected(rows: list[dict], lr: float = SETTINGS["lr"]) -> pd.DataFrame:
    """What read_scalars should return for ``rows`` logged with ``lr``."""
    return pd.DataFrame([{**row, "lr": lr} for row in rows], columns=tracking.SCALAR_COLUMNS)


def assert_scalars(rundir: Path, rows: list[dict]) -> None:
    """The scalars in ``rundir`` are ``rows`` (up to float32, the events' storage type)."""
    pd.testing.assert_frame_equal(
        tracking.read_scalars(rundir), expected(rows), check_exact=False, rtol=1e-6
    )


def log(tracker: tracking.Tracker, rows: list[dict]) -> None:
    for row in rows:
        tracker.log_epoch(row, SETTINGS["lr"])


def test_trackers_are_the_config_values():
    assert tracking.TRACKERS == ("none", "tensorboard")


def test_history_and_settings_read_back(tmp_path):
    with tracking.open_tracker("tensorboard", tmp_path, RUN, SETTINGS) as tracker:
        assert tracker.rundir == tmp_path / RUN
        log(tracker, HISTORY)
    rundir = tmp_path / RUN
    assert_scalars(rundir, HISTORY)
    assert tracking.read_scalars(rundir)["epoch"].tolist() == [1, 2, 3]
    assert tracking.read_settings(rundir) == SETTINGS
    assert len(tracking.events_files(rundir)) == 1


def test_settings_as_text_and_hparams_in_the_run_folder(tmp_path):
    settings = {**SETTINGS, "patience": None, "compile": True}
    tracking.open_tracker("tensorboard", tmp_path, RUN, settings).close()
    rundir = tmp_path / RUN
    assert [p for p in rundir.iterdir() if p.is_dir()] == []  # no sub-run for the hparams
    texts, starts = {}, []
    for event in EventFileLoader(str(tracking.events_files(rundir)[0])).Load():
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name == "text":
                texts[value.tag] = value.tensor.string_val[0].decode()
            if value.tag == hparams_metadata.SESSION_START_INFO_TAG:
                content = value.metadata.plugin_data.content
                starts.append(hparams_metadata.parse_session_start_info_plugin_data(content))
    table = texts[tracking.SETTINGS_TAG + tracking.TEXT_SUFFIX]
    assert table.splitlines()[:2] == ["| setting | value |", "| --- | --- |"]
    for line in ("| lr | 0.0001 |", "| augmentations | hflip |", "| patience | null |"):
        assert line in table.splitlines()
    assert "| extra.weights_sha256 | 4f1c\\|2a9b |" in table  # a | in a value is escaped
    assert json.loads(texts[tracking.SETTINGS_JSON_TAG + tracking.TEXT_SUFFIX]) == settings
    assert len(starts) == 1
    hparams = starts[0].hparams
    assert hparams["lr"].number_value == pytest.approx(1e-4)
    assert hparams["strategy"].number_value == 1
    assert hparams["augmentations"].string_value == "hflip"
    assert hparams["input"].string_value == "images"
    assert hparams["compile"].bool_value is True
    assert hparams["extra.weights_sha256"].string_value == "4f1c|2a9b"
    assert "patience" not in hparams and "cache_dtype" not in hparams  # None: left out


def test_each_epoch_is_flushed(tmp_path):
    rundir = tmp_path / RUN
    with tracking.open_tracker("tensorboard", tmp_path, RUN, SETTINGS) as tracker:
        assert tracking.read_settings(rundir) == SETTINGS
        assert len(tracking.read_scalars(rundir)) == 0
        flushes = []
        flush = tracker.writer.flush
        tracker.writer.flush = lambda: (flushes.append(True), flush())
        for n, row in enumerate(HISTORY, start=1):
            tracker.log_epoch(row, SETTINGS["lr"])
            # flushed (the writer's queue written out, not left for its 2-minute flush) ...
            assert len(flushes) == n
            # ... so it is on disk while the writer is still open
            assert_scalars(rundir, HISTORY[:n])


def test_resumed_run_keeps_the_last_value_of_an_epoch(tmp_path):
    rundir = tmp_path / RUN
    with tracking.open_tracker("tensorboard", tmp_path, RUN, SETTINGS) as tracker:
        log(tracker, HISTORY[:2])
    again = {**HISTORY[1], "train_loss": 0.25, "val_accuracy": 0.875, "seconds": 30.5}
    resumed = [again, HISTORY[2]]
    with tracking.open_tracker("tensorboard", tmp_path, RUN, SETTINGS) as tracker:
        log(tracker, resumed)
    assert len(tracking.events_files(rundir)) == 2
    assert_scalars(rundir, [HISTORY[0], *resumed])
    assert tracking.read_settings(rundir) == SETTINGS


def test_duplicates_resolved_by_wall_time_then_file_order(tmp_path):
    """Two events files with the same (tag, step): the later wall time wins, whatever the file
    order; at equal wall times, the later file wins."""
    from torch.utils.tensorboard import SummaryWriter

    def write(folder: Path, values: dict[str, tuple[float, float]]) -> None:
        with SummaryWriter(log_dir=str(folder)) as writer:
            for tag, (value, walltime) in values.items():
                writer.add_scalar(tag, value, global_step=1, walltime=walltime)

    write(tmp_path, {"loss/train": (1.0, 200.0), "loss/val": (1.0, 100.0)})
    (first,) = tmp_path.iterdir()
    write(tmp_path, {"loss/train": (2.0, 100.0), "loss/val": (2.0, 100.0)})
    (second,) = set(tmp_path.iterdir()) - {first}
    assert tracking.events_files(tmp_path) == [first, second]
    row = tracking.read_scalars(tmp_path).iloc[0]
    assert (row["epoch"], row["train_loss"], row["val_loss"]) == (1, 1.0, 2.0)
    assert row[["train_accuracy", "val_accuracy", "seconds", "lr"]].isna().all()


def test_none_writes_nothing(tmp_path):
    with tracking.open_tracker("none", tmp_path, RUN, SETTINGS) as tracker:
        assert tracker.rundir is None
        log(tracker, HISTORY)
    assert list(tmp_path.iterdir()) == []
    tracking.open_tracker("none", None, RUN, SETTINGS).close()  # needs no folder


def test_read_without_events_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no TensorBoard events files"):
        tracking.read_scalars(tmp_path)


def test_bad_kind_or_folder_is_an_error(tmp_path):
    with pytest.raises(CelebaGenderError, match="unknown tracker 'wandb'"):
        tracking.open_tracker("wandb", tmp_path, RUN, SETTINGS)
    with pytest.raises(CelebaGenderError, match="needs a log folder"):
        tracking.open_tracker("tensorboard", None, RUN, SETTINGS)
    assert list(tmp_path.iterdir()) == []


def test_tracking_available(monkeypatch):
    assert tracking.tracking_available("none") is None
    assert tracking.tracking_available("tensorboard") is None
    assert "unknown tracker 'wandb'" in tracking.tracking_available("wandb")
    monkeypatch.setattr(tracking.importlib.util, "find_spec", lambda name: None)
    message = tracking.tracking_available("tensorboard")
    assert message == tracking.INSTALL_HINT
    assert 'pip install -e ".[tracking]"' in message
    assert tracking.tracking_available("none") is None


def test_missing_tensorboard_is_an_error_with_the_install_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import raises ImportError
    with pytest.raises(CelebaGenderError) as err:
        tracking.open_tracker("tensorboard", tmp_path, RUN, SETTINGS)
    assert 'pip install -e ".[tracking]"' in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_module_imports_neither_torch_nor_tensorboard():
    code = textwrap.dedent(
        """
        import sys
        from celeba_gender import tracking
        assert tracking.tracking_available("tensorboard") is None
        print(sorted(m for m in ("torch", "tensorboard", "pandas") if m in sys.modules))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "scripts"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "[]"
