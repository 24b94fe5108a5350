"""Backend construction from config/env, the fleet's circuit breaker, and shared call helpers."""

from __future__ import annotations

import asyncio
import logging

import pytest

from goose_assets.core.prompts import synthesis_schema
from goose_assets.llm.calls.accounting import Prices
from goose_assets.llm.calls.checks import check_structure, schema_problem
from goose_assets.llm.calls.errors import LLMConfigurationError
from goose_assets.llm.calls.estimate import estimate_calls
from goose_assets.llm.factory import backend_from_env, make_backend
from goose_assets.llm.openai_backend import Fleet, OpenAIBackend, _retry_after, _Server
from goose_assets.llm.vllm_backend import VLLMBackend
from goose_assets_tests.llm.helpers import MemoryCache, synthesis_request


def test_openai_backend_from_env_with_a_fleet_and_a_secret():
    env = {"GOOSE_LLM_BACKEND": "openai", "GOOSE_LLM_BASE_URL": "http://127.0.0.1:1/v1, http://127.0.0.1:2/v1",
           "GOOSE_LLM_MODEL": "qwen", "GOOSE_LLM_API_KEY": "sk-hidden-123"}
    backend = backend_from_env(env, max_in_flight=4, structured_output=False, price_in_per_mtok=1.5)
    assert isinstance(backend, OpenAIBackend)
    assert backend.base_urls == ["http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"]
    assert backend.config.max_in_flight == 4 and backend.config.structured_output == "prompt"
    assert backend.config.prices == Prices(1.5, 0.0)
    assert "sk-hidden-123" not in repr(backend) and "sk-hidden-123" not in str(backend.stats_dict())


def test_vllm_backend_is_built_without_importing_vllm():
    backend = make_backend("vllm", model="/models/tiny", kv_cache_memory_bytes=1 << 26, max_in_flight=8,
                           structured_output=True)
    assert isinstance(backend, VLLMBackend) and backend.kv_cache_memory_bytes == 1 << 26


def test_offline_backend_comes_from_the_factory():
    # a plain import: a broken module of our own must fail here, not skip
    from goose_assets.llm.offline import OfflineBackend

    assert isinstance(make_backend("offline"), OfflineBackend)


@pytest.mark.parametrize(("name", "kwargs", "message"), [
    ("openai", {"model": "m"}, "GOOSE_LLM_BASE_URL"),
    ("openai", {"base_urls": "http://127.0.0.1:1/v1"}, "GOOSE_LLM_MODEL"),
    ("vllm", {}, "GOOSE_LLM_MODEL"),
    ("bogus", {}, "unknown LLM backend"),
])
def test_misconfiguration_is_named(name, kwargs, message):
    with pytest.raises(LLMConfigurationError, match=message):
        make_backend(name, **kwargs)


def test_unknown_options_are_rejected():
    with pytest.raises(TypeError, match="max_inflight"):
        make_backend("openai", "http://127.0.0.1:1/v1", "m", max_inflight=3)


def test_a_failing_server_leaves_the_rotation_and_a_probe_brings_it_back():
    async def scenario() -> list[str]:
        a, b = _Server("http://a/v1", None), _Server("http://b/v1", None)  # type: ignore[arg-type]
        fleet = Fleet([a, b], failure_threshold=2, cooldown_s=0.05, logger=logging.getLogger("t"))
        picks = []
        for _ in range(2):  # two consecutive failures on a
            s = await fleet.acquire(avoid=b)
            picks.append(s.base_url)
            fleet.release(s, healthy=False)
        assert a.down_until > 0 and a.removals == 1
        s = await fleet.acquire()  # a is down: b is chosen even though it has more calls
        picks.append(s.base_url)
        fleet.release(s, healthy=True)
        await asyncio.sleep(0.06)
        probe = await fleet.acquire(avoid=b)  # the cool-down is over: a gets one probe
        assert probe is a and a.probing
        other = await fleet.acquire()  # while a's probe is in flight, a is not chosen again
        assert other is b
        fleet.release(other, healthy=True)
        fleet.release(probe, healthy=True)
        assert not a.probing and a.down_until == 0.0
        return picks

    assert asyncio.run(scenario()) == ["http://a/v1", "http://a/v1", "http://b/v1"]


def test_the_last_server_standing_is_never_taken_out():
    solo = _Server("http://solo/v1", None)  # type: ignore[arg-type]
    fleet = Fleet([solo], failure_threshold=1, cooldown_s=60, logger=logging.getLogger("t"))

    async def fail_three_times() -> None:
        for _ in range(3):
            fleet.release(await fleet.acquire(), healthy=False)

    asyncio.run(fail_three_times())
    assert solo.down_until == 0.0 and solo.failures == 3


def test_retry_after_headers():
    assert _retry_after({"retry-after-ms": "250"}) == 0.25
    assert _retry_after({"retry-after": "2"}) == 2.0
    assert _retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert _retry_after({}) is None


def test_schema_problems_are_named():
    schema = synthesis_schema("qa")
    good = {"masked_reference_solution": "a [MASK]", "removed_steps": "b", "distractors": ["x"] * 10}
    assert schema_problem(good, schema) is None
    assert "lacks" in str(schema_problem({"removed_steps": "b"}, schema))
    assert "fewer than 10" in str(schema_problem({**good, "distractors": ["x"] * 3}, schema))
    assert "unexpected keys" in str(schema_problem({**good, "extra": 1}, schema))
    assert "not string" in str(schema_problem({**good, "distractors": [1] * 10}, schema))


def test_structure_check_separates_repair_from_failure():
    request = synthesis_request(0)
    assert check_structure(request, "Sure, here you go!").reason == "invalid_json"
    verdict = check_structure(request, '{"masked_reference_solution": "[MASK]", "removed_steps": "x", "distractors": ["a","b","c","d","e","f","g","h","i","j"')
    assert verdict.reason is None and verdict.repaired


def test_estimate_calibrates_completion_tokens_from_the_cache():
    from goose_assets.core.llm_types import LLMResponse
    from goose_assets.llm.base import cache_key

    requests, cache = [synthesis_request(i, "qa") for i in range(12)], MemoryCache()
    for r in requests[:6]:  # cached answers whose output is exactly 3x the input
        cache.put(cache_key("openai", "m", r), "openai", "m", r, LLMResponse(r.ref_id, ["{}"], tokens_in=100, tokens_out=300))
    estimate = estimate_calls("openai", "m", requests, cache, Prices(0, 10))
    assert estimate.total.calls == 6 and estimate.total.cache_hits == 6
    assert "calibrated" in estimate.method
    assert estimate.total.completion_tokens == pytest.approx(3 * estimate.total.prompt_tokens, abs=6)
    assert estimate.total.cost_usd == pytest.approx(estimate.total.completion_tokens * 1e-5)
