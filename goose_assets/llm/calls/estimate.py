"""The dry-run estimate: calls left after cache hits, tokens and cost, without a call."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from goose_assets.core.llm_types import LLMRequest
from goose_assets.core.prompts import family
from goose_assets.core.synthesis.synthesis_format import LEAN, PAPER, request_format
from goose_assets.llm.base import ResponseCache
from goose_assets.llm.calls.accounting import Prices
from goose_assets.llm.calls.cache import split_cached

_DOC = re.compile(r"<document>\n(.*?)\n</document>", re.DOTALL)
CHARS_PER_TOKEN = 4.0  # a tokenizer-free heuristic: ~4 characters per token for English


@dataclass
class CallEstimate:
    requests: int = 0
    cache_hits: int = 0
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "cache_hits": self.cache_hits, "calls": self.calls,
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "cost_usd": round(self.cost_usd, 4),
        }


@dataclass
class DryRunEstimate:
    """What `generate` would cost, made without a single call."""

    total: CallEstimate
    by_domain: dict[str, CallEstimate]
    method: str

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total.as_dict(), "method": self.method,
                "by_domain": {d: e.as_dict() for d, e in sorted(self.by_domain.items())}}

    def lines(self) -> list[str]:
        rows = [f"{'domain':<10}{'requests':>10}{'cached':>10}{'calls':>10}{'prompt tok':>14}{'compl tok':>14}{'cost $':>12}"]
        for name, e in [*sorted(self.by_domain.items()), ("TOTAL", self.total)]:
            rows.append(f"{name:<10}{e.requests:>10}{e.cache_hits:>10}{e.calls:>10}"
                        f"{e.prompt_tokens:>14}{e.completion_tokens:>14}{e.cost_usd:>12.2f}")
        rows.append(f"(token counts: {self.method})")
        return rows


def estimate_tokens(text: str) -> int:
    return max(1, round(len(text) / CHARS_PER_TOKEN))


# A synthesis reply's characters per character of the document its prompt shows, by output
# format and prompt family: measured by bench/synthesis_cost.py on the whole shared corpora
# (the offline generator's spans, 16 distractors, kept answers; BENCHMARKS.md "Cost per
# task"). The paper format copies the masked document on top of what the lean one writes.
# Math solutions are short beside 16 distractors of a few steps each, hence qa's high ratios.
SYNTHESIS_OUTPUT_PER_DOC_CHAR: dict[tuple[str, str], float] = {
    ("paper", "qa"): 7.40, ("paper", "code"): 2.82, ("paper", "passage"): 4.39,
    ("lean", "qa"): 5.91, ("lean", "code"): 1.57, ("lean", "passage"): 3.59,
}


def estimated_completion_tokens(request: LLMRequest, prompt_tokens: int) -> int:
    """Per-kind output size: a synthesis reply is the measured multiple of the document it
    is shown for its output format and family (`SYNTHESIS_OUTPUT_PER_DOC_CHAR`); an extract
    is at most ~800 tokens; a student reply with reasoning is ~400 tokens per sample."""
    docs = _DOC.findall("\n".join(m.get("content", "") for m in request.messages))
    doc_tokens = estimate_tokens(docs[-1]) if docs else prompt_tokens
    if request.kind == "synthesize":
        shape = request.inputs.get("shape")
        fam = family(shape) if isinstance(shape, str) else "passage"
        ratio = SYNTHESIS_OUTPUT_PER_DOC_CHAR.get((request_format(request.inputs), fam), 2.7)
        per_sample = round(doc_tokens * ratio)
    elif request.kind == "extract":
        per_sample = min(doc_tokens, 800)
    else:
        per_sample = 400
    return min(request.max_tokens, per_sample) * max(1, request.n)


def estimate_calls(backend: str, model: str, requests: Sequence[LLMRequest], cache: ResponseCache | None,
                   prices: Prices | None = None) -> DryRunEstimate:
    """Calls after cache hits, estimated tokens and cost, per domain. Makes no calls.

    Tokens are estimated at ~4 characters per token (no tokenizer is loaded); completion
    sizes use per-kind ratios (see `estimated_completion_tokens`), recalibrated from cached
    answers of the same prompt version when there are at least 5 of them."""
    prices = prices or Prices()
    split = split_cached(backend, model, requests, cache)
    observed: dict[str, list[float]] = {}
    for req, hit in zip(requests, split.results, strict=True):
        if hit is not None and hit.tokens_in > 0:
            observed.setdefault(req.prompt_version, []).append(hit.tokens_out / hit.tokens_in)
    ratios = {v: sum(r) / len(r) for v, r in observed.items() if len(r) >= 5}
    total = CallEstimate()
    by_domain: dict[str, CallEstimate] = {}
    for i, (req, hit) in enumerate(zip(requests, split.results, strict=True)):
        for est in (total, by_domain.setdefault(req.domain, CallEstimate())):
            est.requests += 1
            if hit is not None or i in split.duplicates:  # an equal request's call answers it
                est.cache_hits += 1
                continue
            prompt_tokens = sum(estimate_tokens(m.get("content", "")) for m in req.messages)
            if req.prompt_version in ratios:
                completion = min(req.max_tokens * max(1, req.n), round(prompt_tokens * ratios[req.prompt_version]))
            else:
                completion = estimated_completion_tokens(req, prompt_tokens)
            est.calls += 1
            est.prompt_tokens += prompt_tokens
            est.completion_tokens += completion
            est.cost_usd += prices.cost(prompt_tokens, completion)
    method = f"~{CHARS_PER_TOKEN:g} chars/token heuristic, no tokenizer"
    if ratios:
        method += f"; completion ratio calibrated from cache for {sorted(ratios)}"
    return DryRunEstimate(total, by_domain, method)


def format_comparison(by_format: dict[str, DryRunEstimate]) -> list[str]:
    """The synthesis output formats side by side (`goose estimate`): calls after cache hits,
    tokens in and out, cost, and lean ÷ paper."""
    rows = ["synthesis output formats side by side (masked_items, all domains):",
            f"{'format':<10}{'requests':>10}{'cached':>10}{'calls':>10}{'prompt tok':>14}{'compl tok':>14}{'cost $':>12}"]
    for fmt, est in by_format.items():
        e = est.total
        rows.append(f"{fmt:<10}{e.requests:>10}{e.cache_hits:>10}{e.calls:>10}{e.prompt_tokens:>14}"
                    f"{e.completion_tokens:>14}{e.cost_usd:>12.2f}")
    lean, paper = by_format.get(LEAN), by_format.get(PAPER)
    if lean is not None and paper is not None and paper.total.completion_tokens:
        ratio = lean.total.completion_tokens / paper.total.completion_tokens
        cost = f", cost x{lean.total.cost_usd / paper.total.cost_usd:.2f}" if paper.total.cost_usd else ""
        rows.append(f"lean / paper: completion tokens x{ratio:.2f}{cost} "
                    "(calls after cache hits; a re-ask of either format is not estimated)")
    return rows
