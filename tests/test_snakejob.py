"""snakejob.from_snakemake: a job object filled from a Snakemake job by name, or a clear error."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from snakemake.iocontainers import Namedlist

from celeba_gender.snakejob import from_snakemake


def named(**items) -> Namedlist:
    return Namedlist(fromdict=items)


def job(input=None, output=None, params=None, wildcards=None, threads=2):
    return SimpleNamespace(
        input=named(**(input or {})),
        output=named(**(output or {})),
        params=named(**(params or {})),
        wildcards=named(**(wildcards or {})),
        threads=threads,
        log=["results/logs/x.log"],
        rule="example",
    )


@dataclass
class Example:
    model: str
    files: list
    batch_size: int
    checkpoint: str
    threads: int
    log: str
    out_table: str
    note: str = "default"


def test_fields_are_filled_by_name_from_every_part_of_the_job():
    smk = job(
        input={"model": "m.pt", "files": ["a", "b"], "code": ["x.py"]},
        output={"table": "t.csv"},
        params={"batch_size": 64},
        wildcards={"model": "s1_lr1e-4_seed0", "checkpoint": "last"},
    )
    got = from_snakemake(Example, smk)
    assert got == Example(
        model="m.pt",
        files=["a", "b"],
        batch_size=64,
        checkpoint="last",
        threads=2,
        log="results/logs/x.log",
        out_table="t.csv",
    )
    assert type(got.model) is str and type(got.files) is list  # plain values, not snakemake's


def test_a_missing_field_and_an_unused_rule_item_are_both_named():
    smk = job(
        input={"model": "m.pt", "files": [], "extra": "e"},
        output={"table": "t.csv"},
        wildcards={"checkpoint": "last"},
    )
    with pytest.raises(TypeError) as err:
        from_snakemake(Example, smk)
    text = str(err.value)
    assert "rule example does not match Example" in text
    assert "field batch_size: not an input, param or wildcard" in text
    assert "input.extra: no field of Example takes it" in text


def test_a_name_in_both_input_and_params_is_refused():
    smk = job(
        input={"model": "m.pt", "files": [], "batch_size": "b"},
        output={"table": "t.csv"},
        params={"batch_size": 64},
        wildcards={"checkpoint": "last"},
    )
    with pytest.raises(TypeError, match="field batch_size: found in input and params"):
        from_snakemake(Example, smk)
