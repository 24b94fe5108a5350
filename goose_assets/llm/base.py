"""The one interface every backend implements, and the content address of a call.

Requests and responses are plain data from `core.llm_types`, so the pipeline builds
them without importing any backend.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, Protocol

from goose_assets.core.llm_types import LLMRequest, LLMResponse
from goose_assets.core.progress import ProgressFn


def cache_key(backend: str, model: str, request: LLMRequest) -> str:
    """Content address of a call: backend, model, template version, sampling, schema, input,
    and a synthesis request's output format (core.synthesis.synthesis_format)."""
    fields: dict[str, Any] = {
        "backend": backend,
        "model": model,
        "prompt_version": request.prompt_version,
        "sampling": request.sampling(),
        "schema": request.json_schema,
        "messages": request.messages,
    }
    # Switching the format re-requests even where prompt and schema would coincide. The paper
    # format (and a request without one) adds nothing, so caches written before the lean
    # format existed keep their keys and a re-run of them pays for nothing twice.
    fmt = request.inputs.get("format")
    if fmt and fmt != "paper":
        fields["synthesis_format"] = fmt
    payload = json.dumps(fields, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


class ResponseCache(Protocol):
    """Look-up before calling, write-through after each response (see warehouse.LLMCache)."""

    def get_many(self, keys: Sequence[str]) -> dict[str, LLMResponse]: ...

    def put(self, key: str, backend: str, model: str, request: LLMRequest, response: LLMResponse) -> None: ...



class LLMBackend(Protocol):
    name: str
    model: str
    uses_cache: bool

    def prepare(self, domain: str, corpus: Sequence[tuple[str, str, str]]) -> None:
        """Give the backend the domain's (key, shape, body) texts before generating.
        The offline backend mines distractor spans from them; LLM backends ignore it."""

    def generate(
        self,
        requests: Sequence[LLMRequest],
        cache: ResponseCache | None = None,
        progress: ProgressFn | None = None,
    ) -> list[LLMResponse]:
        """Answer every request, in order. Never raises for one bad request: errors go in
        `LLMResponse.error` so the caller can quarantine them."""
