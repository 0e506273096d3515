"""data.source (issue 19) through the workflow: the config keys, the parse-time checks, and the
download rule against the loopback servers (tests/servers.py).

README tier: the schema's defaults are sources.DEFAULTS, today's configs keep their data key, the
parse-time checks of a download source, and a dry run that plans the download before ingest.
Heavy tier (``heavy_slow``): the tiny study end to end from a loopback Hub, then nothing planned
(offline); Kaggle through ``--until split``; a refused request, a corrupt shard and a full disk
stopping the download job with their one-line message and no marker; a run killed mid-shard,
then rerun. The other failure cases (wrong split counts, a cut connection, a missing file, an
unreachable service) are tested at package level in tests/test_download.py.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

from celeba_gender import config as configcheck
from celeba_gender import sources
from celeba_gender.io import CelebaGenderError
from celeba_gender.layouts import downloaded_root
from celeba_gender.paths import data_key
from conftest import (
    REPO,
    _resolve,
    make_workdir,
    parse_job_stats,
    snakemake,
    snakemake_command,
    snakemake_env,
)

REVISION = "0123456789abcdef0123456789abcdef01234567"
HUB_REPO = "test-owner/celeba"
N_IMAGES, SEED = 200, 1  # tests/data/tiny.yaml's synthetic dataset: 160 / 20 / 20 rows
HUB_SPLITS = {"train": 160, "valid": 20, "test": 20}
SHARDS = {"train": 2, "valid": 2, "test": 2}
KAGGLE = ("test-owner", "celeba-dataset", 2)
KAGGLE_SPLITS = {"train": 32, "valid": 4, "test": 4}  # conftest.synthetic_roots: 40 images
TINY_DATA = "data: {root: results/demo_data, subset_size: null}"
TINY_SYNTH = "synthetic: {enabled: true,"


def heavy_slow(test):
    return pytest.mark.heavy(pytest.mark.slow(test))


def resolved(*texts: str) -> dict:
    """The config of config/config.yaml updated by ``texts``, as the workflow resolves it."""
    base = (REPO / "config/config.yaml").read_text()
    return _resolve([base, *texts], REPO / "config/schema.yaml")


def source_yaml(source: str, root: str = "dl", **settings) -> str:
    """The tiny config's data line for a download ``source`` with ``settings``."""
    data = {"root": root, "subset_size": None, "source": source, "download": {source: settings}}
    return "data: " + yaml.safe_dump(data, default_flow_style=True, width=10_000).strip()


def hub_settings(url: str, **overrides) -> dict:
    return {"repo": HUB_REPO, "revision": REVISION, "shards": SHARDS, "splits": HUB_SPLITS,
            "endpoint": url, **overrides}  # fmt: skip


def download_workdir(path: Path, source: str, **settings) -> Path:
    """A workdir running the tiny study on ``source`` (synthetic data off) into ``dl/``."""
    return make_workdir(
        path,
        **{TINY_DATA: source_yaml(source, **settings), TINY_SYNTH: "synthetic: {enabled: false,"},
    )


# ---------------------------------------------------------------- the config (README tier)


def test_schema_defaults_are_the_pinned_identities():
    assert resolved()["data"]["download"] == sources.DEFAULTS
    assert resolved()["data"]["source"] == "folder"


def test_todays_configs_keep_their_data_key():
    """Computed on the schema before data.source/data.download existed (commit 2a969cd): adding
    the keys must not move the results of today's configs to another folder."""
    demo = resolved((REPO / "config/demo.yaml").read_text())
    tiny = resolved((REPO / "tests/data/tiny.yaml").read_text())
    assert data_key(demo) == "demo_data-all-f3645666"
    assert data_key(tiny) == "demo_data-all-95886a3f"
    assert data_key(resolved()) == "celeba-30000-e353c381"
    assert "source" not in configcheck.outcome_config(demo)["data"]


def test_data_key_follows_the_chosen_source_only():
    hub = resolved("data: {source: huggingface}")
    assert data_key(hub) != data_key(resolved())
    other_kaggle = resolved("data: {source: huggingface, download: {kaggle: {version: 9}}}")
    assert data_key(other_kaggle) == data_key(hub)
    revision = resolved(f"data: {{source: huggingface, download: {{huggingface: {{revision: '{REVISION}'}}}}}}")  # fmt: skip
    assert data_key(revision) != data_key(hub)


