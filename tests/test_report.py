"""The aggregated metrics table, the comparison with the study, the cost table, provenance and
the self-contained HTML page."""

from __future__ import annotations

import base64
import json
import math
import re
import subprocess
import warnings
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from celeba_gender import reportitems
from celeba_gender.constants import format_lr
from celeba_gender.costs import COST_NOTE, COST_TOTAL, cost_display, cost_table
from celeba_gender.io import ReportError
from celeba_gender.metrics_table import (
    best_model,
    collect_metrics,
    published_comparison,
    write_metrics,
)
from celeba_gender.plots import load_histories
from celeba_gender.provenance import Provenance, provenance
from celeba_gender.report import (
    ReportJob,
    figure_html,
    models_html,
    noted_table_html,
    notes_html,
    provenance_html,
    render_html,
    report,
    summary_html,
    table_html,
)
from conftest import tiny_paths

NOT_PRETRAINED = "weights: random — the backbone was NOT pretrained on ImageNet"
PRETRAINED = "weights: imagenet (torchvision VGG16_Weights.IMAGENET1K_V1)"
DATASET_SUMMARY = {"layout": "kaggle", "root": "/data/celeba", "n_images": 300, "female": 170}
DEVICE = "cpu (x86_64, 2 threads)"
REPO = Path(__file__).resolve().parents[1]
P = tiny_paths()  # where the tiny run (workflow_run) puts everything
BENCHMARK_HEADER = (
    "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time"
)


def _history(final_val: float, epochs: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "epoch": list(range(1, epochs + 1)),
            "train_loss": [0.5, 0.3, 0.2][:epochs],
            "train_accuracy": [0.80, 0.90, 0.95][:epochs],
            "val_loss": [0.55, 0.35, 0.30][:epochs],
            "val_accuracy": [0.78, final_val + 0.01, final_val][:epochs],
            "seconds": [10.0, 9.0, 9.5][:epochs],
        }
    )


def _metrics(
    model: str, strategy: int, lr: float, accuracy: float, checkpoint: str = "last", seed: int = 0
) -> dict:
    return {
        "model": model,
        "strategy": strategy,
        "lr": lr,
        "seed": seed,
        "checkpoint": checkpoint,
        "epoch": 3 if checkpoint == "last" else 2,  # _history's last and best validation epochs
        "n": 100,
        "test_loss": 0.25,
        "test_accuracy": accuracy,
        "precision": 0.9,
        "recall": 0.8,
        "f1": 0.85,
        "roc_auc": 0.95,
        "tn": 50,
        "fp": 5,
        "fn": 9,
        "tp": 36,
        "device": DEVICE,
    }


def _write_eval(root, metrics: dict):
    folder = root / "evaluation" / metrics["model"] / metrics["checkpoint"]
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


@pytest.fixture
def histories() -> dict[str, pd.DataFrame]:
    return {"s1_lr1e-3_seed0": _history(0.90), "s2_lr1e-4_seed0": _history(0.93)}


@pytest.fixture
def eval_dirs(tmp_path) -> list:
    return [
        _write_eval(tmp_path, _metrics("s1_lr1e-3_seed0", 1, 1e-3, 0.91)),
        _write_eval(tmp_path, _metrics("s2_lr1e-4_seed0", 2, 1e-4, 0.94)),
        _write_eval(tmp_path, _metrics("s2_lr1e-4_seed0", 2, 1e-4, 0.95, checkpoint="best")),
    ]


@pytest.fixture
def metrics(eval_dirs, histories) -> pd.DataFrame:
    return collect_metrics(eval_dirs, histories)


@pytest.fixture
def figures(tmp_path) -> dict[str, list]:
    paths = []
    for i, size in enumerate([(30, 20), (25, 25), (40, 10)]):
        path = tmp_path / "fig" / f"f{i}.png"
        path.parent.mkdir(exist_ok=True)
        Image.new("RGB", size, (10 * i, 80, 160)).save(path)
        paths.append(path)
    return {
        "Dataset": [("Figure 2. Gender counts", paths[0], "Images per gender.")],
        "Training": [
            ("Figure 9. Loss curves", paths[1], "Solid train, dashed val."),
            ("Figure 13. Confusion matrix", paths[2], "Counts & row percentages."),
        ],
    }


