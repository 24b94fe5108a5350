"""DuckLake mode of the warehouse: many writing processes, one catalog, parquet files.

The catalog (tables, snapshots, file lists) lives in PostgreSQL; the rows live as parquet
under a data path, a local folder or object storage through httpfs. DuckDB is still the
engine, so every query the assets run works unchanged; only `Warehouse`'s connection and
its two write methods differ (DESIGN §4: the move is configuration, not a rewrite).

Writes are optimistic. DuckLake detects conflicts per table: a transaction that deletes
from a table conflicts with any concurrent one that inserted into it, even for another
domain. A partition write therefore stages its rows locally first, then runs a short
DELETE + INSERT transaction and retries it, with jittered backoff, when the commit loses.
"""

from __future__ import annotations

import importlib.util
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from goose_assets.storage.duckdb_warehouse import Warehouse, insert_arrow
from goose_assets.storage.schema import (
    PARTITIONED_TABLES,
    TABLES,
    WarehouseError,
    added_column_default,
    arrow_schema,
    batches,
    partition_filter,
    partition_rows,
)

# DuckDB extension -> the PyPI packages that ship its binary (the first one found wins).
# `postgres_scanner` is the extension's canonical name; `postgres` is a second package of
# the same binary.
EXTENSION_PACKAGES: dict[str, tuple[str, ...]] = {
    "ducklake": ("duckdb_extension_ducklake",),
    "postgres_scanner": ("duckdb_extension_postgres_scanner", "duckdb_extension_postgres"),
    "httpfs": ("duckdb_extension_httpfs",),
}

# commit failures that a retry against the newer snapshot can fix
_CONFLICT_MARKERS = (
    "Transaction conflict",
    "Failed to commit DuckLake transaction",
    "could not serialize access",
    "deadlock detected",
    "duplicate key value violates unique constraint",
)
_REMOTE_PREFIXES = ("s3://", "s3a://", "gs://", "gcs://", "r2://", "az://", "abfss://", "http://", "https://")


@dataclass(frozen=True)
class LakeConfig:
    """Where the lake is. `catalog` is what follows `ducklake:` in DuckDB's ATTACH, e.g.
    `postgres:dbname=goose host=127.0.0.1 port=5432 user=goose`."""

    catalog: str
    data_path: str
    name: str = "lake"

    def attach_sql(self) -> str:
        catalog = self.catalog.removeprefix("ducklake:")
        data_path = self.data_path if self.is_remote() else str(Path(self.data_path).resolve()) + "/"
        return f"ATTACH {_literal('ducklake:' + catalog)} AS {self.name} (DATA_PATH {_literal(data_path)})"

    def is_remote(self) -> bool:
        return self.data_path.startswith(_REMOTE_PREFIXES)


def extension_file(name: str) -> Path | None:
    """The extension binary a PyPI package installed for this exact duckdb version."""
    for package in EXTENSION_PACKAGES.get(name, ()):
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.origin:
            continue
        folder = Path(spec.origin).parent / "extensions" / f"v{duckdb.__version__}"
        found = sorted(folder.glob("*.duckdb_extension"))
        if found:
            return found[0]
        shipped = sorted(p.name for p in (Path(spec.origin).parent / "extensions").glob("v*"))
        raise WarehouseError(
            f"{package} ships the {name} extension for {shipped}, but duckdb is {duckdb.__version__}: "
            "install the extension package whose version equals duckdb's"
        )
    return None


