"""Training engine: epoch plans, learning, fit's history, checkpoints, resume, early stopping.

Real torchvision VGG-16 (random backbone), strategy 1 on a small synthetic ``features`` cache
(16 training and 8 validation items, batch 8), CPU only. Every fit writes a ~1.9 GB checkpoint
per epoch but the last (classifier weights, Adam moments, best state; ~5 s an epoch here), so
the runs are shared by module fixtures: an uninterrupted 3-epoch run, a run killed after epoch 2
of 3 (then resumed), and a run with other settings (select_by val_accuracy, patience 1) started
over the uninterrupted run's checkpoint. The synthetic features make validation accuracy reach 1.0 after
epoch 1 while validation loss keeps falling, so the two selection criteria pick different epochs
and accuracy-based early stopping has nothing left to improve.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from celeba_gender import engine, runlog
from celeba_gender.model import apply_strategy, build_model

CPU = torch.device("cpu")
N_TRAIN, N_VAL = 16, 8
SETTINGS = engine.TrainSettings(
    strategy=1, lr=1e-4, epochs=3, batch_size=8, seed=0, select_by="val_loss"
)
COMPARED = [c for c in engine.HISTORY_COLUMNS if c != "seconds"]  # seconds is wall time


class Killed(RuntimeError):
    """Raised from on_epoch to simulate a job killed between epochs."""


@pytest.fixture(scope="module")
def base_model() -> nn.Module:
    """A random-backbone VGG-16 with the 1-logit head, the same whatever ran before."""
    torch.manual_seed(0)
    return build_model(None, head_seed=SETTINGS.seed)


def learnable_features(n: int, views: int, seed: int) -> tuple[np.ndarray, torch.Tensor]:
    """A (n, views, 512, 1, 1) float32 'features' cache whose label shows in 128 channels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    x = np.abs(rng.normal(0.0, 1.0, (n, views, 512, 1, 1))).astype(np.float32)
    x[:, :, :128] += 3.0 * labels[:, None, None, None, None]
    return x, torch.as_tensor(labels, dtype=torch.float32)


@pytest.fixture(scope="module")
def data() -> dict:
    train, train_labels = learnable_features(N_TRAIN, views=2, seed=1)
    val, val_labels = learnable_features(N_VAL, views=1, seed=2)
    return {
        "train_source": engine.CacheSource(train, "features"),
        "val_source": engine.CacheSource(val, "features"),
        "train_labels": train_labels,
        "val_labels": val_labels,
    }


def run_fit(model, data, settings, checkpoint, on_epoch=None) -> dict:
    return engine.fit(
        model,
        engine.FitData(**data),
        settings,
        CPU,
        checkpoint,
        on_epoch=on_epoch,
    )


def checkpoint_epoch(path: Path) -> int:
    """The epoch recorded in a checkpoint, read without loading its tensors."""
    return int(torch.load(path, map_location="cpu", weights_only=True, mmap=True)["epoch"])


def head_of(model: nn.Module) -> torch.Tensor:
    return model.classifier[6].weight.detach().clone()


@pytest.fixture(scope="module")
def uninterrupted(base_model, data, tmp_path_factory) -> Iterator[dict]:
    """SETTINGS run start to end; records per epoch the checkpoint's epoch and the head."""
    model = copy.deepcopy(base_model)
    checkpoint = tmp_path_factory.mktemp("uninterrupted") / "checkpoint.pt"
    seen = {"checkpoint_epochs": [], "heads": {}}

    def on_epoch(row: dict) -> None:
        seen["checkpoint_epochs"].append(checkpoint_epoch(checkpoint))
        seen["heads"][row["epoch"]] = head_of(model)

    result = run_fit(model, data, SETTINGS, checkpoint, on_epoch)
    yield {**result, **seen, "model": model, "checkpoint": checkpoint}
    checkpoint.unlink(missing_ok=True)  # 1.9 GB: not for pytest's retained temp dirs


