"""Atomic outputs: a writer that fails (or is killed) half-way leaves neither a truncated file
under the final name nor a temporary, and the previous file stays as it was until the rename.

The writers are made to fail by replacing the library call that writes the bytes (torch.save,
DataFrame.to_csv, Figure.savefig, Path.write_text) with one that writes part of a file and
raises. A source scan checks that every write in scripts/ goes through a temporary of
``atomic_path`` (or one of the io.py helpers built on it). Last, the SHA-256 records kept beside
a file are used only while the file is unchanged.
"""

from __future__ import annotations

import ast
import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from celeba_gender import engine  # noqa: E402
from celeba_gender.io import (  # noqa: E402
    atomic_path,
    record_sha256,
    save_figure,
    save_torch,
    sha256_of,
    sha256_record_path,
    write_csv,
    write_json,
    write_text,
)
from conftest import REPO  # noqa: E402

PREVIOUS = b"the previous, complete file\n"


class DiskFull(OSError):
    """Raised by a writer half-way through a file."""


def half_writer(target_arg: int) -> Callable:
    """A stand-in for a library writer: writes a few bytes to its ``target_arg``-th argument
    (a path, or a file object: io.save_torch), then fails as a full disk or a kill would."""

    def write(*args, **_kwargs):
        target = args[target_arg]
        if hasattr(target, "write"):
            target.write(b"\x00\x01 half a file")
        else:
            with open(target, "wb") as handle:  # the failure being simulated
                handle.write(b"\x00\x01 half a file")
        raise DiskFull("No space left on device")

    return write


def a_figure() -> Figure:
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([0, 1], [1, 0])
    return fig


SETTINGS = engine.TrainSettings(strategy=1, lr=1e-4, epochs=1, batch_size=8, seed=0)

# name -> (final file name, write it, (object, attribute) of the library call, its path argument)
WRITERS = {
    "write_csv": ("table.csv", lambda p: write_csv(p, pd.DataFrame({"a": [1, 2]})),
                  (pd.DataFrame, "to_csv"), 1),
    "write_json": ("summary.json", lambda p: write_json(p, {"a": 1}), (Path, "write_text"), 0),
    "write_text": ("report.html", lambda p: write_text(p, "<html></html>"),
                   (Path, "write_text"), 0),
    "save_figure": ("curves.png", lambda p: save_figure(p, a_figure()), (Figure, "savefig"), 1),
    "save_model": ("model.pt", lambda p: engine.save_model(p, torch.nn.Linear(2, 1), SETTINGS, 1, {}),
                   (torch, "save"), 1),
    "save_checkpoint": ("last.pt", lambda p: engine.save_checkpoint(p, epoch=1, history=[]),
                        (torch, "save"), 1),
}  # fmt: skip


@pytest.fixture(params=sorted(WRITERS))
def writer(request) -> tuple[str, Callable[[Path], None], tuple[object, str], int]:
    return WRITERS[request.param]


@pytest.fixture
def failing_writer(writer, monkeypatch) -> tuple[str, Callable[[Path], None]]:
    name, write, (owner, attribute), target_arg = writer
    monkeypatch.setattr(owner, attribute, half_writer(target_arg))
    return name, write


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ---------------------------------------------------------------- atomic_path itself


def test_an_exception_inside_atomic_path_leaves_neither_the_file_nor_a_temporary(tmp_path):
    final = tmp_path / "out" / "table.csv"
    with pytest.raises(DiskFull), atomic_path(final) as tmp:
        tmp.write_bytes(b"half")
        raise DiskFull("No space left on device")
    assert files_in(final.parent) == []


def test_an_interrupt_inside_atomic_path_leaves_no_temporary(tmp_path):
    """Ctrl-C (KeyboardInterrupt, not an Exception) cleans up too."""
    final = tmp_path / "table.csv"
    with pytest.raises(KeyboardInterrupt), atomic_path(final) as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert files_in(tmp_path) == []


