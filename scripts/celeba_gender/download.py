"""CelebA in one command: download it from Kaggle or the Hugging Face Hub, verified, resumable.

    spec = sources.DownloadSpec.create("huggingface")   # or "kaggle"; any pinned value overridable
    marker = fetch(spec, "data/celeba")                  # -> data/celeba/celeba-huggingface.verified.json
    layouts.downloaded_root(marker)                      # the folder to set data.root to

What :func:`fetch` guarantees, in order:

1. **Nothing is written before the checks pass.** It asks the service about every file first
   (Hub: a HEAD per shard; Kaggle: the download request's answer, its body left unread), so an
   unreachable service, a refused request (401/403: the message names the credentials or terms
   needed) or a missing file stops with one line and an untouched disk. Then it checks the free
   space: the files' sizes (Kaggle: twice the archive, for the zip and the extracted tree) plus
   :func:`sources.decode_bytes`, the image store that decoding will write (see there).
2. It prints sizes and progress (the clients' progress bars, and one log line per file).
3. It verifies: Hub, the sha256 of every shard against its ETag and its size; Kaggle, the client's
   md5 of the archive, then the extracted file list. Then the split counts and the columns must
   match the spec. A corrupt shard is deleted (a rerun fetches it again).
4. Last, it writes the *marker* (JSON: source, identity, files with sizes and hashes, counts,
   data root), atomically. Only a marker means "complete": a killed download leaves none, and a
   rerun resumes (Kaggle: the client resumes its archive; Hub: finished shards are kept, a
   partial one restarts). With a marker whose identity matches and whose files are all present
   at their recorded sizes, :func:`fetch` returns at once, without any network call; so it does
   with only its hidden copy ``.celeba-<source>.verified.json``, written just before it (the
   workflow deletes the marker, its output, when it reruns the job), rewriting the marker.

The clients' caches and every byte written live under the download root: Kaggle in
``<root>/kaggle`` (``KAGGLEHUB_CACHE``), the Hub in ``<root>/huggingface`` (``local_dir``) and
``<root>/.cache/huggingface`` (``cache_dir``). The optional clients come with the extras
``kaggle`` (kagglehub) and ``hub`` (huggingface_hub, pyarrow); :func:`sources.require_client` names
the install command when one is missing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from celeba_gender import download_hub, download_kaggle
from celeba_gender.io import write_json, write_text
from celeba_gender.layouts import absolute
from celeba_gender.sources import (
    FREE_BYTES_VARIABLE,
    DownloadError,
    DownloadSpec,
    free_bytes,
    marker_path,
    require_client,
    spec_from_config,
)

log_ = logging.getLogger(__name__)


# ---------------------------------------------------------------------------- the marker


def _marker_is_current(marker: Path, spec: DownloadSpec) -> bool:
    """A marker of this identity whose files are all there at their recorded sizes."""
    try:
        record = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    if record.get("source") != spec.source or record.get("identity") != spec.identity():
        return False
    if record.get("counts", {}).get("splits") != dict(spec.splits):
        return False
    base = Path(record["data_root"])
    for entry in record["files"]:
        path = base / entry["path"]
        if not path.is_file() or path.stat().st_size != entry["size"]:
            return False
    return True


def _record_path(marker: Path) -> Path:
    """A hidden copy of the marker, written just before it: Snakemake deletes a job's output
    before rerunning it (after an edit of the download code), and with this copy the rerun
    re-checks the files on disk instead of asking the service again."""
    return marker.with_name(f".{marker.name}")


def fetch(
    spec: DownloadSpec,
    root: str | os.PathLike,
    log: logging.Logger | None = None,
    *,
    free_space: Callable[[Path], int] = free_bytes,
) -> Path:
    """Download ``spec`` under ``root``, verify it, and return its marker (see the module's
    docstring). ``free_space(root) -> bytes`` is the free-space probe (tests inject one)."""
    log = log or log_
    root = absolute(root)
    marker = marker_path(root, spec)
    record = _record_path(marker)
    for found in (marker, record):
        if _marker_is_current(found, spec):
            if found == record:  # the workflow deleted its output before rerunning the job
                write_text(marker, record.read_text())
            log.info("download: %s already downloaded and verified (%s)", spec.source, marker)
            return marker
    require_client(spec.source)
    backend = download_hub if spec.source == "huggingface" else download_kaggle
    data, files, counts = backend.fetch_source(spec, root, log, free_space)
    content = {
        "source": spec.source,
        "identity": spec.identity(),
        "data_root": str(data),
        "files": files,
        "counts": counts,
    }
    for path in (record, marker):  # the hidden copy first: only the marker means "complete"
        write_json(path, content)
    log.info("download: verified; marker %s; set data.root to %s", marker, data)
    return marker


def _test_free_space() -> Callable[[Path], int] | None:
    """The free-space probe :data:`FREE_BYTES_VARIABLE` sets (tests only), else None."""
    value = os.environ.get(FREE_BYTES_VARIABLE)
    if not value:
        return None
    try:
        free = int(value)
    except ValueError:
        raise DownloadError(
            f"download: {FREE_BYTES_VARIABLE}={value!r} is not an integer (it is for tests only: "
            "unset it)."
        ) from None
    return lambda _root: free


@dataclasses.dataclass(frozen=True)
class DownloadJob:
    """The download rule: fetch ``source`` (``data.source``) with ``settings``
    (``data.download.<source>``) into ``root`` (``data.root``); ``out_marker`` is
    :func:`marker_path`. ``decode_size``: the image size the free-space check reserves the image
    store for (``train.image_size``)."""

    root: str
    source: str
    settings: Mapping[str, Any]
    decode_size: int
    out_marker: str


def download(job: DownloadJob, log: logging.Logger | None = None) -> Path:
    """Run the download rule's job: :func:`fetch`, its marker checked to be the rule's output."""
    spec = spec_from_config({"source": job.source, "download": {job.source: job.settings}},
                            job.decode_size)  # fmt: skip
    expected = marker_path(job.root, spec)
    if absolute(job.out_marker) != expected:
        raise DownloadError(f"download: the rule expects {job.out_marker}, fetch writes {expected}")
    return fetch(spec, job.root, log, free_space=_test_free_space() or free_bytes)
