"""Judge ``snakemake --lint json`` output (stdin): fail on anything but the conda/container demand.

Conda channels are unreachable where this project is developed, so no environment could be
tested; every other lint must be fixed. The output must be the linter's JSON document,
``{"snakefiles": [...], "rules": [...]}``, each entry ``{"for": {...}, "lints": [{"title": ...,
"body": ..., "links": [...]}]}``: anything else (a crash's traceback, nothing at all, a document
of another shape) fails, since ``snakemake --lint`` exits 1 for findings and crashes alike and
its exit status cannot tell them apart.
"""

from __future__ import annotations

import json
import re
import sys

FILTERED = re.compile(r"conda environment or container", re.I)


def findings(text: str) -> list[str]:
    """The lints other than the conda/container demand; ValueError if ``text`` is not the
    linter's JSON document."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"not JSON ({err})") from None
    if not isinstance(document, dict) or set(document) != {"snakefiles", "rules"}:
        raise ValueError("not the linter's document: want the keys snakefiles and rules")
    found = []
    for kind in ("snakefiles", "rules"):
        entries = document[kind]
        if not isinstance(entries, list):
            raise ValueError(f"{kind} is not a list")
        for entry in entries:
            try:
                where, lints = entry["for"], entry["lints"]
                titles = [lint["title"] for lint in lints]
            except (KeyError, TypeError):
                raise ValueError(
                    f"an entry of {kind} is not {{for, lints: [{{title}}]}}: {entry!r}"
                ) from None
            found += [
                f"{kind[:-1]} {json.dumps(where)}: {t}" for t in titles if not FILTERED.search(t)
            ]
    return found


def main() -> int:
    text = sys.stdin.read()
    try:
        found = findings(text)
    except ValueError as err:
        print(f"snakemake --lint json gave no lint document ({err}); its output:\n{text[-6000:]}")
        return 2
    if found:
        print("snakemake --lint findings:\n" + "\n".join(found))
        return 1
    print("snakemake --lint: clean (only the conda/container demand filtered)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
