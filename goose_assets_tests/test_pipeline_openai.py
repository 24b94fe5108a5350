"""The whole pipeline with the openai backend against a real loopback HTTP server.

The server is ours (goose_assets_tests/llm_server.py): no model can be downloaded here, so
a real OpenAI-compatible server with deterministic answers stands in for `vllm serve`.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from goose_assets.defs.resources import LLMResource
from goose_assets.storage.duckdb_warehouse import Warehouse
from goose_assets_tests.llm_server import LoopbackLLMServer, ServerConfig
from goose_assets_tests.pipeline_helpers import materialize_all

pytestmark = pytest.mark.slow
DOMAINS = ("math", "cyber")


def _metadata(results: list[dg.ExecuteInProcessResult], asset: str) -> list[dict]:
    out = []
    for r in results:
        for e in r.get_asset_materialization_events():
            if e.asset_key.path[-1] == asset:
                out.append({k: getattr(v, "value", v) for k, v in e.materialization.metadata.items()})
    return out


def test_openai_backend_end_to_end_then_cached_rerun(tmp_path: Path) -> None:
    with LoopbackLLMServer(ServerConfig(latency_s=0.01)) as server:
        llm = LLMResource(backend="openai", base_url=server.base_url, model="loopback-model", rollouts=4,
                          api_key="sk-test-secret-0123456789")
        first = materialize_all(tmp_path, llm=llm, domains=DOMAINS)
        calls_first = server.stats()["received"]
        masked = _metadata(first, "masked_items")
        assert calls_first > 0
        assert all(m["backend"] == "openai" and m["tokens_in"] > 0 and m["tokens_out"] > 0 for m in masked)
        # the two-call web path: the sample's educational cyber page goes through the extraction prompt
        (cyber_passages,) = [m for m in _metadata(first, "extracted_passages") if m["web_pages_in"]]
        assert cyber_passages["extraction_llm_calls"] >= 1 and cyber_passages["web_passages_out"] >= 1
        wh = Warehouse(tmp_path / "warehouse.duckdb")
        methods = {r["method"] for r in wh.read("extracted_passages", "cyber")}
        assert "llm:extract_passage@1" in methods
        for domain in DOMAINS:
            assert wh.count("mcq_tasks", domain) > 0
            rows = wh.read("task_difficulty", domain)
            assert rows and all(r["n_rollouts"] == 4 and r["student"].startswith("openai:") for r in rows)
        snapshot = sorted(r["task_id"] for r in wh.read("mcq_tasks"))

        second = materialize_all(tmp_path, llm=llm, domains=DOMAINS)
        assert server.stats()["received"] == calls_first, "a re-run must not pay for any call twice"
        assert all(m["llm_calls"] == 0 and m["cache_hits"] > 0 for m in _metadata(second, "masked_items"))
        assert sorted(r["task_id"] for r in wh.read("mcq_tasks")) == snapshot

    # the API key never reaches the warehouse or the exports
    secret = b"sk-test-secret-0123456789"
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix != ".wal":
            assert secret not in path.read_bytes(), f"API key leaked into {path}"
