"""Config errors: every bad value is refused at start-up, before any job, naming the key.

Each test edits one value of the tiny test config (tests/data/tiny.yaml) and runs Snakemake as
a dry run; validation happens while the workflow is parsed, so the dry run sees the error.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from celeba_gender import synth
from celeba_gender.config import coerce_numbers
from celeba_gender.constants import LAYOUT_ATTRIBUTE_FILES
from celeba_gender.io import DataError
from celeba_gender.layouts import SYNTHETIC_MARKER
from conftest import REPO, make_workdir, snakemake, snakemake_command

TINY_MODEL = "model: {weights: random}"
TINY_TRAIN_LR = "learning_rates: [1.0e-4]"
TINY_SUBSET = "subset_size: null"


def dry_run_with(tmp_path: Path, old: str, new: str) -> subprocess.CompletedProcess:
    """A dry run of the tiny config with ``old`` replaced by ``new`` (the text must be there)."""
    workdir = make_workdir(tmp_path, **{old: new})
    assert new in (workdir / "tiny.yaml").read_text(), f"{old!r} is not in tests/data/tiny.yaml"
    return snakemake(workdir, "-n", check=False)


def refused(proc: subprocess.CompletedProcess) -> str:
    """The output of a run that must have stopped before planning any job."""
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "Job stats" not in output, "a job was planned before the config was refused"
    return output


def test_the_unchanged_tiny_config_is_accepted(tmp_path) -> None:
    proc = snakemake(make_workdir(tmp_path), "-n", check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Job stats" in proc.stdout + proc.stderr


def test_split_fractions_not_summing_to_1_are_refused_with_the_sum(tmp_path) -> None:
    split = f"{TINY_MODEL}\nsplit: {{train: 0.7, val: 0.1, test: 0.1}}"
    output = refused(dry_run_with(tmp_path, TINY_MODEL, split))
    assert "config split: train + val + test = 0.7 + 0.1 + 0.1 = 0.9" in output
    assert "must sum to 1" in output


@pytest.mark.parametrize("lr", ["0.0", "-1.0e-4"])
def test_a_non_positive_learning_rate_is_refused_naming_the_key(tmp_path, lr) -> None:
    output = refused(dry_run_with(tmp_path, TINY_TRAIN_LR, f"learning_rates: [{lr}]"))
    assert "['train']['learning_rates']" in output
    assert "less than or equal to the minimum of 0" in output


def test_batch_size_0_is_refused_naming_the_key(tmp_path) -> None:
    output = refused(dry_run_with(tmp_path, "batch_size: 32", "batch_size: 0"))
    assert "['train']['batch_size']" in output
    assert "0 is less than the minimum of 1" in output


def test_an_unknown_strategy_is_refused_naming_the_key(tmp_path) -> None:
    output = refused(dry_run_with(tmp_path, "strategies: [1, 2]", "strategies: [1, 3]"))
    assert "['train']['strategies']" in output
    assert "3 is not one of [1, 2]" in output


def test_a_subset_size_below_the_minimum_is_refused_naming_the_key(tmp_path) -> None:
    output = refused(dry_run_with(tmp_path, TINY_SUBSET, "subset_size: 10"))
    assert "['data']['subset_size']" in output
    assert "10 is less than the minimum of 20" in output


def test_an_unknown_data_format_is_refused_naming_the_key(tmp_path) -> None:
    output = refused(dry_run_with(tmp_path, TINY_SUBSET, f"{TINY_SUBSET}, format: zip"))
    assert "['data']['format']" in output
    assert "'zip' is not one of" in output


def test_an_unknown_top_level_key_is_refused_naming_it(tmp_path) -> None:
    output = refused(dry_run_with(tmp_path, TINY_MODEL, f"{TINY_MODEL}\ntrian: {{epochs: 1}}"))
    assert "'trian' was unexpected" in output


def test_a_misspelt_nested_key_is_refused_naming_it(tmp_path) -> None:
    output = refused(dry_run_with(tmp_path, "batch_size: 32", "batchsize: 32"))
    assert "'batchsize' was unexpected" in output


def test_model_weights_pointing_nowhere_is_refused_naming_the_path(tmp_path) -> None:
    missing = "downloads/vgg16-missing.pth"
    output = refused(dry_run_with(tmp_path, "weights: random", f"weights: {missing}"))
    assert f"config model.weights: {missing} does not exist" in output


def test_a_refused_config_creates_no_output(tmp_path) -> None:
    """Not a dry run: the error comes before any job, so nothing is written under results/."""
    workdir = make_workdir(tmp_path, **{"batch_size: 32": "batch_size: 0"})
    output = refused(snakemake(workdir, check=False))
    assert "['train']['batch_size']" in output
    assert not (workdir / "results").exists()


def schema_keys(node: dict, prefix: str = "") -> list[tuple[str, dict]]:
    """Every leaf key of the config schema, dotted (train.batch_size), with its schema."""
    keys = []
    for name, sub in node.get("properties", {}).items():
        if sub.get("type") == "object" and "properties" in sub:
            keys += schema_keys(sub, f"{prefix}{name}.")
        else:
            keys.append((f"{prefix}{name}", sub))
    return keys


def test_every_config_key_has_a_description_a_default_and_a_docs_row() -> None:
    import yaml

    repo = Path(__file__).resolve().parents[1]
    schema = yaml.safe_load((repo / "config" / "schema.yaml").read_text())
    table = (repo / "docs" / "configuration.md").read_text()
    keys = schema_keys(schema)
    assert len(keys) > 20
    undocumented = [k for k, s in keys if not s.get("description") or "default" not in s]
    missing_rows = [k for k, _ in keys if f"| `{k}` |" not in table]
    assert undocumented == [] and missing_rows == []


def test_the_schemas_target_is_the_codes_label_attribute_among_the_40_attributes() -> None:
    # the schema is YAML and cannot import the constants: tie its copy of them to the code
    import yaml

    from celeba_gender.constants import ATTRIBUTES, LABEL_ATTRIBUTE
    from celeba_gender.grid import TrainSettings, target
    from celeba_gender.paths import LATER_DEFAULTS

    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    entry = schema["properties"]["data"]["properties"]["target"]
    assert entry["enum"] == list(ATTRIBUTES)
    assert entry["default"] == LABEL_ATTRIBUTE == TrainSettings.target
    assert LATER_DEFAULTS[("data", "target")] == LABEL_ATTRIBUTE == target({"data": {}})


# ---------------------------------------------------------------- numbers as users write them


@pytest.mark.parametrize(
    ("written", "names"),
    [
        ("[1e-4, 3e-5]", {"1e-4", "3e-5"}),
        ("[1E-3, 2.5e-4]", {"1e-3", "2.5e-4"}),
    ],
)
def test_learning_rates_written_as_users_write_them_are_numbers(tmp_path, written, names):
    """YAML 1.1 reads 1e-4 as a string; the workflow turns it into a number before validation."""
    proc = dry_run_with(tmp_path, TINY_TRAIN_LR, f"learning_rates: {written}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    trained = set(re.findall(r"train s1_lr(\S+)_seed0 ", proc.stdout))
    assert trained == names


def test_coerce_numbers_converts_only_where_the_schema_wants_a_number():
    schema = {
        "type": "object",
        "properties": {
            "lrs": {"type": "array", "items": {"type": "number"}},
            "nested": {"type": "object", "properties": {"x": {"type": ["number", "null"]}}},
            "name": {"type": "string"},
        },
    }
    schema["properties"]["ids"] = {"type": ["array", "null"], "items": {"type": "integer"}}
    config = {
        "lrs": ["1e-4", 0.5, "abc"],
        "nested": {"x": "3e5"},
        "name": "1e-4",
        "ids": ["0", "1"],
    }
    same = coerce_numbers(config, schema)
    assert same is config
    assert config == {
        "lrs": [1e-4, 0.5, "abc"],
        "nested": {"x": 3e5},
        "name": "1e-4",
        "ids": [0, 1],
    }
    assert type(config["ids"][0]) is int


# ---------------------------------------------------------------- a run that cannot start


def test_the_default_config_without_data_stops_before_planning_naming_data_root(tmp_path):
    """The command a new user types first, in a clone without data/celeba: no job is planned (no
    weights download either), and the message names data.root."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    proc = subprocess.run(  # --cores 2 instead of the user's 4: the stop comes before cores matter
        snakemake_command(tmp_path, "-n", configfile=None),
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = refused(proc)
    assert f"data.root {tmp_path / 'data' / 'celeba'} does not exist" in output
    assert "fetch_imagenet_weights" not in output


