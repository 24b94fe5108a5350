"""Synthesis requests from passages, and masked items from the backend's answers."""

from __future__ import annotations

from goose_assets.core.llm_types import LLMRequest, LLMResponse
from goose_assets.core.records import MaskedItem, Passage, QuarantineRow, stable_id
from goose_assets.core.synthesis.parse import (
    ParseError,
    distractor_kinds,
    parse_object,
    replay_validation,
)
from goose_assets.core.synthesis.synthesis_format import (
    PAPER,
    request_format,
    synthesis_prompt,
    validate_answer,
)

# the prompts ask for this many candidates: option selection keeps the 8 hardest
MIN_DISTRACTORS = 16


def synthesis_request(p: Passage, temperature: float = 0.7, max_tokens: int = 4096,
                      synthesis_format: str = PAPER) -> LLMRequest:
    """`synthesis_format`: `paper` or `lean` (core.synthesis.synthesis_format; the asset resolves it)."""
    version, messages, schema = synthesis_prompt(synthesis_format, p.shape, p.question, p.body, MIN_DISTRACTORS)
    return LLMRequest(
        ref_id=p.passage_id,
        kind="synthesize",
        domain=p.domain,
        prompt_version=version,
        messages=messages,
        inputs={"shape": p.shape, "question": p.question, "body": p.body, "format": synthesis_format},
        json_schema=schema,
        temperature=temperature,
        max_tokens=max_tokens,
    )


def item_from_response(
    p: Passage, req: LLMRequest, resp: LLMResponse, backend: str, model: str
) -> MaskedItem | QuarantineRow:
    """Validate one answer. Every failure is a quarantine row carrying the raw text.

    An answer whose validation record (`resp.validation`, made when it first arrived) was
    made by this validation code against this passage is not validated again: the record
    holds exactly what validation would return (core.synthesis.parse.replay_validation)."""
    raw = resp.texts[0] if resp.texts else ""
    if resp.error is not None:
        reason = resp.error.split(":", 1)[0].strip() or "llm_error"
        return QuarantineRow("synthesis", p.domain, p.passage_id, reason, resp.error[:500], raw[:2000])
    replayed = replay_validation(resp.validation, p.shape, p.body) if resp.validation is not None else None
    if replayed is not None:
        span, kinds = replayed
    else:
        try:
            obj, _ = parse_object(raw)
            if obj is None:
                return QuarantineRow("synthesis", p.domain, p.passage_id, "no_suitable_passage", "empty answer", raw[:2000])
            span = validate_answer(obj, p.shape, p.body, request_format(req.inputs))
        except ParseError as exc:
            return QuarantineRow("synthesis", p.domain, p.passage_id, exc.reason, exc.detail[:500], raw[:2000])
        kinds = distractor_kinds(obj, span.distractors)
    default_kind = "llm" if backend != "offline" else "mined"
    return MaskedItem(
        item_id=stable_id("item", p.passage_id, backend, model, req.prompt_version, str(span.span_start), span.answer),
        doc_id=p.doc_id,
        passage_id=p.passage_id,
        domain=p.domain,
        shape=p.shape,
        question=p.question,
        context_masked=span.context_masked,
        answer=span.answer,
        distractors=span.distractors,
        distractor_kinds=[default_kind if k is None else k for k in kinds],
        span_start=span.span_start,
        span_end=span.span_end,
        backend=backend,
        model=model,
        prompt_version=req.prompt_version,
        synthesis_format=request_format(req.inputs),
    )
