"""The package modules a wrapper script runs, found by reading its imports (``ast``).

Snakemake reruns a job when an input is newer than its outputs, but it does not follow the
imports of a ``script:``. The workflow therefore makes every rule's wrapper script and the
package modules it reaches inputs of the rule (``rules/common.smk``: ``track_script_code``), so
that editing a module reruns exactly the rules whose scripts import it, directly or through the
package. Standard library only: it runs when the workflow is parsed.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

PACKAGE = "celeba_gender"
PACKAGE_DIR = Path(__file__).resolve().parent


def _module_file(name: str, package_dir: Path) -> Path | None:
    """The file of package module ``name`` (``"engine"``, ``""`` for the package itself)."""
    if not name:
        return package_dir / "__init__.py"
    first = name.split(".")[0]
    for candidate in (package_dir / f"{first}.py", package_dir / first / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_module(module: str | None, level: int, in_package: bool) -> str | None:
    """The module (relative to the package, "" for the package) that an import names (``level``:
    the dots of a relative import), or None when it names no module of the package."""
    if level:  # relative: only meaningful inside the (flat) package
        return (module or "") if in_package else None
    if module == PACKAGE:
        return ""
    if module and module.startswith(PACKAGE + "."):
        return module[len(PACKAGE) + 1 :]
    return None


def imported_modules(path: str | os.PathLike, package_dir: Path = PACKAGE_DIR) -> set[Path]:
    """Package module files that the file at ``path`` imports, in any import form: ``import
    celeba_gender.x``, ``from celeba_gender import a, b`` (modules or names of ``__init__``),
    ``from celeba_gender.x import y``, parenthesised lists, and relative imports (``from . import
    a``, ``from .x import y``) inside the package; at any depth of the file (function bodies
    too). Importing any module of the package runs ``__init__.py``, so it is always included."""
    path = Path(path)
    in_package = path.resolve().parent == package_dir.resolve()
    found: set[Path] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            modules = (_package_module(alias.name, 0, in_package) for alias in node.names)
            names = [module for module in modules if module is not None]
        elif isinstance(node, ast.ImportFrom):
            module = _package_module(node.module, node.level, in_package)
            if module is None:
                continue
            names = [module]
            if module == "":  # from celeba_gender import a, b: a and b may be modules
                names += [alias.name for alias in node.names]
        for name in names:
            file = _module_file(name, package_dir)
            if file is not None:
                found |= {file, package_dir / "__init__.py"}
    return found


def code_dependencies(script: str | os.PathLike, package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """``script`` and every package module it reaches through imports (transitively), sorted."""
    script = Path(script)
    seen: set[Path] = set()
    todo = [script]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(imported_modules(current, package_dir) - seen)
    return sorted(seen)