def load_extension(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """LOAD from the PyPI package's file, so no machine ever needs DuckDB's download server;
    fall back to an extension already installed in DuckDB's own extension folder."""
    path = extension_file(name)
    try:
        con.execute(f"LOAD {_literal(str(path))}" if path else f"LOAD {name}")
    except duckdb.Error as exc:
        raise WarehouseError(
            f"cannot load DuckDB extension {name!r} ({exc}); install it with pip install 'goose_assets[scale]'"
        ) from exc


def is_conflict(exc: BaseException) -> bool:
    return any(m in str(exc) for m in _CONFLICT_MARKERS)


class DuckLakeWarehouse(Warehouse):
    """`Warehouse` over a DuckLake catalog. Same methods, same SQL, many writers.

    Each process opens DuckDB and attaches the lake once (loading the extensions costs
    ~0.6 s); `connect()` hands out a fresh cursor on it, so every caller still gets its own
    transaction, as with a DuckDB file.
    """

    # lost commits retried in this process, over all instances: a measure of contention
    lost_commits_in_process = 0

    def __init__(self, config: LakeConfig, conflict_timeout_s: float = 600.0) -> None:
        self.config = config
        self.conflict_timeout_s = conflict_timeout_s
        # what callers print as "where the warehouse is"; no file sits there
        self.path = Path(config.data_path)
        self.commit_retries = 0  # lost commits this object retried

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cursor = _cursor(self.config, self.conflict_timeout_s)
        try:
            # a cursor is a new connection to the same database: it inherits neither USE
            # nor settings. A slow commit would otherwise draw a progress bar into step logs.
            cursor.execute(f"USE {self.config.name}")
            cursor.execute("SET enable_progress_bar = false")
            yield cursor
        finally:
            cursor.close()

    def replace_partition(
        self, table: str, domain: str, rows: Iterable[dict[str, Any]], batch_size: int = 5000,
        shard: str | None = None,
    ) -> int:
        """Stage `rows` in a connection-local temp table, then swap the partition's rows in
        one short transaction, retried until it wins against concurrent writers."""
        columns = [c for c, _ in TABLES[table] if c not in ("ingested_at", "at")]
        where, params = partition_filter(domain, shard)

        def checked() -> Iterator[dict[str, Any]]:
            for batch in batches(rows, batch_size):
                yield from partition_rows(batch, columns, domain, shard)

        with self.connect() as con:
            written = _stage(con, table, columns, checked(), batch_size)
            self._transact(con, [
                (f"DELETE FROM {table} WHERE {where}", params),
                (f"INSERT INTO {table} BY NAME SELECT * FROM temp.main.staged_rows", []),
            ])
            con.execute("DROP TABLE temp.main.staged_rows")
        return written

    def replace_quarantine(
        self, stage: str, domain: str, rows: Iterable[dict[str, Any]], shard: str | None = None
    ) -> int:
        columns = [c for c, _ in TABLES["quarantine"] if c != "at"]
        materialized = ({**{c: r.get(c, "") for c in columns}, "shard": shard or ""} for r in rows)
        where, params = partition_filter(domain, shard)
        with self.connect() as con:
            written = _stage(con, "quarantine", columns, materialized, 5000)
            self._transact(con, [
                (f"DELETE FROM quarantine WHERE stage = ? AND {where}", [stage, *params]),
                ("INSERT INTO quarantine BY NAME SELECT * FROM temp.main.staged_rows", []),
            ])
            con.execute("DROP TABLE temp.main.staged_rows")
        return written

    def _transact(self, con: duckdb.DuckDBPyConnection, statements: list[tuple[str, list[Any]]]) -> None:
        def run() -> None:
            for sql, params in statements:
                con.execute(sql, params)

        try:
            lost = retry_on_conflict(con, run, self.conflict_timeout_s)
        except duckdb.Error as exc:
            # name the lake by its data path: the catalog string may carry credentials
            raise WarehouseError(f"cannot write to DuckLake at {self.config.data_path}: {exc}") from exc
        self.commit_retries += lost
        DuckLakeWarehouse.lost_commits_in_process += lost


def retry_on_conflict(
    con: duckdb.DuckDBPyConnection, body: Callable[[], None], timeout_s: float
) -> int:
    """Run `body` in a transaction until it commits; returns how many commits were lost.

    Only conflicts are retried; any other error rolls back and propagates at once.
    """
    deadline = time.monotonic() + timeout_s
    delay, lost = 0.05, 0
    while True:
        con.execute("BEGIN TRANSACTION")
        try:
            body()
            con.execute("COMMIT")
            return lost
        except duckdb.Error as exc:
            _rollback(con)
            if not is_conflict(exc):
                raise
            if time.monotonic() > deadline:
                raise WarehouseError(f"gave up after {lost + 1} conflicting commits: {exc}") from exc
            lost += 1
            # jitter: writers that lost together must not retry in lockstep
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 2.0)
        except BaseException:
            _rollback(con)
            raise


def _stage(
    con: duckdb.DuckDBPyConnection, table: str, columns: list[str], rows: Iterable[dict[str, Any]],
    batch_size: int,
) -> int:
    """Copy rows into `temp.main.staged_rows`: the slow producer (often a generator doing
    the stage's work) runs before the write transaction opens, so that transaction stays
    short and can be replayed on conflict. Temp tables spill to disk past memory_limit."""
    types = dict(TABLES[table])
    col_defs = ", ".join(f'"{c}" {_lake_type(types[c])}' for c in columns)
    con.execute(f"CREATE OR REPLACE TEMP TABLE staged_rows ({col_defs})")
    schema = arrow_schema(table, columns)
    written = 0
    for batch in batches(rows, batch_size):
        insert_arrow(con, "temp.main.staged_rows",
                     pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in batch], schema=schema))
        written += len(batch)
    return written


