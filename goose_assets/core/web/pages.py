"""The noisy-web path: raw HTML to one coherent, educational 100-600-word passage, or a
drop reason (issue 7; the paper's cyber recipe).

The chain for one page (`extract_passage`, here), one module per step:

1. html.py, `extract_main_text`: size and content guards, then trafilatura (precision first, a
   balanced retry when precision keeps nothing), then a line filter for boilerplate that
   trafilatura lets through (cookie notices, copyright lines, sign-up prompts, Sphinx
   sidebars). It never raises on its input: bad pages come back as ("", reason).
2. prefilters.py, pre-filters, each returning a stable drop reason or None: `language_reason`
   (stop-word ratio), `gopher_reason` (Gopher quality rules), `relevance_reason`
   (keyword relevance to the partition's domain).
3. window.py, `find_best_window` (the offline extractor): the best contiguous run of whole sentences
   of 100-600 words, scored by relevance and prose quality, with character offsets into
   the main text.

`screen_page` runs steps 1-2 only: the LLM extraction path sends the screened main text to
the model instead of picking a window, then validates the model's answer with
`llm_check.check_llm_passage` (empty, length, grounding in the page; reasons in
`reasons.LLM_REASONS`).

Drop reasons (reasons.py) are stable strings (they become quarantine reasons and metadata count keys):
`too_large`, `too_many_elements`, `binary_content`, `not_html`, `extraction_error`,
`empty_extraction`, `non_<language>` (e.g. `non_english`), `gopher:<rule>`, `off_topic`,
`no_passage`.

Everything here is pure: no Dagster, no I/O, no global state that changes results
(trafilatura's cross-document deduplication is off for that reason).
"""

from __future__ import annotations

from dataclasses import dataclass

from goose_assets.core.web.html import MAX_HTML_BYTES, MAX_TAGS, MainText, extract_main_text
from goose_assets.core.web.lexicon import (
    STOP_WORDS,
)
from goose_assets.core.web.prefilters import (
    MIN_LANGUAGE_RATIO,
    RELEVANCE_THRESHOLD,
    domain_lexicon,
    gopher_reason,
    language_verdict,
    relevance_score,
)
from goose_assets.core.web.reasons import REASON_NO_PASSAGE, REASON_OFF_TOPIC
from goose_assets.core.web.window import MIN_WINDOW_QUALITY, find_best_window


# --- the whole chain ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WebConfig:
    """Knobs of the web chain. Invalid values raise ValueError at construction."""

    language: str = "en"
    min_words: int = 100
    max_words: int = 600
    relevance_threshold: float = RELEVANCE_THRESHOLD
    min_window_quality: float = MIN_WINDOW_QUALITY
    max_html_bytes: int = MAX_HTML_BYTES
    max_tags: int = MAX_TAGS
    recall_fallback: bool = True
    fast_extraction: bool = False

    def __post_init__(self) -> None:
        if self.language not in STOP_WORDS:
            raise ValueError(
                f"no stop-word list for language {self.language!r}; known: {sorted(STOP_WORDS)}"
            )
        if not 0 < self.min_words <= self.max_words:
            raise ValueError(
                f"need 0 < min_words <= max_words, got {self.min_words}, {self.max_words}"
            )


@dataclass(frozen=True, slots=True)
class PageResult:
    """The outcome for one page: a passage, or a drop reason (never both).

    `main_text` is kept whenever extraction produced one (also for dropped pages), and
    `start`/`end` are character offsets of `passage` into it. `relevance` is the page-level
    score for `screen_page` and the window's for `extract_passage`.
    """

    reason: str | None
    detail: str = ""
    main_text: str = ""
    passage: str = ""
    start: int = -1
    end: int = -1
    words: int = 0
    relevance: float = 0.0
    quality: float = 0.0

    @property
    def ok(self) -> bool:
        return self.reason is None


def screen_text(text: str, domain: str, config: WebConfig = WebConfig()) -> PageResult:
    """Pre-filters on an already extracted main text: language, Gopher rules, relevance."""
    reason, detected = language_verdict(text, config.language, MIN_LANGUAGE_RATIO)
    if reason is not None:
        return PageResult(reason, f"detected {detected}", main_text=text)
    reason = gopher_reason(text, config.language, min_words=config.min_words)
    if reason is not None:
        return PageResult(reason, main_text=text)
    relevance = relevance_score(text, domain)
    if relevance < config.relevance_threshold:
        return PageResult(
            REASON_OFF_TOPIC,
            f"relevance {relevance:.3f} < {config.relevance_threshold}",
            main_text=text,
            relevance=relevance,
        )
    return PageResult(None, main_text=text, relevance=relevance)


def screen_page(html: str | bytes, domain: str, config: WebConfig = WebConfig()) -> PageResult:
    """Main-text extraction plus pre-filters, no window: the input of LLM extraction."""
    extracted = _configured_main_text(html, domain, config)
    if extracted.reason is not None:
        return PageResult(extracted.reason, extracted.detail)
    return screen_text(extracted.text, domain, config)


def _configured_main_text(html: str | bytes, domain: str, config: WebConfig) -> MainText:
    domain_lexicon(domain)  # fail on a bad domain even when the page is dropped before relevance
    return extract_main_text(
        html,
        max_bytes=config.max_html_bytes,
        max_tags=config.max_tags,
        recall_fallback=config.recall_fallback,
        fast=config.fast_extraction,
    )


def passage_from_text(text: str, domain: str, config: WebConfig = WebConfig()) -> PageResult:
    """Pre-filters and offline window selection on an already extracted main text."""
    screened = screen_text(text, domain, config)
    if not screened.ok:
        return screened
    window = find_best_window(
        text, domain, config.min_words, config.max_words, config.min_window_quality, config.language
    )
    if window is None:
        return PageResult(
            REASON_NO_PASSAGE, "no qualifying window", main_text=text, relevance=screened.relevance
        )
    return PageResult(
        None,
        main_text=text,
        passage=window.passage,
        start=window.start,
        end=window.end,
        words=window.words,
        relevance=window.relevance,
        quality=window.quality,
    )


def extract_passage(html: str | bytes, domain: str, config: WebConfig = WebConfig()) -> PageResult:
    """The whole offline chain for one page: main text, pre-filters, best window.

    Never raises on `html`; raises ValueError only for an unknown `domain` (a config error).
    """
    extracted = _configured_main_text(html, domain, config)
    if extracted.reason is not None:
        return PageResult(extracted.reason, extracted.detail)
    return passage_from_text(extracted.text, domain, config)
