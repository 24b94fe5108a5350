"""What a model is asked and what it answered: the plain data every layer passes around.

A request carries both the rendered chat `messages` (what a real model reads) and the
structured `inputs` they were rendered from (what the rule-based offline backend reads),
so every backend answers the *same* request and every answer goes through the same
parser and validator. The pipeline builds requests and reads responses; `llm` answers
them; `storage` caches them. None of those needs another's code for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

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
    # what validating texts[0] found when the answer arrived (core.synthesis.parse.validation_record),
    # kept with it in the cache so that a re-run need not validate it again; None: not recorded
    validation: dict[str, Any] | None = None
