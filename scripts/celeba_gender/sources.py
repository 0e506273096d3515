"""The download sources of CelebA: their pinned, overridable identities (``DownloadSpec``, one
table of defaults), the split counts each must have, and the checks both clients share (free
disk, sizes, hashes, split counts, the optional client packages).

``download.py`` runs a download with the backend of its source (``download_hub``,
``download_kaggle``); both backends and the orchestration import from here, never from each
other.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from celeba_gender import constants as C
from celeba_gender.io import CelebaGenderError, DataError
from celeba_gender.layouts import absolute

SOURCES: tuple[str, ...] = ("kaggle", "huggingface")
OFFICIAL_SPLITS: dict[str, int] = {"train": 162_770, "valid": 19_867, "test": 19_962}  # 202,599
# The pinned identities, ONE table: every value can be overridden (DownloadSpec.create).
# Sources: public dataset pages and the clients' code; never checked against the live services.
DEFAULTS: dict[str, dict[str, Any]] = {
    "kaggle": {
        "repo": "jessicali9530/celeba-dataset",
        "version": 2,
        "splits": OFFICIAL_SPLITS,
    },
    "huggingface": {
        "repo": "flwrlabs/celeba",
        "revision": "2d738f56e0e7f925ea36ae7c808ea925264aacec",
        "config": C.HUB_CONFIG,
        "shards": {"train": 19, "valid": 3, "test": 3},
        "endpoint": None,  # None: HF_ENDPOINT, else https://huggingface.co
        "splits": OFFICIAL_SPLITS,
    },
}
# The workflow's config keys (config/schema.yaml: data.source, data.download): "folder" reads
# data.root as it is; a download source fetches into it (the download rule, :func:`download`).
FOLDER = "folder"
# For tests only: the free bytes the download job's free-space check sees (an integer), so that
# "not enough disk" can be tested through the workflow. Never set it for a real run.
FREE_BYTES_VARIABLE = "CELEBA_GENDER_TEST_FREE_BYTES"
EXTRAS = {
    "kaggle": ("kaggle", ("kagglehub",)),
    "huggingface": ("hub", ("huggingface_hub", "pyarrow")),
}
DECODE_IMAGE_SIZE = 224  # data.image_size of the study
KAGGLE_IMAGES = "img_align_celeba/img_align_celeba"
KAGGLE_FILES = ("list_attr_celeba.csv", "list_eval_partition.csv")
HUB_TERMS = "https://huggingface.co/datasets/{repo}"
KAGGLE_PAGE = "https://www.kaggle.com/datasets/{repo}"


class DownloadError(CelebaGenderError):
    """The download cannot start or did not complete; the message says what to do."""


# ---------------------------------------------------------------------------- the spec


@dataclasses.dataclass(frozen=True)
class DownloadSpec:
    """What to download. Build it with :meth:`create`, which fills in :data:`DEFAULTS`.

    repo: Kaggle ``owner/slug`` or Hub ``owner/name``. version: Kaggle dataset version.
    revision: Hub commit (a full sha, so that a cached file is never re-checked). config: the
    Hub folder of the shards. shards: Hub shards per split (``train``/``valid``/``test``).
    splits: expected rows per split. endpoint: Hub URL (None: ``HF_ENDPOINT`` or huggingface.co).
    decode_size: image size (px) the free-space check reserves the image store for (0: none).
    """

    source: str
    repo: str
    splits: Mapping[str, int]
    version: int | None = None
    revision: str | None = None
    config: str | None = None
    shards: Mapping[str, int] = dataclasses.field(default_factory=dict)
    endpoint: str | None = None
    decode_size: int = DECODE_IMAGE_SIZE

    @classmethod
    def create(cls, source: str, **overrides: Any) -> DownloadSpec:
        """The pinned defaults of ``source`` with ``overrides`` (any field but ``source``)."""
        _check_source(source)
        names = {f.name for f in dataclasses.fields(cls)} - {"source"}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise DownloadError(
                f"download: unknown setting(s) {', '.join(unknown)}; expected {', '.join(sorted(names))}."
            )
        values = {**DEFAULTS[source], **{k: v for k, v in overrides.items() if v is not None}}
        return cls(source=source, **values)

    def identity(self) -> dict[str, Any]:
        """What makes two downloads the same (recorded in the marker)."""
        if self.source == "kaggle":
            return {"repo": self.repo, "version": self.version}
        return {
            "repo": self.repo,
            "revision": self.revision,
            "config": self.config,
            "shards": dict(self.shards),
        }

    def hub_files(self) -> list[str]:
        """The Hub files, relative to the repository: ``<config>/train-00000-of-00019.parquet`` …"""
        return [
            f"{self.config}/{split}-{i:05d}-of-{count:05d}.parquet"
            for split, count in self.shards.items()
            for i in range(count)
        ]

    def total_images(self) -> int:
        return sum(self.splits.values())


def marker_name(source: str) -> str:
    """The file name of a verified download's marker: ``celeba-<source>.verified.json``."""
    return f"celeba-{source}.verified.json"