def test_a_data_root_with_no_known_layout_lists_the_layouts_looked_for(tmp_path):
    (tmp_path / "empty").mkdir()
    real = "synthetic: {enabled: false}"
    workdir = make_workdir(
        tmp_path / "w",
        **{
            "data: {root: results/demo_data, subset_size: null}": f"data: {{root: {tmp_path / 'empty'}}}",
            "synthetic: {enabled: true, n_images: 200, seed: 1, layout: kaggle}": real,
        },
    )
    output = refused(snakemake(workdir, "-n", check=False))
    assert "no CelebA layout found" in output
    for layout, attributes in LAYOUT_ATTRIBUTE_FILES.items():
        if layout == "huggingface":  # a set of parquet shards, not one attribute file
            assert "huggingface: parquet shards train-00000-of-*.parquet" in output
            continue
        assert f"{layout}: {attributes} (missing)" in output


def test_the_generator_never_writes_into_a_folder_it_did_not_write(tmp_path):
    """synthetic.enabled with data.root pointing at a real dataset stops at parse time, naming the
    folder and what is in it; nothing is written there."""
    real = tmp_path / "celeba"
    real.mkdir()
    (real / "list_attr_celeba.txt").write_text("202599\n")
    (real / "img_align_celeba").mkdir()
    before = sorted(p.name for p in real.iterdir())
    workdir = make_workdir(tmp_path / "w", **{"root: results/demo_data": f"root: {real}"})
    output = refused(snakemake(workdir, "-n", check=False))
    assert f"data.root {real} holds 2 entries the synthetic generator did not write" in output
    assert "img_align_celeba, list_attr_celeba.txt" in output
    assert sorted(p.name for p in real.iterdir()) == before


def test_generate_refuses_a_foreign_folder_and_rewrites_its_own(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="did not write"):
        synth.generate(foreign, 4, 0)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    own = tmp_path / "own"
    synth.generate(own, 4, 0)
    assert (own / SYNTHETIC_MARKER).is_file()
    synth.generate(own, 4, 1)  # a folder it wrote itself: allowed
