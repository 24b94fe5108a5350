"""Fixtures: a PostgreSQL server per session, a fresh DuckLake catalog database per test, and
the embedded-DuckDB reference run."""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Iterator

import pytest

from goose_assets.storage.duckdb_warehouse import Warehouse
from goose_assets_tests.scale.backfill import MAX_DOCS, Reference, run_backfill, snapshot
from goose_assets_tests.scale.servers import Postgres, ServerUnavailable, postgres_server

_db_numbers = itertools.count()


@pytest.fixture(scope="session")
def scale_extra() -> None:
    missing = [p for p in ("duckdb_extension_ducklake", "duckdb_extension_postgres_scanner")
               if importlib.util.find_spec(p) is None]
    if missing:
        pytest.skip(f"{missing} not installed: pip install -e '.[scale]'")


@pytest.fixture(scope="session")
def postgres(scale_extra: None) -> Iterator[Postgres]:
    try:
        with postgres_server() as server:
            yield server
    except ServerUnavailable as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")


@pytest.fixture()
def lake_catalog(postgres: Postgres) -> str:
    """A DuckLake catalog in a database of its own, so tests never see each other's tables."""
    return postgres.createdb(f"lake_{next(_db_numbers)}")


@pytest.fixture(scope="session")
def duckdb_reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    root = tmp_path_factory.mktemp("duckdb_reference")
    run = run_backfill({"GOOSE_HOME": str(root / "home"), "GOOSE_WAREHOUSE": "duckdb"}, writers=1,
                       barrier=root / "barrier", max_docs=MAX_DOCS)
    assert all(c["success"] for c in run.children) and run.lock_errors() == []
    return Reference(rows=snapshot(Warehouse(root / "home" / "warehouse.duckdb")), seconds=run.seconds)
