"""VLLMBackend's own logic (chunks, re-asks, cache, guard, teardown) with a stand-in engine.

The real engine is exercised by test_vllm_cpu.py in the vllm venv; here a fake `LLM.chat`
answers with the loopback server's reply builder, so these run in the project venv.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pytest

from goose_assets.core.llm_types import LLMRequest
from goose_assets.llm.calls.errors import StructuredOutputIgnoredError
from goose_assets.llm.vllm_backend import VLLMBackend
from goose_assets_tests.llm.helpers import MemoryCache, mixed_requests, student_request
from goose_assets_tests.llm_server import parse_prompt, reply_text


@dataclass
class FakeCompletion:
    text: str
    token_ids: list[int]


@dataclass
class FakeRequestOutput:
    prompt_token_ids: list[int]
    outputs: list[FakeCompletion]


class FakeEngine:
    """Answers like the loopback server; `fault` applies to first turns only."""

    def __init__(self, fault: str | None = None) -> None:
        self.fault = fault
        self.prompts = 0
        self.batches: list[int] = []
        self.closed = False

    def chat(self, conversations: list[list[dict[str, str]]], params: list[LLMRequest], **_: Any) -> list[FakeRequestOutput]:
        self.batches.append(len(conversations))
        outs = []
        for messages, request in zip(conversations, params, strict=True):
            self.prompts += 1
            follow_up = any(m["role"] == "assistant" for m in messages)
            payload = {"messages": messages, "response_format": {"type": "json_schema", "json_schema": {"schema": request.json_schema}}}
            prompt = parse_prompt(payload)
            rng = random.Random(self.prompts)
            texts = [reply_text(prompt, None if follow_up else self.fault, rng, 16) for _ in range(request.n)]
            outs.append(FakeRequestOutput(list(range(100)), [FakeCompletion(t, list(range(len(t) // 4))) for t in texts]))
        return outs


def fake_backend(engine: FakeEngine, monkeypatch: pytest.MonkeyPatch, **options: Any) -> VLLMBackend:
    backend = VLLMBackend("tiny", kv_cache_memory_bytes=64 * 1024**2, **options)
    monkeypatch.setattr(backend, "_start_engine", lambda: engine)
    monkeypatch.setattr(backend, "sampling_params", lambda request: request)
    monkeypatch.setattr("goose_assets.llm.vllm_backend._tear_down", lambda e: setattr(e, "closed", True))
    return backend


def test_chunks_are_cached_as_they_finish_and_a_rerun_starts_no_engine(monkeypatch):
    engine, cache = FakeEngine(), MemoryCache()
    requests = mixed_requests(10)
    responses = fake_backend(engine, monkeypatch, chunk_size=4).generate(requests, cache)
    assert all(r.error is None for r in responses)
    assert engine.batches == [4, 4, 2] and cache.puts == 10 and engine.closed
    assert all(r.tokens_in == 100 for r in responses)

    idle = FakeEngine()
    again = fake_backend(idle, monkeypatch).generate(requests, cache)
    assert all(r.cached for r in again) and idle.prompts == 0 and not idle.batches


def test_bad_answers_are_re_asked_in_a_second_batch(monkeypatch):
    engine = FakeEngine(fault="schema_violation")
    backend = fake_backend(engine, monkeypatch, max_reasks=1, constraint_probe=0)
    responses = backend.generate(mixed_requests(6), MemoryCache())
    assert all(r.error is None and r.attempts == 2 for r in responses)
    assert engine.batches == [6, 6] and backend.stats.reasks == 6
    assert backend.stats.faults["schema_violation"] == 6


def test_rollouts_keep_all_n_texts(monkeypatch):
    engine = FakeEngine()
    responses = fake_backend(engine, monkeypatch).generate([student_request(i, n=16) for i in range(3)])
    assert [len(r.texts) for r in responses] == [16, 16, 16] and engine.prompts == 3


def test_an_ignored_constraint_fails_and_caches_nothing(monkeypatch):
    engine, cache = FakeEngine(fault="unconstrained_prose"), MemoryCache()
    with pytest.raises(StructuredOutputIgnoredError, match="StructuredOutputsParams"):
        fake_backend(engine, monkeypatch, constraint_probe=8, chunk_size=8).generate(mixed_requests(16), cache)
    assert cache.puts == 0 and engine.closed and engine.batches[0] == 8


def test_engine_arguments_follow_the_cpu_recipe():
    args = VLLMBackend("/models/x", kv_cache_memory_bytes=64 * 1024**2, seed=7).engine_args()
    assert args["seed"] == 7 and args["enable_prefix_caching"] is True
    assert args["kv_cache_memory_bytes"] == 64 * 1024**2
    assert args["structured_outputs_config"]["backend"] == "auto"
