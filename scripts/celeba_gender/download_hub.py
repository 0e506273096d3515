"""The Hugging Face Hub source of :mod:`celeba_gender.download` (huggingface_hub, plain HTTP).

Each shard is asked for with a HEAD (``{endpoint}/datasets/{repo}/resolve/{revision}/{file}``:
``X-Repo-Commit``, ``ETag``/``X-Linked-Etag`` = sha256 of an LFS file, ``Content-Length``/
``X-Linked-Size``), all before any byte is written; then fetched with ``hf_hub_download`` into
``<root>/huggingface`` (``local_dir``: the client streams to a temporary name and renames it when
complete) and checked against that sha256 and size. Xet storage is switched off
(``HF_HUB_DISABLE_XET``): the download is the plain HTTP path the tests exercise.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

from celeba_gender import parquet, sources
from celeba_gender.io import DataError

HUB_DIR = "huggingface"
HUB_CACHE = ".cache/huggingface"
CLIENT_RECORDS = ".cache/huggingface/download"  # the client's records of its local_dir's files
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
GIT_SHA1_RE = re.compile(r"^[0-9a-f]{40}$")


def _hub_environment(root: Path) -> contextlib.AbstractContextManager:
    """Plain HTTP, no telemetry, caches under ``root``; set before huggingface_hub is imported."""
    return sources.environment(
        {
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_CACHE": str(root / HUB_CACHE / "hub"),
        }
    )


def _import_hub():
    import huggingface_hub
    from huggingface_hub import constants

    constants.HF_HUB_DISABLE_XET = True  # read when each file is fetched: force plain HTTP
    return huggingface_hub


def _endpoint(spec: sources.DownloadSpec) -> str:
    return (spec.endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def _refused(
    spec: sources.DownloadSpec, name: str, status: int | None, exc: Exception
) -> sources.DownloadError:
    """The one-line message for a request the Hub answered with an error."""
    page = sources.HUB_TERMS.format(repo=spec.repo)
    if status == 401:
        return sources.DownloadError(
            f"download: the Hub asks for credentials for {spec.repo} (401): set HF_TOKEN to a "
            f"token of your account (https://huggingface.co/settings/tokens) and accept the "
            f"dataset's terms on {page}."
        )
    if status == 403:
        return sources.DownloadError(
            f"download: the Hub refused {spec.repo} (403): accept the dataset's terms on {page} "
            "with the account of HF_TOKEN, or use a token with read access."
        )
    if status == 404:
        return sources.DownloadError(
            f"download: {name} not found in {spec.repo} at revision {spec.revision} (404): "
            "check the repo, revision, config and shard counts."
        )
    return sources.DownloadError(
        f"download: cannot reach the Hub at {_endpoint(spec)} for {name} "
        f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
        "nothing was written. Check the network, proxy or HF_ENDPOINT."
    )


def _head_all(hub, spec: sources.DownloadSpec, log: logging.Logger) -> dict[str, dict]:
    """HEAD every shard: {file: {size, etag, commit}}; any failure raises before a byte is written."""
    infos = {}
    for name in spec.hub_files():
        url = hub.hf_hub_url(
            spec.repo, name, repo_type="dataset", revision=spec.revision, endpoint=_endpoint(spec)
        )
        try:
            meta = hub.get_hf_file_metadata(url, endpoint=_endpoint(spec))
        except Exception as exc:  # HTTP errors, connection errors, offline mode
            raise _refused(spec, name, sources.http_status(exc), exc) from exc
        if meta.size is None or meta.etag is None:
            raise sources.DownloadError(
                f"download: the Hub's answer for {name} lacks its size or ETag; cannot verify it."
            )
        infos[name] = {"size": meta.size, "etag": meta.etag, "commit": meta.commit_hash}
    total = sum(i["size"] for i in infos.values())
    log.info(
        "download: %s@%s: %d files, %s", spec.repo, spec.revision, len(infos), sources.gb(total)
    )
    return infos


def _missing_bytes(local: Path, infos: dict[str, dict]) -> int:
    """Bytes still to fetch: files absent or of another size under ``local``."""
    return sum(
        info["size"]
        for name, info in infos.items()
        if not (local / name).is_file() or (local / name).stat().st_size != info["size"]
    )


def _git_blob_sha1(path: Path) -> str:
    header = f"blob {path.stat().st_size}\0".encode()
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, lambda: hashlib.sha1(header)).hexdigest()


def _verify(path: Path, name: str, info: dict, local: Path) -> dict:
    """Check size and hash against the HEAD answer; a bad file is deleted. Returns its record."""
    size = path.stat().st_size
    etag = info["etag"].lower()
    if SHA256_RE.match(etag):
        actual, kind = sources.sha256(path), "sha256"
    elif GIT_SHA1_RE.match(etag):  # a file not stored in LFS: its ETag is the git blob id
        actual, kind = _git_blob_sha1(path), "git-sha1"
    else:
        actual, kind = None, "none"
    if size != info["size"] or (actual is not None and actual != etag):
        _discard(path, name, local)
        raise DataError(
            f"download: {name} is corrupt ({size} bytes, {kind} {actual}; the Hub says "
            f"{info['size']} bytes, {etag}); it was deleted: rerun to fetch it again."
        )
    return {"path": Path(name).name, "size": size, kind: actual}


def _discard(path: Path, name: str, local: Path) -> None:
    """Delete a bad file and the client's record of it (so that a rerun fetches it again)."""
    path.unlink(missing_ok=True)
    (local / CLIENT_RECORDS / f"{name}.metadata").unlink(missing_ok=True)


