"""Code versions derived from what an asset's code imports, never from hand-kept lists.

An asset's version is a hash of its own function, the helpers of its module that it
calls (transitively), and every module of this package that those reach through their
imports, transitively (imports inside functions count too), with the data files beside
each module (prompt templates, the gallery's CSS and JS). Dagster flags a partition stale
exactly when that code changes.

The Dagster layer itself is left out of the walk, except `defs.resources`, which picks the
LLM backend and the warehouse: how metadata is shown or a job is wired does not change what
a row holds, while the backend and the storage do.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import sys
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

PACKAGE = "goose_assets"
PACKAGE_ROOT = Path(__file__).resolve().parents[1]
# the Dagster layer's modules that decide what a row holds
_FOLLOWED_DEFS = {f"{PACKAGE}.defs.resources"}
_DATA_SUFFIXES = (".txt", ".css", ".js")


def _module_file(name: str) -> Path | None:
    """The source file of a module of this package (None: not one of ours)."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        return None
    base = PACKAGE_ROOT.parent.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _followed(name: str) -> bool:
    return not name.startswith(f"{PACKAGE}.defs") or name in _FOLLOWED_DEFS


def _imported_modules(tree: ast.AST, current: str) -> set[str]:
    """Modules of this package that `tree` imports (`from pkg import mod` names a module)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the current package
                parts = current.split(".")[: -node.level]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in found if _module_file(m) is not None}


@cache
def _module_imports(name: str) -> frozenset[str]:
    path = _module_file(name)
    assert path is not None
    return frozenset(_imported_modules(ast.parse(path.read_text(encoding="utf-8")), name))


def reachable_modules(start: Iterable[str]) -> list[str]:
    """`start` and every module of this package they import, transitively (sorted)."""
    seen: set[str] = set()
    todo = [m for m in start if _followed(m)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(m for m in _module_imports(name) if m not in seen and _followed(m))
    return sorted(seen)


def _function_closure(fn: Callable[..., Any]) -> tuple[list[str], set[str]]:
    """(sources of `fn` and of the same-module helpers it uses, transitively; the modules
    of this package that those refer to by name)."""
    module = sys.modules[fn.__module__]
    tree = ast.parse(inspect.getsource(module))
    defs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    imported: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                full = f"{node.module}.{a.name}"
                imported[a.asname or a.name] = full if _module_file(full) else node.module
        elif isinstance(node, ast.Import):
            for a in node.names:
                imported[a.asname or a.name.split(".")[0]] = a.name
    sources, modules, todo, seen = [], set(), [fn.__name__], set()
    while todo:
        name = todo.pop()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        sources.append(ast.get_source_segment(inspect.getsource(module), defs[name]) or "")
        for node in ast.walk(defs[name]):
            if isinstance(node, ast.Name):
                if node.id in defs:
                    todo.append(node.id)
                elif node.id in imported and _module_file(imported[node.id]):
                    modules.add(imported[node.id])
    return sources, modules


def code_version(fn: Callable[..., Any]) -> str:
    """The code version of the asset (or check) whose body is `fn`."""
    sources, modules = _function_closure(fn)
    digest = hashlib.sha256()
    for source in sources:
        digest.update(source.encode())
    for name in reachable_modules(modules):
        path = _module_file(name)
        assert path is not None
        digest.update(name.encode() + b"\0" + path.read_bytes())
        for data in sorted(p for p in path.parent.iterdir() if p.suffix in _DATA_SUFFIXES):
            digest.update(data.name.encode() + b"\0" + data.read_bytes())
    return digest.hexdigest()[:12]
