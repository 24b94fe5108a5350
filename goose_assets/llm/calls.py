"""What every real backend shares around its calls: the cache split, output checks, fault
accounting, the guards that stop a run that cannot succeed, progress, and the dry-run estimate.

The backends differ only in how they get text from a model; everything here is the same for
the openai and the in-process vllm backend, so the two cannot drift apart.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from goose_assets.core.prompts import family
from goose_assets.core.synthesis import (
    ParseError,
    distractor_kinds,
    parse_object,
    validation_record,
)
from goose_assets.core.synthesis_format import LEAN, PAPER, request_format, validate_answer
from goose_assets.llm.base import LLMRequest, LLMResponse, ProgressFn, ResponseCache, cache_key

log = logging.getLogger(__name__)

# (request, text of one choice) -> None when usable, else the quarantine reason
Validator = Callable[[LLMRequest, str], "str | None"]

# Faults that are a bad *answer*, not a failed call: re-asking can fix them.
PARSE_FAULTS = ("invalid_json", "schema_violation", "empty_response")


class LLMBackendError(RuntimeError):
    """A run-level failure: the asset should fail with this message, not quarantine rows."""


class StructuredOutputIgnoredError(LLMBackendError):
    pass


class ErrorRateExceededError(LLMBackendError):
    pass


class LLMConfigurationError(LLMBackendError):
    pass


# ---------------------------------------------------------------------------------------
# output checks


def schema_problem(value: Any, schema: dict[str, Any], path: str = "$") -> str | None:
    """The first way `value` breaks `schema`, for the JSON-Schema subset our prompts use
    (type, properties, required, additionalProperties, items, minItems, maxItems, enum)."""
    expected = schema.get("type")
    type_ok = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
    }
    if isinstance(expected, str) and expected in type_ok and not type_ok[expected](value):
        return f"{path} is {type(value).__name__}, not {expected}"
    # a list of types (the lean format's nullable span and unit numbers): any one may match
    if isinstance(expected, list) and not any(t in type_ok and type_ok[t](value) for t in expected):
        return f"{path} is {type(value).__name__}, not one of {expected}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{path} not in enum"
    if isinstance(value, dict):
        props: dict[str, Any] = schema.get("properties") or {}
        missing = [k for k in schema.get("required") or [] if k not in value]
        if missing:
            return f"{path} lacks {missing}"
        if schema.get("additionalProperties") is False:
            extra = sorted(set(value) - set(props))
            if extra:
                return f"{path} has unexpected keys {extra}"
        for key, sub in props.items():
            if key in value and (problem := schema_problem(value[key], sub, f"{path}.{key}")):
                return problem
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            return f"{path} has {len(value)} items, fewer than {schema['minItems']}"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return f"{path} has more than {schema['maxItems']} items"
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                if problem := schema_problem(item, items, f"{path}[{i}]"):
                    return problem
    return None


@dataclass(slots=True)
class OutputCheck:
    """The verdict on one reply: `reason` None means usable; `repaired` means the JSON only
    parsed after repair; `schema_ok` feeds the ignored-constraint detector."""

    reason: str | None
    repaired: bool = False
    schema_ok: bool = True
    detail: str = ""
    validation: dict[str, Any] | None = None  # core.synthesis.validation_record of a usable answer


def check_structure(request: LLMRequest, text: str) -> OutputCheck:
    """Does the reply parse as the request's schema? (Requests without a schema pass.)"""
    if request.json_schema is None:
        return OutputCheck(None) if text.strip() else OutputCheck("empty_response", schema_ok=True)
    if not text.strip():
        return OutputCheck("empty_response", schema_ok=False)
    try:
        obj, repaired = parse_object(text)
    except ParseError as exc:
        return OutputCheck(exc.reason, schema_ok=False, detail=exc.detail)
    if obj is None:  # an explicit empty answer: "no suitable passage"
        return OutputCheck(None, repaired)
    problem = schema_problem(obj, request.json_schema)
    if problem:
        return OutputCheck("schema_violation", repaired, schema_ok=False, detail=problem)
    return OutputCheck(None, repaired)


def synthesis_content_problem(request: LLMRequest, text: str) -> str | None:
    """The shared generation validator (answer verbatim, mask rebuilds the source, enough
    distinct distractors), for synthesis requests whose `inputs` carry `shape` and `body`.
    An explicit empty answer is accepted only for passages ("no suitable passage")."""
    return synthesis_content_check(request, text)[0]


def synthesis_content_check(request: LLMRequest, text: str) -> tuple[str | None, dict[str, Any] | None]:
    """`synthesis_content_problem`, plus the validation record of a usable answer (what
    `core.masking.item_from_response` would compute from it: kept with the answer so that
    neither this run nor a re-run from the cache validates it twice)."""
    shape, body = request.inputs.get("shape"), request.inputs.get("body")
    if request.kind != "synthesize" or not isinstance(shape, str) or not isinstance(body, str):
        return None, None
    try:
        obj, _ = parse_object(text)
        if obj is None:
            return (None if family(shape) == "passage" else "empty_answer"), None
        span = validate_answer(obj, shape, body, request_format(request.inputs))
    except ParseError as exc:
        return exc.reason, None
    try:
        kinds = distractor_kinds(obj, span.distractors)
    except TypeError:  # unhashable distractors: the asset's own validation reports them
        return None, None
    return None, validation_record(span, kinds, shape, body)


def check_output(request: LLMRequest, text: str, validate: Validator | None) -> OutputCheck:
    """Structure first (schema), then content (the request's validator, else the default)."""
    verdict = check_structure(request, text)
    if verdict.reason is not None:
        return verdict
    if validate is None:
        reason, verdict.validation = synthesis_content_check(request, text)
    else:
        reason = validate(request, text)
    if reason is not None:
        verdict.reason = reason
        verdict.validation = None
    return verdict


