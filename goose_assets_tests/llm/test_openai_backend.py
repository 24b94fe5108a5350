"""The openai backend end to end against loopback OpenAI-compatible servers."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from goose_assets.core.synthesis.parse import parse_object, validate_generation
from goose_assets.llm.calls.accounting import Prices
from goose_assets.llm.calls.errors import (
    ErrorRateExceededError,
    LLMConfigurationError,
    StructuredOutputIgnoredError,
)
from goose_assets.llm.openai_backend import OpenAIBackend
from goose_assets_tests.llm.helpers import (
    MemoryCache,
    injected_request,
    mixed_requests,
    student_request,
    synthesis_request,
)
from goose_assets_tests.llm_server import prompt_key

API_KEY = "sk-test-6f1d2c9a-never-log-me"
FAST: dict[str, Any] = {"backoff_base_s": 0.005, "backoff_max_s": 0.05, "timeout_s": 2.0, "max_in_flight": 8}


def backend(urls: str | list[str], **options: Any) -> OpenAIBackend:
    return OpenAIBackend(urls, "loopback-model", API_KEY, **{**FAST, **options})


def assert_valid_items(requests: list, responses: list) -> None:
    for req, resp in zip(requests, responses, strict=True):
        assert resp.error is None, resp.error
        obj, _ = parse_object(resp.texts[0])
        assert obj is not None
        validate_generation(obj, req.inputs["shape"], req.inputs["body"])


def test_rerun_hits_the_cache_and_makes_zero_calls(start_server):
    server = start_server(latency_s=0.005)
    requests, cache = mixed_requests(30), MemoryCache()
    first = backend(server.base_url).generate(requests, cache)
    assert_valid_items(requests, first)
    assert server.stats()["received"] == 30 and cache.puts == 30
    assert not any(r.cached for r in first)

    again = backend(server.base_url)
    second = again.generate(requests, cache)
    assert server.stats()["received"] == 30  # not one new call
    assert all(r.cached for r in second)
    assert [r.texts for r in second] == [r.texts for r in first]
    assert again.stats.cache_hits == 30 and again.stats.calls == 0


def test_a_new_template_version_re_requests_only_its_items(start_server):
    server = start_server()
    requests, cache = mixed_requests(30), MemoryCache()
    backend(server.base_url).generate(requests, cache)
    bumped = [synthesis_request(i, "qa", version_suffix=".1") if r.inputs["shape"] == "qa" else r
              for i, r in enumerate(requests)]
    qa_count = sum(r.inputs["shape"] == "qa" for r in requests)
    second = backend(server.base_url).generate(bumped, cache)
    assert server.stats()["received"] == 30 + qa_count
    assert [r.cached for r in second] == [req.inputs["shape"] != "qa" for req in requests]


@pytest.mark.parametrize(
    ("fault", "expected_fault"),
    [("http_500", "http_500"), ("http_429", "http_429"), ("connection_reset", "connection_error"),
     ("read_timeout", "timeout")],
)
def test_transport_faults_are_retried(start_server, fault, expected_fault):
    server = start_server(faults_by_attempt={1: fault}, hang_s=5.0, retry_after_s=0.05)
    requests = mixed_requests(6)
    b = backend(server.base_url, timeout_s=0.5)
    responses = b.generate(requests, MemoryCache())
    assert_valid_items(requests, responses)
    assert all(r.attempts == 2 and r.faults == [expected_fault] for r in responses)
    assert b.stats.faults == {expected_fault: 6} and b.stats.retries == 6
    assert set(server.stats()["received_by_prompt"].values()) == {2}


def test_retry_after_is_honoured(start_server):
    server = start_server(faults_by_attempt={1: "http_429"}, retry_after_s=0.4)
    requests = mixed_requests(3)
    backend(server.base_url, backoff_base_s=0.001).generate(requests, MemoryCache())
    for times in server.stats()["received_at_by_prompt"].values():
        assert len(times) == 2 and times[1] - times[0] >= 0.4


def test_a_request_that_keeps_failing_is_returned_with_an_error_and_not_cached(start_server):
    server = start_server(fault="http_500")
    cache = MemoryCache()
    b = backend(server.base_url, max_retries=2, breaker_min_calls=0)
    responses = b.generate(mixed_requests(4), cache)
    assert all(r.error and r.error.startswith("transport: http_500") for r in responses)
    assert all(r.attempts == 3 for r in responses)
    assert cache.puts == 0  # nothing was answered: a re-run must try again
    assert b.stats.quarantined == 4 and b.stats.errors == {"transport": 4}


def test_truncated_json_is_repaired_without_a_re_ask(start_server):
    server = start_server(fault="truncated_json")
    requests = mixed_requests(6)
    b = backend(server.base_url)
    responses = b.generate(requests, MemoryCache())
    assert_valid_items(requests, responses)
    assert b.stats.faults == {"repaired_json": 6} and b.stats.reasks == 0
    assert server.stats()["received"] == 6


@pytest.mark.parametrize("fault", ["schema_violation", "truncated_json_early", "answer_not_in_source",
                                   "unconstrained_prose"])
def test_a_bad_answer_is_re_asked_with_a_corrective_turn(start_server, fault):
    server = start_server(faults_by_attempt={1: fault})
    requests = mixed_requests(6)
    b = backend(server.base_url, constraint_probe=0)
    responses = b.generate(requests, MemoryCache())
    assert_valid_items(requests, responses)
    assert b.stats.reasks == 6 and all(r.attempts == 2 for r in responses)
    assert server.stats()["follow_ups"] == 6  # the second call carried the bad reply and a correction


def test_an_answer_that_stays_bad_is_quarantined_with_its_raw_text_and_cached(start_server):
    server = start_server(fault="answer_not_in_source")
    requests, cache = mixed_requests(4), MemoryCache()
    b = backend(server.base_url, max_reasks=2, constraint_probe=0)
    responses = b.generate(requests, cache)
    for r in responses:
        assert r.error is not None and r.error.startswith("answer_not_in_source")
        assert r.attempts == 3 and r.texts and "[MASK]" in r.texts[0]  # raw reply kept for quarantine
    assert b.stats.errors == {"answer_not_in_source": 4}
    # the model's final word was paid for: a re-run reuses it instead of paying again
    again = backend(server.base_url).generate(requests, cache)
    assert all(r.cached and r.error for r in again)
    assert server.stats()["received"] == 12


def test_a_server_that_obeys_a_prompt_injection_gets_quarantined(start_server):
    server = start_server(fault="obey_injection")
    requests = [injected_request(i) for i in range(3)] + mixed_requests(3)
    responses = backend(server.base_url, constraint_probe=0).generate(requests, MemoryCache())
    assert all(r.error is not None for r in responses[:3])
    assert all("PWNED" in r.texts[0] for r in responses[:3])
    assert_valid_items(requests[3:], responses[3:])


def test_an_ignored_structured_output_constraint_fails_the_run_loudly(start_server):
    server = start_server(fault="unconstrained_prose")
    cache = MemoryCache()
    with pytest.raises(StructuredOutputIgnoredError, match="guided_json"):
        backend(server.base_url, constraint_probe=8, max_in_flight=4).generate(mixed_requests(200), cache)
    assert server.stats()["received"] < 30  # stopped after the probe, not after 200 x 3 calls
    assert cache.puts == 0  # garbage is not cached: the re-run after the fix pays for real answers


@pytest.mark.parametrize("mode", ["json_schema", "vllm_extra_body", "json_object", "prompt"])
def test_every_structured_output_mode_yields_valid_items(start_server, mode):
    server = start_server()
    requests = mixed_requests(6)
    responses = backend(server.base_url, structured_output=mode).generate(requests, MemoryCache())
    # a constrained server returns bare JSON; one that was only asked wraps it as the prompt says
    assert all(r.texts[0].startswith("<answer>") == (mode == "prompt") for r in responses)
    assert_valid_items(requests, responses)


def test_the_error_rate_breaker_stops_a_failing_run(start_server):
    server = start_server(fault_rates={"http_500": 0.8}, seed=3)
    with pytest.raises(ErrorRateExceededError, match="LLM calls failed"):
        backend(server.base_url, breaker_min_calls=50).generate(mixed_requests(300), MemoryCache())
    assert 50 <= server.stats()["received"] < 50 + 8 * 2


def test_a_mixed_fault_run_completes_with_counts_per_fault(start_server):
    rates = {"http_500": 0.05, "http_429": 0.05, "connection_reset": 0.05, "truncated_json": 0.05,
             "schema_violation": 0.05, "answer_not_in_source": 0.05}
    server = start_server(fault_rates=rates, seed=11, retry_after_s=0.01)
    requests = mixed_requests(90)
    b = backend(server.base_url)
    responses = b.generate(requests, MemoryCache())
    assert sum(r.error is None for r in responses) >= 88
    injected = server.stats()["faults"]
    observed = b.stats.faults
    assert observed["http_500"] == injected.get("http_500", 0)
    assert observed["http_429"] == injected.get("http_429", 0)
    assert observed["connection_error"] == injected.get("connection_reset", 0)
    assert observed["repaired_json"] == injected.get("truncated_json", 0)
    assert observed["schema_violation"] == injected.get("schema_violation", 0)
    assert observed["answer_not_in_source"] == injected.get("answer_not_in_source", 0)
    assert b.stats.calls == server.stats()["received"]


def test_tokens_and_cost_are_summed(start_server):
    server = start_server(faults_by_attempt={1: "schema_violation"})
    b = backend(server.base_url, prices=Prices(input_per_mtok=2.0, output_per_mtok=8.0), constraint_probe=0)
    responses = b.generate(mixed_requests(9), MemoryCache())
    seen = server.stats()
    assert b.stats.tokens_in == seen["tokens_in"] > 0 and b.stats.tokens_out == seen["tokens_out"] > 0
    assert sum(r.tokens_in for r in responses) == seen["tokens_in"]  # re-asks included per request
    assert b.stats.cost_usd == pytest.approx(seen["tokens_in"] * 2e-6 + seen["tokens_out"] * 8e-6)
    meta = b.stats.as_metadata()
    assert meta["llm_tokens_in"] == seen["tokens_in"] and meta["llm_attempts"] == 18


def test_dry_run_estimates_without_calling(start_server):
    server = start_server()
    requests, cache = mixed_requests(30), MemoryCache()
    backend(server.base_url).generate(requests[:12], cache)
    b = backend(server.base_url, prices=Prices(1.0, 3.0))
    estimate = b.estimate(requests, cache)
    assert server.stats()["received"] == 12  # the estimate itself called nothing
    assert estimate.total.requests == 30 and estimate.total.cache_hits == 12 and estimate.total.calls == 18
    assert set(estimate.by_domain) == {"math", "code", "cyber"}
    assert sum(e.calls for e in estimate.by_domain.values()) == 18
    t = estimate.total
    assert t.prompt_tokens > 0 and t.completion_tokens > 0
    assert t.cost_usd == pytest.approx(t.prompt_tokens * 1e-6 + t.completion_tokens * 3e-6)
    assert "chars/token" in estimate.method and any("TOTAL" in line for line in estimate.lines())
    # the heuristic lands within 2x of what the server actually counts for those calls
    backend(server.base_url).generate(requests, cache)
    actual_in = server.stats()["tokens_in"] * 18 / 30
    assert 0.5 < t.prompt_tokens / actual_in < 2.0


def test_student_rollouts_return_n_texts_and_progress_is_reported(start_server):
    server = start_server()
    ticks: list[tuple[int, int]] = []
    requests = [student_request(i, n=16) for i in range(5)]
    responses = backend(server.base_url).generate(requests, MemoryCache(), progress=lambda d, t: ticks.append((d, t)))
    assert all(len(r.texts) == 16 and r.error is None for r in responses)
    assert all("Answer: " in t for r in responses for t in r.texts)
    assert ticks[-1] == (5, 5) and [d for d, _ in ticks] == sorted(d for d, _ in ticks)
    assert server.stats()["received"] == 5  # n=16 is one call, not sixteen


def test_a_fleet_balances_by_in_flight_requests(start_server):
    a, b_server = start_server(latency_s=0.02), start_server(latency_s=0.02)
    b = backend([a.base_url, b_server.base_url], max_in_flight=8)
    b.generate(mixed_requests(60), MemoryCache())
    calls = [a.stats()["received"], b_server.stats()["received"]]
    assert sum(calls) == 60 and min(calls) >= 25
    assert {row["base_url"] for row in b.stats.servers} == {a.base_url, b_server.base_url}


def test_a_fleet_survives_a_server_dying_mid_run(start_server):
    doomed, survivor = start_server(latency_s=0.03), start_server(latency_s=0.03)
    requests = mixed_requests(80)
    done: list[int] = []

    def kill_midway(finished: int, total: int) -> None:
        done.append(finished)
        if finished == 20:
            doomed.kill()

    b = backend([doomed.base_url, survivor.base_url], max_in_flight=8, server_cooldown_s=60)
    responses = b.generate(requests, MemoryCache(), progress=kill_midway)
    assert_valid_items(requests, responses)  # no request lost
    answered: dict[str, int] = {}
    for server in (doomed, survivor):
        for key, count in server.stats()["answered_by_prompt"].items():
            answered[key] = answered.get(key, 0) + count
    assert sorted(answered) == sorted(prompt_key(r.messages) for r in requests)
    assert set(answered.values()) == {1}  # none answered twice
    dead_row = next(row for row in b.stats.servers if row["base_url"] == doomed.base_url)
    assert dead_row["removals"] >= 1 and dead_row["down"]
    assert doomed.stats()["answered"] >= 5 and survivor.stats()["answered"] >= 60


def test_the_api_key_never_reaches_logs_stats_or_errors(start_server, caplog):
    server = start_server(faults_by_attempt={1: "http_500", 2: "schema_violation"})
    caplog.set_level(logging.DEBUG)
    b = backend(server.base_url, constraint_probe=0)
    responses = b.generate(mixed_requests(6), MemoryCache())
    surfaces = [caplog.text, repr(b), str(b.stats_dict()), str(b.stats.as_metadata()),
                str([r.error for r in responses]), str(b.estimate(mixed_requests(3)).as_dict())]
    assert caplog.text  # the SDK and the backend did log at DEBUG
    assert not any(API_KEY in s for s in surfaces)


def test_a_rejected_key_fails_fast_without_echoing_it(start_server):
    from aiohttp import web

    server = start_server()

    async def unauthorized(request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "bad key"}}, status=401)

    server._answer = lambda request, *args: unauthorized(request)  # type: ignore[method-assign]
    with pytest.raises(LLMConfigurationError, match="GOOSE_LLM_API_KEY") as info:
        backend(server.base_url).generate(mixed_requests(20), MemoryCache())
    assert API_KEY not in str(info.value)
    assert server.stats()["received"] <= 8  # one wave of workers, then stop


def test_generate_works_from_inside_a_running_event_loop(start_server):
    import asyncio

    server = start_server()
    requests = mixed_requests(3)

    async def caller() -> list:
        return backend(server.base_url).generate(requests, MemoryCache())  # sync call, loop running

    assert_valid_items(requests, asyncio.run(caller()))


def test_no_requests_means_no_calls(start_server):
    server = start_server()
    assert backend(server.base_url).generate([], MemoryCache()) == []
    assert server.stats()["received"] == 0


def test_a_400_is_not_retried_and_carries_the_servers_reason(start_server):
    from aiohttp import web

    server = start_server()

    async def reject(request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "response_format json_schema is not supported"}}, status=400)

    server._answer = lambda request, *args: reject(request)  # type: ignore[method-assign]
    cache = MemoryCache()
    b = backend(server.base_url, breaker_min_calls=0)
    responses = b.generate(mixed_requests(3), cache)
    assert all(r.attempts == 1 and "not supported" in (r.error or "") for r in responses)
    assert "structured_output='prompt'" in (responses[0].error or "")
    assert b.stats.faults == {"http_400": 3} and cache.puts == 0


def test_the_breaker_counts_each_run_on_its_own(start_server):
    server = start_server()
    b = backend(server.base_url, breaker_min_calls=20)
    b.generate(mixed_requests(60), MemoryCache())  # a healthy first run
    server.config.fault = "http_500"
    with pytest.raises(ErrorRateExceededError, match="of 2"):
        b.generate([synthesis_request(i, "code") for i in range(100, 400)], MemoryCache())
    assert server.stats()["received"] - 60 < 20 + 16
