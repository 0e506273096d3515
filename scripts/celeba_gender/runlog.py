"""Logging for workflow jobs: everything to the rule's log file, errors also to stderr."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator

from .io import CelebaGenderError

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextlib.contextmanager
def job_logging(log_path: str | os.PathLike) -> Iterator[logging.Logger]:
    """Send logging to ``log_path``; an error is logged there (and to stderr) before it propagates.

    Errors a user can act on (CelebaGenderError) are shown as their message alone, without a
    traceback, so the cause is the last line of the log.
    """
    root = logging.getLogger()
    handler = logging.FileHandler(log_path, mode="a")
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    warnings.simplefilter("default")
    log = logging.getLogger("job")
    try:
        yield log
    except CelebaGenderError as err:
        log.error("%s", err)
        print(f"ERROR: {err}", file=sys.stderr)
        raise SystemExit(1) from err
    except BaseException:
        log.exception("job failed")
        raise
    finally:
        root.removeHandler(handler)
        handler.close()