def test_atomic_path_leaves_an_existing_file_unchanged_until_the_rename(tmp_path):
    final = tmp_path / "table.csv"
    final.write_bytes(PREVIOUS)
    with atomic_path(final) as tmp:
        tmp.write_bytes(b"new contents\n")
        assert final.read_bytes() == PREVIOUS
    assert final.read_bytes() == b"new contents\n"
    assert files_in(tmp_path) == ["table.csv"]


def test_a_failure_inside_atomic_path_keeps_the_previous_file(tmp_path):
    final = tmp_path / "table.csv"
    final.write_bytes(PREVIOUS)
    with pytest.raises(DiskFull), atomic_path(final) as tmp:
        tmp.write_bytes(b"half")
        raise DiskFull("No space left on device")
    assert final.read_bytes() == PREVIOUS
    assert files_in(tmp_path) == ["table.csv"]


def test_the_temporary_is_hidden_beside_the_file_and_keeps_its_suffix(tmp_path):
    """Hidden (``.name.*``), so nothing globbing outputs reads it; the same suffix, so
    matplotlib and numpy pick the right format from it."""
    with atomic_path(tmp_path / "curves.png") as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(".curves.png.") and tmp.suffix == ".png"


# ---------------------------------------------------------------- every writer


def test_a_writer_failing_half_way_leaves_no_file_and_no_temporary(failing_writer, tmp_path):
    name, write = failing_writer
    folder = tmp_path / "out"
    with pytest.raises(DiskFull):
        write(folder / name)
    assert files_in(folder) == []


def test_a_writer_failing_half_way_keeps_the_previous_file(failing_writer, tmp_path):
    name, write = failing_writer
    (tmp_path / name).write_bytes(PREVIOUS)
    with pytest.raises(DiskFull):
        write(tmp_path / name)
    assert (tmp_path / name).read_bytes() == PREVIOUS
    assert files_in(tmp_path) == [name]


def test_a_writer_replaces_the_previous_file_and_leaves_no_temporary(writer, tmp_path):
    name, write, _call, _arg = writer
    (tmp_path / name).write_bytes(PREVIOUS)
    write(tmp_path / name)
    assert (tmp_path / name).read_bytes() not in (PREVIOUS, b"")
    assert files_in(tmp_path) == [name]


# ---------------------------------------------------------------- source scan

# Calls that write a file, with the argument that names it ("self": the object called on).
METHOD_WRITERS = {
    "to_csv": 0,
    "to_json": 0,
    "to_parquet": 0,
    "to_pickle": 0,
    "savefig": 0,
    "tofile": 0,
    "write_text": "self",
    "write_bytes": "self",
    "savez": 0,
    "savez_compressed": 0,
    "savetxt": 0,
    "open_memmap": 0,
    "download_url_to_file": 1,
    "urlretrieve": 1,
}
MODULE_WRITERS = {  # (module name, function) -> argument naming the file
    ("torch", "save"): 1,
    ("np", "save"): 0,
    ("numpy", "save"): 0,
    ("shutil", "copyfile"): 1,
    ("shutil", "copy"): 1,
    ("shutil", "copy2"): 1,
    ("shutil", "move"): 1,
    ("shutil", "copytree"): 1,
}
WRITE_MODE = set("wax+")

# Writes outside atomic_path that are fine, by file and the start of the call, with the reason.
ALLOWED = {
    ("scripts/celeba_gender/synth.py", "image.save(buffer, "): "a JPEG round trip in memory "
    "(io.BytesIO) to give the synthetic face JPEG artefacts; no file is written",
    ("scripts/celeba_gender/__main__.py", "table.to_csv(sys.stdout, "): "celeba-gender "
    "experiments --csv prints the table to the terminal; no file is written",
}


