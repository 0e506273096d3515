"""The CelebA layouts a data folder can hold, and which one a folder holds.

Standard library only: the workflow checks ``data.root`` with it when it is parsed, so that a run
that cannot start stops before any job is planned.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from celeba_gender import constants as C
from celeba_gender.io import DataError

LAYOUTS: tuple[str, ...] = ("kaggle", "celeba30k", "original")
IMAGE_DIRS: dict[str, tuple[str, ...]] = {
    "kaggle": tuple(C.KAGGLE_IMAGES),
    "celeba30k": (C.CELEBA30K_IMAGES,),
    "original": (C.ORIGINAL_IMAGES,),
}


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


def detect_layout(root: str | os.PathLike) -> str:
    """Return the layout of ``root``: 'kaggle', 'celeba30k' or 'original'.

    A layout matches when its attribute file and one of its image folders exist.
    """
    root = absolute(root)
    check_root(root)
    matches = [
        layout
        for layout in LAYOUTS
        if (root / C.LAYOUT_ATTRIBUTE_FILES[layout]).is_file()
        and any((root / d).is_dir() for d in IMAGE_DIRS[layout])
    ]
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
    for layout in LAYOUTS:
        attr = root / C.LAYOUT_ATTRIBUTE_FILES[layout]
        dirs = " or ".join(f"{d}/ ({_found(root / d)})" for d in IMAGE_DIRS[layout])
        lines.append(f"  {layout}: {C.LAYOUT_ATTRIBUTE_FILES[layout]} ({_found(attr)}) and {dirs}")
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
    """Path of the attribute file of ``layout`` under ``root`` (not checked)."""
    check_layout_name(layout)
    return absolute(root) / C.LAYOUT_ATTRIBUTE_FILES[layout]


def image_dir(root: str | os.PathLike, layout: str) -> Path:
    """Folder holding the images of ``layout`` under ``root`` (Kaggle: doubled folder first)."""
    check_layout_name(layout)
    candidates = [absolute(root) / d for d in IMAGE_DIRS[layout]]
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
