"""The size and structure of the workflow's code at one or more commits (issue 18).

For each commit: lines of the rule files (``Snakefile`` and ``rules/*.smk``), of the ``script:``
wrappers (``scripts/*.py``) and of the package (``scripts/celeba_gender/*.py``), each as all lines
and as code lines (no blank lines, comments or docstrings; for rule files, no blank or comment
lines); the package's modules, the rules, and the ``report(...)`` declarations in the rule files.
Read from git (``git show``), so the working tree is not involved; the last line compares the
last commit with the first.

    python3 benchmarks/code_size.py 5767188 76293d8 HEAD
"""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import tokenize
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GROUPS = ("rules", "wrappers", "package")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def group_of(path: str) -> str | None:
    """Which of GROUPS ``path`` belongs to (None: not counted)."""
    if path == "Snakefile" or (path.startswith("rules/") and path.endswith(".smk")):
        return "rules"
    if path.startswith("scripts/celeba_gender/") and path.endswith(".py"):
        return "package"
    if path.startswith("scripts/") and path.count("/") == 1 and path.endswith(".py"):
        return "wrappers"
    return None


def python_code_lines(text: str) -> int:
    """Lines holding a token other than a comment or a docstring (a string that is a whole
    statement)."""
    skipped = {tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT, tokenize.ENDMARKER}
    tokens = [
        t for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type not in skipped
    ]
    lines: set[int] = set()
    for i, token in enumerate(tokens):
        if token.type == tokenize.NEWLINE:
            continue
        starts = i == 0 or tokens[i - 1].type == tokenize.NEWLINE
        ends = i + 1 == len(tokens) or tokens[i + 1].type == tokenize.NEWLINE
        if not (token.type == tokenize.STRING and starts and ends):
            lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines)


def rule_code_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))


def measure(repo: Path, commit: str) -> dict[str, int]:
    """Line counts per group, modules, rules and report() declarations at ``commit``."""
    found = dict.fromkeys([f"{g}_{k}" for g in GROUPS for k in ("lines", "code")], 0)
    found.update(modules=0, rules=0, report_declarations=0)
    for path in git(repo, "ls-tree", "-r", "--name-only", commit).split():
        group = group_of(path)
        if group is None:
            continue
        text = git(repo, "show", f"{commit}:{path}")
        found[f"{group}_lines"] += len(text.splitlines())
        if group == "rules":
            found["rules_code"] += rule_code_lines(text)
            found["rules"] += len(re.findall(r"^rule \w+:", text, flags=re.M))
            found["report_declarations"] += len(re.findall(r"\breport\(", text))
        else:
            found[f"{group}_code"] += python_code_lines(text)
            found["modules"] += group == "package"
    found["total_lines"] = sum(found[f"{g}_lines"] for g in GROUPS)
    found["total_code"] = sum(found[f"{g}_code"] for g in GROUPS)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commits", nargs="+", help="commits to measure, oldest first")
    parser.add_argument("--repo", type=Path, default=REPO, help="the git checkout (this one)")
    args = parser.parse_args()
    rows = {c: measure(args.repo, c) for c in args.commits}
    keys = list(next(iter(rows.values())))
    print("commit".ljust(10) + "".join(k.rjust(len(k) + 2) for k in keys))
    for commit, row in rows.items():
        short = git(args.repo, "rev-parse", "--short", commit).strip()
        print(short.ljust(10) + "".join(str(row[k]).rjust(len(k) + 2) for k in keys))
    first, last = rows[args.commits[0]], rows[args.commits[-1]]
    print(
        f"{args.commits[-1]} against {args.commits[0]}: "
        f"lines {last['total_lines'] - first['total_lines']:+d}, "
        f"code lines {last['total_code'] - first['total_code']:+d}"
    )


if __name__ == "__main__":
    main()
