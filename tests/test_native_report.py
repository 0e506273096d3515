"""Snakemake's own report of a finished run: `snakemake --report ….zip` works, and the report
carries every category, a rendered caption for each result and the strategy/lr/seed toggles.

Snakemake 9 (html_reporter) writes the zip as ``<stem>/report.html`` plus ``<stem>/data/raw/<id>/
<file>``; categories, results (captions, labels) and the workflow description are JSON literals in
``<script>`` blocks of report.html: ``var categories = {…};``, ``var results = {…};``,
``var workflow_desc = "…";``. The browser tests open the unpacked report in headless Chromium
(skipped without it unless CELEBA_GENDER_REQUIRE_BROWSER is set).
"""

from __future__ import annotations

import json
import re
import zipfile
from collections import Counter
from pathlib import Path, PurePosixPath

import pytest
from browser import evaluate, launch, open_page, require_chromium, wait_for

from conftest import snakemake, tiny_paths

pytestmark = pytest.mark.slow

P = tiny_paths()  # where the tiny run (workflow_run) puts everything
REPORT_ZIP = f"{P.experiment}/report/snakemake-report.zip"
CATEGORIES = {"Data", "Training", "Evaluation", "Subgroups", "Explanations", "Uncertainty"}
MODELS = {"s1_lr1e-4_seed0", "s2_lr1e-4_seed0"}
MODEL_LABELS = {"strategy", "learning rate", "seed"}
WINDOW = (1400, 900)


def report_variable(page: str, script_id: str, name: str) -> object:
    """The JSON value of ``var <name> = …;`` in the report's ``<script id="<script_id>">``."""
    block = page.find(f'<script id="{script_id}">')
    start = page.find(f"var {name} = ", block)
    if block < 0 or start < 0:
        raise AssertionError(
            f'report.html has no <script id="{script_id}"> with `var {name} = …` '
            "(did Snakemake's report layout change?)"
        )
    value, _ = json.JSONDecoder().raw_decode(page, start + len(f"var {name} = "))
    return value


@pytest.fixture(scope="module")
def native_report(workflow_run, tmp_path_factory) -> Path:
    """The zip written by ``snakemake --report`` on the finished tiny run (the shared run is
    only read: the zip goes to a temporary folder)."""
    report = tmp_path_factory.mktemp("native_report") / Path(REPORT_ZIP).name
    snakemake(workflow_run, "--report", str(report))
    return report


@pytest.fixture(scope="module")
def report_data(native_report) -> dict:
    """names: the zip's members; page: report.html; categories, results, workflow_desc."""
    with zipfile.ZipFile(native_report) as archive:
        names = archive.namelist()
        root = PurePosixPath(names[0]).parts[0]
        page = archive.read(f"{root}/report.html").decode("utf-8")
    return {
        "root": root,
        "names": set(names),
        "categories": report_variable(page, "categories", "categories"),
        "results": report_variable(page, "results", "results"),
        "workflow_desc": report_variable(page, "workflow-desc", "workflow_desc"),
    }


def wildcards_of(result: dict) -> dict[str, str]:
    """A result's wildcards; the report stores them as text: ``model=s1_lr1e-4_seed0, checkpoint=best``."""
    text = result["job_properties"]["wildcards"] or ""
    return dict(item.split("=", 1) for item in text.split(", ") if "=" in item)


def model_results(results: dict) -> dict[str, dict]:
    """The results made per model (those with a ``model`` wildcard)."""
    return {path: res for path, res in results.items() if "model" in wildcards_of(res)}


def first_warning(captions: dict[str, str]) -> str:
    """``<path>: <docutils message>`` of the first caption holding a docutils system message."""
    path, text = next(iter(captions.items()))
    message = text[text.index("system-message") :]
    return f"{path}: {' '.join(re.sub(r'<[^>]+>|&quot;', ' ', message).split())[:300]}"


def test_report_command_writes_a_zip_with_the_report_page(native_report, report_data):
    assert zipfile.is_zipfile(native_report)
    assert f"{report_data['root']}/report.html" in report_data["names"]


def test_report_has_every_category(report_data):
    assert set(report_data["categories"]) >= CATEGORIES


def test_every_reported_file_is_stored_in_the_zip(report_data):
    results = report_data["results"]
    assert results
    missing = [
        path
        for path, res in results.items()
        if f"{report_data['root']}/{res['data_uri']}" not in report_data["names"]
    ]
    assert missing == []


