"""The CelebA layouts a data folder can hold, and which one a folder holds.

Standard library only: the workflow checks ``data.root`` with it when it is parsed, so that a run
that cannot start stops before any job is planned.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from celeba_gender import constants as C
from celeba_gender.io import DataError

LAYOUTS: tuple[str, ...] = ("kaggle", "celeba30k", "original", "huggingface")
# Image folders of each layout; the huggingface layout's "images" are rows of its parquet shards,
# which lie in data.root itself or in the Hub repository's config folder under it.
IMAGE_DIRS: dict[str, tuple[str, ...]] = {
    "kaggle": tuple(C.KAGGLE_IMAGES),
    "celeba30k": (C.CELEBA30K_IMAGES,),
    "original": (C.ORIGINAL_IMAGES,),
    "huggingface": (".", C.HUB_CONFIG),
}
# A Hub parquet shard: {split}-{index:05d}-of-{count:05d}.parquet (celeba_gender.parquet).
SHARD_RE = re.compile(r"^(train|valid|validation|test)-(\d{5})-of-(\d{5})\.parquet$")


def absolute(path: str | os.PathLike) -> Path:
    """``path`` made absolute and normalised, without resolving symlinks."""
    return Path(os.path.abspath(path))


def check_root(root: Path) -> None:
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise DataError(
            f"data.root {root} {what}. Set data.root to the folder holding the "
            "CelebA download (see docs/running.md, 'Running the real study')."
        )


def _found(path: Path) -> str:
    return "found" if path.exists() else "missing"


def file_names(folder: Path) -> list[str]:
    """The names of the files directly in ``folder`` (none if it is missing)."""
    try:
        with os.scandir(folder) as entries:
            return [e.name for e in entries if e.is_file()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def shard_folder(root: str | os.PathLike) -> Path | None:
    """The folder holding the huggingface layout's parquet shards: ``root`` itself or
    ``root/img_align+identity+attr``, the first holding a train shard; None if neither does."""
    root = absolute(root)
    for folder in (root, root / C.HUB_CONFIG):
        names = file_names(folder)
        if any(n.startswith("train-") and SHARD_RE.match(n) for n in names):
            return folder
    return None


def _matches(root: Path, layout: str) -> bool:
    if layout == "huggingface":
        return shard_folder(root) is not None
    return (root / C.LAYOUT_ATTRIBUTE_FILES[layout]).is_file() and any(
        (root / d).is_dir() for d in IMAGE_DIRS[layout]
    )


def detect_layout(root: str | os.PathLike) -> str:
    """Return the layout of ``root``: 'kaggle', 'celeba30k', 'original' or 'huggingface'.

    A layout matches when its attribute file and one of its image folders exist; the huggingface
    layout when a train shard (``train-00000-of-00019.parquet`` …) lies in ``root`` or in
    ``root/img_align+identity+attr``.
    """
    root = absolute(root)
    check_root(root)
    matches = [layout for layout in LAYOUTS if _matches(root, layout)]
    if matches:
        if len(matches) > 1:
            logging.getLogger(__name__).warning(
                "data.root %s holds several layouts (%s); using %s. Set data.format to choose.",
                root,
                ", ".join(matches),
                matches[0],
            )
        return matches[0]
    lines = []
    for layout in LAYOUTS[:-1]:  # the file layouts; huggingface, the last, is listed after them
        attr = C.LAYOUT_ATTRIBUTE_FILES[layout]
        dirs = " or ".join(f"{d}/ ({_found(root / d)})" for d in IMAGE_DIRS[layout])
        lines.append(f"  {layout}: {attr} ({_found(root / attr)}) and {dirs}")
    lines.append(
        f"  huggingface: parquet shards {C.HUB_FIRST_SHARD} … in data.root or in "
        f"{C.HUB_CONFIG}/ (missing)"
    )
    raise DataError(
        f"data.root {root}: no CelebA layout found. Looked for:\n"
        + "\n".join(lines)
        + "\nSet data.root to the folder holding one of these layouts, or data.format to "
        "the layout you have."
    )


def check_layout_name(layout: str) -> None:
    if layout not in LAYOUTS:
        raise DataError(
            f"ingest: unknown data format {layout!r}; expected auto or one of {', '.join(LAYOUTS)}."
        )


def attribute_file(root: str | os.PathLike, layout: str) -> Path:
    """Path of the attribute file of ``layout`` under ``root`` (not checked). For the
    huggingface layout, whose attributes are spread over its shards: the first train shard."""
    check_layout_name(layout)
    if layout == "huggingface":
        folder = shard_folder(root) or absolute(root)
        shards = sorted(n for n in file_names(folder) if n.startswith("train-00000-of-"))
        return folder / (shards[0] if shards else C.HUB_FIRST_SHARD)
    return absolute(root) / C.LAYOUT_ATTRIBUTE_FILES[layout]


def image_dir(root: str | os.PathLike, layout: str) -> Path:
    """Folder holding the images of ``layout`` under ``root`` (Kaggle: doubled folder first;
    huggingface: the folder of the parquet shards)."""
    check_layout_name(layout)
    root = absolute(root)
    if layout == "huggingface":
        folder = shard_folder(root)
        if folder is None:
            raise DataError(
                f"ingest: no parquet shards ({C.HUB_FIRST_SHARD}) in {root} or "
                f"{root / C.HUB_CONFIG}."
            )
        return folder
    candidates = [root / d for d in IMAGE_DIRS[layout]]
    for folder in candidates:
        if folder.is_dir():
            return folder
    raise DataError(
        f"ingest: no image folder for the {layout} layout: looked for "
        + " and ".join(str(c) for c in candidates)
        + "."
    )


# A file the synthetic generator leaves in every folder it writes: the only folders it writes into
# are new or empty ones and those holding this marker, never a real dataset.
SYNTHETIC_MARKER = ".celeba-gender-synthetic"


def check_synthetic_target(root: str | os.PathLike) -> None:
    """Refuse to generate into ``root`` unless it is missing, empty, or was written by the
    generator (holds ``SYNTHETIC_MARKER``); the error names the folder and what is in it."""
    root = absolute(root)
    if not root.exists():
        return
    if not root.is_dir():
        raise DataError(f"synthetic.enabled: data.root {root} is a file, not a folder.")
    entries = sorted(entry.name for entry in root.iterdir())
    if entries and SYNTHETIC_MARKER not in entries:
        shown = ", ".join(entries[:8]) + (", …" if len(entries) > 8 else "")
        raise DataError(
            f"synthetic.enabled: data.root {root} holds {len(entries)} entries the synthetic "
            f"generator did not write ({shown}); it writes only into a new or empty folder, or "
            f"one it wrote itself (with a {SYNTHETIC_MARKER} file), never into a real dataset. "
            "Set data.root to a new folder (the demo uses results/demo_data), or set "
            "synthetic.enabled: false to use the data that is there. (A demo folder made by an "
            "earlier version of this workflow has no marker: delete it and rerun.)"
        )


def downloaded_root(marker: str | os.PathLike) -> Path:
    """The folder a verified download's marker (``celeba_gender.download``) names: the one to
    read. Here, not in ``download``, so that reading a download needs no download code."""
    try:
        return Path(json.loads(Path(marker).read_text())["data_root"])
    except (OSError, ValueError, KeyError) as err:
        raise DataError(
            f"{marker}: not a verified download's marker ({type(err).__name__}: {err}); delete it "
            "and rerun the download."
        ) from err
