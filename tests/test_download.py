"""celeba_gender.download against loopback Hub and Kaggle servers (tests/servers.py): fresh
downloads verified and ingestable, no request once verified, and every failure stopping with
one actionable line and no marker (most of them before any byte is written)."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
import zipfile

import pandas as pd
import pytest

pytest.importorskip("huggingface_hub")
pytest.importorskip("kagglehub")
pytest.importorskip("pyarrow")

from servers import KAGGLE_PORT, HubServer, KaggleServer  # noqa: E402

from celeba_gender import constants as C  # noqa: E402
from celeba_gender import download, ingest, parquet, sources, synth  # noqa: E402
from celeba_gender.io import CelebaGenderError  # noqa: E402
from celeba_gender.layouts import downloaded_root  # noqa: E402
from conftest import N_SYNTH_IMAGES, REPO, SYNTH_SEED  # noqa: E402

REPO_ID, REVISION = "test-owner/celeba", "0123456789abcdef0123456789abcdef01234567"
SHARDS = {"train": 2, "valid": 2, "test": 2}
SPLITS = {"train": 32, "valid": 4, "test": 4}  # synth.partition(40)
KAGGLE = ("test-owner", "celeba-dataset", 2)


@pytest.fixture(scope="module")
def hub_files(tmp_path_factory) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("hub_src")
    synth.generate(root, N_SYNTH_IMAGES, SYNTH_SEED, "huggingface", shards=2)
    return {
        f"{C.HUB_CONFIG}/{p.name}": p.read_bytes() for p in parquet.list_shards(root / C.HUB_CONFIG)
    }


@pytest.fixture
def hub(hub_files):
    with HubServer(REPO_ID, REVISION, hub_files) as server:
        yield server


def hub_spec(server, **overrides) -> sources.DownloadSpec:
    settings = dict(repo=REPO_ID, revision=REVISION, shards=SHARDS, splits=SPLITS)
    return sources.DownloadSpec.create(
        "huggingface", endpoint=server.url, **{**settings, **overrides}
    )


@pytest.fixture(scope="module")
def kaggle_archive(synthetic_roots) -> bytes:
    return zip_layout(synthetic_roots["kaggle"])


def zip_layout(src) -> bytes:
    """A zip of a synthetic Kaggle layout, as the Kaggle archive lays it out."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(src.rglob("*")):
            if path.is_file() and path.name != ".celeba-gender-synthetic":
                archive.write(path, path.relative_to(src).as_posix())
    return buffer.getvalue()


@pytest.fixture
def kaggle(kaggle_archive, monkeypatch):
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", KAGGLE_PORT)) == 0:
            pytest.skip(f"port {KAGGLE_PORT} (kagglehub's fixed TEST endpoint) is taken")
    monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "TEST")
    monkeypatch.setenv("KAGGLE_USERNAME", "tester")
    monkeypatch.setenv("KAGGLE_KEY", "not-a-secret")
    with KaggleServer(*KAGGLE, kaggle_archive) as server:
        yield server


def kaggle_spec(**overrides) -> sources.DownloadSpec:
    settings = dict(repo=f"{KAGGLE[0]}/{KAGGLE[1]}", version=KAGGLE[2], splits=SPLITS)
    return sources.DownloadSpec.create("kaggle", **{**settings, **overrides})


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------------- the spec


def test_defaults_are_the_pinned_identities_and_the_official_counts():
    spec = sources.DownloadSpec.create("huggingface")
    files = spec.hub_files()
    assert spec.repo == "flwrlabs/celeba" and spec.revision.startswith("2d738f56")
    assert len(files) == 25 and files[0] == "img_align+identity+attr/train-00000-of-00019.parquet"
    assert files[-1] == "img_align+identity+attr/test-00002-of-00003.parquet"
    assert spec.total_images() == 202_599
    kaggle = sources.DownloadSpec.create("kaggle")
    assert (kaggle.repo, kaggle.version) == ("jessicali9530/celeba-dataset", 2)


def test_unknown_setting_or_source_is_refused():
    with pytest.raises(CelebaGenderError, match="unknown setting"):
        sources.DownloadSpec.create("kaggle", revison="x")
    with pytest.raises(CelebaGenderError, match="unknown source"):
        sources.DownloadSpec.create("gdrive")


@pytest.mark.parametrize(("source", "module", "extra"), [("kaggle", "kagglehub", "kaggle"),
                                                        ("huggingface", "pyarrow", "hub")])  # fmt: skip
