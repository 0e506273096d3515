"""The results page of a finished run, rendered in headless Chromium: every figure loads, the
models table lists every model; a full-page screenshot and the README's picture (the top of the
page) are made from the same page load.

Skipped when Chromium is absent, unless CELEBA_GENDER_REQUIRE_BROWSER is set (CI sets it, so CI
fails instead). CELEBA_GENDER_UPDATE_SCREENSHOT=1 copies the README picture to
docs/report-screenshot.png.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from browser import evaluate, launch, open_page, require_chromium, screenshot
from PIL import Image

from conftest import REPO, tiny_paths

pytestmark = [pytest.mark.browser, pytest.mark.slow]

UPDATE_SCREENSHOT = "CELEBA_GENDER_UPDATE_SCREENSHOT"
README_SCREENSHOT = REPO / "docs" / "report-screenshot.png"
WINDOW = (1400, 900)  # CSS px; screenshots are the window's width
README_HEIGHT = 2400  # CSS px of the page's top in the README picture: header to the first figures
MIN_SCREENSHOT_BYTES = 50_000

# Read-only facts about the page, taken after every image has been decoded (or failed to).
PAGE_FACTS = """(async () => {
  const images = Array.from(document.images);
  await Promise.allSettled(images.map((img) => img.decode()));
  const table = document.querySelector("table#models");
  const cells = (row, tag) => Array.from(row.querySelectorAll(tag)).map((c) => c.textContent.trim());
  return {
    images: images.length,
    broken: images.filter((img) => !(img.complete && img.naturalWidth > 0))
                  .map((img) => img.alt || img.src.slice(0, 60)),
    tableHeight: table ? table.getBoundingClientRect().height : 0,
    headers: table ? cells(table.querySelector("thead"), "th") : [],
    rows: table ? Array.from(table.querySelectorAll("tbody tr"))
                       .map((tr) => ({model: tr.dataset.model ?? null, cells: cells(tr, "td")})) : [],
    width: document.documentElement.clientWidth,
    height: Math.ceil(document.documentElement.scrollHeight),
  };
})()"""

P = tiny_paths()  # where the tiny run (workflow_run) puts everything


@dataclass(frozen=True)
class RenderedPage:
    html: Path
    facts: dict
    full_page: Path
    readme_picture: Path


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium executable; skip (or fail, when CELEBA_GENDER_REQUIRE_BROWSER is set) without one."""
    return require_chromium()


def copy_screenshot(png: Path, dest: Path) -> Path:
    """Copy ``png`` to ``dest`` through a temporary name."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.copyfile(png, tmp)
    tmp.replace(dest)
    return dest


@pytest.fixture(scope="module")
def rendered(chromium, workflow_run, tmp_path_factory) -> RenderedPage:
    """The results page opened once in Chromium: DOM facts, a full-page PNG, the README picture."""
    tmp = tmp_path_factory.mktemp("browser")
    html = workflow_run / f"{P.experiment}/report/report.html"
    with launch(chromium, tmp / "profile", tmp / "chromium.log") as browser:
        session = open_page(browser, html.as_uri(), *WINDOW)
        facts = evaluate(browser, session, PAGE_FACTS)
        full_page = screenshot(browser, session, tmp / "report-full.png")
        readme_picture = screenshot(browser, session, tmp / "report-top.png", README_HEIGHT)
    if os.environ.get(UPDATE_SCREENSHOT) == "1":
        copy_screenshot(readme_picture, README_SCREENSHOT)
    return RenderedPage(html, facts, full_page, readme_picture)


def test_every_image_on_the_results_page_loads(rendered):
    assert rendered.facts["images"] > 0
    assert rendered.facts["images"] == rendered.html.read_text().count("<img ")
    assert rendered.facts["broken"] == []


def test_models_table_lists_every_model_and_checkpoint_of_the_run(workflow_run, rendered):
    metrics = pd.read_csv(workflow_run / f"{P.experiment}/report/metrics.csv")
    expected = sorted(zip(metrics["model"], metrics["checkpoint"], strict=True))
    headers = rendered.facts["headers"]
    model_col, checkpoint_col = headers.index("Model"), headers.index("Checkpoint")
    rows = rendered.facts["rows"]
    shown = sorted((row["cells"][model_col], row["cells"][checkpoint_col]) for row in rows)
    assert shown == expected
    assert [row["model"] for row in rows] == [row["cells"][model_col] for row in rows]
    assert rendered.facts["tableHeight"] > 0


def test_models_table_names_the_expected_models_of_the_tiny_config(rendered):
    models = {row["model"] for row in rendered.facts["rows"]}
    assert models == {"s1_lr1e-4_seed0", "s2_lr1e-4_seed0"}


def distinct_colours_exceed(png: Path, count: int) -> bool:
    """True when the picture has more than ``count`` distinct RGB colours."""
    with Image.open(png) as image:
        return image.convert("RGB").getcolors(maxcolors=count) is None


def test_full_page_screenshot_covers_the_whole_page_at_window_width(rendered):
    with Image.open(rendered.full_page) as image:
        assert image.format == "PNG"
        assert image.size == (WINDOW[0], rendered.facts["height"])
    assert rendered.facts["height"] > WINDOW[1]


def test_full_page_screenshot_shows_content_not_a_blank_page(rendered):
    assert rendered.full_page.stat().st_size > MIN_SCREENSHOT_BYTES
    assert distinct_colours_exceed(rendered.full_page, 256)  # text, tables and figures drawn


def test_readme_picture_is_the_top_of_the_page_with_content(rendered):
    with Image.open(rendered.readme_picture) as image:
        assert image.format == "PNG"
        assert image.size == (WINDOW[0], min(README_HEIGHT, rendered.facts["height"]))
    assert rendered.readme_picture.stat().st_size > MIN_SCREENSHOT_BYTES
    assert distinct_colours_exceed(rendered.readme_picture, 256)
