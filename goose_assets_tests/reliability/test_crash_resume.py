"""Crash and resume: `kill -9` a run in the middle of `masked_items`, then re-run it.

The run is a child process; the LLM server is another process (so the kill takes nothing of
the server with it, and the server's counters say exactly which prompts were answered before
the crash and which are asked again after it). Every answer is written to `llm_cache` the
moment it arrives, so the re-run must ask only for what was not answered before the kill.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from goose_assets.storage.duckdb_warehouse import Warehouse
from goose_assets_tests.llm_server import ServerConfig, ServerProcess, spawn_server_process
from goose_assets_tests.reliability import runner
from goose_assets_tests.reliability.corpus import write_corpus

pytestmark = pytest.mark.slow

N_DOCS = 24
CLIENT_IN_FLIGHT = 2  # requests a worker may hold answered but not yet cached at the kill


def _wait(server: ServerProcess, done: Any, what: str, child: Any = None, timeout_s: float = 180.0) -> dict[str, Any]:
    """Poll the server's counters until `done(stats)`; fail early if the child died."""
    deadline = time.monotonic() + timeout_s
    while True:
        stats = server.stats()
        if done(stats):
            return stats
        if child is not None and child.poll() is not None:
            _, err = child.communicate()
            pytest.fail(f"the run exited (rc {child.returncode}) before {what}:\n{err[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; server stats {stats}")
        time.sleep(0.02)


def _rows(wh: Warehouse, table: str) -> list[tuple[Any, ...]]:
    return sorted(tuple(str(v) for v in r.values()) for r in wh.read(table, "math"))


def test_kill_9_mid_generation_then_rerun_pays_only_for_unanswered_calls(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", N_DOCS)
    home = tmp_path / "crashed"
    # slow and serial: 24 answers take >= 7 s, so the kill lands well inside masked_items
    slow = ServerConfig(latency_s=0.3, max_concurrency=1)
    with spawn_server_process(slow) as server:
        child = runner.spawn(home, corpus, "math", server.base_url, max_in_flight=CLIENT_IN_FLIGHT)
        try:
            at_kill = _wait(server, lambda s: s["answered"] >= 5, "5 answered calls", child)
            os.killpg(child.pid, signal.SIGKILL)  # kill -9 the run (its own session), not the server
            child.wait(timeout=30)
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait(timeout=30)
            child.communicate()
        assert child.returncode == -signal.SIGKILL
        # the server finishes what was queued for the dead client; then its counters are final
        settled = _wait(server, lambda s: s["in_flight"] == 0, "the server to drain")
    answered_before = {k for k, n in at_kill["answered_by_prompt"].items() if n}
    assert 5 <= at_kill["answered"] < N_DOCS, "the kill must land mid-way through generation"

    wh = Warehouse(home / "warehouse.duckdb")
    cached = wh.count("llm_cache")  # committed one by one before the kill; survives kill -9
    assert wh.count("masked_items", "math") == 0, "a killed run must not leave a partial partition"
    assert at_kill["answered"] - CLIENT_IN_FLIGHT <= cached <= settled["answered"]

    # re-run against a fresh (fast) server: it counts exactly the calls the re-run makes
    with spawn_server_process(ServerConfig(latency_s=0.01)) as server:
        result = runner.materialize(home, corpus, "math", runner.openai_llm(server.base_url, CLIENT_IN_FLIGHT))
        rerun = server.stats()
        meta = runner.asset_metadata(result, "masked_items")
        assert meta["rows_in"] == N_DOCS and meta["rows_out"] == N_DOCS
        calls = rerun["received"]
        # exactly the requests with no cached answer, each asked once
        assert calls == N_DOCS - cached == meta["llm_calls"]
        assert meta["cache_hits"] == cached
        assert all(n == 1 for n in rerun["received_by_prompt"].values())
        # only what was not answered before the crash (plus at most the replies in the dead
        # client's hands at the kill, answered by the server but never stored)
        assert calls <= N_DOCS - at_kill["answered"] + CLIENT_IN_FLIGHT
        assert len(set(rerun["received_by_prompt"]) & answered_before) <= CLIENT_IN_FLIGHT
        # and together the two runs asked every prompt
        assert len(set(settled["answered_by_prompt"]) | set(rerun["received_by_prompt"])) == N_DOCS

        # a clean run in its own GOOSE_HOME against the same kind of server
        server.reset()
        clean_home = tmp_path / "clean"
        runner.materialize(clean_home, corpus, "math", runner.openai_llm(server.base_url, CLIENT_IN_FLIGHT))
        assert server.stats()["received"] == N_DOCS

    clean = Warehouse(clean_home / "warehouse.duckdb")
    for table, key in (("masked_items", "item_id"), ("mcq_tasks", "task_id")):
        ids = [r[key] for r in wh.read(table, "math", columns=[key])]
        assert len(ids) == len(set(ids)) == N_DOCS, f"duplicate or missing rows in {table}"
        assert _rows(wh, table) == _rows(clean, table), f"{table} after crash+resume differs from a clean run"
    assert wh.count("llm_cache") == N_DOCS
    print(f"\ncrash-resume: total={N_DOCS} answered_at_kill={at_kill['answered']} in_flight_at_kill="
          f"{at_kill['in_flight']} cached={cached} answered_after_drain={settled['answered']} rerun_calls={calls}")