def test_missing_client_names_the_install_command(monkeypatch, source, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    with pytest.raises(CelebaGenderError) as err:
        sources.require_client(source)
    assert f'pip install -e ".[{extra}]"' in one_line(err)


# ---------------------------------------------------------------------------- Hub


def test_hub_fresh_download_is_verified_and_ingestable(hub, tmp_path, synthetic_roots):
    marker = download.fetch(hub_spec(hub), tmp_path / "dl")
    record = json.loads(marker.read_text())
    assert record["source"] == "huggingface" and record["identity"]["revision"] == REVISION
    assert record["counts"] == {"splits": SPLITS, "images": N_SYNTH_IMAGES}
    assert len(record["files"]) == 6 and all(len(f["sha256"]) == 64 for f in record["files"])
    root = downloaded_root(marker)
    assert ingest.detect_layout(root) == "huggingface"
    meta, _ = ingest.build_metadata(root)
    expected, _ = ingest.build_metadata(synthetic_roots["kaggle"])
    pd.testing.assert_frame_equal(meta.drop(columns="path"), expected.drop(columns="path"))


def test_a_verified_download_is_not_fetched_again(hub, tmp_path):
    download.fetch(hub_spec(hub), tmp_path)
    before = hub.count()
    download.fetch(hub_spec(hub), tmp_path)
    assert hub.count() == before


def test_a_deleted_marker_is_restored_from_its_copy_without_a_request(hub, tmp_path):
    """The workflow deletes the marker (its output) before rerunning the download job, e.g.
    after an edit of the download code: the files on disk are re-checked, offline."""
    marker = download.fetch(hub_spec(hub), tmp_path)
    text = marker.read_text()
    marker.unlink()
    before = hub.count()
    assert download.fetch(hub_spec(hub), tmp_path).read_text() == text
    assert hub.count() == before


def test_corrupt_shard_is_a_clear_error_without_marker(hub, tmp_path):
    name = f"{C.HUB_CONFIG}/valid-00001-of-00002.parquet"
    hub.corrupt.add(name)
    spec = hub_spec(hub)
    with pytest.raises(CelebaGenderError, match="is corrupt") as err:
        download.fetch(spec, tmp_path)
    assert name in one_line(err) and "rerun" in str(err.value)
    assert not sources.marker_path(tmp_path, spec).exists()
    assert not (tmp_path / "huggingface" / name).exists()
    hub.corrupt.clear()
    assert download.fetch(spec, tmp_path).exists()  # the rerun fetches it again


def test_wrong_split_counts_name_the_split(hub, tmp_path):
    spec = hub_spec(hub, splits={"train": 32, "valid": 5, "test": 4})
    with pytest.raises(CelebaGenderError, match="valid: 4 rows, expected 5") as err:
        download.fetch(spec, tmp_path)
    assert "train" not in str(err.value).split("differ from the spec:")[1]
    assert not sources.marker_path(tmp_path, spec).exists()


@pytest.mark.parametrize(("status", "needed"), [(401, "set HF_TOKEN"), (403, "accept the dataset's terms")])  # fmt: skip
def test_refused_request_names_credentials_and_terms(hub, tmp_path, status, needed):
    hub.status["*"] = status
    with pytest.raises(CelebaGenderError) as err:
        download.fetch(hub_spec(hub), tmp_path / "dl")
    message = one_line(err)
    assert needed in message and f"huggingface.co/datasets/{REPO_ID}" in message
    assert not (tmp_path / "dl").exists() and hub.count("GET") == 0


def test_missing_file_is_named_before_any_byte_is_written(hub, tmp_path):
    del hub.files[f"{C.HUB_CONFIG}/test-00001-of-00002.parquet"]
    with pytest.raises(CelebaGenderError, match="test-00001-of-00002.parquet not found") as err:
        download.fetch(hub_spec(hub), tmp_path / "dl")
    one_line(err)
    assert not (tmp_path / "dl").exists()


def test_not_enough_disk_stops_before_any_byte(hub, tmp_path):
    with pytest.raises(CelebaGenderError, match="not enough free disk") as err:
        download.fetch(hub_spec(hub), tmp_path / "dl", free_space=lambda _path: 1000)
    assert "image store" in one_line(err)
    assert not (tmp_path / "dl").exists() and hub.count("GET") == 0


def test_unreachable_service_stops_before_any_byte(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    spec = sources.DownloadSpec.create(
        "huggingface", repo=REPO_ID, revision=REVISION, endpoint=f"http://127.0.0.1:{port}"
    )
    with pytest.raises(CelebaGenderError, match="cannot reach the Hub") as err:
        download.fetch(spec, tmp_path / "dl")
    one_line(err)
    assert not (tmp_path / "dl").exists()


def test_connection_cut_mid_body_is_retried_and_completes(hub, tmp_path):
    """The client retries a cut transfer (from the start here: huggingface_hub resumes with a
    Range request only past the bytes it has already written, and 1000 bytes are less than its
    first chunk); the file is verified as usual."""
    name = f"{C.HUB_CONFIG}/train-00000-of-00002.parquet"
    hub.cut[name] = 1000
    assert download.fetch(hub_spec(hub), tmp_path).exists()
    gets = [p for m, p, _ in hub.requests if m == "GET" and p.endswith(name.split("/")[1])]
    assert len(gets) == 2


KILLED_CHILD = """
import sys
from celeba_gender import download, sources
spec = sources.DownloadSpec.create("huggingface", endpoint=sys.argv[2], repo={repo!r},
    revision={revision!r}, shards={shards!r}, splits={splits!r})
download.fetch(spec, sys.argv[1])
"""


def test_a_killed_download_leaves_no_marker_and_a_rerun_completes(hub, tmp_path):
    name = f"{C.HUB_CONFIG}/train-00001-of-00002.parquet"
    hub.stall[name] = 2000
    code = KILLED_CHILD.format(repo=REPO_ID, revision=REVISION, shards=SHARDS, splits=SPLITS)
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'scripts'}{os.pathsep}{REPO / 'tests'}"}
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path), hub.url], env=env)
    try:
        assert hub.stalled.wait(timeout=40), "the child never reached the stalled shard"
        time.sleep(0.2)
    finally:
        child.kill()
        child.wait(timeout=10)
    spec = hub_spec(hub)
    assert not sources.marker_path(tmp_path, spec).exists()
    assert not (tmp_path / "huggingface" / name).exists()  # only under a temporary name
    hub.release.set()
    marker = download.fetch(spec, tmp_path)
    assert json.loads(marker.read_text())["counts"]["images"] == N_SYNTH_IMAGES
    assert not list((tmp_path / "huggingface").rglob("*.incomplete"))