def _mode(call: ast.Call, position: int) -> str | None:
    """The literal mode of an open-like call (positional ``position`` or ``mode=``)."""
    node = next((k.value for k in call.keywords if k.arg == "mode"), None)
    if node is None and len(call.args) > position:
        node = call.args[position]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _is_write_mode(mode: str | None) -> bool:
    return mode is not None and set(mode) <= set("rwxabtU+") and bool(set(mode) & WRITE_MODE)


def _argument(call: ast.Call, position: int | str) -> ast.AST | None:
    if position == "self":
        return call.func.value if isinstance(call.func, ast.Attribute) else None
    return call.args[position] if len(call.args) > position else None


def written_file(call: ast.Call) -> tuple[bool, ast.AST | None]:
    """(whether ``call`` writes a file, the expression naming that file)."""
    func = call.func
    if isinstance(func, ast.Name) and func.id == "open":
        return _is_write_mode(_mode(call, 1)), _argument(call, 0)
    if not isinstance(func, ast.Attribute):
        return False, None
    owner = func.value.id if isinstance(func.value, ast.Name) else None
    if (owner, func.attr) in MODULE_WRITERS:
        return True, _argument(call, MODULE_WRITERS[(owner, func.attr)])
    if func.attr == "open_memmap":
        mode = _mode(call, 1)
        return mode not in ("r", "c"), _argument(call, 0)  # its default, r+, writes in place
    if func.attr == "open":  # Path.open(mode), gzip.open(path, mode), Image.open(path) ...
        return _is_write_mode(_mode(call, 0)) or _is_write_mode(_mode(call, 1)), func.value
    if func.attr == "save":  # PIL's Image.save(fp, format)
        return True, _argument(call, 0)
    if func.attr in METHOD_WRITERS:
        return True, _argument(call, METHOD_WRITERS[func.attr])
    return False, None


def _calls_atomic_path(node: ast.AST) -> bool:
    return any(
        isinstance(n, ast.Call)
        and (
            getattr(n.func, "id", None) == "atomic_path"
            or getattr(n.func, "attr", None) == "atomic_path"
        )
        for n in ast.walk(node)
    )


def temporaries(with_node: ast.With) -> set[str]:
    """Names a ``with`` block binds to atomic_path temporaries: ``with atomic_path(p) as tmp``,
    or, with an ExitStack, ``tmps = {... stack.enter_context(atomic_path(p)) ...}`` in its body."""
    names = set()
    for item in with_node.items:
        if _calls_atomic_path(item.context_expr) and isinstance(item.optional_vars, ast.Name):
            names.add(item.optional_vars.id)
    for statement in with_node.body:
        if isinstance(statement, ast.Assign) and _calls_atomic_path(statement.value):
            names |= {
                n.id for t in statement.targets for n in ast.walk(t) if isinstance(n, ast.Name)
            }
    return names


