"""LLM faults at the pipeline level: a real Dagster run of raw_documents..mcq_tasks with the
openai backend against a loopback server (another process) that injects every fault mode.

With one request in flight the client's calls are strictly sequential, so a fault schedule
by call number lands on known calls and every count in the metadata is exact.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from goose_assets.storage.duckdb_warehouse import Warehouse
from goose_assets_tests.llm_server import ServerConfig, spawn_server_process
from goose_assets_tests.reliability import runner
from goose_assets_tests.reliability.corpus import write_corpus

pytestmark = pytest.mark.slow

# server fault -> the client's fault counters it must show up in (one each), and why
FAULT_COUNTERS: dict[str, tuple[str, ...]] = {
    "http_500": ("http_500",),  # retried with backoff
    "http_429": ("http_429",),  # retried after Retry-After
    "connection_reset": ("connection_error",),  # retried
    "read_timeout": ("timeout",),  # retried after the client's timeout
    "truncated_json": ("repaired_json",),  # repaired in place, no new call
    "truncated_json_early": ("repaired_json", "schema_violation"),  # repair is not enough: re-asked
    "schema_violation": ("schema_violation",),  # re-asked
    "answer_not_in_source": ("answer_not_in_source",),  # re-asked
    "unconstrained_prose": ("invalid_json",),  # re-asked
}
TRANSPORT = ("http_500", "http_429", "connection_reset", "read_timeout")
REPEATS = 2
N_DOCS = 45
FIRST, STEP = 10, 3  # past the structured-output probe (first 8 replies), one call in three
PERSISTENT = (5, 6, 7)  # one request answered off-source three times: quarantined


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert failures, "the run did not fail"
    error = failures[0].step_failure_data.error
    messages = []
    while error is not None:  # Dagster wraps the asset's exception; the cause holds our text
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)


def test_every_fault_mode_is_retried_repaired_or_quarantined_and_counted(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", N_DOCS)
    schedule = {call: "answer_not_in_source" for call in PERSISTENT}
    modes = [m for _ in range(REPEATS) for m in FAULT_COUNTERS]
    schedule.update({FIRST + STEP * i: mode for i, mode in enumerate(modes)})
    config = ServerConfig(latency_s=0.01, faults_by_call=schedule, retry_after_s=0.05, hang_s=4.0)
    with spawn_server_process(config) as server:
        result = runner.materialize(tmp_path / "home", corpus, "math",
                                    runner.openai_llm(server.base_url, max_in_flight=1, timeout_s=1.0))
        stats = server.stats()
    assert result.success
    assert stats["received"] > max(schedule), "the schedule must be spent entirely"
    injected = {m: REPEATS for m in FAULT_COUNTERS}
    injected["answer_not_in_source"] += len(PERSISTENT)
    assert stats["faults"] == injected

    meta = runner.asset_metadata(result, "masked_items")
    expected: dict[str, int] = {}
    for mode, count in injected.items():
        for name in FAULT_COUNTERS[mode]:
            expected[name] = expected.get(name, 0) + count
    assert meta["llm_faults"] == expected
    assert meta["llm_retries"] == REPEATS * len(TRANSPORT)
    content = [m for m in FAULT_COUNTERS if m not in TRANSPORT and m != "truncated_json"]
    assert meta["llm_reasks"] == REPEATS * len(content) + len(PERSISTENT) - 1
    assert meta["llm_attempts"] == stats["received"]
    # everything was absorbed but the one request that never got a usable answer
    assert meta["rows_in"] == N_DOCS and meta["rows_out"] == N_DOCS - 1
    assert meta["llm_quarantined"] == 1 and meta["llm_errors"] == {"answer_not_in_source": 1}
    quarantined = Warehouse(tmp_path / "home" / "warehouse.duckdb").read("quarantine", "math")
    assert [(q["stage"], q["reason"]) for q in quarantined] == [("synthesis", "answer_not_in_source")]
    assert "Hence this holds." in quarantined[0]["raw"], "the quarantine row keeps the raw reply"
    assert runner.asset_metadata(result, "mcq_tasks")["rows_out"] == N_DOCS - 1


def test_a_mostly_failing_server_fails_the_asset_with_a_clear_message(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", 40)
    # ~75% of calls fail (seeded per prompt and attempt); mostly 429s so the retries are quick.
    # (Bad-schema replies are left out: a majority of those trips the structured-output guard
    # first, which has its own clear message.)
    rates = {"http_429": 0.65, "http_500": 0.1}
    in_flight = 4
    with spawn_server_process(ServerConfig(latency_s=0.01, fault_rates=rates, retry_after_s=0.02)) as server:
        result = runner.materialize(tmp_path / "home", corpus, "math",
                                    runner.openai_llm(server.base_url, max_in_flight=in_flight, timeout_s=2.0),
                                    raise_on_error=False)
        stats = server.stats()
    assert not result.success
    message = _failure_message(result)
    print(f"\nbreaker: {stats['received']} calls, faults {stats['faults']}\n{message.splitlines()[-1]}")
    assert "LLM calls failed" in message and "> 50%" in message, message
    assert "Stopping instead of quarantining" in message and "http_429=" in message, message
    # it stopped at the threshold, not after exhausting every request's retries
    assert 50 <= stats["received"] <= 50 + 2 * in_flight, stats["received"]
    wh = Warehouse(tmp_path / "home" / "warehouse.duckdb")
    assert wh.count("masked_items", "math") == 0
    assert wh.query("SELECT count(*) AS n FROM quarantine WHERE stage = 'synthesis'")[0]["n"] == 0
    # what was answered before the stop is cached: fixing the server and re-running pays once.
    # A reply the server wrote while the breaker cancelled the other workers (at most one per
    # worker in flight) may never have been read, or was still waiting on its re-ask.
    assert 0 < stats["answered"] - in_flight <= wh.count("llm_cache") <= stats["answered"]