def reask_messages(messages: list[dict[str, str]], bad_text: str, reason: str,
                   schema: dict[str, Any] | None, synthesis_format: str = PAPER) -> list[dict[str, str]]:
    """The conversation plus the bad reply and a corrective turn (a re-ask, not a new prompt)."""
    keys = ""
    if schema and isinstance(schema.get("properties"), dict):
        keys = " with exactly the keys " + ", ".join(f'"{k}"' for k in schema["properties"])
    why = reason.replace("_", " ")
    # the lean format has no masked text to get right: only the span (or its unit numbers)
    rule = ("The removed span must be copied verbatim from the document, or named by its first and "
            "last numbered unit where the document is numbered." if synthesis_format == LEAN else
            "The removed span must be copied verbatim from the document and the masked text must "
            "contain [MASK] exactly once.")
    correction = (
        f"Your previous reply could not be used ({why}). Reply again with exactly one JSON "
        f"object{keys}, inside <answer></answer>. {rule}"
    )
    return [*messages, {"role": "assistant", "content": bad_text[:8000]}, {"role": "user", "content": correction}]


# ---------------------------------------------------------------------------------------
# accounting


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


class ConstraintGuard:
    """Fails the run when structured output is evidently not applied.

    Old vLLM servers drop unknown fields (`guided_json` since 0.12) without an error and
    return unconstrained text, so every answer would be quarantined at full price. After the
    first `probe` schema-bound replies, if more than half do not parse as the schema, stop."""

    def __init__(self, probe: int, mode: str, backend: str) -> None:
        self.probe = probe
        self.mode = mode
        self.backend = backend
        self.seen = 0
        self.broken = 0
        self.decided = probe <= 0
        self.failed = False

    @property
    def passed(self) -> bool:
        """Decided, and the constraint holds: failed answers may now be cached."""
        return self.decided and not self.failed

    def observe(self, verdict: OutputCheck) -> None:
        if self.decided:
            return
        self.seen += 1
        self.broken += 0 if verdict.schema_ok else 1
        if self.seen < self.probe:
            return
        self.decided = True
        if self.broken * 2 > self.seen:
            self.failed = True
            if self.mode == "json_schema":
                cause = (
                    "the server is ignoring the structured-output constraint. Likely causes: a vLLM "
                    "older than 0.10.2 (or a server without response_format json_schema support) "
                    "that silently drops the request's json_schema, a server that expects the old "
                    "`guided_json` field (removed in vLLM 0.12), or a structured-output backend "
                    "that is disabled. Check the server version and its structured-output config, "
                    "or set structured_output='prompt' if the server cannot constrain output"
                )
            elif self.mode == "engine":
                cause = (
                    "vLLM did not apply StructuredOutputsParams (check the installed vLLM version: "
                    "GuidedDecodingParams was removed in 0.12, and the structured-output backend "
                    "must be available)"
                )
            else:
                cause = (
                    "structured output is off (structured_output='prompt') and the model does not "
                    "follow the JSON instructions; enable json_schema on a server that supports it"
                )
            raise StructuredOutputIgnoredError(
                f"{self.broken} of the first {self.seen} {self.backend} replies do not parse as the "
                f"requested JSON schema: {cause}."
            )


class ErrorRateBreaker:
    """Fails the run when most calls fail, instead of quarantining everything at full price."""

    def __init__(self, min_calls: int, max_error_rate: float, stats: CallStats | None = None) -> None:
        self.min_calls = min_calls
        self.max_error_rate = max_error_rate
        # counts are taken from here on: an earlier healthy run must not dilute this one
        self.base_calls = stats.calls if stats else 0
        self.base_failed = stats.failed_calls if stats else 0
        self.base_faults = Counter(stats.faults) if stats else Counter()

    def check(self, stats: CallStats) -> None:
        calls = stats.calls - self.base_calls
        if self.min_calls <= 0 or calls < self.min_calls:
            return
        failed = stats.failed_calls - self.base_failed
        rate = failed / calls
        if rate > self.max_error_rate:
            top = ", ".join(f"{k}={v}" for k, v in (stats.faults - self.base_faults).most_common(4))
            raise ErrorRateExceededError(
                f"{failed} of {calls} LLM calls failed ({rate:.0%} > "
                f"{self.max_error_rate:.0%}); most common faults: {top}. Stopping instead of "
                "quarantining the rest; answers received so far are cached."
            )


class Progress:
    """Calls the caller's progress function and logs done/total, rate and ETA every
    `every_s` seconds (Dagster's log shows them when `logger` is the context's log)."""

    def __init__(self, total: int, fn: ProgressFn | None, logger: logging.Logger | Any | None,
                 label: str, every_s: float = 10.0) -> None:
        self.total = total
        self.fn = fn
        self.logger = logger or log
        self.label = label
        self.every_s = every_s
        self.done = 0
        self.start = time.monotonic()
        self._last_log = self.start

    def advance(self, k: int = 1) -> None:
        self.done += k
        if self.fn is not None:
            self.fn(self.done, self.total)
        now = time.monotonic()
        if now - self._last_log >= self.every_s or self.done == self.total:
            self._last_log = now
            self.logger.info(self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = max(1e-9, (now or time.monotonic()) - self.start)
        rate = self.done / elapsed
        left = self.total - self.done
        eta = f"{left / rate:.0f}s" if rate > 0 else "?"
        return f"{self.label}: {self.done}/{self.total} done, {rate:.1f}/s, ETA {eta}"


# ---------------------------------------------------------------------------------------
# cache


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


# ---------------------------------------------------------------------------------------
# dry run


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
