"""The layers point one way (DESIGN §2): the import-linter contracts in pyproject.toml hold."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_the_import_contracts_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    cli = pytest.importorskip("importlinter.cli", reason="import-linter is in the dev extra: pip install -e '.[dev]'")
    monkeypatch.chdir(REPO)
    # import-linter configures logging, which disables every logger that exists by then (the
    # backends' too, imported at collection): later tests that read their logs need them back
    loggers = [lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    disabled = {lg: lg.disabled for lg in loggers}
    try:
        assert cli.lint_imports(config_filename=str(REPO / "pyproject.toml")) == 0, "an import breaks a layer contract (output above)"
    finally:
        for lg, was in disabled.items():
            lg.disabled = was


def test_core_modules_import_no_other_layer() -> None:
    """The same rule, read from the source: a reminder that holds where import-linter is
    not installed (the shared venv of a checkout that predates it)."""
    import ast

    offenders = []
    for path in sorted((REPO / "goose_assets" / "core").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                top = name.split(".")
                if top[0] in ("dagster", "duckdb") or (top[0] == "goose_assets" and top[1:2] not in (["core"], ["reward"])):
                    offenders.append(f"{path.relative_to(REPO)}: {name}")
    assert not offenders