def _render(
    tmp_path,
    metrics,
    figures,
    *extra: tuple[str, str],
    weights_note=NOT_PRETRAINED,
    pretrained=False,
    numerics_note="",
) -> str:
    """The page of the fixed sections, one section per figure group, then the ``extra`` ones."""
    sections = [
        ("Dataset", summary_html(DATASET_SUMMARY)),
        ("Splits", table_html(pd.DataFrame({"split": ["train", "val"], "n": [240, 60]}))),
        ("Models", models_html(metrics)),
        *(
            (name, "\n".join(figure_html(*item) for item in items))
            for name, items in figures.items()
        ),
        *extra,
    ]
    return render_html(
        tmp_path / "report" / "report.html",
        sections,
        weights_note=weights_note,
        pretrained=pretrained,
        numerics_note=numerics_note,
    )


class _ModelRows(HTMLParser):
    """Collect the data-model attribute of every row inside the table with id="models"."""

    def __init__(self):
        super().__init__()
        self.in_models, self.models = False, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == "models":
            self.in_models = True
        elif tag == "tr" and self.in_models and "data-model" in attrs:
            self.models.append(attrs["data-model"])

    def handle_endtag(self, tag):
        if tag == "table":
            self.in_models = False


# ----------------------------------------------------------------------------- metrics table


def test_collect_metrics_takes_each_checkpoint_s_numbers_from_its_own_epoch(metrics):
    row = metrics[metrics["model"] == "s1_lr1e-3_seed0"].iloc[0]  # last: the history's last row
    assert row["epoch"] == 3 and row["epochs"] == 3
    assert row["train_loss"] == pytest.approx(0.2)
    assert row["train_accuracy"] == pytest.approx(0.95)
    assert row["val_loss"] == pytest.approx(0.30)
    assert row["val_accuracy"] == pytest.approx(0.90)
    assert row["best_val_accuracy"] == pytest.approx(0.91) and row["best_epoch"] == 2
    best = metrics[(metrics["model"] == "s2_lr1e-4_seed0") & (metrics["checkpoint"] == "best")]
    best = best.iloc[0]  # best: the best validation epoch's row, not the last epoch's
    assert best["epoch"] == 2 and best["epochs"] == 3
    assert best["train_loss"] == pytest.approx(0.3)
    assert best["val_accuracy"] == pytest.approx(0.94)


def test_collect_metrics_keeps_the_grid_cell_and_every_test_metric(metrics):
    assert len(metrics) == 3
    row = metrics[(metrics["model"] == "s2_lr1e-4_seed0") & (metrics["checkpoint"] == "best")].iloc[
        0
    ]
    assert (row["strategy"], row["lr"], row["seed"]) == (2, 1e-4, 0)
    assert row["test_accuracy"] == pytest.approx(0.95)
    for key in ("test_loss", "precision", "recall", "f1", "roc_auc", "n", "tn", "fp", "fn", "tp"):
        assert key in metrics.columns


def test_collect_metrics_keeps_the_training_device_of_each_model(metrics):
    assert metrics["device"].tolist() == [DEVICE] * 3


def test_collect_metrics_leaves_the_device_empty_when_metrics_json_has_none(tmp_path, histories):
    old = _metrics("s1_lr1e-3_seed0", 1, 1e-3, 0.9)
    del old["device"]
    frame = collect_metrics([_write_eval(tmp_path, old)], histories)
    assert frame["device"].tolist() == [""]


def test_collect_metrics_orders_rows_like_the_study(metrics):
    assert list(zip(metrics["lr"], metrics["strategy"], metrics["checkpoint"], strict=True)) == [
        (1e-3, 1, "last"),
        (1e-4, 2, "last"),
        (1e-4, 2, "best"),
    ]


def test_collect_metrics_accepts_metrics_json_paths(eval_dirs, histories):
    frame = collect_metrics([d / "metrics.json" for d in eval_dirs], histories)
    assert len(frame) == 3


def test_collect_metrics_names_the_file_and_the_missing_key(tmp_path, histories):
    broken = _metrics("s1_lr1e-3_seed0", 1, 1e-3, 0.9)
    del broken["roc_auc"]
    folder = _write_eval(tmp_path, broken)
    with pytest.raises(ReportError, match=r"metrics\.json: missing key\(s\) roc_auc"):
        collect_metrics([folder], histories)


def test_collect_metrics_names_a_model_without_history(eval_dirs):
    with pytest.raises(ReportError, match="no training history for model 's2_lr1e-4_seed0'"):
        collect_metrics(eval_dirs, {"s1_lr1e-3_seed0": _history(0.9)})


def test_collect_metrics_rejects_the_same_model_and_checkpoint_twice(eval_dirs, histories):
    with pytest.raises(ReportError, match="more than one metrics.json"):
        collect_metrics([eval_dirs[0], eval_dirs[0]], histories)


