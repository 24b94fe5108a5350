"""The warehouse: the schema, idempotent partition writes, quarantine and the LLM cache.

`Warehouse` is one embedded DuckDB file, the default. `open_warehouse` can instead give a
`DuckLakeWarehouse` (ducklake_warehouse.py): the same API over a DuckLake catalog in
PostgreSQL with parquet files, for many writing processes.

Every table has a `domain` column; a partition write deletes that domain's rows and inserts
the new ones inside one transaction, so a re-run never duplicates rows and a crash never
leaves half a partition behind. Storage stays behind this module so that moving to another
catalog is configuration (DESIGN §4).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from goose_assets.llm.base import LLMRequest, LLMResponse

# A partition is a domain or, with sharded sources (partitions.py), a (domain, shard) pair:
# every partitioned table carries both columns; an unsharded write stores shard ''.
TABLES: dict[str, list[tuple[str, str]]] = {
    "raw_documents": [
        ("doc_id", "VARCHAR"), ("domain", "VARCHAR"), ("source_id", "VARCHAR"),
        ("source", "VARCHAR"), ("license", "VARCHAR"), ("title", "VARCHAR"),
        ("text", "VARCHAR"), ("html", "VARCHAR"), ("shape", "VARCHAR"), ("url", "VARCHAR"),
        ("fetched_at", "VARCHAR"), ("content_sha256", "VARCHAR"), ("source_path", "VARCHAR"),
        ("ingested_at", "TIMESTAMP"), ("shard", "VARCHAR"),
    ],
    "quarantine": [
        ("stage", "VARCHAR"), ("domain", "VARCHAR"), ("ref_id", "VARCHAR"), ("reason", "VARCHAR"),
        ("detail", "VARCHAR"), ("raw", "VARCHAR"), ("at", "TIMESTAMP"), ("shard", "VARCHAR"),
    ],
    "extracted_passages": [
        ("passage_id", "VARCHAR"), ("doc_id", "VARCHAR"), ("domain", "VARCHAR"),
        ("shape", "VARCHAR"), ("question", "VARCHAR"), ("body", "VARCHAR"),
        ("body_start", "INTEGER"), ("body_end", "INTEGER"), ("method", "VARCHAR"),
        ("word_count", "INTEGER"), ("shard", "VARCHAR"),
    ],
    "masked_items": [
        ("item_id", "VARCHAR"), ("doc_id", "VARCHAR"), ("passage_id", "VARCHAR"),
        ("domain", "VARCHAR"), ("shape", "VARCHAR"), ("question", "VARCHAR"),
        ("context_masked", "VARCHAR"), ("answer", "VARCHAR"), ("distractors", "VARCHAR[]"),
        ("distractor_kinds", "VARCHAR[]"), ("span_start", "INTEGER"), ("span_end", "INTEGER"),
        ("backend", "VARCHAR"), ("model", "VARCHAR"), ("prompt_version", "VARCHAR"), ("shard", "VARCHAR"),
        ("synthesis_format", "VARCHAR"),
    ],
    "mcq_tasks": [
        ("task_id", "VARCHAR"), ("item_id", "VARCHAR"), ("doc_id", "VARCHAR"),
        ("domain", "VARCHAR"), ("shape", "VARCHAR"), ("question", "VARCHAR"),
        ("options", "VARCHAR[]"), ("answer_letter", "VARCHAR"), ("answer_index", "INTEGER"),
        ("context_masked", "VARCHAR"), ("leak_reasons", "VARCHAR[]"), ("option_kinds", "VARCHAR[]"),
        ("shard", "VARCHAR"),
    ],
    # what option selection did in each partition of mcq_tasks (one row per partition)
    "option_selection": [
        ("domain", "VARCHAR"), ("n_items", "INTEGER"), ("pool_mean", "DOUBLE"), ("pool_min", "INTEGER"),
        ("auroc_before", "DOUBLE"), ("auroc_after", "DOUBLE"), ("auroc_by_round", "VARCHAR"),
        ("rounds", "INTEGER"), ("options_replaced", "INTEGER"), ("discriminator", "VARCHAR"),
        ("shard", "VARCHAR"),
    ],
    "task_difficulty": [
        ("task_id", "VARCHAR"), ("domain", "VARCHAR"), ("student", "VARCHAR"),
        ("n_rollouts", "INTEGER"), ("n_correct", "INTEGER"), ("pass_rate", "DOUBLE"),
        ("baseline_votes", "VARCHAR"), ("baselines_correct", "INTEGER"),
        ("n_baselines", "INTEGER"), ("trivial", "BOOLEAN"), ("shard", "VARCHAR"),
    ],
    "filtered_tasks": [
        ("task_id", "VARCHAR"), ("domain", "VARCHAR"), ("kept", "BOOLEAN"),
        ("drop_reason", "VARCHAR"), ("detail", "VARCHAR"), ("shard", "VARCHAR"),
    ],
    "training_mix": [
        ("task_id", "VARCHAR"), ("domain", "VARCHAR"), ("mix_name", "VARCHAR"),
        ("split", "VARCHAR"), ("difficulty_bucket", "VARCHAR"), ("position", "INTEGER"),
        ("shard", "VARCHAR"),
    ],
    "llm_cache": [
        ("key", "VARCHAR PRIMARY KEY"), ("backend", "VARCHAR"), ("model", "VARCHAR"),
        ("request", "VARCHAR"), ("response", "VARCHAR"), ("tokens_in", "INTEGER"),
        ("tokens_out", "INTEGER"), ("created_at", "TIMESTAMP"),
    ],
}

PARTITIONED_TABLES = tuple(t for t in TABLES if t not in ("llm_cache",))
# what a column added to an older warehouse holds in the rows it already has, where '' (or
# []) would be wrong: every item made before issue 19 used the paper's output format
ADDED_COLUMN_DEFAULTS: dict[tuple[str, str], str] = {("masked_items", "synthesis_format"): "'paper'"}


def added_column_default(table: str, column: str, typ: str) -> str:
    return ADDED_COLUMN_DEFAULTS.get((table, column), "[]" if typ.endswith("[]") else "''")
_LOCK_MARKERS = ("Could not set lock", "Conflicting lock", "database is locked")


class WarehouseError(RuntimeError):
    pass


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
            _ensure_schema_once(con, self.path)
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
        schema = _arrow_schema(table, columns)
        where, params = partition_filter(domain, shard)
        written = 0
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(f"DELETE FROM {table} WHERE {where}", params)
                for batch in _batches(rows, batch_size):
                    arrow = pa.Table.from_pylist(partition_rows(batch, columns, domain, shard), schema=schema)
                    con.register("incoming_batch", arrow)
                    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming_batch")
                    con.unregister("incoming_batch")
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
                    arrow = pa.Table.from_pylist(materialized, schema=_arrow_schema("quarantine", columns))
                    con.register("incoming_batch", arrow)
                    con.execute("INSERT INTO quarantine BY NAME SELECT * FROM incoming_batch")
                    con.unregister("incoming_batch")
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
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


class LLMCache:
    """`llm_cache` as a ResponseCache: look-up before calling, write-through per response.

    Holds one connection for the duration of a generation step so that each response is
    committed the moment it arrives (a crash loses at most the calls in flight).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.hits = 0
        self.writes = 0
        # a DuckLake catalog has no PRIMARY KEY, so INSERT OR REPLACE cannot work there
        self.insert_if_absent = _current_catalog_type(con) == "ducklake"

    def get_many(self, keys: Sequence[str]) -> dict[str, LLMResponse]:
        found: dict[str, LLMResponse] = {}
        for chunk_start in range(0, len(keys), 1000):
            chunk = list(keys[chunk_start : chunk_start + 1000])
            # a constant IN list goes into the scan as a key filter; `IN (SELECT unnest(?))` is a
            # hash join over every row's response: 250 keys from a 100K-row (1 GB) cache took
            # 0.2-0.3 s this way, 3.1-3.3 s that way (freshly opened database, the usual case)
            rows = self.con.execute(
                "SELECT key, response, tokens_in, tokens_out FROM llm_cache WHERE key IN ("
                + ", ".join("?" * len(chunk)) + ")",
                chunk,
            ).fetchall()
            for key, response, tin, tout in rows:
                data = json.loads(response)
                found[key] = LLMResponse(
                    ref_id=data.get("ref_id", ""), texts=data["texts"], tokens_in=tin or 0,
                    tokens_out=tout or 0, cached=True, error=data.get("error"),
                    attempts=data.get("attempts", 1), faults=data.get("faults", []),
                    validation=data.get("validation"),
                )
        self.hits += len(found)
        return found

    def put(self, key: str, backend: str, model: str, request: LLMRequest, response: LLMResponse) -> None:
        # the backend decides what is worth caching (llm.calls.should_cache: never a
        # transport failure; a final bad answer yes, so a re-run does not pay for it again)
        values = [
            key, backend, model,
            json.dumps({"prompt_version": request.prompt_version, "messages": request.messages,
                        "sampling": request.sampling()}, ensure_ascii=False),
            json.dumps({"ref_id": response.ref_id, "texts": response.texts, "error": response.error,
                        "attempts": response.attempts, "faults": response.faults,
                        # the validation record (core.synthesis): a re-run replays it instead of validating again
                        **({"validation": response.validation} if response.validation is not None else {})},
                       ensure_ascii=False),
            response.tokens_in, response.tokens_out,
        ]
        if self.insert_if_absent:
            # append-only: concurrent appends never conflict in DuckLake, deletes would.
            # Two workers racing on one key may both insert; equal keys mean equivalent
            # requests, so get_many may return either row.
            self.con.execute(
                "INSERT INTO llm_cache (key, backend, model, request, response, tokens_in, tokens_out, created_at) "
                "SELECT ?, ?, ?, ?, ?, ?, ?, now() WHERE NOT EXISTS (SELECT 1 FROM llm_cache WHERE key = ?)",
                [*values, key],
            )
        else:
            self.con.execute(
                "INSERT OR REPLACE INTO llm_cache (key, backend, model, request, response, tokens_in, tokens_out, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, now())",
                values,
            )
        self.writes += 1