@pytest.fixture(scope="module")
def killed(base_model, data, tmp_path_factory) -> Iterator[dict]:
    """SETTINGS run killed (an exception from on_epoch) after epoch 2 of 3."""
    checkpoint = tmp_path_factory.mktemp("killed") / "checkpoint.pt"
    rows = []

    def on_epoch(row: dict) -> None:
        rows.append(row)
        if row["epoch"] == 2:
            raise Killed("killed after epoch 2")

    with pytest.raises(Killed):
        run_fit(copy.deepcopy(base_model), data, SETTINGS, checkpoint, on_epoch)
    yield {"rows": rows, "checkpoint": checkpoint}
    checkpoint.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def stopper(base_model, data, uninterrupted, tmp_path_factory) -> Iterator[dict]:
    """Select by val_accuracy with patience 1, started over the uninterrupted run's checkpoint."""
    checkpoint = tmp_path_factory.mktemp("stopper") / "checkpoint.pt"
    os.link(uninterrupted["checkpoint"], checkpoint)  # fit replaces it; the original stays
    settings = dataclasses.replace(SETTINGS, select_by="val_accuracy", patience=1)
    model = copy.deepcopy(base_model)
    seen = {"epochs_seen": [], "heads": {}, "checkpoint_epochs": []}

    def on_epoch(row: dict) -> None:
        seen["epochs_seen"].append(row["epoch"])
        seen["heads"][row["epoch"]] = head_of(model)
        seen["checkpoint_epochs"].append(checkpoint_epoch(checkpoint))

    yield {**run_fit(model, data, settings, checkpoint, on_epoch), **seen}
    checkpoint.unlink(missing_ok=True)


def without_seconds(history: pd.DataFrame) -> pd.DataFrame:
    return history[COMPARED].reset_index(drop=True)


# --------------------------------------------------------------------------- epoch plans


def test_epoch_plan_is_deterministic_for_seed_and_epoch() -> None:
    a = engine.epoch_plan(50, seed=3, epoch=2, augmentations=("hflip",))
    b = engine.epoch_plan(50, seed=3, epoch=2, augmentations=("hflip",))
    assert torch.equal(a.order, b.order)
    assert torch.equal(a.flips, b.flips)


def test_epoch_plan_differs_across_epochs() -> None:
    a = engine.epoch_plan(50, seed=3, epoch=1, augmentations=("hflip",))
    b = engine.epoch_plan(50, seed=3, epoch=2, augmentations=("hflip",))
    assert not torch.equal(a.order, b.order)
    assert not torch.equal(a.flips, b.flips)


def test_epoch_plan_differs_across_seeds() -> None:
    a = engine.epoch_plan(50, seed=0, epoch=1, augmentations=("hflip",))
    b = engine.epoch_plan(50, seed=1, epoch=1, augmentations=("hflip",))
    assert not torch.equal(a.order, b.order)


def test_epoch_plan_is_a_permutation() -> None:
    plan = engine.epoch_plan(50, seed=0, epoch=1, augmentations=("hflip",))
    assert sorted(plan.order.tolist()) == list(range(50))


def test_epoch_plan_without_hflip_flips_nothing() -> None:
    plan = engine.epoch_plan(50, seed=0, epoch=1, augmentations=())
    assert not plan.flips.any()
    assert plan.jitter is None


def test_epoch_plan_color_jitter_factors_lie_in_0_8_to_1_2() -> None:
    plan = engine.epoch_plan(50, seed=0, epoch=1, augmentations=("color_jitter",))
    assert plan.jitter is not None and plan.jitter.shape == (50, 2)
    assert float(plan.jitter.min()) >= 0.8 and float(plan.jitter.max()) <= 1.2


# --------------------------------------------------------------------------- learning