def marker_path(root: str | os.PathLike, spec: DownloadSpec) -> Path:
    """Where :func:`fetch` records a verified download: ``<root>/celeba-<source>.verified.json``."""
    return absolute(root) / marker_name(spec.source)


def decode_bytes(n_images: int, size: int) -> int:
    """Disk the image store needs: one uint8 (size, size, 3) array per image, all splits
    (store.build_store). 202,599 images at 224 px: 30.5 GB; ``size`` 0 reserves nothing."""
    return n_images * size * size * 3


# ---------------------------------------------------------------------------- clients


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise DownloadError(f"download: unknown source {source!r}; expected kaggle or huggingface.")


def require_client(source: str) -> None:
    """Raise one line naming the pip command when ``source``'s client packages are missing."""
    _check_source(source)
    extra, modules = EXTRAS[source]
    missing = []
    for module in modules:
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise DownloadError(
            f"download: the {source} source needs {' and '.join(missing)}: run "
            f'pip install -e ".[{extra}]" (in the celeba-gender checkout).'
        )


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore them."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def free_bytes(path: str | os.PathLike) -> int:
    """Free bytes on the file system that holds ``path`` (or its nearest existing parent)."""
    path = absolute(path)
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free


def gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e7 else f"{n / 1e6:.3f} MB"


def check_space(
    root: Path, spec: DownloadSpec, parts: Mapping[str, int], free: Callable[[Path], int]
) -> None:
    """Raise unless ``root`` has room for ``parts`` (what -> bytes) and ``spec``'s image store."""
    parts = {**parts, "image store": decode_bytes(spec.total_images(), spec.decode_size)}
    need, have = sum(parts.values()), free(root)
    if have < need:
        detail = " + ".join(f"{what} {gb(n)}" for what, n in parts.items())
        raise DownloadError(
            f"download: not enough free disk under {root}: {gb(have)} free, {gb(need)} needed "
            f"({detail}); nothing was written. Free space or choose another download root."
        )


def sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def http_status(exc: Exception) -> int | None:
    """The HTTP status of a client's error (its ``response.status_code``), or None."""
    return getattr(getattr(exc, "response", None), "status_code", None)


def check_splits(found: Mapping[str, int], spec: DownloadSpec, where: Path) -> None:
    """The rows per split must equal ``spec.splits``; the error names each split that differs."""
    wrong = [
        f"{split}: {found.get(split, 0)} rows, expected {n}"
        for split, n in spec.splits.items()
        if found.get(split, 0) != n
    ]
    if wrong:
        raise DataError(
            f"download: split counts in {where} differ from the spec: {'; '.join(wrong)}. "
            "The download does not match the pinned dataset (or the spec's splits are wrong)."
        )


# ---------------------------------------------------------------------------- the workflow


def spec_from_config(data: Mapping[str, Any], decode_size: int = DECODE_IMAGE_SIZE) -> DownloadSpec:
    """The spec of the config's ``data`` section (``data.source`` a download source):
    ``data.download.<source>`` overrides the pinned defaults."""
    source = data["source"]
    if source not in SOURCES:
        raise DownloadError(
            f"config data.source: {source!r} is not a download source; expected kaggle or "
            "huggingface."
        )
    settings = dict((data.get("download") or {}).get(source) or {})
    return DownloadSpec.create(source, decode_size=decode_size, **settings)
