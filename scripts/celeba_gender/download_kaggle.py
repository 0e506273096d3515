"""The Kaggle source of :mod:`celeba_gender.download` (kagglehub).

Before any byte is written, the download request is sent once through kagglehub's own client
(``POST .../api/v1/datasets.DatasetApiService/DownloadDataset``, answered by a redirect to the
archive) and only the answer's headers are read: a refusal, an unreachable service or a missing
dataset stops there, and ``Content-Length`` sizes the free-space check (twice the archive: the zip
and its extracted tree). Then ``kagglehub.dataset_download`` fetches the archive into
``<root>/kaggle`` (``KAGGLEHUB_CACHE``), checks its md5 (``x-goog-hash``), resumes a partial
archive with a Range request, and extracts it. The extracted tree is then checked here.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

from celeba_gender import ingest, sources
from celeba_gender.io import DataError

KAGGLE_DIR = "kaggle"
SPLIT_NAMES = ("train", "valid", "test")  # partition codes 0, 1, 2


def _refused(
    spec: sources.DownloadSpec, status: int | None, exc: Exception
) -> sources.DownloadError:
    page = sources.KAGGLE_PAGE.format(repo=spec.repo)
    if status in (401, 403):
        return sources.DownloadError(
            f"download: Kaggle refused {spec.repo} ({status}): set KAGGLE_USERNAME and KAGGLE_KEY, "
            "or put kaggle.json in ~/.kaggle (or $KAGGLE_CONFIG_DIR), or set KAGGLE_API_TOKEN; "
            f"and accept the dataset's terms on {page}."
        )
    if status == 404:
        return sources.DownloadError(
            f"download: {spec.repo} version {spec.version} not found on Kaggle (404): check the "
            "handle and version."
        )
    return sources.DownloadError(
        f"download: cannot reach Kaggle for {spec.repo} ({type(exc).__name__}); nothing was "
        "written. Check the network or proxy."
    )


def _probe(spec: sources.DownloadSpec) -> dict:
    """Ask for the archive, read the answer's headers only: {size (or None), md5 (or None)}."""
    from kagglehub.clients import build_kaggle_client
    from kagglesdk.datasets.types.dataset_api_service import ApiDownloadDatasetRequest

    owner, slug = spec.repo.split("/", 1)
    request = ApiDownloadDatasetRequest()
    request.owner_slug, request.dataset_slug = owner, slug
    request.dataset_version_number = spec.version
    try:
        with build_kaggle_client() as client:
            response = client.datasets.dataset_api_client.download_dataset(request)
            headers = dict(response.headers)
            response.close()  # the body is left unread: nothing is written
    except Exception as exc:  # HTTP errors, connection errors
        raise _refused(spec, sources.http_status(exc), exc) from exc
    size = headers.get("Content-Length")
    return {"size": int(size) if size else None, "md5": _md5_header(headers)}


def _md5_header(headers: dict) -> str | None:
    for part in headers.get("x-goog-hash", "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "md5":
            return value
    return None


def _dataset_download(spec: sources.DownloadSpec) -> Path:
    import kagglehub
    from kagglehub.exceptions import DataCorruptionError

    try:
        return Path(kagglehub.dataset_download(f"{spec.repo}/versions/{spec.version}"))
    except DataCorruptionError as exc:
        raise DataError(
            f"download: the Kaggle archive of {spec.repo} failed its md5 check ({exc}); the "
            "client deleted it: rerun to fetch it again."
        ) from exc
    except Exception as exc:
        if sources.http_status(exc) in (401, 403, 404):
            raise _refused(spec, sources.http_status(exc), exc) from exc
        raise sources.DownloadError(
            f"download: the Kaggle download of {spec.repo} did not complete "
            f"({type(exc).__name__}); nothing is marked complete: rerun to resume."
        ) from exc


def _check_tree(spec: sources.DownloadSpec, data: Path) -> tuple[list[dict], dict]:
    """The Kaggle layout's files, their columns and the split counts; returns (files, counts)."""
    missing = [n for n in (*sources.KAGGLE_FILES, sources.KAGGLE_IMAGES) if not (data / n).exists()]
    if missing:
        raise DataError(
            f"download: the extracted Kaggle archive in {data} lacks {', '.join(missing)}; "
            "delete that folder and rerun."
        )
    attrs = ingest.read_attributes(data, "kaggle")  # columns and -1/1 values checked
    parts = ingest.read_partition(data, "kaggle")
    counts = parts["partition"].value_counts()
    sources.check_splits(
        {name: int(counts.get(code, 0)) for code, name in enumerate(SPLIT_NAMES)},
        spec,
        data / sources.KAGGLE_FILES[1],
    )
    images = sorted(p for p in (data / sources.KAGGLE_IMAGES).iterdir() if p.suffix == ".jpg")
    absent = sorted(set(attrs["image_id"]) - {p.name for p in images})
    if absent or len(images) != len(attrs):
        raise DataError(
            f"download: {data / sources.KAGGLE_IMAGES} holds {len(images)} images, "
            f"{sources.KAGGLE_FILES[0]} lists {len(attrs)} ({len(absent)} listed ones missing: "
            f"{', '.join(absent[:5])}); delete that folder and rerun."
        )
    files = [{"path": n, "size": (data / n).stat().st_size, "sha256": sources.sha256(data / n)}
             for n in sources.KAGGLE_FILES]  # fmt: skip
    counts_out = {"splits": dict(spec.splits), "images": len(images)}
    counts_out["image_tree"] = _tree_digest(images)
    return files, counts_out


def _tree_digest(images: list[Path]) -> dict:
    """Count, bytes and a sha256 over the sorted (name, size) list of the image files."""
    digest, total = hashlib.sha256(), 0
    for path in images:
        size = path.stat().st_size
        total += size
        digest.update(f"{path.name}\t{size}\n".encode())
    return {"folder": sources.KAGGLE_IMAGES, "files": len(images), "bytes": total,
            "sha256_of_names_and_sizes": digest.hexdigest()}  # fmt: skip


def fetch_source(
    spec: sources.DownloadSpec, root: Path, log: logging.Logger, free_space: Callable[[Path], int]
) -> tuple[Path, list[dict], dict]:
    """Check, download and verify the Kaggle archive: (data root, file records, counts)."""
    with sources.environment({"KAGGLEHUB_CACHE": str(root / KAGGLE_DIR)}):
        probe = _probe(spec)
        if probe["size"] is None:
            log.warning("download: Kaggle gave no archive size; the free-space check omits it")
        else:
            log.info(
                "download: %s v%s: archive %s", spec.repo, spec.version, sources.gb(probe["size"])
            )
        archive = {"archive and extracted tree": 2 * (probe["size"] or 0)}
        sources.check_space(root, spec, archive, free_space)
        data = _dataset_download(spec)
    files, counts = _check_tree(spec, data)
    counts["archive"] = {"size": probe["size"], "md5_base64": probe["md5"]}
    return data, files, counts
