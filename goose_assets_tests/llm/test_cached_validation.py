"""A cached answer is not validated twice: the backend records what validation found when the
answer arrived, the cache keeps the record, and `item_from_response` replays it only when it
was made by the same validation code against the same passage. Equal requests in one call
are asked once."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from goose_assets.core.records import Passage
from goose_assets.core.synthesis.masking import item_from_response
from goose_assets.core.synthesis.parse import replay_validation, validation_version
from goose_assets.llm.base import cache_key
from goose_assets.llm.openai_backend import OpenAIBackend
from goose_assets.storage.duckdb_warehouse import Warehouse
from goose_assets.storage.llm_cache import LLMCache
from goose_assets_tests.llm.helpers import MemoryCache, mixed_requests, synthesis_request

FAST: dict[str, Any] = {"backoff_base_s": 0.005, "backoff_max_s": 0.05, "timeout_s": 2.0, "max_in_flight": 8}


def _backend(url: str) -> OpenAIBackend:
    return OpenAIBackend(url, "loopback-model", "sk-test", **FAST)


def _passage(req: Any) -> Passage:
    inputs = req.inputs
    return Passage(passage_id=req.ref_id, doc_id=f"doc-{req.ref_id}", domain=req.domain, shape=inputs["shape"],
                   question=inputs["question"], body=inputs["body"], body_start=-1, body_end=-1, method="test",
                   word_count=len(inputs["body"].split()))


def test_recorded_validation_gives_the_same_items_as_validating_again(start_server, tmp_path: Path):
    server = start_server(latency_s=0.002)
    requests = mixed_requests(24)
    wh = Warehouse(tmp_path / "w.duckdb")
    with wh.connect() as con:
        first = _backend(server.base_url).generate(requests, LLMCache(con))
    with wh.connect() as con:
        second = _backend(server.base_url).generate(requests, LLMCache(con))
    assert server.stats()["received"] == 24 and all(r.cached for r in second)
    usable = [r for r in first if r.error is None]
    assert usable and all(r.validation is not None and r.validation["v"] == validation_version() for r in usable)
    assert [r.validation for r in second] == [r.validation for r in first]  # kept by the warehouse cache
    for req, a, b in zip(requests, first, second, strict=True):
        p = _passage(req)
        replayed_first = item_from_response(p, req, a, "openai", "loopback-model")
        replayed_cached = item_from_response(p, req, b, "openai", "loopback-model")
        validated = item_from_response(p, req, dataclasses.replace(b, validation=None), "openai", "loopback-model")
        assert replayed_first == replayed_cached == validated


def test_a_record_is_replayed_only_for_its_own_passage_and_code(start_server):
    server = start_server(latency_s=0.002)
    req = synthesis_request(3, "passage")
    (resp,) = _backend(server.base_url).generate([req], MemoryCache())
    record, shape, body = resp.validation, req.inputs["shape"], req.inputs["body"]
    assert record is not None and replay_validation(record, shape, body) is not None
    assert replay_validation(record, shape, body + " ") is None  # another passage text
    assert replay_validation(record, "qa", body) is None  # another shape
    assert replay_validation({**record, "v": "older-code"}, shape, body) is None
    assert replay_validation({**record, "span": [0, len(body) + 5]}, shape, body) is None
    assert replay_validation({**record, "kinds": []}, shape, body) is None
    assert replay_validation(None, shape, body) is None


def test_equal_requests_in_one_call_are_asked_once_and_answered_alike(start_server):
    server = start_server(latency_s=0.002)
    requests = mixed_requests(6)
    twin = dataclasses.replace(requests[1], ref_id="twin-of-1")
    requests.append(twin)
    assert cache_key("openai", "loopback-model", twin) == cache_key("openai", "loopback-model", requests[1])
    cache = MemoryCache()
    backend = _backend(server.base_url)
    first = backend.generate(requests, cache)
    assert server.stats()["received"] == 6 and cache.puts == 6
    assert first[6].ref_id == "twin-of-1" and first[6].texts == first[1].texts and first[6].cached
    assert not first[1].cached
    second = _backend(server.base_url).generate(requests, cache)
    assert server.stats()["received"] == 6
    assert [r.texts for r in second] == [r.texts for r in first]  # the re-run gives what the first run gave
    # without a cache there are no keys, and every request is asked
    _backend(server.base_url).generate(requests, None)
    assert server.stats()["received"] == 13
