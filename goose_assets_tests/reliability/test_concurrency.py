"""Concurrency: a four-domain backfill, three rounds in a row, on one GOOSE_HOME and one
Dagster instance with the repo's dagster.yaml (pool `duckdb_write`, limit 1).

Four processes (one per domain) run their real Dagster runs at the same moment, so four
writers contend for the one DuckDB file. What must hold: no DuckDB lock error anywhere, every
run succeeds, all three rounds leave identical tables and byte-identical exports, and the
writers queue: in the instance's event log no two pool steps of different runs overlap in
time, and some waited for the pool. (Dagster's plain SQLite storage let simultaneous claims
share the one slot; the project's storage serializes claims: test_pool_slots.py.)

Each run executes its steps in process. With the multiprocess executor every step is a new
process that imports the code location again (~5 s of CPU; ~45 s per step on this shared
2-core machine under load), which made four concurrent runs of just two assets take over 7
minutes; the pool is the instance's and applies to both executors alike.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from goose_assets.core.records import DOMAINS
from goose_assets.storage.duckdb_warehouse import Warehouse
from goose_assets.storage.schema import TABLES, WarehouseError
from goose_assets_tests.reliability.runner import REPO_ROOT

pytestmark = pytest.mark.slow

ROUNDS = 3
LOCK_MARKERS = ("Could not set lock", "Conflicting lock", "database is locked", "cannot open warehouse")
VOLATILE = {"ingested_at", "at"}  # wall-clock columns


def _snapshot(home: Path) -> dict[str, Any]:
    wh = Warehouse(home / "warehouse.duckdb")
    tables = {}
    for table, cols in TABLES.items():
        keep = [c for c, _ in cols if c not in VOLATILE]
        tables[table] = sorted(json.dumps([r[c] for c in keep], default=str) for r in wh.read(table, columns=keep))
    exports = {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((home / "exports").rglob("*")) if p.is_file()
    }
    return {"tables": tables, "exports": exports}


def _pool_steps(instance: dg.DagsterInstance) -> tuple[list[tuple[float, float, str, str]], int]:
    """(start, end, run_id, step) of every step, and the number of 'blocked by pool' events."""
    spans: list[tuple[float, float, str, str]] = []
    blocked = 0
    for run in instance.get_runs():
        starts: dict[str, float] = {}
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is None:
                continue
            if event.event_type == dg.DagsterEventType.STEP_START:
                starts[event.step_key] = entry.timestamp
            elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
                spans.append((starts[event.step_key], entry.timestamp, run.run_id, event.step_key))
            elif event.event_type == dg.DagsterEventType.ENGINE_EVENT and "blocked by limit for pool" in (entry.message or ""):
                blocked += 1
    return sorted(spans), blocked


def _await(paths: list[Path], workers: list[subprocess.Popen[bytes]], logs: list[Path], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not all(p.exists() for p in paths):
        # a worker that finished its rounds exits 0; one that dies before its file is a failure
        dead = [(w, log) for w, log in zip(workers, logs, strict=True) if w.poll() not in (None, 0)]
        if dead:
            pytest.fail(f"a backfill worker exited (rc {dead[0][0].returncode}):\n{dead[0][1].read_text()[-4000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {[p.name for p in paths if not p.exists()]}")
        time.sleep(0.05)


def test_repeated_concurrent_backfill_has_no_lock_errors_and_identical_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, dagster_home, sync = tmp_path / "home", tmp_path / "dagster_home", tmp_path / "sync"
    for d in (dagster_home, sync):
        d.mkdir()
    shutil.copyfile(REPO_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))  # the storage's base_dir (dagster.yaml)
    # create the instance's storages once: four processes creating a fresh sqlite instance at
    # the same moment race in its schema stamping (alembic), which is Dagster's, not ours
    dg.DagsterInstance.from_config(str(dagster_home)).dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOOSE_")}
    env.update(GOOSE_HOME=str(home), DAGSTER_HOME=str(dagster_home),
               PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    logs = [tmp_path / f"worker-{d}.log" for d in DOMAINS]
    workers = [
        subprocess.Popen([sys.executable, "-m", "goose_assets_tests.reliability.backfill_worker", "--domain", d,
                          "--rounds", str(ROUNDS), "--sync", str(sync)],
                         env=env, cwd=str(REPO_ROOT), stdout=log.open("wb"), stderr=subprocess.STDOUT)
        for d, log in zip(DOMAINS, logs, strict=True)
    ]
    snapshots = []
    try:
        _await([sync / f"ready-{d}" for d in DOMAINS], workers, logs, 300)
        for r in range(1, ROUNDS + 1):
            for phase in ("upstream", "mix"):
                (sync / f"go-{phase}-{r}").write_text("")  # all four start together
                done = [sync / f"{phase}-{r}-{d}" for d in DOMAINS]
                _await(done, workers, logs, 300)
                outcomes = {p.name: json.loads(p.read_text()) for p in done}
                assert all(o["success"] for o in outcomes.values()), outcomes
            snapshots.append(_snapshot(home))
        for w in workers:
            w.wait(timeout=60)
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()

    output = "\n".join(log.read_text() for log in logs)
    assert not [m for m in LOCK_MARKERS if m in output], "DuckDB lock trouble in the worker logs"
    first = snapshots[0]
    assert first["tables"]["training_mix"] and first["exports"], "the backfill produced no mix"
    for later in snapshots[1:]:
        assert later["tables"] == first["tables"], "a repeated backfill changed the warehouse"
        assert later["exports"] == first["exports"], "a repeated backfill changed the exports"

    instance = dg.DagsterInstance.from_config(str(dagster_home))
    try:
        runs = instance.get_runs()
        assert len(runs) == ROUNDS * 2 * len(DOMAINS)
        assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
        spans, blocked = _pool_steps(instance)
        messages = [e.message or "" for run in runs for e in instance.all_logs(run.run_id)]
    finally:
        instance.dispose()
    assert not [m for m in messages if any(k in m for k in LOCK_MARKERS)]
    # every asset here is in the pool (limit 1): the writers queue, one step at a time
    overlaps = [(a, b) for i, b in enumerate(spans) for a in spans[:i] if a[2] != b[2] and b[0] < a[1]]
    print(f"\nconcurrency: {len(runs)} runs, {len(spans)} pool steps, {blocked} 'blocked by pool' "
          f"events, {len(overlaps)} pairs of steps of different runs overlapping in time: "
          f"{[(a[3], b[3]) for a, b in overlaps]}")
    assert blocked > 0, "four simultaneous runs never waited for the pool"
    assert overlaps == [], "pool steps of different runs ran at the same time"


HOLD_LOCK = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("LOCKED", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def _hold_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path), str(seconds)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "LOCKED"
    return holder


def test_a_writer_waits_for_another_process_holding_the_duckdb_lock(tmp_path: Path) -> None:
    """The fallback when the pool does not keep writers apart: connect retries on DuckDB's
    single-writer lock, then fails with a clear error if it is never released."""
    path = tmp_path / "warehouse.duckdb"
    Warehouse(path).count("raw_documents")  # create the file and schema
    holder = _hold_lock(path, 1.5)
    try:
        started = time.monotonic()
        written = Warehouse(path).replace_partition("raw_documents", "math", [{"doc_id": "d1", "domain": "math"}])
        waited = time.monotonic() - started
    finally:
        holder.wait(timeout=60)
    assert written == 1 and waited >= 0.5, f"the write did not wait for the lock ({waited:.2f}s)"
    assert Warehouse(path).count("raw_documents", "math") == 1

    holder = _hold_lock(path, 60)
    try:
        with pytest.raises(WarehouseError, match=rf"cannot open warehouse {re.escape(str(path))}.*lock"):
            Warehouse(path, lock_timeout_s=0.5).count("raw_documents")
    finally:
        holder.kill()
        holder.wait(timeout=60)