def test_write_metrics_writes_a_csv_that_reads_back(metrics, tmp_path):
    out = write_metrics(metrics, tmp_path / "report" / "metrics.csv")
    pd.testing.assert_frame_equal(pd.read_csv(out), metrics, check_dtype=False)


def test_load_histories_keys_each_history_by_its_model_folder(tmp_path):
    path = tmp_path / "models" / "s1_lr1e-3_seed0" / "history.csv"
    path.parent.mkdir(parents=True)
    _history(0.9).to_csv(path, index=False)
    histories = load_histories([path])
    assert list(histories) == ["s1_lr1e-3_seed0"]
    assert histories["s1_lr1e-3_seed0"]["val_accuracy"].iloc[-1] == pytest.approx(0.9)


def test_published_comparison_puts_the_study_accuracy_beside_ours(metrics):
    table = published_comparison(metrics)
    assert list(zip(table["strategy"], table["lr"], strict=True)) == [(1, 1e-3), (2, 1e-4)]
    assert table["test_accuracy_pct"].tolist() == pytest.approx([91.0, 94.0])  # last checkpoint
    assert table["published_test_accuracy_pct"].tolist() == [94.8, 96.37]
    assert table["difference_pct"].tolist() == pytest.approx([-3.8, -2.37])


def test_published_comparison_is_nan_where_the_study_had_no_such_cell(histories):
    frame = pd.DataFrame([{**_metrics("s1_lr1e-2_seed0", 1, 1e-2, 0.8), "val_accuracy": 0.8}])
    table = published_comparison(frame)
    assert math.isnan(table["published_test_accuracy_pct"].iloc[0])


def test_published_comparison_averages_the_seeds_of_a_cell():
    frame = pd.DataFrame(
        [_metrics(f"s1_lr1e-4_seed{s}", 1, 1e-4, acc, seed=s) for s, acc in enumerate([0.94, 0.96])]
    )
    row = published_comparison(frame).iloc[0]
    assert row["n_seeds"] == 2
    assert row["test_accuracy_pct"] == pytest.approx(95.0)
    assert row["test_accuracy_pct_min"] == pytest.approx(94.0)
    assert row["published_test_accuracy_pct"] == 95.1


def test_best_model_is_the_highest_validation_accuracy_at_the_checkpoint_s_epoch(metrics):
    best = best_model(metrics)
    assert (best["model"], best["checkpoint"]) == ("s2_lr1e-4_seed0", "best")  # 0.94 > 0.93


def test_best_model_breaks_ties_by_the_last_checkpoint_and_leaves_a_wide_table_whole(tmp_path):
    # a metrics.csv as wide as the workflow's (over 100 columns): read back, pandas holds it in
    # many blocks, where adding a ranking column used to raise a PerformanceWarning
    wide = {f"extra_{i}": [0.5, 0.5, 0.5] for i in range(150)}
    frame = pd.DataFrame(
        {"model": ["a", "b", "b"], "checkpoint": ["best", "best", "last"],
         "val_accuracy": [0.90, 0.93, 0.93], **wide}
    )  # fmt: skip
    frame.to_csv(tmp_path / "metrics.csv", index=False)
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        best = best_model(metrics)
    assert (best["model"], best["checkpoint"], best.name) == ("b", "last", 2)
    assert list(best.index) == list(metrics.columns)


# ----------------------------------------------------------------------------- HTML page


def test_render_html_lists_every_model_in_the_models_table(tmp_path, metrics, figures):
    page = _render(tmp_path, metrics, figures)
    parser = _ModelRows()
    parser.feed(page)
    assert parser.models == list(metrics["model"])
    assert set(parser.models) == {"s1_lr1e-3_seed0", "s2_lr1e-4_seed0"}


def test_render_html_embeds_every_figure_as_a_data_uri(tmp_path, metrics, figures):
    page = _render(tmp_path, metrics, figures)
    assert page.count('<img src="data:image/png;base64,') == 3
    first = figures["Dataset"][0][1]
    encoded = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page).group(1)
    assert base64.b64decode(encoded) == first.read_bytes()


def test_render_html_has_no_external_resource_and_no_script(tmp_path, metrics, figures):
    notes = ("Notes", notes_html(["<script>alert(1)</script>"]))
    page = _render(tmp_path, metrics, figures, notes)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", page, re.IGNORECASE)
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_render_html_writes_the_page_it_returns(tmp_path, metrics, figures):
    page = _render(tmp_path, metrics, figures)
    assert (tmp_path / "report" / "report.html").read_text(encoding="ascii") == page


