"""The warehouse's tables: their columns and types, how a partition selects its rows,
and the schema check that every new connection runs once per process and file."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

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
        ("surface_solvable", "BOOLEAN"), ("shard", "VARCHAR"),
    ],
    # what option selection did in each partition of mcq_tasks (one row per partition)
    "option_selection": [
        ("domain", "VARCHAR"), ("n_items", "INTEGER"), ("pool_mean", "DOUBLE"), ("pool_min", "INTEGER"),
        ("auroc_before", "DOUBLE"), ("auroc_after", "DOUBLE"), ("auroc_by_round", "VARCHAR"),
        ("rounds", "INTEGER"), ("options_replaced", "INTEGER"), ("discriminator", "VARCHAR"),
        ("surface_solvable", "INTEGER"), ("shard", "VARCHAR"),
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
ADDED_COLUMN_DEFAULTS: dict[tuple[str, str], str] = {
    ("masked_items", "synthesis_format"): "'paper'",
    # selection before AFLite's step set nothing aside
    ("option_selection", "surface_solvable"): "0",
    ("mcq_tasks", "surface_solvable"): "false",
}


def added_column_default(table: str, column: str, typ: str) -> str:
    return ADDED_COLUMN_DEFAULTS.get((table, column), "[]" if typ.endswith("[]") else "''")


class WarehouseError(RuntimeError):
    pass


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


def ensure_schema_once(con: duckdb.DuckDBPyConnection, path: Path) -> None:
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


def arrow_schema(table: str, columns: Sequence[str]) -> pa.Schema:
    types = dict(TABLES[table])
    return pa.schema([(c, _ARROW_TYPES[types[c].split()[0]]) for c in columns])


def batches(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for r in rows:
        batch.append(r)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