def brightness_images(n: int, seed: int) -> tuple[np.ndarray, torch.Tensor]:
    """(n, 32, 32, 3) uint8 images: label 1 bright, label 0 dark, both noisy."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    level = np.where(labels == 1, 220, 30)[:, None, None, None]
    images = np.clip(level + rng.integers(-20, 21, (n, 32, 32, 3)), 0, 255).astype(np.uint8)
    return images, torch.as_tensor(labels, dtype=torch.float32)


def test_training_loss_falls_when_brightness_encodes_the_label(base_model) -> None:
    model = copy.deepcopy(base_model)
    optimizer = engine.make_optimizer(apply_strategy(model, 1), lr=1e-4, device=CPU)
    images, labels = brightness_images(16, seed=0)
    source, criterion = engine.ImageSource(images), nn.BCEWithLogitsLoss()
    torch.manual_seed(0)
    losses = []
    for epoch in range(1, 4):
        plan = engine.epoch_plan(len(images), seed=0, epoch=epoch, augmentations=("hflip",))
        runner = engine.Runner.create(model, source.kind, CPU)
        metrics = engine.train_one_epoch(
            runner, source, labels, plan, optimizer, criterion, batch_size=16
        )
        losses.append(metrics["loss"])
    assert losses[-1] < 0.95 * losses[0], losses  # seen here: 0.703, 0.660, 0.641


# --------------------------------------------------------------------------- fit


def test_fit_returns_one_history_row_per_epoch(uninterrupted) -> None:
    history = uninterrupted["history"]
    assert list(history.columns) == engine.HISTORY_COLUMNS
    assert history["epoch"].tolist() == [1, 2, 3]
    assert uninterrupted["epochs_run"] == 3
    assert history[COMPARED].notna().all().all()
    assert (
        history["train_accuracy"].between(0, 1).all()
        and history["val_accuracy"].between(0, 1).all()
    )


def test_fit_writes_a_checkpoint_after_every_epoch_but_the_last(uninterrupted) -> None:
    """After the last epoch the job writes its model files and deletes the checkpoint: a
    checkpoint of that epoch would only cost time (seconds per GB)."""
    assert uninterrupted["checkpoint_epochs"] == [1, 2, 2]
    state = engine.load_checkpoint(uninterrupted["checkpoint"], SETTINGS)
    assert state is not None and state["epoch"] == 2
    head = {f"classifier.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias")}
    assert set(state["model"]) == head  # strategy 1 saves the trainable parameters only


def test_two_fits_with_the_same_seed_have_identical_histories(uninterrupted, killed) -> None:
    """The killed run is an independent fit with the same settings: its epochs 1-2 match."""
    first_two = without_seconds(uninterrupted["history"]).iloc[:2]
    killed_rows = without_seconds(pd.DataFrame(killed["rows"]))
    pd.testing.assert_frame_equal(killed_rows, first_two, check_exact=True)


def test_fit_resumes_a_killed_job_and_matches_an_uninterrupted_run(
    base_model, data, uninterrupted, killed
) -> None:
    assert checkpoint_epoch(killed["checkpoint"]) == 2
    model = copy.deepcopy(base_model)
    epochs = []
    result = run_fit(
        model, data, SETTINGS, killed["checkpoint"], lambda r: epochs.append(r["epoch"])
    )
    assert epochs == [3]  # only the missing epoch was trained
    pd.testing.assert_frame_equal(
        without_seconds(result["history"]),
        without_seconds(uninterrupted["history"]),
        check_exact=True,
    )
    assert result["best_epoch"] == uninterrupted["best_epoch"]
    resumed, reference = model.state_dict(), uninterrupted["model"].state_dict()
    differing = [k for k in reference if not torch.equal(resumed[k], reference[k])]
    assert differing == []


def test_fit_ignores_a_checkpoint_made_with_other_settings(stopper) -> None:
    assert stopper["epochs_seen"][:1] == [1]  # trained from scratch, not resumed after epoch 2


def test_load_checkpoint_accepts_a_checkpoint_with_identical_settings(tmp_path) -> None:
    path = tmp_path / "checkpoint.pt"
    engine.save_checkpoint(path, epoch=2, settings=SETTINGS.to_dict())
    assert engine.load_checkpoint(path, SETTINGS)["epoch"] == 2


def test_load_checkpoint_ignores_a_checkpoint_for_another_epoch_count(tmp_path) -> None:
    """A job restarted with more epochs starts over (settings, epochs included, must match)."""
    path = tmp_path / "checkpoint.pt"
    engine.save_checkpoint(path, epoch=2, settings=SETTINGS.to_dict())
    assert engine.load_checkpoint(path, dataclasses.replace(SETTINGS, epochs=4)) is None


IDENTITY = {  # what jobs.train puts into settings.extra: the files it reads
    "weights_sha256": "a" * 64,
    "train_split_sha256": "b" * 64,
    "val_split_sha256": "c" * 64,
}
SAVED = dataclasses.replace(
    SETTINGS, image_size=32, input="features", cache_dtype="float32", extra=IDENTITY
)


@pytest.mark.parametrize(
    ("changed", "now"),
    [
        (
            "extra.weights_sha256",
            dataclasses.replace(SAVED, extra={**IDENTITY, "weights_sha256": "d" * 64}),
        ),
        (
            "extra.train_split_sha256",
            dataclasses.replace(SAVED, extra={**IDENTITY, "train_split_sha256": "e" * 64}),
        ),
        (
            "extra.val_split_sha256",
            dataclasses.replace(SAVED, extra={**IDENTITY, "val_split_sha256": "f" * 64}),
        ),
        ("cache_dtype", dataclasses.replace(SAVED, cache_dtype="float16")),
        ("input", dataclasses.replace(SAVED, input="prefix")),
        ("image_size", dataclasses.replace(SAVED, image_size=64)),
        ("precision", dataclasses.replace(SAVED, precision="bf16")),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_load_checkpoint_ignores_a_checkpoint_of_other_weights_data_input_or_numerics(
    tmp_path, caplog, changed, now
) -> None:
    path = tmp_path / "checkpoint.pt"
    engine.save_checkpoint(path, epoch=2, settings=SAVED.to_dict())
    with caplog.at_level(logging.WARNING):
        assert engine.load_checkpoint(path, now) is None
    assert f"ignoring checkpoint {path}: it was made with other settings" in caplog.text
    assert f"{changed} " in caplog.text and "training starts at epoch 1" in caplog.text
    assert engine.load_checkpoint(path, SAVED)["epoch"] == 2  # the same identity resumes


def test_load_checkpoint_ignores_a_checkpoint_without_the_identity(tmp_path, caplog) -> None:
    """A checkpoint of an older version (no weights or split hashes) is not resumed."""
    path = tmp_path / "checkpoint.pt"
    engine.save_checkpoint(path, epoch=2, settings=SETTINGS.to_dict())
    with caplog.at_level(logging.WARNING):
        now = dataclasses.replace(SETTINGS, extra=IDENTITY)
        assert engine.load_checkpoint(path, now) is None
    assert "extra.weights_sha256 none in the checkpoint, aaaaaaaaaaaa… now" in caplog.text


def test_load_checkpoint_ignores_an_unreadable_file(tmp_path) -> None:
    path = tmp_path / "checkpoint.pt"
    path.write_text("not a checkpoint")
    assert engine.load_checkpoint(path, SETTINGS) is None


def test_load_checkpoint_of_a_missing_file_is_none(tmp_path) -> None:
    assert engine.load_checkpoint(tmp_path / "absent.pt", SETTINGS) is None


def test_early_stopping_stops_after_patience_epochs_without_improvement(stopper) -> None:
    history = stopper["history"]
    assert history["val_accuracy"].iloc[0] == 1.0  # precondition: epoch 2 cannot improve on it
    assert history["epoch"].tolist() == [1, 2]  # epoch 3 of 3 never ran
    assert stopper["epochs_run"] == 2


def test_early_stopping_writes_no_checkpoint_after_its_last_epoch(stopper) -> None:
    """Epoch 2 is the last (patience 1 after the best epoch 1): the checkpoint stays at epoch 1."""
    assert stopper["checkpoint_epochs"] == [1, 1]


def first_best_epoch(history: pd.DataFrame, column: str, lowest: bool) -> int:
    """The first epoch with the best value of ``column``, worked out by hand from the history."""
    best = history[column].min() if lowest else history[column].max()
    return int(history.loc[history[column] == best, "epoch"].iloc[0])


def test_select_by_val_accuracy_picks_the_first_most_accurate_epoch(stopper) -> None:
    expected = first_best_epoch(stopper["history"], "val_accuracy", lowest=False)
    assert stopper["best_epoch"] == expected
    assert torch.equal(stopper["best_state"]["classifier.6.weight"], stopper["heads"][expected])


def test_select_by_val_loss_picks_the_lowest_val_loss_epoch(uninterrupted) -> None:
    history = uninterrupted["history"]
    expected = first_best_epoch(history, "val_loss", lowest=True)
    assert expected != first_best_epoch(history, "val_accuracy", lowest=False)  # discriminates
    assert uninterrupted["best_epoch"] == expected
    best_head = uninterrupted["best_state"]["classifier.6.weight"]
    assert torch.equal(best_head, uninterrupted["heads"][expected])


def test_checkpoint_minutes_skips_checkpoints_but_not_training(
    base_model, data, uninterrupted, tmp_path
) -> None:
    """With checkpoint_minutes longer than the run, no checkpoint is written; the history, the
    best epoch and the final weights are those of a run that checkpoints every epoch."""
    checkpoint = tmp_path / "checkpoint.pt"
    model = copy.deepcopy(base_model)
    written = []
    result = engine.fit(
        model,
        engine.FitData(**data),
        SETTINGS,
        CPU,
        checkpoint,
        on_epoch=lambda row: written.append(checkpoint.exists()),
        checkpoint_minutes=60,
    )
    assert written == [False, False, False]
    pd.testing.assert_frame_equal(
        without_seconds(result["history"]),
        without_seconds(uninterrupted["history"]),
        check_exact=True,
    )
    assert result["best_epoch"] == uninterrupted["best_epoch"]
    assert set(result["best_state"]) == set(uninterrupted["best_state"])
    assert torch.equal(head_of(model), head_of(uninterrupted["model"]))


def test_every_epoch_line_gives_the_time_left_for_the_job(base_model, data, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="celeba_gender.engine"):
        engine.fit(
            copy.deepcopy(base_model),
            engine.FitData(**data),
            SETTINGS,
            CPU,
            tmp_path / "checkpoint.pt",
            checkpoint_minutes=60,
        )
    lines = [
        r.getMessage() for r in caplog.records if re.match(r"epoch \d/3: train", r.getMessage())
    ]
    assert len(lines) == 3
    assert all(re.search(r"\| eta \d+:\d\d:\d\d for the job$", line) for line in lines), lines
    assert lines[-1].endswith("| eta 0:00:00 for the job")


# --------------------------------------------------------------------------- job ETA


def test_job_eta_is_the_mean_epoch_time_times_the_epochs_left() -> None:
    assert engine.job_eta([60.0, 68.0], remaining=3) == "eta 0:03:12 for the job"


def test_job_eta_with_no_epoch_left_is_zero() -> None:
    assert engine.job_eta([12.5], remaining=0) == "eta 0:00:00 for the job"


# --------------------------------------------------------------------------- progress


class Terminal(io.StringIO):
    """A stream that says it is a terminal (as stderr is when Snakemake runs in one)."""

    def isatty(self) -> bool:
        return True


def run_progress(batches: int, stream: io.StringIO) -> None:
    progress = engine.Progress(batches, "epoch 1/4", stream=stream)
    for i in range(batches):
        progress.update(loss=1.0 / (i + 1), acc=0.5)
    progress.close()


def progress_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "epoch 1/4" in line]


METER = re.compile(r"epoch 1/4 batch (\d+)/10 loss=\S+ acc=0\.5000$")


def test_progress_on_a_non_terminal_logs_one_line_per_fifth_of_the_epoch(caplog) -> None:
    stream = io.StringIO()
    with caplog.at_level(logging.INFO, logger="celeba_gender.engine"):
        run_progress(10, stream)
    lines = progress_lines(caplog.text)
    assert [METER.search(line).group(1) for line in lines] == ["2", "4", "6", "8", "10"]
    assert "\r" not in caplog.text
    assert stream.getvalue() == ""


def test_progress_in_a_job_logs_lines_even_when_stderr_is_a_terminal(tmp_path) -> None:
    """Under Snakemake in a terminal a job's stderr is that terminal: the progress still goes
    to the job's log file, as lines, and no bar is drawn (bars of parallel jobs interleave)."""
    log_file, stream = tmp_path / "job.log", Terminal()
    with runlog.job_logging(log_file, process_ends=False):
        run_progress(10, stream)
    lines = progress_lines(log_file.read_text())
    assert len(lines) == 5 and all(METER.search(line) for line in lines), lines
    assert b"\r" not in log_file.read_bytes()  # read_text would turn a "\r" into a newline
    assert stream.getvalue() == ""