def test_render_html_shows_the_published_numbers_beside_ours(tmp_path, metrics, figures):
    page = _render(tmp_path, metrics, figures)
    models_table = page[
        page.index('id="models"') : page.index("</table>", page.index('id="models"'))
    ]
    assert "Study test acc %" in models_table
    assert "94.80" in models_table and "96.37" in models_table
    assert "91.00" in models_table and "94.00" in models_table


def test_render_html_warns_when_the_weights_are_not_pretrained(tmp_path, metrics, figures):
    page = _render(tmp_path, metrics, figures, weights_note=NOT_PRETRAINED, pretrained=False)
    assert 'class="banner warning"' in page
    assert "NOT pretrained on ImageNet" in page


def test_render_html_shows_no_warning_for_pretrained_weights(tmp_path, metrics, figures):
    page = _render(tmp_path, metrics, figures, weights_note=PRETRAINED, pretrained=True)
    assert 'class="banner warning"' not in page
    assert "IMAGENET1K_V1" in page


def test_render_html_states_the_best_model_in_words(tmp_path, metrics, figures):
    page = _render(tmp_path, metrics, figures)
    assert re.search(
        r"Best model by validation accuracy.*<strong>s2_lr1e-4_seed0</strong>.*"
        r"epoch 2\) with a validation accuracy of 94\.00%.*test accuracy of 95\.00%",
        page,
    )


def test_render_html_shows_dataset_summary_splits_captions_extra_sections_and_notes(
    tmp_path, metrics, figures
):
    extra = ("Mean over seeds", table_html(pd.DataFrame({"strategy": [1], "seeds": [3]})))
    notes = ("Notes", notes_html(["Synthetic demo data."]))
    page = _render(tmp_path, metrics, figures, extra, notes)
    for text in (
        "kaggle",
        "/data/celeba",
        "Splits",
        "<td>240</td>",
        "Counts &amp; row percentages.",
        "Figure 9. Loss curves",
        "Mean over seeds",
        "Synthetic demo data.",
    ):
        assert text in page, text


def test_render_html_names_a_missing_figure_file(tmp_path, metrics, figures):
    figures["Training"].append(("Figure X", tmp_path / "missing.png", "gone"))
    with pytest.raises(ReportError, match=r"missing\.png: figure file not found"):
        _render(tmp_path, metrics, figures)


def test_render_html_gives_every_section_a_unique_anchor_linked_from_the_nav(
    tmp_path, metrics, figures
):
    assert "Dataset" in figures  # a figure section named like the fixed Dataset section
    page = _render(tmp_path, metrics, figures, ("Notes", notes_html(["n"])))
    ids = re.findall(r'<h2 id="([^"]+)"', page)
    assert len(ids) == len(set(ids)) == 6  # Dataset, Splits, Models, Dataset, Training, Notes
    assert "models" not in ids
    nav = re.search(r"<nav>(.*?)</nav>", page).group(1)
    assert re.findall(r'href="#([^"]+)"', nav) == ids


@pytest.mark.parametrize(
    "value, text",
    [
        (1e-3, "1e-3"),
        (1e-4, "1e-4"),
        (0.00025, "2.5e-4"),
        (6e-05, "6e-5"),
        ("2e-05", "2e-5"),
        (0.1, "1e-1"),
        (1.0, "1e0"),
    ],
)
def test_format_lr_is_the_model_name_token(value, text):
    assert format_lr(value) == text


def test_table_html_keeps_the_significant_digits_of_learning_rates():
    """6e-05 must not print as 0.0001 (the 4-decimal float format of the other columns): it
    prints as in model names, 6e-5."""
    table = table_html(pd.DataFrame({"lr": [6e-05, 2e-05, 1e-3], "accuracy": [0.5, 0.6, 0.7]}))
    cells = re.findall(r"<td>([^<]*)</td>", table)
    assert cells == ["6e-5", "0.5000", "2e-5", "0.6000", "1e-3", "0.7000"]


def test_render_html_shows_a_table_note_above_its_table(tmp_path, metrics, figures):
    costs = pd.DataFrame({"job": ["train/x"], "wall (s)": [1.0]})
    page = _render(
        tmp_path, metrics, figures, ("Cost of this run", noted_table_html(costs, "Sums."))
    )
    section = page_section(page, "sec-cost-of-this-run")
    assert section.index('<p class="muted">Sums.</p>') < section.index("<table")


# ----------------------------------------------------------------------------- the whole page

SECTIONS = [
    "Dataset",
    "Splits",
    "Models",
    "Data",
    "Training",
    "Evaluation",
    "Subgroups",
    "Calibration",
    "Explanations",
    "Accuracy with 95% CI",
    "Mean over seeds",
    "Collapse check",
    "Groups by design",
    "Calibration before and after temperature scaling",
    "Worst-group accuracy (exploratory screen of every attribute)",
    "Cost of this run",
    "Notes",
    "Provenance",
]


