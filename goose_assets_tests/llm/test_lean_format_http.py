"""The lean synthesis format over real HTTP (the loopback OpenAI-compatible server) and in
real Dagster runs: answers validated and rebuilt locally, the format in the cache key, the
echo-drift scenario, and the estimate of both formats."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from goose_assets.core.records import MASK, MaskedItem, Passage
from goose_assets.core.synthesis import masking
from goose_assets.core.synthesis.synthesis_format import LEAN, LEAN_KEYS, PAPER
from goose_assets.definitions import ASSETS_BY_NAME, UPSTREAM_ASSETS
from goose_assets.defs.resources import CorpusResource, LLMResource, WarehouseResource
from goose_assets.llm.calls.accounting import Prices
from goose_assets.llm.calls.checks import reask_messages
from goose_assets.llm.calls.estimate import estimate_calls, format_comparison
from goose_assets.llm.openai_backend import OpenAIBackend
from goose_assets.storage.duckdb_warehouse import Warehouse
from goose_assets.storage.llm_cache import LLMCache
from goose_assets_tests.llm.helpers import CODE, PASSAGE, MemoryCache, math_body
from goose_assets_tests.llm_server import LoopbackLLMServer, ServerConfig


def _passages(count: int) -> list[Passage]:
    out = []
    for i in range(count):
        shape = ("qa", "code", "passage")[i % 3]
        if shape == "qa":
            question, body, domain = f"Problem {i}: find the requested quantity.", math_body(i), "math"
        elif shape == "code":
            question, body, domain = f"Count the inversions (task {i}).", CODE.format(i=i, k=1 + i % 3), "code"
        else:
            question, body, domain = "", PASSAGE.format(i=i, k=30 + i), "cyber"
        out.append(Passage(f"psg-{i}", f"doc-{i}", domain, shape, question, body, 0, len(body), "passthrough", 80))
    return out


def _run(server: LoopbackLLMServer, fmt: str, psgs: list[Passage]) -> tuple[OpenAIBackend, list[MaskedItem | object]]:
    backend = OpenAIBackend(server.base_url, "loopback-model", max_in_flight=8)
    requests = [masking.synthesis_request(p, synthesis_format=fmt) for p in psgs]
    responses = backend.generate(requests, MemoryCache())
    return backend, [masking.item_from_response(p, q, r, backend.name, backend.model)
                     for p, q, r in zip(psgs, requests, responses, strict=True)]


def test_lean_answers_over_http_name_their_span_and_rebuild_the_source_locally() -> None:
    psgs = _passages(12)
    with LoopbackLLMServer(ServerConfig()) as server:
        backend, items = _run(server, LEAN, psgs)
        stats = server.stats()
    assert stats["follow_ups"] == 0 and backend.stats.reasks == 0
    for p, item in zip(psgs, items, strict=True):
        assert isinstance(item, MaskedItem), item
        assert item.synthesis_format == LEAN and item.prompt_version.endswith("_lean@1")
        assert item.context_masked.replace(MASK, item.answer) == p.body
        assert len(item.distractors) >= 8
    # the replies themselves: unit numbers for steps and code lines, the span verbatim for passages
    with LoopbackLLMServer(ServerConfig()) as server:
        backend = OpenAIBackend(server.base_url, "loopback-model")
        texts = [r.texts[0] for r in backend.generate([masking.synthesis_request(p, synthesis_format=LEAN) for p in psgs[:3]])]
    for p, text in zip(psgs[:3], texts, strict=True):
        obj = json.loads(text)
        keys = LEAN_KEYS[p.shape]
        assert "masked_reference_solution" not in obj and "masked_passage" not in obj
        if keys.first:
            assert obj[keys.removed] is None and isinstance(obj[keys.first], int) and isinstance(obj[keys.last], int)
        else:
            assert obj[keys.removed] in p.body


def test_echo_drift_costs_the_paper_format_re_asks_and_the_lean_format_none() -> None:
    psgs = _passages(30)
    drift = ServerConfig(fault_rates={"echo_drift": 0.3}, seed=3)
    with LoopbackLLMServer(drift) as server:
        paper, paper_items = _run(server, PAPER, psgs)
        paper_stats = server.stats()
        server.reset()
        lean, lean_items = _run(server, LEAN, psgs)
        lean_stats = server.stats()
    assert paper_stats["faults"].get("echo_drift", 0) >= 3
    assert paper.stats.reasks >= paper_stats["faults"]["echo_drift"] - paper.stats.errors.total()
    assert paper.stats.faults["mask_does_not_rebuild_source"] == paper_stats["faults"]["echo_drift"]
    # the same server, the same drift rate: a lean reply has no echo to paraphrase
    assert lean_stats["faults"].get("echo_drift", 0) == 0
    assert lean.stats.reasks == 0 and lean_stats["received"] == len(psgs)
    assert all(isinstance(i, MaskedItem) for i in lean_items)
    # the paper format keeps its items only at the price of its re-asks (a third drift loses one)
    kept = sum(isinstance(i, MaskedItem) for i in paper_items)
    assert kept >= len(psgs) - paper.stats.errors["mask_does_not_rebuild_source"]
    assert paper_stats["received"] == len(psgs) + paper.stats.reasks > lean_stats["received"]


def _materialize(home: Path, llm: LLMResource, fmt: str | None = None) -> dict[str, object]:
    resources = {"warehouse": WarehouseResource(home=str(home)), "corpus": CorpusResource(), "llm": llm}
    run_config = {"ops": {"masked_items": {"config": {"synthesis_format": fmt}}}} if fmt else None
    selection = [ASSETS_BY_NAME[name] for name in ("raw_documents", "extracted_passages", "masked_items")]
    result = dg.materialize(UPSTREAM_ASSETS, selection=selection, partition_key="math",
                            resources=resources, run_config=run_config)
    assert result.success
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == "masked_items"]
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


@pytest.mark.slow
def test_switching_the_format_re_requests_and_the_same_format_hits_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOOSE_SYNTHESIS_FORMAT", raising=False)
    with LoopbackLLMServer(ServerConfig()) as server:
        llm = LLMResource(backend="openai", base_url=server.base_url, model="loopback-model")
        wh = Warehouse(tmp_path / "warehouse.duckdb")

        def calls(fmt: str | None = None, resource: LLMResource = llm) -> int:
            before = server.stats()["received"]
            meta = _materialize(tmp_path, resource, fmt)
            assert meta["synthesis_format"] == (fmt or resource.format_for())
            return server.stats()["received"] - before

        first = calls()  # an LLM backend's default: lean
        passages = wh.count("extracted_passages", "math")
        assert first >= passages > 0
        assert {r["synthesis_format"] for r in wh.read("masked_items", "math")} == {LEAN}
        assert calls() == 0  # same format: every answer from the cache
        assert calls(PAPER) >= passages  # run config switches: every passage asked again
        assert {r["synthesis_format"] for r in wh.read("masked_items", "math")} == {PAPER}
        assert calls(PAPER) == 0
        assert calls(LEAN) == 0  # both formats' answers are cached side by side
        monkeypatch.setenv("GOOSE_SYNTHESIS_FORMAT", "paper")  # the environment, read at run time
        assert calls() == 0 and {r["synthesis_format"] for r in wh.read("masked_items", "math")} == {PAPER}
        assert calls(resource=LLMResource(backend="openai", base_url=server.base_url, model="loopback-model",
                                          synthesis_format="lean")) == 0
        assert {r["synthesis_format"] for r in wh.read("masked_items", "math")} == {LEAN}


def test_the_estimate_prices_both_formats_without_a_call(tmp_path: Path) -> None:
    psgs = _passages(12)
    with LoopbackLLMServer(ServerConfig()) as server:
        wh = Warehouse(tmp_path / "warehouse.duckdb")
        with wh.connect() as con:
            cache = LLMCache(con)
            by_format = {fmt: estimate_calls("openai", "loopback-model", [masking.synthesis_request(p, synthesis_format=fmt)
                                                                          for p in psgs], cache, Prices(1.25, 10))
                         for fmt in (LEAN, PAPER)}
        assert server.stats()["received"] == 0
    lean, paper = by_format[LEAN].total, by_format[PAPER].total
    assert lean.calls == paper.calls == len(psgs)
    assert lean.completion_tokens < paper.completion_tokens and lean.cost_usd < paper.cost_usd
    lines = format_comparison(by_format)
    assert lines[2].split()[0] == LEAN and lines[3].split()[0] == PAPER and "lean / paper: completion tokens x0." in lines[-1]


def test_a_lean_re_ask_asks_for_the_span_not_for_a_masked_text() -> None:
    messages = [{"role": "user", "content": "prompt"}]
    lean = reask_messages(messages, "{}", "answer_not_in_source", None, LEAN)[-1]["content"]
    paper = reask_messages(messages, "{}", "answer_not_in_source", None, PAPER)[-1]["content"]
    assert "first and last numbered unit" in lean and "[MASK]" not in lean
    assert "[MASK] exactly once" in paper