# ---------------------------------------------------------------------------- Kaggle


def test_kaggle_fresh_download_is_verified_then_never_fetched_again(kaggle, tmp_path):
    marker = download.fetch(kaggle_spec(), tmp_path)
    record = json.loads(marker.read_text())
    root = downloaded_root(marker)
    assert root.is_relative_to(tmp_path / "kaggle")
    assert ingest.detect_layout(root) == "kaggle"
    assert record["counts"]["image_tree"]["files"] == N_SYNTH_IMAGES
    assert {f["path"] for f in record["files"]} == {
        "list_attr_celeba.csv",
        "list_eval_partition.csv",
    }
    assert kaggle.bodies[0] == {"ownerSlug": KAGGLE[0], "datasetSlug": KAGGLE[1],
                                "datasetVersionNumber": KAGGLE[2]}  # fmt: skip
    before = kaggle.count()
    download.fetch(kaggle_spec(), tmp_path)
    assert kaggle.count() == before


@pytest.mark.parametrize("status", [401, 403])
def test_kaggle_refusal_names_the_credentials(kaggle, tmp_path, status):
    kaggle.status["*"] = status
    with pytest.raises(CelebaGenderError) as err:
        download.fetch(kaggle_spec(), tmp_path / "dl")
    message = one_line(err)
    assert (
        "KAGGLE_USERNAME" in message and "kaggle.json" in message and "KAGGLE_API_TOKEN" in message
    )
    assert not (tmp_path / "dl").exists()


def test_kaggle_corrupt_archive_fails_the_md5_check(kaggle, tmp_path):
    kaggle.corrupt.add(KaggleServer.ARCHIVE)
    with pytest.raises(CelebaGenderError, match="md5"):
        download.fetch(kaggle_spec(), tmp_path)
    assert not sources.marker_path(tmp_path, kaggle_spec()).exists()


def test_kaggle_wrong_split_counts_name_the_split(kaggle, tmp_path):
    spec = kaggle_spec(splits={"train": 30, "valid": 4, "test": 4})
    with pytest.raises(CelebaGenderError, match="train: 32 rows, expected 30"):
        download.fetch(spec, tmp_path)
    assert not sources.marker_path(tmp_path, spec).exists()


def test_kaggle_not_enough_disk_counts_the_archive_twice(kaggle, kaggle_archive, tmp_path):
    with pytest.raises(CelebaGenderError, match="archive and extracted tree") as err:
        download.fetch(kaggle_spec(decode_size=0), tmp_path / "dl", free_space=lambda _p: 10)
    assert sources.gb(2 * len(kaggle_archive)) in str(err.value)
    assert not (tmp_path / "dl").exists() and kaggle.count("GET") <= 1
