"""Steps on Celery workers: Redis (Debian package) as broker and result backend, two
`dagster-celery` workers, a Dagster instance in PostgreSQL (deploy/celery/dagster.yaml) and
the DuckLake warehouse, so both workers write at once. A backfill of all four domains must
run steps on both workers and give exactly the rows of the embedded DuckDB run."""

from __future__ import annotations

import importlib.util
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from goose_assets.defs.resources import SAMPLE_CORPUS
from goose_assets.storage.ducklake_warehouse import DuckLakeWarehouse, LakeConfig
from goose_assets_tests.scale.backfill import LOCK_ERRORS, Reference, snapshot
from goose_assets_tests.scale.celery_cluster import (
    celery_workers,
    dagster_home,
    materialize_domains,
    materialize_partitions,
    set_pool_limit,
)
from goose_assets_tests.scale.materialize_child import STAGES
from goose_assets_tests.scale.servers import Postgres, ServerUnavailable, redis_server

pytestmark = pytest.mark.slow
SHARDED_STAGE_NAMES = STAGES["synthesis"]


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    if importlib.util.find_spec("dagster_celery") is None or importlib.util.find_spec("dagster_postgres") is None:
        pytest.skip("dagster-celery / dagster-postgres not installed: pip install -e '.[scale]'")
    try:
        with redis_server() as url:
            yield url
    except ServerUnavailable as exc:
        pytest.skip(f"Redis unavailable: {exc}")


def _worker_of_each_step(instance: dg.DagsterInstance) -> dict[tuple[str, str], str]:
    """(run's partition, step) -> the Celery worker that ran it, from the engine event each
    worker writes into the run's event log before it executes a step."""
    placed: dict[tuple[str, str], str] = {}
    for run in instance.get_runs():
        partition = run.tags.get("dagster/partition", "")
        for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
            event = record.dagster_event
            metadata = getattr(event.event_specific_data, "metadata", None) or {} if event else {}
            if event and "Celery worker" in metadata:
                placed[(partition, event.step_key or "")] = str(metadata["Celery worker"].value)
    return placed