def _lake_type(sql_type: str) -> str:
    # DuckLake has no PRIMARY KEY/UNIQUE constraints; llm_cache keys are kept unique by
    # insert-if-absent writes instead (LLMCache)
    return sql_type.replace(" PRIMARY KEY", "")


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass  # a failed COMMIT has already ended the transaction


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_SHARED: dict[tuple[int, LakeConfig], duckdb.DuckDBPyConnection] = {}
_SHARED_LOCK = threading.Lock()


def _cursor(config: LakeConfig, timeout_s: float) -> duckdb.DuckDBPyConnection:
    """A new connection to this process's lake database, opened on first use. Keyed by pid
    as well: a forked child must open its own, never reuse its parent's."""
    key = (os.getpid(), config)
    with _SHARED_LOCK:
        con = _SHARED.get(key)
        if con is None:
            con = _open_lake(config, timeout_s)
            _SHARED[key] = con
        # threads (e.g. an LLM backend's workers) may ask at once: hand out cursors one by one
        return con.cursor()


def _open_lake(config: LakeConfig, timeout_s: float) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={
        # never reach for DuckDB's download server: extensions come from PyPI packages
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "temp_directory": str(Path(tempfile.gettempdir()) / f"goose-duckdb-{os.getpid()}"),
    })
    load_extension(con, "postgres_scanner")
    load_extension(con, "ducklake")
    if config.is_remote():
        load_extension(con, "httpfs")
        _s3_secret_from_env(con)
    else:
        Path(config.data_path).mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    delay = 0.1
    while True:
        try:
            # processes attaching a brand-new catalog race to create its metadata tables
            con.execute(config.attach_sql())
            break
        except duckdb.Error as exc:
            if not (is_conflict(exc) or "already exists" in str(exc)) or time.monotonic() > deadline:
                raise WarehouseError(f"cannot attach DuckLake catalog {config.name!r}: {exc}") from exc
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 2.0)
    con.execute(f"USE {config.name}")
    _ensure_lake_schema(con, config.name, timeout_s)
    return con


def _ensure_lake_schema(con: duckdb.DuckDBPyConnection, name: str, timeout_s: float) -> None:
    """Create missing tables, partitioned by domain: each domain's rows sit in their own
    files, so replacing a partition drops whole files and reading one prunes the rest."""

    def create() -> None:
        existing: dict[str, set[str]] = {}
        for table, column in con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = ?", [name]
        ).fetchall():
            existing.setdefault(table, set()).add(column)
        for table, cols in TABLES.items():
            if table in existing:
                # a lake written by an older release: add the columns it lacks
                for col, typ in cols:
                    if col not in existing[table]:
                        default = added_column_default(table, col, typ)
                        con.execute(f'ALTER TABLE {table} ADD COLUMN "{col}" {_lake_type(typ)} DEFAULT {default}')
                continue
            defs = []
            for col, typ in cols:
                default = " DEFAULT now()" if col in ("ingested_at", "at") else ""
                defs.append(f'"{col}" {_lake_type(typ)}{default}')
            con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(defs)})")
            if table in PARTITIONED_TABLES:
                con.execute(f"ALTER TABLE {table} SET PARTITIONED BY (domain)")

    retry_on_conflict(con, create, timeout_s)


def _s3_secret_from_env(con: duckdb.DuckDBPyConnection) -> None:
    """An S3-compatible secret from the standard AWS variables, when they are set; without
    them httpfs reads public buckets only. The values never reach a log."""
    key_id = os.environ.get("AWS_ACCESS_KEY_ID")
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not key_id or not secret:
        return
    parts = [f"KEY_ID {_literal(key_id)}", f"SECRET {_literal(secret)}"]
    if region := os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"):
        parts.append(f"REGION {_literal(region)}")
    if token := os.environ.get("AWS_SESSION_TOKEN"):
        parts.append(f"SESSION_TOKEN {_literal(token)}")
    if endpoint := os.environ.get("AWS_ENDPOINT_URL"):
        # MinIO, R2 and other S3-compatible stores: path-style URLs, scheme picks TLS
        parts.append(f"ENDPOINT {_literal(endpoint.split('://', 1)[-1].rstrip('/'))}")
        parts.append("URL_STYLE 'path'")
        parts.append(f"USE_SSL {str(not endpoint.startswith('http://')).lower()}")
    con.execute(f"CREATE OR REPLACE SECRET goose_s3 (TYPE s3, {', '.join(parts)})")
