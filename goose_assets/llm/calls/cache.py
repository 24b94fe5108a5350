"""The cache split (hits answered, duplicate misses asked once) and the sink that writes
each answer through to the cache as it arrives."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from goose_assets.core.llm_types import LLMRequest, LLMResponse
from goose_assets.core.progress import Progress
from goose_assets.llm.base import ResponseCache, cache_key
from goose_assets.llm.calls.accounting import CallStats, error_kind
from goose_assets.llm.calls.errors import LLMBackendError
from goose_assets.llm.calls.guards import ConstraintGuard


@dataclass(slots=True)
class CacheSplit:
    keys: list[str]  # one per request; empty when there is no cache
    results: list[LLMResponse | None]  # cache hits filled in, misses None
    # a miss whose key an earlier miss of the same call has: asked once, answered with that
    # request's response (so equal requests get equal answers, as they do from the cache)
    duplicates: dict[int, int] = field(default_factory=dict)

    @property
    def misses(self) -> list[int]:
        return [i for i, r in enumerate(self.results) if r is None and i not in self.duplicates]


def split_cached(backend: str, model: str, requests: Sequence[LLMRequest],
                 cache: ResponseCache | None) -> CacheSplit:
    """Look every key up at once (one query for a DuckDB cache), before any call. Without a
    cache no key is computed (hashing every prompt delays the first call for nothing)."""
    keys = [cache_key(backend, model, r) for r in requests] if cache is not None else []
    results: list[LLMResponse | None] = [None] * len(requests)
    duplicates: dict[int, int] = {}
    if cache is not None and keys:
        found = cache.get_many(list(dict.fromkeys(keys)))
        first_miss: dict[str, int] = {}
        for i, (key, req) in enumerate(zip(keys, requests, strict=True)):
            hit = found.get(key)
            if hit is not None:
                results[i] = _copy_for(req, hit)
            elif (j := first_miss.setdefault(key, i)) != i:
                duplicates[i] = j
    return CacheSplit(keys, results, duplicates)


def split_counted(backend: str, model: str, requests: Sequence[LLMRequest], cache: ResponseCache | None,
                  stats: CallStats) -> CacheSplit:
    """`split_cached`, with the requests and the cache hits counted in `stats`."""
    split = split_cached(backend, model, requests, cache)
    stats.requests += len(requests)
    stats.cache_hits += len(requests) - len(split.misses)
    return split


def _copy_for(req: LLMRequest, source: LLMResponse) -> LLMResponse:
    """`source` (a cached answer or an equal request's) as the answer to `req`."""
    return LLMResponse(
        ref_id=req.ref_id, texts=list(source.texts), tokens_in=source.tokens_in,
        tokens_out=source.tokens_out, cached=True, error=source.error,
        attempts=source.attempts, faults=list(source.faults), validation=source.validation,
    )


def should_cache(response: LLMResponse) -> bool:
    """Cache answers we paid for: usable ones, and bad outputs after their re-asks (the
    model's final word on that exact input; re-asking again next run would pay twice).
    Transport failures are never cached: nothing was answered, so a re-run tries again."""
    return response.error is None or not response.error.startswith("transport:")


class ResultSink:
    """Where each finished response goes: its slot in the results, the cache (written at once,
    so a crash loses only what is in flight), the stats and the progress line.

    A failed answer to a schema-bound request waits until the ConstraintGuard has passed: if
    the server is ignoring the constraint, caching its garbage would make the re-run after
    the fix reuse it instead of asking again."""

    def __init__(self, backend: str, model: str, requests: Sequence[LLMRequest], split: CacheSplit,
                 cache: ResponseCache | None, guard: ConstraintGuard, stats: CallStats, progress: Progress) -> None:
        self.backend = backend
        self.model = model
        self.requests = requests
        self.keys = split.keys
        self.results = split.results
        self.duplicates = split.duplicates
        self.cache = cache
        self.guard = guard
        self.stats = stats
        self.progress = progress
        self.held: list[int] = []

    def store(self, i: int, response: LLMResponse) -> None:
        self.results[i] = response
        if should_cache(response):
            if response.error is not None and self.requests[i].json_schema is not None and not self.guard.passed:
                self.held.append(i)
            else:
                self._put(i)
        if self.held and self.guard.passed:
            self.flush()
        if response.error is None:
            self.stats.answered += 1
        else:
            self.stats.quarantined += 1
            self.stats.errors[error_kind(response.error)] += 1
        self.progress.advance()

    def flush(self) -> None:
        """Write the held answers, unless the guard found the constraint ignored."""
        if not self.guard.failed:
            for i in self.held:
                self._put(i)
        self.held.clear()

    def _put(self, i: int) -> None:
        response = self.results[i]
        if self.cache is not None and response is not None:
            self.cache.put(self.keys[i], self.backend, self.model, self.requests[i], response)

    def responses(self) -> list[LLMResponse]:
        for i, j in self.duplicates.items():
            source = self.results[j]
            if self.results[i] is None and source is not None:
                self.results[i] = _copy_for(self.requests[i], source)
        missing = [i for i, r in enumerate(self.results) if r is None]
        if missing:
            raise LLMBackendError(f"internal error: {len(missing)} requests finished without a response")
        return [r for r in self.results if r is not None]