def _names(node: ast.AST | None) -> set[str]:
    return set() if node is None else {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def non_atomic_writes(source: str) -> Iterator[tuple[int, str]]:
    """(line, call) of every call in ``source`` that writes a file other than a temporary of
    an enclosing ``atomic_path`` block."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        writes, target = written_file(node)
        if not writes:
            continue
        allowed, ancestor = set(), parents.get(node)
        while ancestor is not None:
            if isinstance(ancestor, ast.With):
                allowed |= temporaries(ancestor)
            ancestor = parents.get(ancestor)
        if not _names(target) & allowed:
            yield node.lineno, ast.unparse(node)


@pytest.mark.parametrize(
    ("snippet", "flagged"),
    [
        ("frame.to_csv(path, index=False)", True),
        ("with atomic_path(path) as tmp:\n    frame.to_csv(tmp, index=False)", False),
        ("with atomic_path(path) as tmp:\n    frame.to_csv(path, index=False)", True),
        ("torch.save(state, path)", True),
        ("with atomic_path(path) as tmp:\n    torch.save(state, tmp)", False),
        ("np.save(path, array)", True),
        ("fig.savefig(path)", True),
        ("Path(path).write_text(text)", True),
        ("with atomic_path(path) as tmp:\n    tmp.write_text(text)", False),
        ("out.write_bytes(data)", True),
        ("with open(path, 'w') as handle:\n    handle.write(text)", True),
        ("with open(path, mode='ab') as handle:\n    handle.write(text)", True),
        ("with open(path) as handle:\n    text = handle.read()", False),
        ("with path.open('w') as handle:\n    handle.write(text)", True),
        ("with Image.open(path) as image:\n    image.load()", False),
        ("array = np.lib.format.open_memmap(path, mode='w+', dtype='u1', shape=(2,))", True),
        (
            "with contextlib.ExitStack() as stack:\n"
            "    tmps = {k: stack.enter_context(atomic_path(p)) for k, p in out.items()}\n"
            "    arrays = {k: np.lib.format.open_memmap(tmps[k], mode='w+') for k in out}",
            False,
        ),
        ("shutil.copyfile(src, dest)", True),
    ],
)
def test_the_source_scan_flags_writes_outside_atomic_path(snippet, flagged) -> None:
    """The scanner itself: it would catch a non-atomic writer."""
    assert bool(list(non_atomic_writes(snippet))) == flagged


def test_every_write_in_scripts_goes_through_atomic_path() -> None:
    """No file in scripts/ (but io.py, which implements it) writes a file except to an
    atomic_path temporary; the few in-memory writes are listed in ALLOWED with the reason."""
    found, allowed_seen = [], set()
    for path in sorted((REPO / "scripts").rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        if relative == "scripts/celeba_gender/io.py":
            continue
        for line, call in non_atomic_writes(path.read_text()):
            allowance = next(
                (a for a in ALLOWED if a[0] == relative and call.startswith(a[1])), None
            )
            if allowance is None:
                found.append(f"{relative}:{line}: {call}")
            else:
                allowed_seen.add(allowance)
    assert found == []
    assert allowed_seen == set(ALLOWED), "an ALLOWED entry matches nothing: remove it"


def test_save_torch_gives_the_same_bytes_under_any_name(tmp_path: Path) -> None:
    """torch.save to a path names the archive after the file (here a random temporary name);
    save_torch does not: the same object, the same bytes, whatever the file is called."""
    state = {"weight": torch.arange(6.0).reshape(2, 3), "epoch": 3}
    save_torch(tmp_path / "a.pt", state)
    save_torch(tmp_path / "sub" / "other-name.pt", state)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "sub" / "other-name.pt").read_bytes()
    loaded = torch.load(tmp_path / "a.pt", weights_only=True)
    assert torch.equal(loaded["weight"], state["weight"]) and loaded["epoch"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt", "sub"]  # no temporary left


# ---------------------------------------------------------------- recorded hashes


def test_recorded_hash_is_used_while_the_file_is_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "w.pth"
    path.write_bytes(b"weights")
    record_sha256(path)
    record = sha256_record_path(path)
    fake = record.read_text().replace(sha256_of(path), "f" * 64)
    record.write_text(fake)  # a record that lies proves the file is not read again
    assert sha256_of(path) == "f" * 64


def test_recorded_hash_is_ignored_once_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "w.pth"
    path.write_bytes(b"weights")
    record_sha256(path)
    tmp = tmp_path / "new.pth"
    tmp.write_bytes(b"other weights")
    os.replace(tmp, path)  # as atomic_path replaces a file: new inode, size and mtime
    assert sha256_of(path) == hashlib.sha256(b"other weights").hexdigest()


def test_unreadable_record_falls_back_to_hashing(tmp_path: Path) -> None:
    path = tmp_path / "w.pth"
    path.write_bytes(b"weights")
    sha256_record_path(path).write_text("{not json")
    assert sha256_of(path) == hashlib.sha256(b"weights").hexdigest()
