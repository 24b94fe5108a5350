"""Prices, per-call fault and token statistics, and how an error is classed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Prices:
    """USD per million tokens; zero means unknown (the cost is then reported as 0)."""

    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return tokens_in / 1e6 * self.input_per_mtok + tokens_out / 1e6 * self.output_per_mtok


@dataclass
class CallStats:
    """Counters for one backend's lifetime (summed over `generate` calls). No secrets here."""

    requests: int = 0
    cache_hits: int = 0
    calls: int = 0  # model calls made (HTTP attempts, or engine prompts), re-asks included
    failed_calls: int = 0  # calls that gave no usable answer (transport fault or bad output)
    answered: int = 0  # requests finished with a usable answer
    quarantined: int = 0  # requests finished with an error
    reasks: int = 0
    retries: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    faults: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # final error reason per quarantined request
    servers: list[dict[str, Any]] = field(default_factory=list)  # per base URL (openai fleet)

    def as_metadata(self) -> dict[str, Any]:
        """Dagster metadata, every key prefixed `llm_` (calls are HTTP/engine attempts)."""
        d = self.as_dict()
        d["attempts"] = d.pop("calls")
        d["failed_attempts"] = d.pop("failed_calls")
        d["attempts_per_s"] = d.pop("calls_per_s")
        out = {f"llm_{k}": v for k, v in d.items()}
        if self.servers:
            out["llm_servers"] = list(self.servers)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "cache_hits": self.cache_hits,
            "calls": self.calls,
            "failed_calls": self.failed_calls,
            "answered": self.answered,
            "quarantined": self.quarantined,
            "reasks": self.reasks,
            "retries": self.retries,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost_usd": round(self.cost_usd, 6),
            "seconds": round(self.seconds, 3),
            "calls_per_s": round(self.calls / self.seconds, 2) if self.seconds else 0.0,
            "faults": dict(sorted(self.faults.items())),
            "errors": dict(sorted(self.errors.items())),
        }


def error_kind(error: str) -> str:
    return error.split(":", 1)[0].strip()
