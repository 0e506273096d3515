"""Shared fixtures: small synthetic CelebA datasets in each layout, made once per session; the
workflow as a subprocess; finished tiny runs shared across sessions (``workflow_run``), built in a
copy of the tree; the tiers (docs/testing.md)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from celeba_gender.paths import WorkflowPaths

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "data" / "tiny.yaml"

LAYOUTS = ("kaggle", "celeba30k", "original", "huggingface")
N_SYNTH_IMAGES = 40
SYNTH_SEED = 3


@pytest.fixture(scope="session")
def synthetic_roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One read-only synthetic dataset per layout (same seed, so the same images and labels)."""
    from celeba_gender import synth  # imported here so tests without datasets do not need it

    roots = {}
    for layout in LAYOUTS:
        root = tmp_path_factory.mktemp(f"synth_{layout}")
        synth.generate(root, N_SYNTH_IMAGES, SYNTH_SEED, layout)
        roots[layout] = root
    return roots


@pytest.fixture
def dataset_copy(synthetic_roots: dict[str, Path], tmp_path: Path) -> Callable[[str], Path]:
    """Return a function copying a layout's synthetic dataset into ``tmp_path`` (to modify)."""

    def copy(layout: str = "kaggle") -> Path:
        dest = tmp_path / f"data_{layout}"
        shutil.copytree(synthetic_roots[layout], dest)
        return dest

    return copy


@pytest.fixture(scope="session")
def n_images() -> int:
    """Number of images in each synthetic dataset of ``synthetic_roots``."""
    return N_SYNTH_IMAGES


# ---------------------------------------------------------------- the workflow as a subprocess

# A workdir whose runs use another tree than the checkout (a copy: see "shared finished runs")
# names it in this file; without it the workdir runs the checkout's Snakefile and scripts.
TREE_FILE = ".celeba-gender-tree"


def tree_of(workdir: Path) -> Path:
    """The tree (Snakefile, rules/, scripts/) whose workflow runs in ``workdir``."""
    marker = workdir / TREE_FILE
    return Path(marker.read_text().strip()) if marker.is_file() else REPO


def snakemake_env(workdir: Path) -> dict[str, str]:
    """The environment of a Snakemake subprocess in ``workdir``: its jobs import ``celeba_gender``
    from the tree the workdir runs (PYTHONPATH first), not from wherever it is installed."""
    path = [str(tree_of(workdir) / "scripts"), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}


def snakemake_command(workdir: Path, *args: str, configfile: str | None = "tiny.yaml") -> list:
    """The command that runs the Snakefile of ``workdir``'s tree (the checkout, or the shared
    runs' copy) in ``workdir`` on 2 cores and 1 GPU slot, with ``workdir/configfile`` (None: the
    workflow's own config/config.yaml only)."""
    config = ["--configfile", str(workdir / configfile)] if configfile else []
    snakefile = tree_of(workdir) / "Snakefile"
    return [sys.executable, "-m", "snakemake", "-s", str(snakefile), "-d", str(workdir),
            "--cores", "2", "--resources", "gpu=1", *config, *args]  # fmt: skip


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the Snakefile of ``workdir``'s tree in ``workdir`` (which holds a config/ copy)."""
    cmd = snakemake_command(workdir, *args)
    with tree_lock(tree_of(workdir), exclusive=False):  # no edit of a shared tree meanwhile
        proc = subprocess.run(
            cmd,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=1800,
            env=snakemake_env(workdir),
        )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def tiny_text(**overrides: str) -> str:
    """tests/data/tiny.yaml with each key of ``overrides`` (a piece of its text) replaced."""
    text = TINY.read_text()
    for key, value in overrides.items():
        text = text.replace(key, value)
    return text


def make_workdir(path: Path, **overrides) -> Path:
    shutil.copytree(REPO / "config", path / "config")
    (path / "tiny.yaml").write_text(tiny_text(**overrides))
    return path


def _resolve(texts: list[str], schema: Path) -> dict:
    """The config Snakemake runs from these YAML texts, each updating the last, numbers
    coerced and schema defaults filled in, as rules/common.smk does."""
    import yaml
    from snakemake.utils import update_config, validate

    from celeba_gender.config import coerce_numbers

    config: dict = {}
    for text in texts:
        update_config(config, yaml.safe_load(text) or {})
    coerce_numbers(config, yaml.safe_load(schema.read_text()))
    validate(config, str(schema))
    return config


def resolved_config(workdir: Path, *configfiles: str) -> dict:
    """The config of a run in ``workdir`` with ``configfiles`` (relative to it) after the
    workflow's own config/config.yaml."""
    names = ("config/config.yaml", *configfiles)
    return _resolve([(workdir / n).read_text() for n in names], workdir / "config/schema.yaml")


