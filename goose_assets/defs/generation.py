"""LLM calls from an asset: the backend answers, the warehouse's `llm_cache` remembers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from goose_assets.core.llm_types import LLMRequest, LLMResponse
from goose_assets.core.progress import BatchProgress, Progress
from goose_assets.llm.base import LLMBackend
from goose_assets.storage.duckdb_warehouse import Warehouse
from goose_assets.storage.llm_cache import LLMCache


@dataclass(slots=True)
class Generation:
    responses: list[LLMResponse]
    cache_hits: int
    paid: bool  # an LLM backend: its responses cost calls (the offline one's do not)

    def metadata(self, prefix: str = "") -> dict[str, int]:
        """Calls paid for, cache hits and tokens, for a materialization's metadata."""
        return {
            f"{prefix}llm_calls": sum(not r.cached for r in self.responses) if self.paid else 0,
            f"{prefix}cache_hits": self.cache_hits,
            f"{prefix}tokens_in": sum(r.tokens_in for r in self.responses),
            f"{prefix}tokens_out": sum(r.tokens_out for r in self.responses),
        }


@dataclass(slots=True)
class GenerationTotals:
    """`Generation.metadata` summed over the batches of a streamed stage."""

    llm_calls: int = 0
    cache_hits: int = 0
    tokens_in: int = 0
    tokens_out: int = 0

    def add(self, generation: Generation) -> None:
        m = generation.metadata()
        self.llm_calls += m["llm_calls"]
        self.cache_hits += m["cache_hits"]
        self.tokens_in += m["tokens_in"]
        self.tokens_out += m["tokens_out"]

    def metadata(self, prefix: str = "") -> dict[str, int]:
        return {
            f"{prefix}llm_calls": self.llm_calls,
            f"{prefix}cache_hits": self.cache_hits,
            f"{prefix}tokens_in": self.tokens_in,
            f"{prefix}tokens_out": self.tokens_out,
        }


def generate(
    wh: Warehouse, backend: LLMBackend, requests: Sequence[LLMRequest], progress: Progress | BatchProgress
) -> Generation:
    """Answer `requests`, looking each up in `llm_cache` first and writing each answer
    through as it arrives (one connection held for the step, so a crash loses only the
    calls in flight). Backends that do not cache (offline) skip the warehouse."""
    if not backend.uses_cache:
        return Generation(backend.generate(requests, progress=progress), 0, paid=False)
    with wh.connect() as con:
        cache = LLMCache(con)
        responses = backend.generate(requests, cache=cache, progress=progress)
    return Generation(responses, cache.hits, paid=True)