def test_progress_draws_a_bar_only_on_a_terminal_without_a_log_file(caplog) -> None:
    stream = Terminal()
    with caplog.at_level(logging.INFO, logger="celeba_gender.engine"):
        run_progress(10, stream)
    assert "epoch 1/4:   0%|" in stream.getvalue() and "\r" in stream.getvalue()  # a tqdm bar
    assert progress_lines(caplog.text) == []


# --------------------------------------------------------------------------- RNG states


class FakeCuda:
    """torch.cuda's RNG functions for a machine with one GPU (this CPU test machine has none)."""

    def __init__(self) -> None:
        self.state = torch.arange(16, dtype=torch.uint8)
        self.restored: list[torch.Tensor] | None = None

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
        monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [self.state.clone()])
        monkeypatch.setattr(torch.cuda, "set_rng_state_all", self.restore)

    def restore(self, states) -> None:
        self.restored = [torch.as_tensor(s).clone() for s in states]


def test_checkpoint_rng_states_include_every_cuda_generator(tmp_path, monkeypatch) -> None:
    cuda = FakeCuda()
    cuda.install(monkeypatch)
    path = tmp_path / "checkpoint.pt"
    engine.save_checkpoint(path, **engine.rng_states(), settings=SETTINGS.to_dict())
    cpu_before = torch.get_rng_state()
    torch.rand(3)  # move the CPU generator on
    engine.restore_rng_states(engine.load_checkpoint(path, SETTINGS))
    assert cuda.restored is not None and torch.equal(cuda.restored[0], cuda.state)
    assert torch.equal(torch.get_rng_state(), cpu_before)


