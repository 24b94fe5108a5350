"""A backfill of all four domains by four concurrent writer processes into DuckLake on a
real PostgreSQL catalog gives exactly the rows of the embedded DuckDB run, with no lock
errors. Set GOOSE_SCALE_MAX_DOCS and GOOSE_CORPUS_DIR to run it over a larger corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from goose_assets.core.records import DOMAINS
from goose_assets.storage.ducklake_warehouse import DuckLakeWarehouse, LakeConfig
from goose_assets.storage.schema import TABLES
from goose_assets_tests.scale.backfill import (
    MAX_DOCS,
    TIMESTAMP_COLUMNS,
    Reference,
    run_backfill,
    snapshot,
)

pytestmark = pytest.mark.slow


def test_four_concurrent_writers_match_the_embedded_duckdb_run(
    lake_catalog: str, duckdb_reference: Reference, tmp_path: Path
) -> None:
    lake_home, lake_data = tmp_path / "lake_home", tmp_path / "lake_data"
    lake = run_backfill(
        {"GOOSE_HOME": str(lake_home), "GOOSE_WAREHOUSE": "ducklake",
         "GOOSE_DUCKLAKE_CATALOG": lake_catalog, "GOOSE_DUCKLAKE_DATA_PATH": str(lake_data)},
        writers=4, barrier=tmp_path / "b4", max_docs=MAX_DOCS,
    )
    print(
        f"\nbackfill wall time, 4 domains: DuckDB file, sequential {duckdb_reference.seconds:.1f}s; "
        f"DuckLake, 4 concurrent writers {lake.seconds:.1f}s ({lake.lost_commits} commits lost and retried)"
    )
    assert all(c["success"] for c in lake.children)
    assert len(lake.children) == 4  # one process per domain, all writing at once
    assert lake.lock_errors() == []

    expected = duckdb_reference.rows
    actual = snapshot(DuckLakeWarehouse(LakeConfig(lake_catalog, str(lake_data))))
    for table in ("raw_documents", "extracted_passages", "masked_items", "mcq_tasks", "task_difficulty", "filtered_tasks", "training_mix"):
        domain_at = [c for c, _ in TABLES[table] if c not in TIMESTAMP_COLUMNS].index("domain")
        assert {r[domain_at] for r in expected[table]} == set(DOMAINS), f"{table} misses a domain in the reference run"
    assert actual.keys() == expected.keys()
    for table in expected:
        assert actual[table] == expected[table], f"{table} differs between DuckDB and DuckLake"
    # each writer wrote its own domain's gallery page
    for domain in DOMAINS:
        assert (lake_home / "reports" / "gallery" / f"{domain}.html").exists()
