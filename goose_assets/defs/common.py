"""Shared pieces of the Dagster layer: code versions, progress logs and metadata."""

from __future__ import annotations

import hashlib
import inspect
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import dagster as dg

from goose_assets.llm.base import LLMBackend, LLMRequest, LLMResponse
from goose_assets.warehouse import LLMCache, Warehouse

WRITE_POOL = "duckdb_write"
# rows per batch where a stage streams a partition (bounded memory per step)
STREAM_BATCH = 2000


def code_version(*modules: ModuleType) -> str:
    """A hash of the source of the modules an asset's logic lives in: it changes exactly
    when that logic changes, so Dagster can flag stale partitions."""
    h = hashlib.sha256()
    for m in modules:
        h.update(inspect.getsource(m).encode())
    return h.hexdigest()[:12]


class Progress:
    """Counts, rate and ETA in the Dagster log, at most every `every_s` seconds."""

    def __init__(self, log: dg.DagsterLogManager, label: str, total: int, every_s: float = 5.0) -> None:
        self.log, self.label, self.total, self.every_s = log, label, total, every_s
        self.start = self.last = time.monotonic()

    def __call__(self, done: int, total: int | None = None) -> None:
        total = total or self.total
        now = time.monotonic()
        if now - self.last < self.every_s and done < total:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        eta = (total - done) / rate if rate > 0 else float("inf")
        self.log.info(f"{self.label}: {done}/{total} ({rate:.1f}/s, ETA {eta:.0f}s)")


def counts_md(counts: Iterable[tuple[str, int]] | Counter[str]) -> dg.MetadataValue:
    items = sorted(counts.items() if isinstance(counts, Counter) else counts, key=lambda kv: -kv[1])
    if not items:
        return dg.MetadataValue.md("_none_")
    return dg.MetadataValue.md("| reason | count |\n|---|---|\n" + "\n".join(f"| `{k}` | {v} |" for k, v in items))


def table_preview(rows: list[dict[str, Any]], columns: list[str], limit: int = 3, width: int = 300) -> dg.MetadataValue:
    if not rows:
        return dg.MetadataValue.md("_no rows_")
    blocks = []
    for r in rows[:limit]:
        lines = []
        for c in columns:
            value = r.get(c)
            text = "\n".join(f"({chr(65 + i)}) {o}" for i, o in enumerate(value)) if isinstance(value, list) else str(value)
            text = text if len(text) <= width else text[:width] + " …"
            fenced = text.replace("```", "'''")
            lines.append(f"**{c}**\n\n```\n{fenced}\n```")
        blocks.append("\n\n".join(lines))
    return dg.MetadataValue.md("\n\n---\n\n".join(blocks))


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


class BatchProgress:
    """A `Progress` fed by per-batch counts: batch k's `done` is offset by the rows of
    the batches before it, so the log shows the stage's total."""

    def __init__(self, progress: Progress) -> None:
        self.progress, self.offset = progress, 0

    def __call__(self, done: int, total: int | None = None) -> None:
        self.progress(self.offset + done, self.progress.total)

    def next_batch(self, size: int) -> None:
        self.offset += size


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