def test_checkpoint_rng_states_without_cuda_hold_no_cuda_state(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert engine.rng_states()["cuda_rng"] == []


def test_cuda_states_of_another_device_count_are_not_restored(monkeypatch, caplog) -> None:
    cuda = FakeCuda()
    cuda.install(monkeypatch)
    state = {"rng": torch.get_rng_state(), "cuda_rng": [cuda.state, cuda.state]}
    with caplog.at_level(logging.WARNING):
        engine.restore_rng_states(state)
    assert cuda.restored is None
    assert "random states of 2 CUDA devices and this job sees 1" in caplog.text


# --------------------------------------------------------------------------- train.compile


@pytest.mark.slow
@pytest.mark.heavy  # torch.compile with inductor on the CPU (~40 s on 2 cores)
@pytest.mark.parametrize(("kind", "shape"), [("features", (512, 1, 1)), ("prefix", (512, 2, 2))])
def test_compile_runs_the_cached_path_and_matches_the_uncompiled_output(base_model, kind, shape):
    """train.compile compiles what the job runs (here the cached paths, on the CPU with inductor):
    one training epoch and the predictions match the uncompiled run. Dropout is switched off for
    the comparison: a compiled graph draws its dropout masks from its own generator, so with
    dropout a compiled run is a different (equally valid) random draw, not the same numbers."""
    torch._dynamo.reset()
    rng = np.random.default_rng(0)
    source = engine.CacheSource(rng.normal(size=(8, 2, *shape)).astype(np.float32), kind)
    labels = torch.tensor([0, 1] * 4, dtype=torch.float32)
    plan = engine.epoch_plan(8, seed=0, epoch=1, augmentations=("hflip",))
    results = {}
    for compiled in (False, True):
        model = copy.deepcopy(base_model)
        for module in model.modules():
            if isinstance(module, nn.Dropout):
                module.p = 0.0
        optimizer = engine.make_optimizer(apply_strategy(model, 2), lr=1e-4, device=CPU)
        runner = engine.Runner.create(model, kind, CPU, compile=compiled)
        train = engine.train_one_epoch(
            runner, source, labels, plan, optimizer, nn.BCEWithLogitsLoss(), batch_size=4
        )
        results[compiled] = (train["loss"], engine.predict_logits(runner, source, batch_size=4))
    assert results[True][0] == pytest.approx(results[False][0], rel=1e-4)
    torch.testing.assert_close(results[True][1], results[False][1], rtol=1e-4, atol=1e-5)
