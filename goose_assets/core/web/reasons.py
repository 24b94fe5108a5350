"""The stable drop reasons of the web path: they become quarantine reasons and metadata
count keys, so a reason once written keeps its spelling."""

from __future__ import annotations

from goose_assets.core.web.lexicon import (
    LANGUAGE_NAMES,
)

# --- drop reasons -------------------------------------------------------------------------
REASON_TOO_LARGE = "too_large"
REASON_TOO_MANY_ELEMENTS = "too_many_elements"
REASON_BINARY = "binary_content"
REASON_NOT_HTML = "not_html"
REASON_EXTRACTION_ERROR = "extraction_error"
REASON_EMPTY = "empty_extraction"
REASON_OFF_TOPIC = "off_topic"
REASON_NO_PASSAGE = "no_passage"
GOPHER_TOO_FEW_WORDS = "gopher:too_few_words"
GOPHER_TOO_MANY_WORDS = "gopher:too_many_words"
GOPHER_MEAN_WORD_LENGTH = "gopher:mean_word_length"
GOPHER_SYMBOL_RATIO = "gopher:symbol_ratio"
GOPHER_BULLET_LINES = "gopher:bullet_lines"
GOPHER_ELLIPSIS_LINES = "gopher:ellipsis_lines"
GOPHER_ALPHA_WORDS = "gopher:alpha_words"
GOPHER_STOP_WORDS_RULE = "gopher:stop_words"


def non_language_reason(expected: str) -> str:
    """The drop reason for a page not in `expected`, e.g. `non_english` for "en"."""
    return f"non_{LANGUAGE_NAMES.get(expected, expected)}"


# every reason the chain can return, for zero-filled metadata counts
GOPHER_REASONS: tuple[str, ...] = (
    GOPHER_TOO_FEW_WORDS,
    GOPHER_TOO_MANY_WORDS,
    GOPHER_MEAN_WORD_LENGTH,
    GOPHER_SYMBOL_RATIO,
    GOPHER_BULLET_LINES,
    GOPHER_ELLIPSIS_LINES,
    GOPHER_ALPHA_WORDS,
    GOPHER_STOP_WORDS_RULE,
)


def drop_reasons(language: str = "en") -> tuple[str, ...]:
    """All drop reasons `extract_passage` can return for pages expected in `language`."""
    return (
        REASON_TOO_LARGE,
        REASON_TOO_MANY_ELEMENTS,
        REASON_BINARY,
        REASON_NOT_HTML,
        REASON_EXTRACTION_ERROR,
        REASON_EMPTY,
        non_language_reason(language),
        *GOPHER_REASONS,
        REASON_OFF_TOPIC,
        REASON_NO_PASSAGE,
    )


# the LLM extraction path's check of the model's passage (llm_check.py)
REASON_LLM_EMPTY = "llm_empty"
REASON_LLM_TOO_SHORT = "llm_too_short"
REASON_LLM_TOO_LONG = "llm_too_long"
REASON_LLM_UNGROUNDED = "llm_ungrounded"
LLM_REASONS: tuple[str, ...] = (
    REASON_LLM_EMPTY,
    REASON_LLM_TOO_SHORT,
    REASON_LLM_TOO_LONG,
    REASON_LLM_UNGROUNDED,
)
