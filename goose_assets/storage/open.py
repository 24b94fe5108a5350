"""The configured warehouse: one DuckDB file (the default) or a DuckLake catalog."""

from __future__ import annotations

import os
from pathlib import Path

from goose_assets.storage.duckdb_warehouse import Warehouse
from goose_assets.storage.ducklake_warehouse import DuckLakeWarehouse, LakeConfig
from goose_assets.storage.schema import WarehouseError


def open_warehouse(home: Path, mode: str = "", catalog: str = "", data_path: str = "") -> Warehouse:
    """The configured warehouse. Empty arguments fall back to the environment:
    GOOSE_WAREHOUSE (duckdb | ducklake; default duckdb, the file `<home>/warehouse.duckdb`),
    GOOSE_DUCKLAKE_CATALOG (what follows `ducklake:` in ATTACH, e.g.
    `postgres:dbname=goose host=127.0.0.1 user=goose`) and GOOSE_DUCKLAKE_DATA_PATH
    (default `<home>/lake/`; `s3://bucket/prefix/` goes through httpfs)."""
    mode = (mode or os.environ.get("GOOSE_WAREHOUSE", "") or "duckdb").lower()
    if mode == "duckdb":
        return Warehouse(home / "warehouse.duckdb")
    if mode != "ducklake":
        raise WarehouseError(f"unknown warehouse mode {mode!r}: use duckdb or ducklake")
    catalog = catalog or os.environ.get("GOOSE_DUCKLAKE_CATALOG", "")
    if not catalog:
        raise WarehouseError("ducklake mode needs a catalog: set GOOSE_DUCKLAKE_CATALOG=postgres:dbname=... host=...")
    data_path = data_path or os.environ.get("GOOSE_DUCKLAKE_DATA_PATH", "") or str(home / "lake")
    return DuckLakeWarehouse(LakeConfig(catalog=catalog, data_path=data_path))