# one worker is the timing baseline for docs/scaling.md, not a different code path: it runs
# when asked for (GOOSE_SCALE_COMPARE=1 pytest -s ...), keeping two minutes out of the suite
@pytest.mark.parametrize("n_workers", [
    2,
    pytest.param(1, marks=pytest.mark.skipif(os.environ.get("GOOSE_SCALE_COMPARE") != "1",
                                             reason="the 1-worker timing baseline: set GOOSE_SCALE_COMPARE=1")),
])
def test_backfill_on_celery_workers_matches_the_embedded_run(
    n_workers: int, postgres: Postgres, redis_url: str, duckdb_reference: Reference, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tag = f"w{n_workers}"
    lake_catalog = postgres.createdb(f"celery_lake_{tag}")
    postgres.createdb(f"celery_dagster_{tag}")
    home = dagster_home(tmp_path)
    env = {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(postgres.port), "DAGSTER_PG_DB": f"celery_dagster_{tag}",
        "DAGSTER_PG_USER": postgres.user, "DAGSTER_PG_PASSWORD": "",
        "GOOSE_EXECUTOR": "celery", "GOOSE_CELERY_BROKER": redis_url, "GOOSE_CELERY_BACKEND": redis_url[:-1] + "1",
        "GOOSE_HOME": str(tmp_path / "goose_home"), "GOOSE_WAREHOUSE": "ducklake",
        "GOOSE_DUCKLAKE_CATALOG": lake_catalog, "GOOSE_DUCKLAKE_DATA_PATH": str(tmp_path / "lake"),
        "GX_ANALYTICS_ENABLED": "false", "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    names = [f"{tag}worker{i}" for i in range(1, n_workers + 1)]
    set_pool_limit(env)
    with celery_workers(names, env, tmp_path) as logs:
        start = time.perf_counter()
        runs = materialize_domains(env)
        seconds = time.perf_counter() - start
        worker_logs = {name: path.read_text(errors="replace") for name, path in logs.items()}
    print(f"\ncelery backfill, 4 domains x 3 stages as 12 runs, {n_workers} worker(s): {seconds:.1f}s "
          f"(embedded DuckDB, one process: {duckdb_reference.seconds:.1f}s)")
    for run in runs:
        assert run.returncode == 0, f"{' '.join(run.args)} failed:\n{run.stderr[-4000:]}"
        assert not [m for m in LOCK_ERRORS if m in run.stderr]

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with dg.DagsterInstance.get() as instance:
        placed = _worker_of_each_step(instance)
        assert len(instance.get_runs()) == 12
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in instance.get_runs())
    # every step of every domain ran on a worker, and every worker took steps
    assert len(placed) == 4 * sum(len(assets) for assets in STAGES.values())  # one step per asset
    per_worker = Counter(w.split("@")[0] for w in placed.values())
    assert set(per_worker) == set(names), per_worker
    for name in names:
        assert worker_logs[name].count("Task execute_plan[") >= per_worker[name]

    actual = snapshot(DuckLakeWarehouse(LakeConfig(lake_catalog, str(tmp_path / "lake"))))
    for table, rows in duckdb_reference.rows.items():
        assert actual[table] == rows, f"{table} differs between the embedded run and the Celery run"
    assert os.path.exists(tmp_path / "goose_home" / "exports" / "default" / "goosereason.jsonl")


def test_one_domain_across_four_shards_on_two_celery_workers(
    postgres: Postgres, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A domain split into 4 shard files (GOOSE_SHARDS_DIR): the 4 (math, shard) runs go
    to the Celery queue at once, both workers take steps, then `filtered_tasks` for math
    reads all 4 shards from DuckLake."""
    lines = [ln for ln in (SAMPLE_CORPUS / "math.jsonl").read_text(encoding="utf-8").splitlines() if ln.strip()]
    shards_dir = tmp_path / "shards" / "math"
    shards_dir.mkdir(parents=True)
    keys = [f"part-{i}" for i in range(4)]
    for i, key in enumerate(keys):
        (shards_dir / f"{key}.jsonl").write_text("\n".join(lines[i::4]) + "\n", encoding="utf-8")
    lake_catalog = postgres.createdb("celery_lake_shards")
    postgres.createdb("celery_dagster_shards")
    env = {
        "DAGSTER_HOME": str(dagster_home(tmp_path)),
        "DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(postgres.port), "DAGSTER_PG_DB": "celery_dagster_shards",
        "DAGSTER_PG_USER": postgres.user, "DAGSTER_PG_PASSWORD": "",
        "GOOSE_EXECUTOR": "celery", "GOOSE_CELERY_BROKER": redis_url, "GOOSE_CELERY_BACKEND": redis_url[:-1] + "1",
        "GOOSE_HOME": str(tmp_path / "goose_home"), "GOOSE_WAREHOUSE": "ducklake",
        "GOOSE_DUCKLAKE_CATALOG": lake_catalog, "GOOSE_DUCKLAKE_DATA_PATH": str(tmp_path / "lake"),
        "GOOSE_SHARDS_DIR": str(tmp_path / "shards"),
        "GX_ANALYTICS_ENABLED": "false", "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    set_pool_limit(env)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("source_shards", keys)  # what source_shards_sensor does
    names = ["shardworker1", "shardworker2"]
    with celery_workers(names, env, tmp_path):
        start = time.perf_counter()
        runs = materialize_partitions(env, [f"math|{k}" for k in keys], SHARDED_STAGE_NAMES)
        runs += materialize_partitions(env, ["math"], ("filtered_tasks",))
        seconds = time.perf_counter() - start
    print(f"\ncelery, math across 4 shards on 2 workers: {seconds:.1f}s")
    for run in runs:
        assert run.returncode == 0, f"{' '.join(run.args)} failed:\n{run.stderr[-4000:]}"
    with dg.DagsterInstance.get() as instance:
        placed = _worker_of_each_step(instance)
    assert {p for p, _ in placed} == {*(f"math|{k}" for k in keys), "math"}
    assert len(placed) == 4 * len(SHARDED_STAGE_NAMES) + 1
    assert {w.split("@")[0] for w in placed.values()} == set(names)
    wh = DuckLakeWarehouse(LakeConfig(lake_catalog, str(tmp_path / "lake")))
    by_shard = Counter(r["shard"] for r in wh.read("raw_documents", "math", ["shard"]))
    assert by_shard == {k: len(lines[i::4]) for i, k in enumerate(keys)}
    assert wh.count("filtered_tasks", "math") == wh.count("mcq_tasks", "math") > 0
