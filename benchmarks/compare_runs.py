"""Two finished runs' results/ folders, file by file: what a refactor changed (issue 18).

For every file under both folders (``logs/``, ``benchmarks/``, ``tracking/`` and ``.snakemake``
left out: they are timings and run records): byte-identical or not. A differing tensor file
(``.pt``, ``.pth``) is opened and its tensors and values compared one by one, a differing
``history.csv`` column by column: their differing entries are listed, so that a file that differs
only by a timing (``seconds``) or a recorded hash is told from one whose numbers moved. The last
line counts identical and differing files; the exit status is 1 when a ``metrics.csv`` differs.

    python3 benchmarks/compare_runs.py BEFORE/results AFTER/results
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any

LEFT_OUT = ("logs", "benchmarks", "tracking", ".snakemake")


def files(root: Path) -> set[str]:
    """The files under ``root`` (relative, POSIX), but those of the LEFT_OUT folders."""
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not set(p.relative_to(root).parts) & set(LEFT_OUT)
    }


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """A checkpoint's entries as ``{path: digest or repr}`` (tensors by the SHA-256 of their
    bytes and their dtype and shape)."""
    import torch

    if isinstance(value, torch.Tensor):
        data = value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        return {prefix: f"{value.dtype} {tuple(value.shape)} {hashlib.sha256(data).hexdigest()}"}
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return {prefix: repr(value)}
    found: dict[str, str] = {}
    for key, item in items:
        found.update(flatten(item, f"{prefix}/{key}"))
    return found


def differing_entries(before: Path, after: Path) -> list[str]:
    """What differs inside two versions of a tensor file or a history table."""
    if before.name == "history.csv":
        import pandas as pd

        old, new = pd.read_csv(before), pd.read_csv(after)
        if list(old.columns) != list(new.columns) or len(old) != len(new):
            return ["columns or rows"]
        return [c for c in old.columns if not old[c].equals(new[c])]
    import torch

    old, new = (
        flatten(torch.load(p, map_location="cpu", weights_only=False)) for p in (before, after)
    )
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args()
    old, new = files(args.before), files(args.after)
    identical, differing = 0, []
    for name in sorted(old & new):
        if (args.before / name).read_bytes() == (args.after / name).read_bytes():
            identical += 1
            continue
        differing.append(name)
        inside = ""
        if name.endswith((".pt", ".pth")) or name.endswith("history.csv"):
            entries = differing_entries(args.before / name, args.after / name)
            inside = f"  (differing inside: {', '.join(entries) if entries else 'nothing'})"
        print(f"differs: {name}{inside}")
    for name in sorted(old - new):
        print(f"only before: {name}")
    for name in sorted(new - old):
        print(f"only after: {name}")
    metrics = [n for n in differing if n.endswith("metrics.csv")]
    print(
        f"{identical} identical, {len(differing)} differing, {len(old - new)} only before, "
        f"{len(new - old)} only after; metrics.csv: "
        + ("differs: " + ", ".join(metrics) if metrics else "all identical")
    )
    return 1 if metrics else 0


if __name__ == "__main__":
    sys.exit(main())
