"""runlog.job_logging's end-of-process freeze."""

from __future__ import annotations

import gc
from pathlib import Path

from celeba_gender import runlog


def test_job_logging_freezes_live_objects_when_the_process_ends(tmp_path: Path) -> None:
    gc.unfreeze()
    try:
        with runlog.job_logging(tmp_path / "job.log"):
            pass
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_job_logging_leaves_the_collector_alone_when_the_process_goes_on(tmp_path: Path) -> None:
    gc.unfreeze()
    with runlog.job_logging(tmp_path / "job.log", process_ends=False):
        pass
    assert gc.get_freeze_count() == 0
