"""The DuckLake warehouse against a real PostgreSQL catalog: the Warehouse API, concurrent
writers on one table, failed writes, the LLM cache and the mode switch."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import duckdb
import pytest

from goose_assets.core.llm_types import LLMRequest, LLMResponse
from goose_assets.storage.duckdb_warehouse import Warehouse
from goose_assets.storage.ducklake_warehouse import DuckLakeWarehouse, LakeConfig, extension_file
from goose_assets.storage.llm_cache import LLMCache
from goose_assets.storage.open import open_warehouse
from goose_assets.storage.schema import WarehouseError

DOMAINS = ("math", "code", "science", "cyber")


def _tasks(domain: str, n: int, tag: str = "") -> list[dict]:
    return [{"task_id": f"{domain}-{i}{tag}", "domain": domain, "kept": i % 3 != 0,
             "drop_reason": None if i % 3 else "trivial", "detail": tag} for i in range(n)]


def _writer(catalog: str, data_path: str, domain: str, rounds: int) -> None:
    wh = DuckLakeWarehouse(LakeConfig(catalog, data_path))
    for r in range(rounds):
        # every round replaces the last: only the final round's rows may survive
        wh.replace_partition("filtered_tasks", domain, _tasks(domain, 50 + r, tag=f"r{r}"))
        wh.replace_quarantine("filter", domain, [{"stage": "filter", "domain": domain, "ref_id": f"q{r}", "reason": "x"}])


def test_open_warehouse_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOSE_WAREHOUSE", raising=False)
    assert type(open_warehouse(tmp_path)) is Warehouse
    monkeypatch.setenv("GOOSE_WAREHOUSE", "ducklake")
    monkeypatch.delenv("GOOSE_DUCKLAKE_CATALOG", raising=False)
    with pytest.raises(WarehouseError, match="GOOSE_DUCKLAKE_CATALOG"):
        open_warehouse(tmp_path)
    monkeypatch.setenv("GOOSE_DUCKLAKE_CATALOG", "postgres:dbname=x host=127.0.0.1")
    lake = open_warehouse(tmp_path)
    assert isinstance(lake, DuckLakeWarehouse)
    assert lake.config.data_path == str(tmp_path / "lake")
    assert not lake.config.is_remote() and LakeConfig("c", "s3://bucket/goose/").is_remote()
    monkeypatch.setenv("GOOSE_WAREHOUSE", "sqlite")
    with pytest.raises(WarehouseError, match="unknown warehouse mode"):
        open_warehouse(tmp_path)


@pytest.mark.slow
def test_extensions_load_from_their_pypi_packages(lake_catalog: str, tmp_path: Path) -> None:
    wh = DuckLakeWarehouse(LakeConfig(lake_catalog, str(tmp_path / "lake")))
    with wh.connect() as con:
        loaded = dict(con.execute(
            "SELECT extension_name, install_path FROM duckdb_extensions() WHERE loaded AND extension_name IN ('ducklake', 'postgres_scanner')"
        ).fetchall())
        kind = con.execute("SELECT type FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    assert set(loaded) == {"ducklake", "postgres_scanner"}
    # loaded from the wheel's file, never installed into ~/.duckdb from the download server
    assert "site-packages" in str(extension_file("ducklake")) and f"v{duckdb.__version__}" in str(extension_file("ducklake"))
    assert kind == ("ducklake",)


@pytest.mark.slow
def test_partition_writes_replace_only_their_domain(lake_catalog: str, tmp_path: Path) -> None:
    wh = DuckLakeWarehouse(LakeConfig(lake_catalog, str(tmp_path / "lake")))
    for domain in DOMAINS:
        assert wh.replace_partition("filtered_tasks", domain, _tasks(domain, 20)) == 20
    assert wh.replace_partition("filtered_tasks", "math", _tasks("math", 7, tag="b")) == 7
    assert wh.count("filtered_tasks") == 67
    math = wh.read("filtered_tasks", "math", order_by="task_id")
    assert [r["task_id"] for r in math] == sorted(f"math-{i}b" for i in range(7))
    stored = [{**r, "shard": ""} for r in sorted(_tasks("code", 20), key=lambda r: r["task_id"])]
    assert wh.read("filtered_tasks", "code", order_by="task_id") == stored
    batches = list(wh.iter_rows("filtered_tasks", "science", columns=["task_id"], batch_size=8))
    assert [len(b) for b in batches] == [8, 8, 4]
    # lists round-trip, and the ingest timestamp default still applies
    wh.replace_partition("masked_items", "code", [{"item_id": "i1", "domain": "code", "distractors": ["a", "b"]}])
    assert wh.read("masked_items", "code", columns=["distractors"]) == [{"distractors": ["a", "b"]}]
    wh.replace_partition("raw_documents", "code", [{"doc_id": "d1", "domain": "code"}])
    assert wh.query("SELECT ingested_at IS NOT NULL AS stamped FROM raw_documents") == [{"stamped": True}]
    # parquet files sit under the data path, one folder per domain partition
    assert list((tmp_path / "lake").rglob("domain=*/*.parquet"))


@pytest.mark.slow
def test_a_failed_write_keeps_the_old_partition(lake_catalog: str, tmp_path: Path) -> None:
    wh = DuckLakeWarehouse(LakeConfig(lake_catalog, str(tmp_path / "lake")))
    wh.replace_partition("filtered_tasks", "math", _tasks("math", 5))

    def broken():  # noqa: ANN202
        yield from _tasks("math", 3, tag="new")
        raise RuntimeError("producer died")

    with pytest.raises(RuntimeError, match="producer died"):
        wh.replace_partition("filtered_tasks", "math", broken())
    with pytest.raises(WarehouseError, match="partition 'math'"):
        wh.replace_partition("filtered_tasks", "math", _tasks("code", 2))
    assert sorted(r["task_id"] for r in wh.read("filtered_tasks", "math")) == [f"math-{i}" for i in range(5)]


@pytest.mark.slow
def test_concurrent_writers_on_one_table_all_land(lake_catalog: str, tmp_path: Path) -> None:
    """Four processes replace their own domain of the same tables, five times each. DuckLake
    reports a conflict for concurrent delete+insert on one table; the writers retry until
    each commit lands, and only every domain's last round survives."""
    data = str(tmp_path / "lake")
    DuckLakeWarehouse(LakeConfig(lake_catalog, data)).count("filtered_tasks")  # create the catalog first
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(lake_catalog, data, d, 5)) for d in DOMAINS]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    wh = DuckLakeWarehouse(LakeConfig(lake_catalog, data))
    for domain in DOMAINS:
        assert sorted(r["task_id"] for r in wh.read("filtered_tasks", domain)) == sorted(t["task_id"] for t in _tasks(domain, 54, "r4"))
        assert [r["ref_id"] for r in wh.read("quarantine", domain)] == ["q4"]