def _clean_partials(local: Path) -> None:
    """Remove what a killed run left: the client's temporary ``*.incomplete`` files."""
    for partial in (local / CLIENT_RECORDS).rglob("*.incomplete"):
        partial.unlink(missing_ok=True)


def _download_all(hub, spec, root: Path, infos: dict, log: logging.Logger) -> list[dict]:
    local = root / HUB_DIR
    _clean_partials(local)
    files = []
    for i, (name, info) in enumerate(infos.items(), 1):
        log.info("download: [%d/%d] %s (%s)", i, len(infos), name, sources.gb(info["size"]))
        try:
            path = hub.hf_hub_download(
                spec.repo,
                name,
                repo_type="dataset",
                revision=spec.revision,
                local_dir=local,
                cache_dir=root / HUB_CACHE / "hub",
                endpoint=_endpoint(spec),
            )
        except Exception as exc:
            if sources.http_status(exc) in (401, 403, 404):
                raise _refused(spec, name, sources.http_status(exc), exc) from exc
            raise sources.DownloadError(
                f"download: {name} did not complete ({type(exc).__name__}); nothing is marked "
                "complete: rerun the same command to resume."
            ) from exc
        files.append(_verify(Path(path), name, info, local))
    return files


def _check_data(spec: sources.DownloadSpec, local: Path) -> dict:
    """Schema of every shard and rows per split (parquet metadata only); returns the counts."""
    pq = parquet.require_pyarrow()
    found: dict[str, int] = {}
    for shard in (local / name for name in spec.hub_files()):
        handle = pq.ParquetFile(shard)
        parquet._check_schema(handle.schema_arrow, shard)
        split = {"validation": "valid"}.get(parquet.split_of(shard), parquet.split_of(shard))
        found[split] = found.get(split, 0) + handle.metadata.num_rows
    sources.check_splits(found, spec, local / spec.config)
    return {"splits": dict(spec.splits), "images": sum(found.values())}


def fetch_source(
    spec: sources.DownloadSpec, root: Path, log: logging.Logger, free_space: Callable[[Path], int]
) -> tuple[Path, list[dict], dict]:
    """Check, download and verify the Hub shards: (data root, file records, counts)."""
    with _hub_environment(root):
        hub = _import_hub()
        infos = _head_all(hub, spec, log)
        shards = _missing_bytes(root / HUB_DIR, infos)
        sources.check_space(root, spec, {"shards": shards}, free_space)
        files = _download_all(hub, spec, root, infos, log)
    counts = _check_data(spec, root / HUB_DIR)
    return root / HUB_DIR / spec.config, files, counts
