"""Build a job's settings object from a Snakemake ``script:`` job, field by field, by name.

Every wrapper in ``scripts/`` is one call: ``run_job(from_snakemake(Job, snakemake))``. A job
object is a dataclass whose fields are named after the rule's keywords:

- ``out_<name>``: ``output.<name>``;
- ``inputs``: every input that no other field takes, as a dict name -> file(s) (for a rule whose
  inputs are derived from a table, like the report's);
- any other field: ``input.<name>`` or ``params.<name>`` (a name in both is an error), else
  ``wildcards.<name>`` (a file named like a wildcard wins: input ``model``, wildcard ``model``),
  or ``threads`` / ``log`` (the first log file).

A field with a default may be absent from the rule. A rule item that no field takes, or a field
the rule does not provide, is an error (wildcards may go unused) that names both, so a rule and its job object cannot
drift apart silently. Standard library only.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")

OUTPUT_PREFIX = "out_"
ALL_INPUTS = "inputs"  # a field of this name takes every input no other field takes, by name
# The fields filled from the job itself, not from a named item.
SPECIAL = {"threads": lambda smk: int(smk.threads), "log": lambda smk: str(smk.log[0])}
IGNORED_INPUTS = ("code",)  # the wrapper script and package modules (rules/common.smk)


def _names(namedlist: Any) -> list[str]:
    return list(namedlist.keys()) if namedlist is not None else []


def _plain(value: Any) -> Any:
    """A rule item as plain Python: file names as str, lists of them as lists of str."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, list):  # snakemake's Namedlist is a list
        return [_plain(v) for v in value]
    return value


def from_snakemake(cls: type[T], smk: Any) -> T:
    """An instance of dataclass ``cls`` filled from the Snakemake job ``smk`` (see module doc)."""
    sections = {
        "input": (smk.input, [n for n in _names(smk.input) if n not in IGNORED_INPUTS]),
        "params": (smk.params, _names(smk.params)),
        "wildcards": (smk.wildcards, _names(smk.wildcards)),
    }
    values: dict[str, Any] = {}
    used: dict[str, set[str]] = {section: set() for section in (*sections, "output")}
    problems: list[str] = []
    for f in dataclasses.fields(cls):
        has_default = (
            f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        )
        if f.name.startswith(OUTPUT_PREFIX):
            name = f.name[len(OUTPUT_PREFIX) :]
            if name in _names(smk.output):
                values[f.name] = _plain(getattr(smk.output, name))
                used["output"].add(name)
            elif not has_default:
                problems.append(f"field {f.name}: the rule has no output named {name!r}")
            continue
        if f.name in SPECIAL:
            values[f.name] = SPECIAL[f.name](smk)
            continue
        if f.name == ALL_INPUTS:
            continue
        found = [s for s in ("input", "params") if f.name in sections[s][1]]
        if not found and f.name in sections["wildcards"][1]:
            found = ["wildcards"]
        if len(found) > 1:
            problems.append(f"field {f.name}: found in {' and '.join(found)}; rename one")
        elif found:
            namespace = sections[found[0]][0]
            values[f.name] = _plain(getattr(namespace, f.name))
            used[found[0]].add(f.name)
        elif not has_default:
            problems.append(f"field {f.name}: not an input, param or wildcard of the rule")
    if ALL_INPUTS in {f.name for f in dataclasses.fields(cls)}:
        rest = [n for n in sections["input"][1] if n not in used["input"]]
        values[ALL_INPUTS] = {n: _plain(getattr(smk.input, n)) for n in rest}
        used["input"].update(rest)
    checked = {"input": sections["input"][1], "params": sections["params"][1]}
    checked["output"] = _names(smk.output)  # wildcards may serve only the file names
    for section, names in checked.items():
        for name in names:
            if name not in used[section]:
                problems.append(f"{section}.{name}: no field of {cls.__name__} takes it")
    if problems:
        rule = getattr(smk, "rule", "?")
        raise TypeError(f"rule {rule} does not match {cls.__name__}: " + "; ".join(problems))
    return cls(**values)
