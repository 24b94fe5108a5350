"""The DuckDB warehouse on a real file: idempotent partition writes, atomicity, the cache."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from goose_assets.core.llm_types import LLMRequest, LLMResponse
from goose_assets.llm.base import cache_key
from goose_assets.storage.duckdb_warehouse import Warehouse
from goose_assets.storage.llm_cache import LLMCache
from goose_assets.storage.schema import TABLES, WarehouseError


def _row(task_id: str, domain: str = "math") -> dict:
    return {"task_id": task_id, "domain": domain, "kept": True, "drop_reason": None, "detail": ""}


def test_partition_write_replaces_only_its_domain(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.replace_partition("filtered_tasks", "math", [_row("a"), _row("b")])
    wh.replace_partition("filtered_tasks", "code", [_row("c", "code")])
    wh.replace_partition("filtered_tasks", "math", [_row("a"), _row("b")])
    assert wh.count("filtered_tasks", "math") == 2
    assert wh.count("filtered_tasks", "code") == 1
    wh.replace_partition("filtered_tasks", "math", [_row("z")])
    assert [r["task_id"] for r in wh.read("filtered_tasks", "math")] == ["z"]


def test_failed_partition_write_leaves_previous_rows(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.replace_partition("filtered_tasks", "math", [_row("a")])

    def broken():  # noqa: ANN202 - a generator that dies half-way, like a crashed stage
        yield _row("new")
        raise RuntimeError("stage crashed")

    with pytest.raises(RuntimeError):
        wh.replace_partition("filtered_tasks", "math", broken(), batch_size=1)
    assert [r["task_id"] for r in wh.read("filtered_tasks", "math")] == ["a"]


def test_a_partition_write_frees_each_batch_before_the_next(tmp_path: Path) -> None:
    """A partition is one transaction: the batches already inserted must not stay held as
    Arrow tables until it commits (a registered table did, so memory grew with the
    partition: BENCHMARKS.md, "Performance problems", item 10)."""
    import pyarrow as pa

    wh = Warehouse(tmp_path / "w.duckdb")
    batch_size, n_batches, detail = 20, 30, "x" * 50_000  # ~1 MB of Arrow a batch
    held: list[int] = []

    def rows():  # noqa: ANN202 - measures Arrow's live bytes as each batch is handed over
        for i in range(batch_size * n_batches):
            if i % batch_size == 0:
                held.append(pa.total_allocated_bytes())
            yield {**_row(f"t{i}"), "detail": detail}

    assert wh.replace_partition("filtered_tasks", "math", rows(), batch_size=batch_size) == batch_size * n_batches
    assert wh.count("filtered_tasks", "math") == batch_size * n_batches
    # about one batch alive at a time, however many the partition has (held: 29 MB)
    assert max(held) - held[0] < 3 * batch_size * len(detail), held


def test_row_of_another_domain_is_rejected(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    with pytest.raises(WarehouseError):
        wh.replace_partition("filtered_tasks", "math", [_row("a", "code")])
    assert wh.count("filtered_tasks") == 0


def test_quarantine_is_replaced_per_stage_and_domain(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    q = {"stage": "ingest", "domain": "math", "ref_id": "x", "reason": "empty_text", "detail": "", "raw": ""}
    wh.replace_quarantine("ingest", "math", [q, q])
    wh.replace_quarantine("ingest", "math", [q])
    wh.replace_quarantine("synthesis", "math", [{**q, "stage": "synthesis"}])
    assert wh.count("quarantine", "math") == 2


def test_unknown_column_is_refused(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    with pytest.raises(WarehouseError):
        wh.read("filtered_tasks", "math", columns=["task_id; DROP TABLE quarantine"])


def test_partition_key_is_a_parameter_not_sql(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.replace_partition("filtered_tasks", "math", [_row("a")])
    assert wh.read("filtered_tasks", "math' OR '1'='1") == []
    assert wh.count("filtered_tasks") == 1


def test_llm_cache_round_trip_and_write_through(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    req = LLMRequest(ref_id="p1", kind="synthesize", domain="math", prompt_version="synthesize_qa@1",
                     messages=[{"role": "user", "content": "hi"}], inputs={})
    key = cache_key("openai", "m", req)
    with wh.connect() as con:
        cache = LLMCache(con)
        assert cache.get_many([key]) == {}
        cache.put(key, "openai", "m", req, LLMResponse("p1", ["<answer>{}</answer>"], tokens_in=5, tokens_out=7))
        cache.put("bad", "openai", "m", req, LLMResponse("p1", ["prose"], error="invalid_json: after 2 re-asks", attempts=3))
    with wh.connect() as con:
        found = LLMCache(con).get_many([key, "bad", "absent"])
    assert sorted(found) == sorted([key, "bad"])
    assert found[key].texts == ["<answer>{}</answer>"] and found[key].cached and found[key].tokens_out == 7
    assert found[key].error is None
    # a final bad answer is remembered with its reason, so a re-run quarantines it without paying again
    assert found["bad"].error == "invalid_json: after 2 re-asks" and found["bad"].attempts == 3


def test_cache_key_changes_with_template_version() -> None:
    base = dict(ref_id="p", kind="synthesize", domain="math", messages=[{"role": "user", "content": "x"}], inputs={})
    a = cache_key("openai", "m", LLMRequest(prompt_version="synthesize_qa@1", **base))
    b = cache_key("openai", "m", LLMRequest(prompt_version="synthesize_qa@2", **base))
    c = cache_key("openai", "m2", LLMRequest(prompt_version="synthesize_qa@1", **base))
    assert len({a, b, c}) == 3


def test_an_older_warehouse_gets_the_format_column_with_paper_for_its_items(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    old_columns = [(c, t) for c, t in TABLES["masked_items"] if c != "synthesis_format"]
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE masked_items (" + ", ".join(f'"{c}" {t}' for c, t in old_columns) + ")")
        con.execute("INSERT INTO masked_items (item_id, domain, shard) VALUES ('old', 'math', '')")
    wh = Warehouse(path)
    rows = wh.read("masked_items", "math")
    assert [(r["item_id"], r["synthesis_format"]) for r in rows] == [("old", "paper")]


def test_offered_task_count_leaves_out_what_aflite_flagged(tmp_path: Path) -> None:
    """The student's and the gate's share of a partition: every task but the flagged ones
    (a task written before the flag existed counts as offered, as `_task_batches` reads it)."""
    from goose_assets.storage.queries import offered_task_count

    wh = Warehouse(tmp_path / "w.duckdb")
    flags = {"a": False, "b": True, "c": None, "d": False}
    wh.replace_partition("mcq_tasks", "math", [{"task_id": t, "domain": "math", "surface_solvable": f} for t, f in flags.items()])
    wh.replace_partition("mcq_tasks", "code", [{"task_id": "e", "domain": "code", "surface_solvable": False}])
    assert offered_task_count(wh, "math") == 3
    assert offered_task_count(wh, "code") == 1
    assert offered_task_count(wh, "math", shard="elsewhere") == 0