def test_every_result_has_a_caption_rendered_without_errors(report_data):
    captions = {path: res["caption"] for path, res in report_data["results"].items()}
    assert [path for path, text in captions.items() if not text.strip()] == []
    assert [path for path, text in captions.items() if "{{" in text or "{%" in text] == []
    warned = {path: text for path, text in captions.items() if "system-message" in text}
    assert not warned, f"docutils warnings in {len(warned)} captions, e.g. {first_warning(warned)}"


def test_per_model_captions_name_their_model(report_data):
    per_model = model_results(report_data["results"])
    assert {wildcards_of(res)["model"] for res in per_model.values()} == MODELS
    unnamed = [
        path for path, res in per_model.items() if wildcards_of(res)["model"] not in res["caption"]
    ]
    assert unnamed == []


def test_per_model_results_carry_strategy_lr_seed_toggles(report_data):
    per_model = model_results(report_data["results"])
    assert per_model
    for path, res in per_model.items():
        model = wildcards_of(res)["model"]
        strategy, lr, seed = model.split("_", 2)
        labels = res["labels"] or {}
        assert set(labels) >= MODEL_LABELS, path
        assert (labels["strategy"], labels["learning rate"], labels["seed"]) == (
            strategy[1:],
            lr[2:],
            seed[4:],
        ), path


def test_every_table_of_the_run_is_a_result_of_the_report(workflow_run, report_data):
    tables = sorted(  # the experiment's tables, and the EDA's tables of the shared data
        path.relative_to(workflow_run).as_posix()
        for path in [
            *(workflow_run / P.experiment / "tables").rglob("*"),
            *(workflow_run / P.data / "eda").glob("*.csv"),
        ]
        if path.is_file() and not path.name.startswith(".")
    )
    reported = {PurePosixPath(path).as_posix() for path in report_data["results"]}
    assert (
        f"{P.experiment}/tables/roc_auc.csv" in tables
        and f"{P.experiment}/tables/collapse.csv" in tables
    )
    assert [table for table in tables if table not in reported] == []


def test_results_of_one_category_and_subcategory_have_distinct_labels(report_data):
    """Identical labels would make two results indistinguishable behind the report's toggles."""
    for category, subcategories in report_data["categories"].items():
        for subcategory, paths in subcategories.items():
            labels = Counter(
                json.dumps(report_data["results"][path]["labels"], sort_keys=True) for path in paths
            )
            assert [text for text, n in labels.items() if n > 1] == [], f"{category}/{subcategory}"


def test_subgroup_results_of_a_model_are_told_apart_by_their_title(report_data):
    """Each item's title is a label (``table`` or ``figure``, from celeba_gender/reportitems.py):
    a model's three subgroup results differ in it."""
    titles: dict[str, set[str]] = {}
    for res in model_results(report_data["results"]).values():
        if res["job_properties"]["rule"] == "subgroups":
            labels = res["labels"]
            title = labels.get("table") or labels.get("figure")
            titles.setdefault(wildcards_of(res)["model"], set()).add(title)
    assert titles == {
        model: {"attribute table", "group table", "Accuracy by group"} for model in MODELS
    }


def test_workflow_description_is_rendered_with_the_config(report_data):
    description = report_data["workflow_desc"]
    assert "celeba-gender" in description
    assert "NOT pretrained" in description  # tiny.yaml uses model.weights: random
    assert "{{" not in description
    assert "system-message" not in description


@pytest.fixture(scope="module")
def native_report_text(native_report, tmp_path_factory) -> str:
    """The visible text of the unpacked report's home page once its app has drawn the menu."""
    executable = require_chromium()
    tmp = tmp_path_factory.mktemp("native_report")
    with zipfile.ZipFile(native_report) as archive:
        archive.extractall(tmp / "unpacked")
    (page,) = (tmp / "unpacked").glob("*/report.html")
    with launch(executable, tmp / "profile", tmp / "chromium.log") as browser:
        session = open_page(browser, page.as_uri(), *WINDOW)
        wait_for(browser, session, "document.body.innerText.includes('RESULTS')")
        return evaluate(browser, session, "document.body.innerText")


@pytest.mark.browser
def test_native_report_menu_lists_every_category_in_chromium(native_report_text):
    # The menu: "GENERAL / Workflow / Statistics / About / RESULTS / <categories>", then a blank line.
    results_menu = native_report_text.split("RESULTS", 1)[1].split("\n\n", 1)[0]
    entries = {line.strip() for line in results_menu.splitlines() if line.strip()}
    assert sorted(CATEGORIES - entries) == []


@pytest.mark.browser
def test_native_report_shows_no_rst_warning_in_chromium(native_report_text):
    assert "System Message" not in native_report_text
