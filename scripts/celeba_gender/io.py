"""File output and file identity: atomic writes, SHA-256 hashes, the errors a user can act on.

Atomic output writes under a temporary name in the same folder, then renames: a job killed
half-way never leaves a truncated file under the final name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    The temporary name keeps the final suffix (so libraries that pick a format from the
    extension, like matplotlib or numpy, still do), and is removed if the block raises.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=final.parent, prefix=f".{final.name}.", suffix=suffix or final.suffix or ".tmp"
    )
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def save_torch(path: str | os.PathLike, obj: Any) -> None:
    """``torch.save`` ``obj`` to ``path`` atomically. Saved through a file object, the archive's
    folder is named "archive" rather than after the (random) temporary file, so the same object
    gives the same bytes, and the same SHA-256, on every run."""
    import torch  # here, so that the modules that never save a tensor import io without torch

    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save(obj, handle)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_csv(path: str | os.PathLike, frame) -> None:
    """Write a pandas DataFrame to ``path`` (no index) atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def save_figure(path: str | os.PathLike, fig, dpi: int = 110) -> None:
    """Save a matplotlib figure atomically and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    plt.close(fig)


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file.

    A file with a ``<name>.sha256.json`` record (written by ``record_sha256`` when the workflow
    writes a weights file) whose size, modification time (ns) and inode still match the file is
    not read again: hashing 528 MB costs ~0.8 s, in every cache, training and evaluation job.
    """
    path = Path(path)
    recorded = _recorded_sha256(path)
    if recorded is not None:
        return recorded
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_record_path(path: str | os.PathLike) -> Path:
    """Where ``record_sha256`` keeps the hash of ``path``: ``<path>.sha256.json``."""
    return Path(str(path) + ".sha256.json")


def _file_signature(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino}


def _recorded_sha256(path: Path) -> str | None:
    """The recorded hash if the record exists and the file has not changed since."""
    try:
        record = json.loads(sha256_record_path(path).read_text())
        if record["file"] == _file_signature(path):
            return str(record["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def record_sha256(path: str | os.PathLike) -> str:
    """Hash ``path`` and record the hash beside it (atomically) for later ``sha256_of`` calls."""
    path = Path(path)
    sha = sha256_of(path)
    write_json(sha256_record_path(path), {"file": _file_signature(path), "sha256": sha})
    return sha


class CelebaGenderError(Exception):
    """Base class of the errors a user can act on (bad data, config or weights)."""


class DataError(CelebaGenderError):
    """The data on disk is not what the workflow expects."""


class WeightsError(CelebaGenderError):
    """The VGG-16 weights cannot be obtained or do not match the architecture."""


class ReportError(CelebaGenderError):
    """An input of the report (metrics, history, benchmark or figure file) is missing or
    malformed."""