def evaluation_extras(tmp_path, eval_dirs, models) -> tuple[list[str], list[str]]:
    """A group table per evaluation and a calibration table per model (made-up numbers)."""
    from celeba_gender import calibration, groups

    tables, rows = [], {m: [] for m in models}
    for folder in eval_dirs:
        record = json.loads((folder / "metrics.json").read_text())
        model, checkpoint = record["model"], record["checkpoint"]
        spec = groups.GroupSpec("Male", ("Blond_Hair",))
        table = pd.DataFrame(
            [{"model": model, "checkpoint": checkpoint, "group": name, "n": 10, "accuracy": 0.9,
              "low": 0.6, "high": 0.98, "small": False} for name in spec.names]
        )  # fmt: skip
        tables.append(str(folder / "groups.csv"))
        table.to_csv(tables[-1], index=False)
        rows[model].append(
            {"model": model, "checkpoint": checkpoint,
             **dict.fromkeys(calibration.CALIBRATION_COLUMNS, 0.1), "temperature_flag": False}
        )  # fmt: skip
    paths = []
    for model in models:
        paths.append(str(tmp_path / f"{model}_calibration.csv"))
        pd.DataFrame(rows[model]).to_csv(paths[-1], index=False)
    return tables, paths


@pytest.fixture
def report_job(tmp_path, eval_dirs, figures, benchmarks) -> ReportJob:
    """A ReportJob over small files of every kind the report rule gives, for two models."""
    models = ["s1_lr1e-3_seed0", "s2_lr1e-4_seed0"]
    png = str(figures["Dataset"][0][1])
    inputs = tmp_path / "inputs"
    inputs.mkdir()

    def write(name: str, text: str) -> str:
        (inputs / name).write_text(text)
        return str(inputs / name)

    history_files = []
    for model, final_val in zip(models, (0.90, 0.93), strict=True):
        path = tmp_path / "models" / model / "history.csv"
        path.parent.mkdir(parents=True)
        _history(final_val).to_csv(path, index=False)
        history_files.append(str(path))
    subgroups = {
        "accuracy": 0.9,
        "worst_group": {"name": "male, Heavy_Makeup present", "n": 6, "accuracy": 0.5},
        "largest_gaps": [{"attribute": "Eyeglasses", "gap": -0.1}],
    }
    root, benchmark_files = benchmarks
    files = {
        "evaluate_metrics": [str(folder / "metrics.json") for folder in eval_dirs],
        "train_history": history_files,
        "ingest_summary": write("summary.json", json.dumps(DATASET_SUMMARY)),
        "split_sizes": write("sizes.csv", "split,n\ntrain,240\nval,30\ntest,30\n"),
        "ingest_bad_images": write("bad_images.csv", "image_id,reason\n"),
        "eda_null_counts": write(
            "null_counts.csv", "column,nulls\nimage_id,0\nlabel,0\nSmiling,0\n"
        ),
        "subgroups_summary": [write(f"{m}.json", json.dumps(subgroups)) for m in models],
        "model_statistics_per_model": write(
            "model_ci.csv", "model,test_accuracy\ns1_lr1e-3_seed0,0.91\n"
        ),
        "model_statistics_per_config": write(
            "seed_summary.csv", "strategy,lr,n_seeds\n1,0.001,1\n"
        ),
        "model_statistics_collapse": write(
            "collapse.csv", "model,collapsed,collapse_message\ns1_lr1e-3_seed0,False,\n"
        ),
        "model_statistics_comparison": write(
            "comparison.json", json.dumps({"sentence": "One pair.", "pairs": []})
        ),
    }
    files["evaluate_groups_table"], files["calibrate_calibration"] = evaluation_extras(
        tmp_path, eval_dirs, models
    )
    for item in reportitems.page_items():  # every other item: a figure, or a file not read
        one = png if item.page == "figure" else write(f"{item.key}.csv", "x\n1\n")
        files.setdefault(item.key, one if item.per == "run" else [one] * len(models))
    return ReportJob(
        out_html=str(tmp_path / "report" / "report.html"),
        out_metrics=str(tmp_path / "report" / "metrics.csv"),
        models=models,
        inputs=files,
        items_table=str(reportitems.ITEMS_FILE),
        captions={
            item.key: (REPO / "report" / f"{item.caption}.rst").read_text()
            for item in reportitems.page_items()
            if item.caption
        },
        config={**CONFIG, "evaluate": {"min_group_size": 5, "group_by": None, "bootstrap": 200}},
        weights_note=NOT_PRETRAINED,
        pretrained=False,
        benchmark_roots=[str(root)],
        benchmark_files=[str(path) for path in benchmark_files],
    )


