"""The one interface every backend implements.

A request carries both the rendered chat `messages` (what a real model reads) and the
structured `inputs` they were rendered from (what the rule-based offline backend reads),
so every backend answers the *same* request and every answer goes through the same
parser and validator.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

TaskKind = Literal["synthesize", "extract", "student"]


@dataclass(slots=True)
class LLMRequest:
    ref_id: str
    kind: TaskKind
    domain: str
    prompt_version: str
    messages: list[dict[str, str]]
    inputs: dict[str, Any]
    json_schema: dict[str, Any] | None = None
    temperature: float = 0.7
    max_tokens: int = 4096
    n: int = 1
    seed: int = 0

    def sampling(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "n": self.n,
            "seed": self.seed,
        }


@dataclass(slots=True)
class LLMResponse:
    ref_id: str
    texts: list[str]
    tokens_in: int = 0
    tokens_out: int = 0
    cached: bool = False
    error: str | None = None
    attempts: int = 1
    faults: list[str] = field(default_factory=list)
    # what validating texts[0] found when the answer arrived (core.synthesis.validation_record),
    # kept with it in the cache so that a re-run need not validate it again; None: not recorded
    validation: dict[str, Any] | None = None


def cache_key(backend: str, model: str, request: LLMRequest) -> str:
    """Content address of a call: backend, model, template version, sampling, schema, input,
    and a synthesis request's output format (core.synthesis_format)."""
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


ProgressFn = Callable[[int, int], None]


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
