"""The shape of the DAG, from dry runs: one shared feature cache, the exact fallback to the end-to-end
path, the seed wildcard. Fast: nothing is executed."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import yaml

from celeba_gender import grid
from celeba_gender.grid import MODEL_WILDCARD, TrainSettings
from conftest import REPO, make_workdir, planned_jobs, resolved_config, snakemake


def train_inputs(workdir: Path) -> dict[str, str]:
    """Model -> the input kind (features, prefix, images) each planned training job announces."""
    out = snakemake(workdir, "-n").stdout
    return dict(re.findall(rf"train ({MODEL_WILDCARD}) \(strategy \d, input: (\w+)\)", out))


MODELS = ("s1_lr1e-4_seed0", "s2_lr1e-4_seed0")  # the grid of tests/data/tiny.yaml
PER_MODEL_RULES = {
    "train": 1,
    "evaluate": 2,
    "plot_model": 1,
    "subgroups": 1,
    "gradcam": 1,
}
PER_SPLIT_RULES = ("decode_images", "build_feature_cache")


def job_lines(workdir: Path) -> list[tuple[str, str]]:
    """(first word without its colon, the rest) of every ``Job <id>: <message>`` line of a dry run."""
    out = snakemake(workdir, "-n").stdout
    lines = re.findall(r"^Job \d+: (\S+) ?(.*)$", out, flags=re.M)
    return [(first.rstrip(":"), rest) for first, rest in lines]


def test_every_planned_job_line_of_the_dry_run_starts_with_its_rule(tmp_path):
    workdir = make_workdir(tmp_path)
    planned = {rule: n for rule, n in planned_jobs(workdir).items() if rule != "all"}
    assert Counter(rule for rule, _ in job_lines(workdir)) == Counter(planned)


def test_per_model_job_lines_of_the_dry_run_name_their_model(tmp_path):
    lines = job_lines(make_workdir(tmp_path))
    for rule, per_model in PER_MODEL_RULES.items():
        named = Counter(rest.split()[0].rstrip(":") for first, rest in lines if first == rule)
        assert named == Counter({model: per_model for model in MODELS}), rule
    checkpoints = Counter(
        re.search(r"\((last|best) epoch\)", rest).group(1)
        for first, rest in lines
        if first == "evaluate"
    )
    assert checkpoints == {"last": 2, "best": 2}


def test_per_split_job_lines_of_the_dry_run_name_their_split(tmp_path):
    lines = job_lines(make_workdir(tmp_path))
    for rule in PER_SPLIT_RULES:
        splits = sorted(rest.split()[0].rstrip(":") for first, rest in lines if first == rule)
        assert splits == ["test", "train", "val"], rule


def test_the_grid_shares_one_feature_cache_build_per_split(tmp_path):
    workdir = make_workdir(tmp_path)
    jobs = planned_jobs(workdir)
    assert jobs["build_feature_cache"] == 3  # train, val, test: once for the whole grid
    assert jobs["decode_images"] == 3
    assert jobs["train"] == 2 and jobs["evaluate"] == 4
    assert train_inputs(workdir) == {"s1_lr1e-4_seed0": "features", "s2_lr1e-4_seed0": "prefix"}


def test_cache_off_trains_end_to_end_from_decoded_images(tmp_path):
    workdir = make_workdir(tmp_path, **{"seed: 0}": "seed: 0, cache: 'off'}"})
    jobs = planned_jobs(workdir)
    assert "build_feature_cache" not in jobs
    assert set(train_inputs(workdir).values()) == {"images"}


def test_an_augmentation_other_than_flip_falls_back_to_end_to_end(tmp_path):
    workdir = make_workdir(
        tmp_path, **{"seed: 0}": "seed: 0, augmentations: [hflip, color_jitter]}"}
    )
    assert "build_feature_cache" not in planned_jobs(workdir)
    assert set(train_inputs(workdir).values()) == {"images"}


def evaluate_plan(workdir: Path) -> set[tuple[str, str, str]]:
    """(model, input kind, threads) of every planned evaluation."""
    out = snakemake(workdir, "-n").stdout
    pattern = (
        rf"evaluate ({MODEL_WILDCARD}) \((?:last|best) epoch\) .*\(input: (\w+), threads: (\d+)\)"
    )
    return set(re.findall(pattern, out))


def test_evaluations_take_one_thread_on_the_cache_and_two_on_images(tmp_path):
    """Cache readers do a few matrix products (two run side by side on 2 cores); the whole
    VGG-16 on images uses both cores."""
    cached = evaluate_plan(make_workdir(tmp_path / "cached"))
    assert cached == {("s1_lr1e-4_seed0", "features", "1"), ("s2_lr1e-4_seed0", "prefix", "1")}
    uncached = evaluate_plan(
        make_workdir(tmp_path / "off", **{"seed: 0}": "seed: 0, cache: 'off'}"})
    )
    assert uncached == {("s1_lr1e-4_seed0", "images", "2"), ("s2_lr1e-4_seed0", "images", "2")}


def test_seeds_add_a_seed_wildcard(tmp_path):
    workdir = make_workdir(tmp_path, **{"seed: 0}": "seeds: [0, 1]}"})
    jobs = planned_jobs(workdir)
    assert jobs["train"] == 4
    assert set(train_inputs(workdir)) == {
        "s1_lr1e-4_seed0",
        "s1_lr1e-4_seed1",
        "s2_lr1e-4_seed0",
        "s2_lr1e-4_seed1",
    }


def test_imagenet_weights_are_fetched_by_a_local_rule_before_training(tmp_path):
    workdir = make_workdir(tmp_path, **{"model: {weights: random}": "model: {weights: imagenet}"})
    jobs = planned_jobs(workdir)
    assert jobs["fetch_imagenet_weights"] == 1 and "random_weights" not in jobs
    assert "fetch the ImageNet VGG-16 weights once" in snakemake(workdir, "-n").stdout


# ---------------------------------------------------------------- experiments


def test_a_config_without_experiment_runs_as_the_default_experiment(tmp_path):
    workdir = make_workdir(tmp_path, **{"experiment: tiny\n": ""})
    study = workdir / "config" / "config.yaml"  # it names its experiment "study"
    study.write_text(re.sub(r"^experiment:.*\n", "", study.read_text(), flags=re.M))
    out = snakemake(workdir, "-n").stdout
    assert "results/experiments/default/report/report.html" in out
    assert "results/experiments/tiny/" not in out


def test_the_lr_sweep_experiment_plans_24_models_on_the_study_config(tmp_path, synthetic_roots):
    """config/experiments/lr-sweep.yaml on top of config/config.yaml, with data.root pointing at
    a generated dataset (a run without data stops at parse time): 4 learning rates x 2
    strategies x 3 seeds, each at most 10 epochs with early stopping (patience 3) on validation
    accuracy, as one experiment."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    data = {"data": {"root": str(synthetic_roots["kaggle"]), "subset_size": None}}
    (tmp_path / "data.yaml").write_text(yaml.safe_dump(data))
    files = ("config/experiments/lr-sweep.yaml", "data.yaml")
    jobs = planned_jobs(tmp_path, "--configfile", *files)
    expected = {
        grid.ModelId(strategy, lr, seed).name
        for lr in (5e-4, 3e-4, 2e-4, 1e-4)
        for strategy in (1, 2)
        for seed in (0, 1, 2)
    }
    assert jobs["train"] == len(expected) == 24
    assert jobs["evaluate"] == 2 * 24 and jobs["report"] == 1
    config = resolved_config(tmp_path, *files)
    assert config["experiment"] == "lr-sweep" and config["model"]["weights"] == "imagenet"
    assert {m.name for m in grid.models(config["train"])} == expected
    for model in expected:
        settings = TrainSettings.from_config(config, model)
        assert (settings.epochs, settings.patience, settings.select_by) == (10, 3, "val_accuracy")
    out = snakemake(tmp_path, "-n", "--configfile", *files).stdout
    assert "results/experiments/lr-sweep/report/report.html" in out