def test_report_shows_the_null_values_per_column_in_the_data_section(report_job):
    report(report_job)
    page = Path(report_job.out_html).read_text()
    section = page_section(page, "sec-data")
    assert "<h3>Null values per column</h3>" in section
    assert table_rows(section) == [
        ["column", "nulls"],
        ["image_id", "0"],
        ["label", "0"],
        ["Smiling", "0"],
    ]


def test_report_writes_metrics_csv_and_returns_its_table(report_job):
    metrics = report(report_job)
    assert list(zip(metrics["model"], metrics["checkpoint"], strict=True)) == [
        ("s1_lr1e-3_seed0", "last"),
        ("s2_lr1e-4_seed0", "last"),
        ("s2_lr1e-4_seed0", "best"),
    ]
    written = pd.read_csv(report_job.out_metrics)
    pd.testing.assert_frame_equal(written, metrics, check_dtype=False)


def test_report_sections_come_in_order_with_provenance_last(report_job):
    report(report_job)
    page = Path(report_job.out_html).read_text()
    headings = re.findall(r'<h2 id="[^"]+">([^<]+)</h2>', page)
    assert headings == SECTIONS


# ----------------------------------------------------------------------------- cost table


def _benchmark(root: Path, job: str, *rows: tuple[float, float, float]) -> Path:
    """A Snakemake benchmark file ``<root>/<job>.tsv`` with one line per (s, max_rss, cpu_time)."""
    path = root / f"{job}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [BENCHMARK_HEADER]
    lines += [
        f"{s}\t0:00:01\t{rss}\t900.0\t80.0\t90.0\t0.00\t0.10\t50.00\t{cpu}" for s, rss, cpu in rows
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def benchmarks(tmp_path) -> tuple[Path, list[Path]]:
    """A benchmark folder with three jobs' files, in the order the workflow lists them."""
    root = tmp_path / "benchmarks"
    files = [
        _benchmark(root, "ingest", (2.18, 79.62, 0.87)),
        _benchmark(root, "train/s1_lr1e-4_seed0", (43.88, 2450.7, 10.64)),
        _benchmark(root, "evaluate/s1_lr1e-4_seed0_last", (5.04, 1200.35, 3.51)),
    ]
    return root, files


def test_cost_table_has_one_row_per_benchmark_file_in_order_then_the_total(benchmarks):
    root, files = benchmarks
    table = cost_table(files, [root])
    assert list(table.columns) == ["job", "wall (s)", "CPU (s)", "peak RSS (MB)"]
    assert table["job"].tolist() == [
        "ingest",
        "train/s1_lr1e-4_seed0",
        "evaluate/s1_lr1e-4_seed0_last",
        COST_TOTAL,
    ]
    assert table.iloc[1, 1:].tolist() == [43.9, 10.6, 2450.7]


def test_cost_table_total_sums_wall_and_cpu_time_and_takes_the_largest_peak(benchmarks):
    root, files = benchmarks
    total = cost_table(files, [root]).iloc[-1]
    assert total["wall (s)"] == pytest.approx(51.1)  # 2.18 + 43.88 + 5.04 = 51.10
    assert total["CPU (s)"] == pytest.approx(15.0)  # 0.87 + 10.64 + 3.51 = 15.02
    assert total["peak RSS (MB)"] == pytest.approx(2450.7)


def test_cost_table_total_says_it_is_a_sum_of_job_times_not_elapsed_time(benchmarks):
    root, files = benchmarks
    assert cost_table(files, [root])["job"].iloc[-1] == "TOTAL (sum of job times)"
    assert "not the elapsed time" in COST_NOTE


def test_cost_table_rounds_every_number_to_one_decimal(benchmarks):
    root, files = benchmarks
    numbers = cost_table(files, [root]).drop(columns="job").to_numpy().ravel()
    assert all(round(value, 1) == value for value in numbers)


def test_cost_table_ignores_benchmark_files_it_is_not_given(benchmarks):
    """A model dropped from the config leaves its benchmark file behind: it must not count."""
    root, files = benchmarks
    _benchmark(root, "train/s9_lr1e-2_seed0", (1000.0, 9999.0, 1000.0))
    table = cost_table(files, [root])
    assert "train/s9_lr1e-2_seed0" not in table["job"].tolist()
    assert table["wall (s)"].iloc[-1] == pytest.approx(51.1)


def test_cost_table_leaves_out_jobs_that_did_not_run(benchmarks):
    root, files = benchmarks
    table = cost_table([*files, root / "weights" / "imagenet.tsv"], [root])
    assert len(table) == len(files) + 1
    assert "weights/imagenet" not in table["job"].tolist()


def test_cost_table_of_no_existing_file_has_no_total_row(tmp_path):
    assert cost_table([tmp_path / "train" / "gone.tsv"], [tmp_path]).empty


def test_cost_table_reads_the_last_repeat_of_a_benchmark(tmp_path):
    path = _benchmark(tmp_path, "gradcam/m", (9.0, 100.0, 9.0), (3.0, 120.0, 2.5))
    assert cost_table([path], [tmp_path]).iloc[0, 1:].tolist() == [3.0, 2.5, 120.0]


def test_cost_table_treats_unmeasured_values_as_missing_in_the_total(tmp_path):
    """Snakemake writes NA (or -) for memory and CPU of jobs too short to sample."""
    quick = tmp_path / "split.tsv"
    quick.write_text(f"{BENCHMARK_HEADER}\n0.41\t0:00:00\tNA\tNA\tNA\tNA\tNA\tNA\tNA\t-\n")
    slow = _benchmark(tmp_path, "train/m", (10.0, 500.0, 8.0))
    table = cost_table([quick, slow], [tmp_path])
    assert math.isnan(table["CPU (s)"].iloc[0]) and math.isnan(table["peak RSS (MB)"].iloc[0])
    assert table.iloc[-1, 1:].tolist() == [10.4, 8.0, 500.0]


def test_read_benchmark_names_a_file_that_is_not_a_benchmark(tmp_path):
    path = tmp_path / "train" / "m.tsv"
    path.parent.mkdir()
    path.write_text("wall\tmemory\n1\t2\n")
    with pytest.raises(ReportError, match=r"m\.tsv: not a Snakemake benchmark file \(no column"):
        cost_table([path], [tmp_path])


def test_cost_display_shows_one_decimal_and_a_dash_for_unmeasured_values(tmp_path):
    table = pd.DataFrame(
        {"job": ["split"], "wall (s)": [0.4], "CPU (s)": [math.nan], "peak RSS (MB)": [12.0]}
    )
    shown = cost_display(table)
    assert shown.iloc[0].tolist() == ["split", "0.4", "—", "12.0"]


# ----------------------------------------------------------------------------- provenance

CONFIG = {
    "data": {"root": "results/demo_data", "subset_size": None, "target": "Male"},
    "train": {"learning_rates": [0.0001], "strategies": [1, 2], "epochs": 2},
    "model": {"weights": "random"},
}


def provenance_items(prov: Provenance) -> dict[str, str]:
    """Item -> Value of the provenance table."""
    return dict(zip(prov.items["Item"], prov.items["Value"], strict=True))


def test_provenance_records_the_git_commit_of_the_workflow():
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    commit = provenance_items(provenance(CONFIG, REPO, [DEVICE]))["workflow commit"]
    assert head[:12] in commit


def test_provenance_records_the_torch_torchvision_and_snakemake_versions():
    import snakemake
    import torch
    import torchvision

    items = provenance_items(provenance(CONFIG, REPO, [DEVICE]))
    assert items["torch"] == torch.__version__
    assert items["torchvision"] == torchvision.__version__
    assert items["snakemake"] == snakemake.__version__


def test_provenance_names_each_training_device_once():
    prov = provenance(CONFIG, REPO, [DEVICE, "", DEVICE, math.nan, "cuda (NVIDIA H200)"])
    assert provenance_items(prov)["training device(s)"] == f"{DEVICE}, cuda (NVIDIA H200)"


def test_provenance_says_unknown_only_when_no_device_is_named():
    prov = provenance(CONFIG, REPO, ["", math.nan])
    assert provenance_items(prov)["training device(s)"] == "unknown"


def test_provenance_holds_the_whole_config_as_yaml_in_its_key_order():
    import yaml

    text = provenance(CONFIG, REPO, [DEVICE]).config
    assert yaml.safe_load(text) == CONFIG
    assert [line for line in text.splitlines() if not line.startswith(" ")] == [
        "data:",
        "train:",
        "model:",
    ]
    assert "  learning_rates:\n  - 0.0001\n" in text


def test_render_html_shows_the_config_as_a_preformatted_block_in_provenance(
    tmp_path, metrics, figures
):
    prov = provenance(CONFIG, REPO, [DEVICE])
    page = _render(tmp_path, metrics, figures, ("Provenance", provenance_html(prov)))
    section = page_section(page, "sec-provenance")
    assert f"<td>{DEVICE}</td>" in section
    config = re.search(r'<pre class="config" id="config">(.*?)</pre>', section, re.S).group(1)
    assert "train:\n  learning_rates:\n  - 0.0001\n  strategies:" in config
    assert "\\n" not in config


# ----------------------------------------------------------------------------- the run's page


def page_section(page: str, anchor: str) -> str:
    """The HTML of one section: from its ``<h2 id=anchor>`` to the next ``<h2`` (or the end)."""
    start = page.index(f'<h2 id="{anchor}">')
    end = page.find("<h2 ", start + 1)
    return page[start : end if end >= 0 else len(page)]


class _TableCells(HTMLParser):
    """The text of every cell, row by row, of the tables in a piece of HTML (header rows too)."""

    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def table_rows(section: str) -> list[list[str]]:
    parser = _TableCells()
    parser.feed(section)
    return parser.rows


@pytest.fixture(scope="module")
def run_page(workflow_run) -> str:
    return (workflow_run / f"{P.experiment}/report/report.html").read_text()


@pytest.mark.slow
def test_results_page_provenance_names_the_training_device_of_the_run(workflow_run, run_page):
    device = json.loads(
        (workflow_run / f"{P.experiment}/evaluation/s1_lr1e-4_seed0/last/metrics.json").read_text()
    )["device"]
    rows = dict(
        row for row in table_rows(page_section(run_page, "sec-provenance")) if len(row) == 2
    )
    assert device.startswith("cpu")  # the test machine trains on the CPU
    assert rows["training device(s)"] == device
    assert '<pre class="config" id="config">' in run_page


@pytest.mark.slow
def test_results_page_cost_section_has_one_row_per_train_and_evaluate_job_and_the_total(
    run_page,
):
    rows = table_rows(page_section(run_page, "sec-cost-of-this-run"))
    header, body = rows[0], rows[1:]
    assert header == ["job", "wall (s)", "CPU (s)", "peak RSS (MB)"]
    jobs = [row[0] for row in body]
    models = ("s1_lr1e-4_seed0", "s2_lr1e-4_seed0")
    assert sorted(j for j in jobs if j.startswith("train/")) == [f"train/{m}" for m in models]
    assert sorted(j for j in jobs if j.startswith("evaluate/")) == sorted(
        f"evaluate/{m}_{c}" for m in models for c in ("last", "best")
    )
    assert jobs[-1] == "TOTAL (sum of job times)" and jobs.count(jobs[-1]) == 1
    walls = [float(row[1]) for row in body]
    assert walls[-1] == pytest.approx(sum(walls[:-1]), abs=0.05 * len(walls))


@pytest.mark.slow
def test_results_page_data_section_shows_the_null_count_of_every_column(workflow_run, run_page):
    nulls = pd.read_csv(workflow_run / f"{P.data}/eda/null_counts.csv")
    rows = table_rows(page_section(run_page, "sec-data"))
    assert rows[0] == ["column", "nulls"]
    assert rows[1:] == [[column, str(n)] for column, n in nulls.itertuples(index=False)]


@pytest.mark.parametrize(
    ("train", "expected"),
    [
        ({"precision": "fp32", "cache_dtype": "auto"}, "numerics: fp32, the study"),
        ({"precision": "bf16", "cache_dtype": "auto"}, "feature cache float16), NOT the study"),
    ],
)
def test_the_banner_says_which_numerics_ran(tmp_path, metrics, figures, train, expected):
    from celeba_gender.grid import numerics_note

    page = _render(tmp_path, metrics, figures, numerics_note=numerics_note(train))
    assert re.search(r'<div class="banner info" id="numerics">[^<]*' + re.escape(expected), page)


# ----------------------------------------------------------------------------- the report table


def test_the_report_table_names_each_rule_output_once_and_each_caption_file_exists():
    keys = [item.key for item in reportitems.ITEMS]
    assert len(keys) == len(set(keys))
    for item in reportitems.native_items():
        assert (REPO / "report" / f"{item.caption}.rst").is_file(), item.key


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("- {rule: a, output: b, section: S, title: t}\n" * 2, "declared twice"),
        ("- {rule: a, output: b, section: S, title: t, page: figure}\n", "needs a caption"),
        ("- {rule: a, output: b, section: S, title: t, per: split}\n", "per 'split'"),
        ("- {rule: a, output: b, section: S, title: t, colour: red}\n", "unknown key"),
    ],
)
def test_a_wrong_report_table_is_refused_naming_the_item(tmp_path, lines, message):
    table = tmp_path / "items.yaml"
    table.write_text(lines)
    with pytest.raises(ValueError, match=message):
        reportitems.load_items(table)