def _current_catalog_type(con: duckdb.DuckDBPyConnection) -> str:
    row = con.execute(
        "SELECT type FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return str(row[0]) if row else ""


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
    from goose_assets.ducklake_warehouse import DuckLakeWarehouse, LakeConfig

    catalog = catalog or os.environ.get("GOOSE_DUCKLAKE_CATALOG", "")
    if not catalog:
        raise WarehouseError("ducklake mode needs a catalog: set GOOSE_DUCKLAKE_CATALOG=postgres:dbname=... host=...")
    data_path = data_path or os.environ.get("GOOSE_DUCKLAKE_DATA_PATH", "") or str(home / "lake")
    return DuckLakeWarehouse(LakeConfig(catalog=catalog, data_path=data_path))


def _rollback_quietly(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass  # a failed COMMIT has already ended the transaction; its error is the one to raise


def partition_filter(domain: str, shard: str | None) -> tuple[str, list[str]]:
    """The WHERE clause of a partition: a whole domain (every shard), or one shard of it."""
    if shard is None:
        return "domain = ?", [domain]
    return "domain = ? AND shard = ?", [domain, shard]


def partition_rows(
    batch: Sequence[dict[str, Any]], columns: Sequence[str], domain: str, shard: str | None
) -> list[dict[str, Any]]:
    """Rows cut to the table's columns and stamped with their shard; a row of another
    domain is a bug upstream, never something to store."""
    out = []
    for r in batch:
        if r.get("domain") != domain:
            raise WarehouseError(f"row for domain {r.get('domain')!r} in partition {domain!r}")
        row = {c: r.get(c) for c in columns}
        row["shard"] = shard or ""
        out.append(row)
    return out


# (pid, file, inode) whose schema this process has checked: a full check costs ~10
# statements, which every short-lived connection would otherwise pay
_SCHEMA_READY: set[tuple[int, str, int]] = set()


def _ensure_schema_once(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    try:
        key = (os.getpid(), str(path), path.stat().st_ino)
    except OSError:
        key = None
    if key is not None and key in _SCHEMA_READY:
        # one cheap query still: a file deleted and made again may reuse the inode
        (n,) = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database()"
        ).fetchone()
        if n >= len(TABLES):
            return
    _ensure_schema(con)
    if key is not None:
        _SCHEMA_READY.add(key)


def _column_defs(cols: Sequence[tuple[str, str]]) -> list[str]:
    defs = []
    for name, typ in cols:
        default = " DEFAULT now()" if name in ("ingested_at", "at") else ""
        defs.append(f'"{name}" {typ}{default}')
    return defs


def _ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    existing: dict[str, set[str]] = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = current_database()"
    ).fetchall():
        existing.setdefault(table, set()).add(column)
    for table, cols in TABLES.items():
        if table not in existing:
            con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(_column_defs(cols))})")
            continue
        # a warehouse written by an older release: add the columns it lacks ('' for old rows)
        for name, typ in cols:
            if name not in existing[table]:
                default = added_column_default(table, name, typ)
                con.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {typ} DEFAULT {default}')


_ARROW_TYPES = {
    "VARCHAR": pa.string(), "INTEGER": pa.int32(), "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(), "VARCHAR[]": pa.list_(pa.string()),
}


def _arrow_schema(table: str, columns: Sequence[str]) -> pa.Schema:
    types = dict(TABLES[table])
    return pa.schema([(c, _ARROW_TYPES[types[c].split()[0]]) for c in columns])


def _batches(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for r in rows:
        batch.append(r)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
