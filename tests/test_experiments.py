"""The comparison across named experiments: table, page, job and the ``experiments`` command, on
experiment folders made by hand (small CSVs and YAMLs; no Snakemake, no torch)."""

from __future__ import annotations

import copy
import dataclasses
import io
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from celeba_gender import __main__ as cli
from celeba_gender import config as workflow_config
from celeba_gender import experiments, plots
from celeba_gender.__main__ import main
from celeba_gender.experiments import METRIC_COLUMNS, CompareJob
from celeba_gender.io import CelebaGenderError

# The header lines of the report's metrics.csv and the statistics rule's model_ci.csv.
METRICS_CSV = (
    "model,strategy,lr,seed,checkpoint,epoch,epochs,train_loss,train_accuracy,val_loss,"
    "val_accuracy,best_val_accuracy,best_epoch,n,test_loss,test_accuracy,precision,recall,f1,"
    "roc_auc,tn,fp,fn,tp,numerics,device"
)
MODEL_CI_CSV = (
    "model,strategy,lr,seed,checkpoint,epoch,test_accuracy,ci_low,ci_high,collapsed,"
    "predicted_class,majority_rate,collapse_message"
)
METRICS_HEADER = METRICS_CSV.split(",")
CI_HEADER = MODEL_CI_CSV.split(",")
BASE_CONFIG = {
    "experiment": "demo",
    "data": {"root": "data/celeba", "subset_size": 400},
    "model": {"weights": "random"},
    "train": {
        "epochs": 4,
        "learning_rates": [6e-05, 2e-05],
        "strategies": [1, 2],
        "seeds": [0],
        "batch_size": 64,
    },
    "gpus": None,
}
# (model, strategy, lr, best validation accuracy)
MODELS = (("s1_lr6e-5_seed0", 1, 6e-05, 0.70), ("s2_lr6e-5_seed0", 2, 6e-05, 0.80))


def config_with(name: str, **changes) -> dict:
    """BASE_CONFIG named ``name``, with ``section__key=value`` changes (value ``...``: removed)."""
    config = copy.deepcopy(BASE_CONFIG)
    config["experiment"] = name
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        if value is ...:
            del config[section][key]
        else:
            config[section][key] = value
    return config


def make_experiment(
    root: Path, name: str, config: dict, models=MODELS, offset: float = 0.0, histories=True
) -> dict:
    """Write a finished experiment folder; return {(model, checkpoint): (acc, low, high)}."""
    folder = root / "experiments" / name
    (folder / "report").mkdir(parents=True)
    (folder / "tables").mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    epochs = config["train"]["epochs"]
    metric_rows, ci_rows, expected = [], [], {}
    for i, (model, strategy, lr, best_val) in enumerate(models):
        for j, checkpoint in enumerate(("last", "best")):
            acc = round(0.6 + 0.1 * i + 0.01 * j + offset, 4)
            low, high = round(acc - 0.05 - 0.01 * j, 4), round(acc + 0.04 + 0.01 * i, 4)
            expected[(model, checkpoint)] = (acc, low, high)
            epoch = epochs if checkpoint == "last" else epochs - 1
            metric_rows.append(
                [model, strategy, lr, 0, checkpoint, epoch, epochs, 0.5, 0.75, 0.55]
                + [best_val - 0.01, best_val, epochs - 1, 40, 0.6 - offset, acc, 0.7, 0.6]
                + [0.65, 0.72 + offset, 10, 5, 6, 19, "fp32", "cpu"]
            )
            ci_rows.append(
                [model, strategy, lr, 0, checkpoint, epoch, acc, low, high, False, "", 0.5, ""]
            )
        if histories:
            history = pd.DataFrame(
                {
                    "epoch": range(1, epochs + 1),
                    "train_loss": [0.7 - 0.05 * e for e in range(epochs)],
                    "train_accuracy": [0.55 + 0.05 * e for e in range(epochs)],
                    "val_loss": [0.72 - 0.04 * e for e in range(epochs)],
                    "val_accuracy": [best_val - 0.02 * (epochs - 1 - e) for e in range(epochs)],
                    "seconds": 1.5,
                }
            )
            (folder / "models" / model).mkdir(parents=True)
            history.to_csv(folder / "models" / model / "history.csv", index=False)
    pd.DataFrame(metric_rows, columns=METRICS_HEADER).to_csv(
        folder / "report" / "metrics.csv", index=False
    )
    # the interval table in another row order: the join is by (model, checkpoint), not position
    pd.DataFrame(ci_rows[::-1], columns=CI_HEADER).to_csv(
        folder / "tables" / "model_ci.csv", index=False
    )
    return expected


