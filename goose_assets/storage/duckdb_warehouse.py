"""The DuckDB warehouse: idempotent partition writes, quarantine, reads and counts.

`Warehouse` is one embedded DuckDB file, the default. `storage.open.open_warehouse` can
instead give a `DuckLakeWarehouse` (ducklake_warehouse.py): the same API over a DuckLake
catalog in PostgreSQL with parquet files, for many writing processes. The tables are in
schema.py, the LLM cache in llm_cache.py, the queries the assets run in queries.py.

Every table has a `domain` column; a partition write deletes that domain's rows and inserts
the new ones inside one transaction, so a re-run never duplicates rows and a crash never
leaves half a partition behind. Storage stays behind this module so that moving to another
catalog is configuration (DESIGN §4).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from goose_assets.storage.schema import (
    TABLES,
    WarehouseError,
    arrow_schema,
    batches,
    ensure_schema_once,
    partition_filter,
    partition_rows,
)

_LOCK_MARKERS = ("Could not set lock", "Conflicting lock", "database is locked")
# rows per fetch where a query result is turned into Python objects or Arrow batches
_FETCH_ROWS = 5000


def insert_arrow(con: duckdb.DuckDBPyConnection, table: str, arrow: pa.Table) -> None:
    """Append an Arrow batch to `table`, by column name. DuckDB reads the batch through its
    replacement scan of the local name, not `register`: a registered object stays
    referenced until the transaction ends, so a partition written in one transaction kept
    every one of its batches in Arrow memory beside DuckDB's own copy (25,000 rows of 47
    candidates each: 593 MB more; BENCHMARKS.md, "Performance problems", item 10)."""
    incoming_batch = arrow  # noqa: F841 (read by name by the replacement scan below)
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming_batch")


class Warehouse:
    """A DuckDB file. Connections are short-lived: open, work, close."""

    def __init__(self, path: str | Path, lock_timeout_s: float = 120.0) -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WarehouseError(f"cannot create warehouse folder {self.path.parent}: {exc}") from exc
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.05
        while True:
            try:
                con = duckdb.connect(str(self.path))
                break
            except duckdb.IOException as exc:
                # another process holds the single-writer lock: wait for it rather than fail
                if not any(m in str(exc) for m in _LOCK_MARKERS) or time.monotonic() > deadline:
                    raise WarehouseError(f"cannot open warehouse {self.path}: {exc}") from exc
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        try:
            ensure_schema_once(con, self.path)
            yield con
        finally:
            con.close()

    def replace_partition(
        self, table: str, domain: str, rows: Iterable[dict[str, Any]], batch_size: int = 5000,
        shard: str | None = None,
    ) -> int:
        """Replace a partition's rows of `table` with `rows`, atomically; returns the row
        count. The partition is `domain` with all its shards, or one (domain, shard)."""
        columns = [c for c, _ in TABLES[table] if c not in ("ingested_at", "at")]
        schema = arrow_schema(table, columns)
        where, params = partition_filter(domain, shard)
        written = 0
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(f"DELETE FROM {table} WHERE {where}", params)
                for batch in batches(rows, batch_size):
                    insert_arrow(con, table, pa.Table.from_pylist(partition_rows(batch, columns, domain, shard),
                                                                  schema=schema))
                    written += len(batch)
                con.execute("COMMIT")
            except BaseException as exc:
                _rollback_quietly(con)
                if isinstance(exc, duckdb.Error):  # e.g. disk full at COMMIT: say which file
                    raise WarehouseError(f"cannot write {table} ({domain}) to warehouse {self.path}: {exc}") from exc
                raise
        return written

    def replace_quarantine(
        self, stage: str, domain: str, rows: Iterable[dict[str, Any]], shard: str | None = None
    ) -> int:
        """Quarantine rows are owned by (stage, partition): a re-run replaces them, never appends."""
        columns = [c for c, _ in TABLES["quarantine"] if c != "at"]
        materialized = [{**{c: r.get(c, "") for c in columns}, "shard": shard or ""} for r in rows]
        where, params = partition_filter(domain, shard)
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(f"DELETE FROM quarantine WHERE stage = ? AND {where}", [stage, *params])
                if materialized:
                    insert_arrow(con, "quarantine", pa.Table.from_pylist(materialized, schema=arrow_schema("quarantine", columns)))
                con.execute("COMMIT")
            except BaseException as exc:
                _rollback_quietly(con)
                if isinstance(exc, duckdb.Error):
                    raise WarehouseError(f"cannot write quarantine ({stage}, {domain}) to warehouse {self.path}: {exc}") from exc
                raise
        return len(materialized)

    def read(
        self, table: str, domain: str | None = None, columns: Sequence[str] | None = None,
        order_by: str | None = None, shard: str | None = None,
    ) -> list[dict[str, Any]]:
        return [r for batch in self.iter_rows(table, domain, columns, order_by, shard=shard) for r in batch]

    def iter_rows(
        self, table: str, domain: str | None = None, columns: Sequence[str] | None = None,
        order_by: str | None = None, batch_size: int = 5000, shard: str | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Stream a table (optionally one domain, or one domain's shard) in batches of dicts."""
        known = {c for c, _ in TABLES[table]}
        cols = list(columns) if columns else [c for c, _ in TABLES[table]]
        unknown = [c for c in cols if c not in known]
        if unknown or (order_by and order_by not in known):
            raise WarehouseError(f"unknown columns {unknown or order_by} for {table}")
        sql = "SELECT " + ", ".join(f'"{c}"' for c in cols) + f" FROM {table}"
        params: list[Any] = []
        if domain is not None:
            where, params = partition_filter(domain, shard)
            sql += f" WHERE {where}"
        sql += f' ORDER BY "{order_by or cols[0]}"'
        with self.connect() as con:
            reader = con.execute(sql, params).fetch_record_batch(batch_size)
            for batch in reader:
                yield batch.to_pylist()

    def count(self, table: str, domain: str | None = None, shard: str | None = None) -> int:
        if table not in TABLES:  # the name goes into the SQL text: only known tables
            raise WarehouseError(f"unknown table {table!r}")
        with self.connect() as con:
            if domain is None:
                return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            where, params = partition_filter(domain, shard)
            return int(con.execute(f"SELECT count(*) FROM {table} WHERE {where}", params).fetchone()[0])

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.connect() as con:
            cur = con.execute(sql, list(params))
            names = [d[0] for d in cur.description]
            rows: list[dict[str, Any]] = []
            # a batch of tuples at a time: a large result is never held as tuples and dicts at once
            while batch := cur.fetchmany(_FETCH_ROWS):
                rows.extend(dict(zip(names, row, strict=True)) for row in batch)
            return rows

    def query_frame(self, sql: str, params: Sequence[Any] = ()) -> pl.DataFrame:
        """A query's result as a polars DataFrame over DuckDB's Arrow buffers (no copy, no
        Python object per value): for tables that are processed whole in Python."""
        with self.connect() as con:
            reader = con.execute(sql, list(params)).fetch_record_batch(_FETCH_ROWS)
            return pl.from_arrow(pa.Table.from_batches(list(reader), reader.schema), rechunk=False)  # type: ignore[return-value]


def _rollback_quietly(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass  # a failed COMMIT has already ended the transaction; its error is the one to raise