def run_paths(workdir: Path, *configfiles: str) -> WorkflowPaths:
    """Where the run in ``workdir`` with ``configfiles`` (default: the tests' tiny.yaml) puts
    everything: the same ``celeba_gender.paths`` derivation as the rules'."""
    return WorkflowPaths.from_config(resolved_config(workdir, *(configfiles or ("tiny.yaml",))))


def tiny_paths(**overrides: str) -> WorkflowPaths:
    """The paths of a run of ``make_workdir(path, **overrides)`` (no folder needed)."""
    texts = [(REPO / "config/config.yaml").read_text(), tiny_text(**overrides)]
    return WorkflowPaths.from_config(_resolve(texts, REPO / "config/schema.yaml"))


class PlanParseError(AssertionError):
    """A dry run's output that is neither "Nothing to be done" nor a consistent job-stats table."""


NOTHING_TO_DO = re.compile(
    r"^Nothing to be done \(all requested files are present and up to date\)\.?$", re.M
)
STATS_HEADER = re.compile(r"^Job stats:\n(job +count)\n(-+ +-+)\n", re.M)
STATS_ROW = re.compile(r"^(\S+) +(\d+)$")


def parse_job_stats(out: str) -> dict[str, int]:
    """Rule -> number of jobs, from the output of ``snakemake -n --quiet rules`` (Snakemake 9).

    "Nothing to be done (all requested files are present and up to date)." is an empty plan;
    otherwise a "Job stats:" table must be there (Snakemake 9.27 prints it twice, the same), every
    row ``<rule> <count>`` up to its ``total`` row, the counts adding up to the total. Anything
    else raises ``PlanParseError`` with the output: a plan that cannot be read is never empty.
    """

    def fail(why: str) -> PlanParseError:
        return PlanParseError(f"a dry run's output cannot be read as a plan: {why}:\n{out[-6000:]}")

    headers = list(STATS_HEADER.finditer(out))
    if NOTHING_TO_DO.search(out):
        if headers:
            raise fail("it says nothing is to be done and has job stats")
        return {}
    if not headers:
        raise fail("neither 'Nothing to be done' nor a job-stats table")
    tables = []
    for header in headers:
        jobs: dict[str, int] = {}
        for line in out[header.end() :].splitlines():
            match = STATS_ROW.match(line.strip())
            if not match:
                raise fail(f"a job-stats row reads {line!r}")
            rule, count = match[1], int(match[2])
            if rule == "total":
                if not jobs or count != sum(jobs.values()):
                    raise fail(
                        f"the job stats' total is {count}, its rows sum to {sum(jobs.values())}"
                    )
                break
            if rule in jobs:
                raise fail(f"rule {rule} twice in the job stats")
            jobs[rule] = count
        else:
            raise fail("job stats without a total row")
        tables.append(jobs)
    if any(table != tables[0] for table in tables):
        raise fail("its job-stats tables differ")
    return tables[0]


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Rule -> number of jobs a dry run would execute ({} only for "Nothing to be done")."""
    return parse_job_stats(snakemake(workdir, "-n", "--quiet", "rules", *args).stdout)


def shared_rules(run: Path, *args: str) -> set[str]:
    """The rules whose outputs in the finished run ``run`` live where experiments share them:
    results/data/ (ingest, split, EDA), results/cache/ (decoded images, caches, random weights)
    and the synthetic dataset's data.root (``snakemake --summary``, ``args`` its config files)."""
    config = resolved_config(run, *(_config_args(args) or ("tiny.yaml",)))
    places = ("results/data/", "results/cache/", config["data"]["root"].rstrip("/") + "/")
    lines = snakemake(run, "--summary", *args).stdout.splitlines()
    header = next((i for i, line in enumerate(lines) if line.startswith("output_file\t")), None)
    if header is None:
        raise AssertionError("snakemake --summary printed no table:\n" + "\n".join(lines[-50:]))
    columns = lines[header].split("\t")
    rules = set()
    for line in lines[header + 1 :]:
        row = dict(zip(columns, line.split("\t"), strict=False))
        if row.get("output_file", "").startswith(places):
            rules.add(row["rule"])
    return rules


def _config_args(args: tuple[str, ...]) -> list[str]:
    """The config files of a ``--configfile a b`` among Snakemake arguments."""
    if "--configfile" not in args:
        return []
    rest = args[args.index("--configfile") + 1 :]
    return [
        a for a in rest[: next((i for i, a in enumerate(rest) if a.startswith("-")), len(rest))]
    ]