@pytest.fixture
def two(tmp_path) -> tuple[Path, dict]:
    """Experiments ``long`` and ``short``, differing only in train.epochs (6 vs 4)."""
    expected = {
        "short": make_experiment(tmp_path, "short", config_with("short")),
        "long": make_experiment(
            tmp_path, "long", config_with("long", train__epochs=6), offset=0.05
        ),
    }
    return tmp_path, expected


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    status = main(["experiments", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# ----------------------------------------------------------------------------- settings


def test_settings_are_flattened_to_dotted_keys_with_compact_text():
    settings = workflow_config.flat_settings(
        {"experiment": "x", "train": {"lr": [0.001, 1e-4], "amp": True}, "gpus": None, "e": {}}
    )
    assert settings == {
        "train.lr": "[0.001, 0.0001]",
        "train.amp": "true",
        "gpus": "null",
        "e": "{}",
    }


def test_the_outcome_config_leaves_out_only_the_run_only_keys():
    config = {"experiment": "a", "train": {"epochs": 2}, "gpus": [0, 1], "tracking": "tensorboard"}
    assert workflow_config.outcome_config(config) == {"experiment": "a", "train": {"epochs": 2}}
    assert set(workflow_config.RUN_ONLY_KEYS) == {"gpus", "tracking"}


def test_changed_settings_name_each_key_with_both_values():
    old = {"experiment": "a", "train": {"epochs": 10, "seeds": [0]}, "gpus": None}
    new = {"experiment": "b", "train": {"epochs": 5, "seeds": [0]}, "tracking": "tensorboard"}
    assert workflow_config.changed_settings(old, new) == [
        "train.epochs: 10 -> 5",
        "gpus: null -> (absent)",
        "tracking: (absent) -> tensorboard",
    ]
    assert workflow_config.changed_settings(old, old) == []


# ----------------------------------------------------------------------------- the table


def test_two_experiments_differing_in_epochs_give_one_setting_column(two):
    root, expected = two
    comparison = experiments.collect(root)
    table = comparison.table
    assert comparison.experiments == ("long", "short")
    assert comparison.unfinished == ()
    assert comparison.differing == ("train.epochs",)
    assert list(table.columns) == ["experiment", "train.epochs", *METRIC_COLUMNS]
    assert len(table) == 2 * len(MODELS) * 2
    keys = set(zip(table["experiment"], table["model"], table["checkpoint"], strict=True))
    assert keys == {(e, m, c) for e in expected for m, *_ in MODELS for c in ("last", "best")}
    assert list(table["experiment"]) == ["long"] * 4 + ["short"] * 4
    assert dict(zip(table["experiment"], table["train.epochs"], strict=True)) == {
        "long": "6",
        "short": "4",
    }
    for row in table.itertuples(index=False):
        acc, low, high = expected[row.experiment][(row.model, row.checkpoint)]
        assert (row.test_accuracy, row.ci_low, row.ci_high) == pytest.approx((acc, low, high))
        assert row.ci_low < row.test_accuracy < row.ci_high


def test_three_experiments_show_a_list_value_and_a_missing_key(tmp_path):
    make_experiment(tmp_path, "a", config_with("a"))
    make_experiment(tmp_path, "b", config_with("b", train__learning_rates=[1.0e-3, 1.0e-4]))
    make_experiment(tmp_path, "c", config_with("c", data__subset_size=...))
    comparison = experiments.collect(tmp_path)
    table = comparison.table
    assert comparison.differing == ("data.subset_size", "train.learning_rates")
    assert list(table.columns[:3]) == ["experiment", "data.subset_size", "train.learning_rates"]
    assert list(table.columns[3:]) == list(METRIC_COLUMNS)
    per_experiment = table.drop_duplicates("experiment").set_index("experiment")
    assert per_experiment["train.learning_rates"].to_dict() == {
        "a": "[6e-05, 2e-05]",
        "b": "[0.001, 0.0001]",
        "c": "[6e-05, 2e-05]",
    }
    assert per_experiment.loc["a", "data.subset_size"] == "400"
    assert pd.isna(per_experiment.loc["c", "data.subset_size"])
    assert "c" in comparison.settings and "data.subset_size" not in comparison.settings["c"]
    shown = cli.display_table(table, comparison.differing)
    assert set(shown.loc[shown["experiment"] == "c", "data.subset_size"]) == {"-"}

    every = experiments.all_settings_table(comparison)
    assert "experiment" not in every.columns[1:]  # the name is the row label, not a setting
    assert {"data.root", "train.batch_size", "gpus", "model.weights"} <= set(every.columns)
    assert set(every["gpus"]) == {"null"}
    assert list(every.columns[-len(METRIC_COLUMNS) :]) == list(METRIC_COLUMNS)
    assert len(every) == len(table)


def test_a_single_experiment_has_no_setting_column(tmp_path):
    make_experiment(tmp_path, "only", config_with("only"))
    comparison = experiments.collect(tmp_path)
    assert comparison.differing == ()
    assert list(comparison.table.columns) == ["experiment", *METRIC_COLUMNS]
    assert len(comparison.table) == 4


def test_an_unfinished_experiment_is_skipped_and_named(two):
    root, _ = two
    running = root / "experiments" / "running"
    (running / "report").mkdir(parents=True)
    (running / "config.yaml").write_text(yaml.safe_dump(config_with("running", train__epochs=9)))
    pd.DataFrame(columns=METRICS_HEADER).to_csv(running / "report" / "metrics.csv", index=False)
    comparison = experiments.collect(root)
    assert comparison.unfinished == ("running",)
    assert comparison.experiments == ("long", "short")
    assert set(comparison.table["experiment"]) == {"long", "short"}
    assert set(comparison.table["train.epochs"]) == {"4", "6"}  # its 9 epochs are not compared


def test_no_experiment_folder_or_no_finished_experiment_is_an_error(tmp_path):
    with pytest.raises(CelebaGenderError, match="no such folder"):
        experiments.collect(tmp_path)
    (tmp_path / "experiments" / "half").mkdir(parents=True)
    with pytest.raises(CelebaGenderError, match="no finished experiment.*half"):
        experiments.collect(tmp_path)


def test_a_metrics_table_without_a_column_is_named(two):
    root, _ = two
    path = root / "experiments" / "long" / "report" / "metrics.csv"
    pd.read_csv(path).drop(columns="f1").to_csv(path, index=False)
    with pytest.raises(CelebaGenderError, match=r"long/report/metrics.csv: missing column\(s\) f1"):
        experiments.collect(root)


# ----------------------------------------------------------------------------- chosen models


def test_the_best_model_on_validation_is_chosen_per_experiment_ties_by_name(tmp_path):
    tied = (("s2_lr2e-5_seed0", 2, 2e-05, 0.9), ("s1_lr2e-5_seed0", 1, 2e-05, 0.9))
    make_experiment(tmp_path, "a", config_with("a"))  # s2 has the higher best_val_accuracy
    make_experiment(tmp_path, "b", config_with("b", train__epochs=5), models=tied)
    table = experiments.collect(tmp_path).table
    assert experiments.best_models(table) == [("a", "s2_lr6e-5_seed0"), ("b", "s1_lr2e-5_seed0")]


def test_the_figure_overlays_one_labelled_curve_per_chosen_model(two, tmp_path):
    root, _ = two
    chosen = [("long", "s1_lr6e-5_seed0"), ("short", "s2_lr6e-5_seed0")]
    histories, missing = experiments.read_histories(root, chosen)
    assert missing == []
    fig = plots.plot_validation_curves(histories, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 0
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["long / s1_lr6e-5_seed0", "short / s2_lr6e-5_seed0"]
    ax_acc, ax_loss = fig.axes
    assert [len(line.get_xdata()) for line in ax_acc.get_lines()] == [6, 4]
    assert list(ax_loss.get_lines()[1].get_ydata()) == pytest.approx([0.72, 0.68, 0.64, 0.60])


# ----------------------------------------------------------------------------- outputs


def test_write_comparison_writes_the_table_and_a_self_contained_page(two, tmp_path):
    root, expected = two
    out_csv, out_html = tmp_path / "out" / "comparison.csv", tmp_path / "out" / "comparison.html"
    comparison = experiments.write_comparison(root, out_csv, out_html)
    assert out_csv.read_text() == comparison.table.to_csv(index=False)
    assert len(pd.read_csv(out_csv)) == len(comparison.table) == 8
    page = out_html.read_text()
    assert page.count("data:image/png;base64,") == 1
    assert re.findall(r'(?:src|href)="(?!#|data:)', page) == []  # no external file or link
    assert "url(" not in page and "<script" not in page
    table = page.split('id="comparison"')[1].split("</table>")[0]
    assert table.split("<tbody>")[1].count("<tr>") == 8  # one per experiment x model x checkpoint
    assert "<th>train.epochs</th>" in table
    acc, low, high = expected["long"][("s2_lr6e-5_seed0", "best")]
    assert f"<td>{low:.4f}</td>" in table and f"<td>{high:.4f}</td>" in table
    # the default models: each experiment's best on validation, named "experiment / model"
    assert "long / s2_lr6e-5_seed0, short / s2_lr6e-5_seed0" in page
    assert "long / s1_lr6e-5_seed0" not in page


def test_a_missing_history_is_named_and_the_others_are_plotted(two, tmp_path):
    root, _ = two
    (root / "experiments" / "short" / "models" / "s2_lr6e-5_seed0" / "history.csv").unlink()
    experiments.write_comparison(root, tmp_path / "c.csv", tmp_path / "c.html")
    page = (tmp_path / "c.html").read_text()
    assert page.count("data:image/png;base64,") == 1
    assert "No training history on disk for short / s2_lr6e-5_seed0." in page


def test_chosen_models_must_exist(two, tmp_path):
    root, _ = two
    with pytest.raises(CelebaGenderError, match="long / s9_nope"):
        experiments.write_comparison(
            root, tmp_path / "c.csv", tmp_path / "c.html", models=[("long", "s9_nope")]
        )
    assert not (tmp_path / "c.csv").exists()


def test_compare_job_takes_the_rules_items_and_writes_both(two, tmp_path):
    root, _ = two
    fields = [f.name for f in dataclasses.fields(CompareJob)]
    assert fields == ["report", "model_ci", "config", "root", "out_table", "out_html"]
    folder = root / "experiments" / "short"
    job = CompareJob(
        report=str(folder / "report" / "metrics.csv"),
        model_ci=str(folder / "tables" / "model_ci.csv"),
        config=str(folder / "config.yaml"),
        root=str(root),
        out_table=str(folder / "tables" / "comparison.csv"),
        out_html=str(folder / "report" / "comparison.html"),
    )
    experiments.compare_experiments(job)
    table = pd.read_csv(job.out_table)
    assert set(table["experiment"]) == {"long", "short"}
    assert "data:image/png;base64," in Path(job.out_html).read_text()


# ----------------------------------------------------------------------------- the command


def test_the_command_shows_the_differing_settings_and_key_metrics(two, capsys):
    root, expected = two
    status, out, err = run_cli(capsys, "--results", str(root))
    assert status == 0 and err == ""
    header, *rows = out.strip().splitlines()
    assert header.split() == [
        "experiment",
        "train.epochs",
        "model",
        "checkpoint",
        "epoch",
        "test_accuracy",
        "[95%",
        "CI]",
        "f1",
        "roc_auc",
    ]
    assert len(rows) == 8
    acc, low, high = expected["short"][("s1_lr6e-5_seed0", "last")]
    assert f"{acc:.3f} [{low:.3f}, {high:.3f}]" in out
    assert rows[0].split()[:5] == ["long", "6", "s1_lr6e-5_seed0", "last", "6"]
    assert "batch_size" not in out and "unfinished" not in out


def test_the_command_all_shows_every_setting_and_names_unfinished(two, capsys):
    root, _ = two
    (root / "experiments" / "queued").mkdir()
    _, default, _ = run_cli(capsys, "--results", str(root))
    status, out, _ = run_cli(capsys, "--results", str(root), "--all")
    assert status == 0
    header = out.splitlines()[0].split()
    assert {"data.root", "data.subset_size", "train.batch_size", "gpus"} <= set(header)
    assert len(header) > len(default.splitlines()[0].split())
    assert out.strip().splitlines()[-1] == "unfinished (not compared): queued"
    assert default.strip().splitlines()[-1] == "unfinished (not compared): queued"


def test_the_command_csv_parses_back_to_the_table(two, capsys):
    root, _ = two
    (root / "experiments" / "queued").mkdir()
    status, out, err = run_cli(capsys, "--results", str(root), "--csv")
    assert status == 0
    assert "queued" in err and "queued" not in out  # stdout stays CSV
    parsed = pd.read_csv(io.StringIO(out), dtype={"train.epochs": str})
    table = experiments.collect(root).table
    pd.testing.assert_frame_equal(parsed, table, check_dtype=False)
    assert out == table.to_csv(index=False)  # the same text as the rule's comparison.csv

    status, out, _ = run_cli(capsys, "--results", str(root), "--csv", "--checkpoint", "best")
    best = pd.read_csv(io.StringIO(out))
    assert status == 0 and len(best) == 4 and set(best["checkpoint"]) == {"best"}


def test_the_command_checkpoint_filters_rows(two, capsys):
    root, _ = two
    status, out, _ = run_cli(capsys, "--results", str(root), "--checkpoint", "last")
    rows = out.strip().splitlines()[1:]
    assert status == 0 and len(rows) == 4
    assert all(row.split()[3] == "last" for row in rows)


def test_the_command_refuses_an_empty_folder_with_status_2(tmp_path, capsys):
    status, out, err = run_cli(capsys, "--results", str(tmp_path))
    assert status == 2 and out == ""
    assert err.startswith("error: ") and "no such folder" in err
    (tmp_path / "experiments").mkdir()
    status, out, err = run_cli(capsys, "--results", str(tmp_path))
    assert status == 2 and out == ""
    assert "no finished experiment" in err
