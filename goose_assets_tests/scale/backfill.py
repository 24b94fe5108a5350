"""Run the pipeline's stages as separate writer processes and snapshot the warehouse, so
that an embedded-DuckDB run and a DuckLake run can be compared row for row."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goose_assets.core.records import DOMAINS
from goose_assets.storage.duckdb_warehouse import Warehouse
from goose_assets.storage.schema import TABLES

REPO_ROOT = Path(__file__).resolve().parents[2]
# written by the database, not by the pipeline: they differ between any two runs
TIMESTAMP_COLUMNS = {"ingested_at", "at", "created_at"}
LOCK_ERRORS = ("Could not set lock", "Conflicting lock", "database is locked")
# a cap per domain for a larger corpus (with GOOSE_CORPUS_DIR); 0 keeps every row
MAX_DOCS = int(os.environ.get("GOOSE_SCALE_MAX_DOCS", "0"))


@dataclass(frozen=True)
class Reference:
    """The embedded-DuckDB backfill every scaled-out run must reproduce row for row."""

    rows: dict[str, list[tuple[Any, ...]]]
    seconds: float


@dataclass
class BackfillRun:
    seconds: float = 0.0
    children: list[dict[str, Any]] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    @property
    def lost_commits(self) -> int:
        return sum(c.get("lost_commits", 0) for c in self.children)

    def lock_errors(self) -> list[str]:
        return [line for err in self.stderr for line in err.splitlines() if any(m in line for m in LOCK_ERRORS)]


def run_backfill(
    env: Mapping[str, str], writers: int, barrier: Path, max_docs: int = 0, timeout_s: float = 1800
) -> BackfillRun:
    """Every stage over all four domains. With 4 writers, one process per domain, all at
    once, meeting at a barrier between stages; with 1, one process doing the domains in
    turn (the embedded-DuckDB way)."""
    groups = [[d] for d in DOMAINS] if writers == len(DOMAINS) else [list(DOMAINS)]
    assert len(groups) == writers, "1 writer, or one per domain"
    run = BackfillRun()
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "goose_assets_tests.scale.materialize_child", "--domains", *group,
             "--barrier", str(barrier), "--writers", str(writers), "--max-docs", str(max_docs)],
            cwd=REPO_ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for group in groups
    ]
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=timeout_s)
            run.stderr.append(err)
            lines = [line for line in out.splitlines() if line.startswith("{")]
            if proc.returncode != 0 or not lines:
                raise AssertionError(f"writer exited {proc.returncode}:\n{err[-4000:]}")
            run.children.append(json.loads(lines[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    run.seconds = time.perf_counter() - start
    return run


def snapshot(wh: Warehouse) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows without database timestamps, sorted: a multiset to compare."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table, cols in TABLES.items():
        names = [c for c, _ in cols if c not in TIMESTAMP_COLUMNS]
        rows = wh.read(table, columns=names)
        out[table] = sorted((tuple(_hashable(r[c]) for c in names) for r in rows), key=repr)
    return out


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