def test_a_download_source_accepts_a_missing_root(tmp_path):
    config = resolved(source_yaml("huggingface", root=str(tmp_path / "absent")))
    configcheck.check_config(config)  # no error: the download will create it


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("data: {source: kaggle, format: huggingface}", "data.format"),
        ("data: {source: huggingface}\nsynthetic: {enabled: true}", "data.source"),
    ],
)
def test_inconsistent_download_settings_name_the_key(tmp_path, text, key):
    config = resolved(text, f"data: {{root: {tmp_path / 'dl'}}}")
    with pytest.raises(CelebaGenderError, match=f"config {key}") as err:
        configcheck.check_config(config)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("source", "module", "extra"), [("kaggle", "kagglehub", "kaggle"),
                                                        ("huggingface", "pyarrow", "hub")])  # fmt: skip
def test_missing_client_stops_at_parse_time_with_the_install_command(
    monkeypatch, tmp_path, source, module, extra
):
    monkeypatch.setitem(__import__("sys").modules, module, None)  # its import raises ImportError
    config = resolved(source_yaml(source, root=str(tmp_path / "dl")))
    with pytest.raises(CelebaGenderError, match="config data.source") as err:
        configcheck.check_config(config)
    assert f'pip install -e ".[{extra}]"' in str(err.value)


@pytest.mark.slow
def test_dry_run_plans_the_download_before_ingest(tmp_path):
    workdir = download_workdir(tmp_path, "huggingface", **hub_settings("http://127.0.0.1:9"))
    proc = snakemake(workdir, "-n", "--quiet", "rules", "--until", "ingest")
    assert parse_job_stats(proc.stdout) == {"download": 1, "ingest": 1}
    assert not (workdir / "dl").exists()  # nothing made at parse time


# ---------------------------------------------------------------- Hub end to end (heavy)


@pytest.fixture(scope="module")
def tiny_hub_files(tmp_path_factory) -> dict[str, bytes]:
    """tests/data/tiny.yaml's synthetic dataset (200 images, seed 1) as Hub parquet shards."""
    pytest.importorskip("huggingface_hub")
    pytest.importorskip("pyarrow")
    from celeba_gender import constants as C
    from celeba_gender import parquet, synth

    root = tmp_path_factory.mktemp("tiny_hub")
    synth.generate(root, N_IMAGES, SEED, "huggingface", shards=2)
    folder = root / C.HUB_CONFIG
    return {f"{C.HUB_CONFIG}/{p.name}": p.read_bytes() for p in parquet.list_shards(folder)}


@pytest.fixture
def hub(tiny_hub_files):
    from servers import HubServer

    with HubServer(HUB_REPO, REVISION, tiny_hub_files) as server:
        yield server


def no_data_under(root: Path) -> None:
    """No marker and no shard under a real name: only (empty) folders, or nothing."""
    found = [p for p in root.rglob("*") if p.is_file() and ".cache" not in p.parts]
    assert not found, found


def failed_download(proc) -> str:
    """The one ERROR line of a download job that stopped."""
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR: download:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    return errors[0]


@heavy_slow
def test_hub_source_runs_the_tiny_study_then_plans_nothing_offline(hub, tmp_path, monkeypatch):
    workdir = download_workdir(tmp_path, "huggingface", **hub_settings(hub.url))
    snakemake(workdir)
    marker = workdir / "dl" / sources.marker_name("huggingface")
    assert downloaded_root(marker) == workdir / "dl" / "huggingface" / "img_align+identity+attr"
    log = next((workdir / "results" / "logs").glob("*/download.log")).read_text()
    assert "6 files" in log and "[6/6]" in log  # size and progress
    requests = hub.count()
    hub.__exit__(None, None, None)  # the service is gone
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert parse_job_stats(snakemake(workdir, "-n", "--quiet", "rules").stdout) == {}
    rerun = snakemake(workdir)
    assert "Nothing to be done" in rerun.stdout + rerun.stderr
    assert hub.count() == requests