def touched_plan(run: Path, path: Path) -> dict[str, int]:
    """The jobs a dry run of ``run`` plans after the file at ``path`` was edited.

    ``path`` must be a file of the run's tree, a copy (never the checkout: no test writes into
    it). Snakemake 9 compares checksums of inputs, so a bare mtime bump is not an edit: a comment
    is appended, and the file (content and times) is restored afterwards. Other pytest processes
    using the same copy wait meanwhile (``tree_lock``).
    """
    tree = tree_of(run)
    if tree == REPO or not path.resolve().is_relative_to(tree.resolve()):
        raise AssertionError(
            f"{path} is not a file of a copy of the tree ({tree}): tests never edit the checkout"
        )
    with tree_lock(tree, exclusive=True):
        text, before = path.read_text(), path.stat()
        try:
            path.write_text(text + "\n# edited by the tests\n")
            return planned_jobs(run)
        finally:
            path.write_text(text)
            os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


# ---------------------------------------------------------------- shared finished runs
#
# A finished run of the tiny config is built once per state of the tree, in a COPY of the tree
# (`git ls-files -co --exclude-standard`: tracked files and untracked ones not ignored), under
# ${CELEBA_GENDER_TEST_CACHE:-~/.cache/celeba-gender-tests}/<key>/ with
#   tree/         the copy (its Snakefile runs; the rules' code inputs are its scripts/ files)
#   runs/tiny/    the finished run's workdir (config/ copy, tiny.yaml, results/, .snakemake/)
#   runs/tiny.complete, tree.complete   written last: the entry is usable
# <key> hashes every copied file's path and bytes, the Python version and the versions of
# snakemake, torch and torchvision: an unchanged tree reuses the run across pytest processes, any
# edit (or an upgrade) gets a fresh one. <key>.lock (fcntl.flock, exclusive while building, shared
# while in use) makes a second process wait for the first one's build instead of building it
# twice. A new entry prunes the entries no process uses beyond the KEEP_ENTRIES most recently
# used (each is ~2.6 GB); `rm -rf ~/.cache/celeba-gender-tests` at will.
#
# Tests that only read a shared run use ``workflow_run`` directly (dry runs included: they write
# nothing that matters, only .snakemake/ bookkeeping); tests that change a run take
# ``copy_run(workflow_run, tmp_path / "run")`` (the copy keeps its tree, mtimes and .snakemake/);
# tests that edit code edit the copy's files through ``touched_plan``, which restores them.

CACHE_VARIABLE = "CELEBA_GENDER_TEST_CACHE"


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_VARIABLE) or Path.home() / ".cache" / "celeba-gender-tests")


# Not part of the copy (nor of its key): files the workflow never reads, so that editing a test
# or a doc does not rebuild the shared runs. tests/data/ (the configs the runs use) is copied.
NOT_COPIED = ("tests/", "docs/", ".ci/", "README.md")
COPIED_ANYWAY = ("tests/data/",)


def tree_files(repo: Path = REPO, everything: bool = False) -> list[str]:
    """The checkout's files (``git ls-files -co --exclude-standard``: tracked, and untracked
    but not ignored) that exist; unless ``everything``, only those a copy of the tree holds."""
    out = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-co", "--exclude-standard", "-z"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    names = {name for name in out.split("\0") if name and (repo / name).is_file()}
    if not everything:
        names = {n for n in names if n.startswith(COPIED_ANYWAY) or not n.startswith(NOT_COPIED)}
    return sorted(names)


def files_digest(repo: Path, names: list[str]) -> str:
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256((repo / name).read_bytes()).digest())
    return digest.hexdigest()


def tree_key(repo: Path = REPO) -> str:
    """The shared runs' cache key: the copied files' paths and bytes, the Python version and the
    versions of snakemake, torch and torchvision (16 hex digits of a SHA-256)."""
    from importlib.metadata import version

    versions = [sys.version, *(version(p) for p in ("snakemake", "torch", "torchvision"))]
    text = repr(versions) + files_digest(repo, tree_files(repo))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def checkout_state(repo: Path = REPO) -> str:
    """Every file of the checkout (tests and docs included), by content: what no test may change."""
    return files_digest(repo, tree_files(repo, everything=True))


_held: dict[Path, int] = {}


