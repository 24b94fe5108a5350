"""The LLM extraction path's check of the model's passage: empty, length, grounding in
the page (reasons in `reasons.LLM_REASONS`)."""

from __future__ import annotations

from goose_assets.core.text import word_trigrams
from goose_assets.core.web.pages import PageResult, WebConfig
from goose_assets.core.web.prefilters import lower_tokens, relevance_score
from goose_assets.core.web.reasons import (
    REASON_LLM_EMPTY,
    REASON_LLM_TOO_LONG,
    REASON_LLM_TOO_SHORT,
    REASON_LLM_UNGROUNDED,
)

# The prompt allows "extract or summarize", so a passage need not be verbatim; but a
# summary still reuses the page's phrases. Under a quarter of its word trigrams found in
# the page means the model wrote about something else (or from memory).
MIN_GROUNDING = 0.25
# the model may run a little past the asked-for length; more is a failed instruction
_LLM_LENGTH_SLACK = 1.1


def grounding(passage: str, main_text: str) -> float:
    """Share of the passage's word trigrams that also occur in `main_text` (0..1)."""
    passage_tokens = lower_tokens(passage)
    if len(passage_tokens) < 3:
        return 0.0
    source = word_trigrams(lower_tokens(main_text))
    trigrams = list(zip(passage_tokens, passage_tokens[1:], passage_tokens[2:], strict=False))
    return sum(1 for t in trigrams if t in source) / len(trigrams)


def check_llm_passage(
    passage: str, main_text: str, domain: str, config: WebConfig | None = None
) -> PageResult:
    """Validate the passage an LLM extracted from a screened page's `main_text`.

    Drop reasons: `llm_empty` (the model found nothing, as the prompt allows),
    `llm_too_short` / `llm_too_long` (outside min_words..max_words, 10 % slack above),
    `llm_ungrounded` (under `MIN_GROUNDING` of its trigrams occur in the page).
    A kept passage carries its offsets into `main_text` when it is verbatim, else -1.
    """
    config = config or WebConfig()
    passage = passage.strip()
    if not passage:
        return PageResult(REASON_LLM_EMPTY, main_text=main_text)
    words = len(passage.split())
    if words < config.min_words:
        return PageResult(REASON_LLM_TOO_SHORT, f"{words} words", main_text=main_text)
    if words > config.max_words * _LLM_LENGTH_SLACK:
        return PageResult(REASON_LLM_TOO_LONG, f"{words} words", main_text=main_text)
    grounded = grounding(passage, main_text)
    if grounded < MIN_GROUNDING:
        return PageResult(REASON_LLM_UNGROUNDED, f"grounding {grounded:.2f}", main_text=main_text)
    start = main_text.find(passage)
    return PageResult(
        None,
        main_text=main_text,
        passage=passage,
        start=start,
        end=start + len(passage) if start >= 0 else -1,
        words=words,
        relevance=relevance_score(passage, domain),
    )