@heavy_slow
def test_hub_refusal_stops_the_download_job_with_one_line(hub, tmp_path):
    hub.status["*"] = 403
    workdir = download_workdir(tmp_path, "huggingface", **hub_settings(hub.url))
    line = failed_download(snakemake(workdir, "--until", "ingest", check=False))
    assert "(403)" in line and "accept the dataset's terms" in line
    assert hub.count("GET") == 0
    no_data_under(workdir / "dl")


@heavy_slow
def test_corrupt_shard_stops_with_one_line_and_a_rerun_completes(hub, tmp_path):
    name = "img_align+identity+attr/valid-00000-of-00002.parquet"
    hub.corrupt.add(name)
    workdir = download_workdir(tmp_path, "huggingface", **hub_settings(hub.url))
    line = failed_download(snakemake(workdir, "--until", "ingest", check=False))
    assert "is corrupt" in line and name in line and "rerun" in line
    assert not (workdir / "dl" / sources.marker_name("huggingface")).exists()
    assert not (workdir / "dl" / "huggingface" / name).exists()
    hub.corrupt.clear()
    snakemake(workdir, "--until", "ingest")
    assert (workdir / "dl" / sources.marker_name("huggingface")).is_file()


@heavy_slow
def test_not_enough_disk_stops_before_any_byte(hub, tmp_path, monkeypatch):
    monkeypatch.setenv(sources.FREE_BYTES_VARIABLE, "1000")  # tests only: the job's free space
    workdir = download_workdir(tmp_path, "huggingface", **hub_settings(hub.url))
    line = failed_download(snakemake(workdir, "--until", "ingest", check=False))
    assert "not enough free disk" in line and "nothing was written" in line
    assert hub.count("GET") == 0
    no_data_under(workdir / "dl")


# ---------------------------------------------------------------- Kaggle through split (heavy)


@heavy_slow
def test_kaggle_source_fetches_verifies_and_splits(synthetic_roots, tmp_path, monkeypatch):
    pytest.importorskip("kagglehub")
    from servers import KAGGLE_PORT, KaggleServer
    from test_download import zip_layout

    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", KAGGLE_PORT)) == 0:
            pytest.skip(f"port {KAGGLE_PORT} (kagglehub's fixed TEST endpoint) is taken")
    for key, value in {"KAGGLE_API_ENVIRONMENT": "TEST", "KAGGLE_USERNAME": "tester",
                       "KAGGLE_KEY": "not-a-secret"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    settings = {"repo": f"{KAGGLE[0]}/{KAGGLE[1]}", "version": KAGGLE[2], "splits": KAGGLE_SPLITS}
    workdir = download_workdir(tmp_path, "kaggle", **settings)
    with KaggleServer(*KAGGLE, zip_layout(synthetic_roots["kaggle"])) as server:
        snakemake(workdir, "--until", "split")
        assert server.bodies[0]["datasetVersionNumber"] == KAGGLE[2]
    marker = workdir / "dl" / sources.marker_name("kaggle")
    assert downloaded_root(marker).is_relative_to(workdir / "dl" / "kaggle")
    splits = list((workdir / "results" / "data").glob("*/splits/sizes.csv"))
    assert len(splits) == 1


@heavy_slow
def test_a_killed_download_job_leaves_no_marker_and_the_rerun_resumes(hub, tmp_path):
    """The run is killed (SIGTERM to its process group, as a cluster or ^C would) while a shard
    is half sent; no marker, no shard under its real name; the same command then completes and
    fetches only what was missing."""
    stalled = "img_align+identity+attr/train-00001-of-00002.parquet"
    hub.stall[stalled] = 2000
    workdir = download_workdir(tmp_path, "huggingface", **hub_settings(hub.url))
    cmd = snakemake_command(workdir, "--until", "ingest")
    run = subprocess.Popen(cmd, cwd=workdir, env=snakemake_env(workdir), start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        assert hub.stalled.wait(timeout=120), "the download never reached the stalled shard"
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        run.wait(timeout=60)
    assert not (workdir / "dl" / sources.marker_name("huggingface")).exists()
    assert not (workdir / "dl" / "huggingface" / stalled).exists()
    hub.release.set()
    gets = hub.count("GET")
    snakemake(workdir, "--until", "ingest")
    assert (workdir / "dl" / sources.marker_name("huggingface")).is_file()
    assert hub.count("GET") - gets < len(SHARDS) * 2  # the finished shards were kept