@contextlib.contextmanager
def tree_lock(tree: Path, exclusive: bool) -> Iterator[None]:
    """An flock on a shared tree's entry: exclusive while a test edits the copy's code, shared
    while a Snakemake subprocess runs on it (other processes' edits wait). Re-entrant within a
    process; no lock for the checkout."""
    if tree == REPO or _held.get(tree):
        _held[tree] = _held.get(tree, 0) + 1
        try:
            yield
        finally:
            _held[tree] -= 1
        return
    with open(tree.parent / "edit.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        _held[tree] = 1
        try:
            yield
        finally:
            _held[tree] = 0
            fcntl.flock(handle, fcntl.LOCK_UN)


KEEP_ENTRIES = 2  # cache entries kept besides those in use (each ~2.6 GB: models and weights)
_in_use: dict[Path, object] = {}  # entry -> its lock file, held shared while this process runs


def _use_entry(entry: Path) -> object:
    """Open ``<entry>.lock`` and hold it shared (as long as this process runs): a process that
    builds the entry holds it exclusively, so this waits for a build under way; a held lock also
    keeps other processes from pruning the entry."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    lock = entry.parent / f"{entry.name}.lock"
    handle = open(lock, "a+")  # noqa: SIM115 - held until the process ends
    fcntl.flock(handle, fcntl.LOCK_SH)
    os.utime(lock)  # last use, for pruning
    _in_use[entry] = handle
    return handle


def _prune(keep: Path) -> None:
    """Remove cache entries that no process uses, beyond the KEEP_ENTRIES most recently used."""
    locks = sorted(keep.parent.glob("*.lock"), key=lambda p: p.stat().st_mtime, reverse=True)
    for lock in locks[KEEP_ENTRIES:]:
        entry = lock.with_suffix("")
        if entry == keep:
            continue
        with open(lock, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # in use
            shutil.rmtree(entry, ignore_errors=True)
            lock.unlink(missing_ok=True)


def _copy_tree(entry: Path) -> Path:
    """``entry/tree``: the copy of the checkout's files (made once; call with the entry's lock
    held exclusively)."""
    tree, done = entry / "tree", entry / "tree.complete"
    if not done.is_file():
        shutil.rmtree(tree, ignore_errors=True)
        for name in tree_files():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, tree / name)
        done.write_text(f"{REPO}\n")
    return tree


def shared_run(name: str = "tiny") -> Path:
    """The workdir of a finished run of tests/data/tiny.yaml in the shared copy of the tree,
    built on first use (``name``: the run's folder; only "tiny" is built today)."""
    if name != "tiny":
        raise ValueError(f"no shared run {name!r}")
    entry = cache_root() / tree_key()
    workdir, done = entry / "runs" / name, entry / "runs" / f"{name}.complete"
    handle = _in_use.get(entry) or _use_entry(entry)
    if done.is_file():
        return workdir
    fcntl.flock(handle, fcntl.LOCK_EX)  # from shared: others wait (flock converts, not atomic)
    try:
        if not done.is_file():  # else another process built it while this one waited
            tree = _copy_tree(entry)
            shutil.rmtree(workdir, ignore_errors=True)
            workdir.mkdir(parents=True)
            shutil.copytree(tree / "config", workdir / "config")
            shutil.copy2(tree / "tests" / "data" / "tiny.yaml", workdir / "tiny.yaml")
            (workdir / TREE_FILE).write_text(f"{tree}\n")
            started = time.monotonic()
            snakemake(workdir)
            done.write_text(f"built in {time.monotonic() - started:.0f} s\n")
    finally:
        fcntl.flock(handle, fcntl.LOCK_SH)
    _prune(keep=entry)
    return workdir


def copy_run(run: Path, dest: Path) -> Path:
    """A copy of a finished run's workdir to change: .snakemake/ and modification times kept (no
    job looks stale), the same tree (the code inputs Snakemake recorded stay the same files)."""
    shutil.copytree(run, dest, symlinks=True)
    return dest


@pytest.fixture(scope="session")
def workflow_run() -> Path:
    """A finished run of the whole workflow on the tiny synthetic config, shared by every test
    and, while the tree is unchanged, by every pytest process (read it; copy it to change it)."""
    return shared_run("tiny")


# ---------------------------------------------------------------- no test writes into the checkout

_START_KEY = pytest.StashKey[str]()


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_START_KEY] = checkout_state()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session when the checkout's files changed while it ran (a test wrote into it).
    CELEBA_GENDER_UPDATE_SCREENSHOT=1 (tests/test_browser.py) writes docs/ on purpose."""
    start = session.config.stash.get(_START_KEY, None)
    if start is None or os.environ.get("CELEBA_GENDER_UPDATE_SCREENSHOT") == "1":
        return
    if checkout_state() != start:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = (
            "the checkout's files changed during the test session (git ls-files -co "
            "--exclude-standard, by content): a test wrote into the checkout, or it was edited "
            "meanwhile; see git status"
        )
        if reporter:
            reporter.write_line(f"ERROR: {message}", red=True)
        else:
            print(f"ERROR: {message}", file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