@pytest.mark.slow
def test_llm_cache_is_insert_if_absent_on_ducklake(lake_catalog: str, tmp_path: Path) -> None:
    wh = DuckLakeWarehouse(LakeConfig(lake_catalog, str(tmp_path / "lake")))
    request = LLMRequest(ref_id="p1", kind="synthesize", domain="math", prompt_version="v1",
                         messages=[{"role": "user", "content": "mask this"}], inputs={})
    with wh.connect() as con:
        cache = LLMCache(con)
        assert cache.insert_if_absent
        cache.put("k1", "openai", "m", request, LLMResponse(ref_id="p1", texts=["first"], tokens_in=3, tokens_out=4))
        # a second writer of the same key (another worker that missed it too) adds nothing
        cache.put("k1", "openai", "m", request, LLMResponse(ref_id="p1", texts=["second"]))
        cache.put("k2", "openai", "m", request, LLMResponse(ref_id="p1", texts=["bad"], error="invalid json"))
        found = cache.get_many(["k1", "k2", "k3"])
    assert set(found) == {"k1", "k2"} and found["k1"].texts == ["first"] and found["k1"].cached
    assert found["k1"].tokens_in == 3 and found["k2"].error == "invalid json"
    assert wh.count("llm_cache") == 2


@pytest.mark.slow
def test_shard_writes_on_ducklake_replace_only_their_shard(lake_catalog: str, tmp_path: Path) -> None:
    """Shards of one domain written by concurrent processes (what a sharded backfill does):
    each write replaces only its (domain, shard), and a domain-level read sees them all."""
    data = str(tmp_path / "lake")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_shard_writer, args=(lake_catalog, data, f"s{i}")) for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    wh = DuckLakeWarehouse(LakeConfig(lake_catalog, data))
    assert sorted({(r["shard"], r["detail"]) for r in wh.read("filtered_tasks", "math")}) == [("s0", "r2"), ("s1", "r2"), ("s2", "r2")]
    assert wh.count("filtered_tasks", "math", shard="s1") == 5
    wh.replace_partition("filtered_tasks", "math", _tasks("math", 2, tag="whole"))
    assert {r["shard"] for r in wh.read("filtered_tasks", "math")} == {""}


def _shard_writer(catalog: str, data_path: str, shard: str) -> None:
    wh = DuckLakeWarehouse(LakeConfig(catalog, data_path))
    for r in range(3):
        rows = [{**t, "task_id": f"{t['task_id']}-{shard}"} for t in _tasks("math", 5, tag=f"r{r}")]
        wh.replace_partition("filtered_tasks", "math", rows, shard=shard)
