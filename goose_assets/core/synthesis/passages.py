"""Turn a document into the passage a task is built from.

QA pairs split into question and reference solution; code keeps the whole file as the
solution with its docstring as the question; passages pass through. Raw HTML goes through
`core.web` (boilerplate removal, pre-filters, best window) instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from goose_assets.core.llm_types import LLMRequest, LLMResponse
from goose_assets.core.prompts import SYSTEM, TOPICS, fence, template
from goose_assets.core.records import Document, Passage, QuarantineRow, stable_id
from goose_assets.core.synthesis.parse import ParseError, parse_object
from goose_assets.core.text import word_count
from goose_assets.core.web.llm_check import check_llm_passage
from goose_assets.core.web.pages import WebConfig, extract_passage, screen_page

_QA = re.compile(r"^\s*(?:Problem|Question)\s*:\s*(?P<q>.*?)\n\s*(?:Solution|Answer)\s*:\s*", re.DOTALL)
_DOCSTRING = re.compile(r'("""|\'\'\')(?P<doc>.*?)\1', re.DOTALL)
MIN_BODY_WORDS = 12


def passage_from_document(doc: Document) -> Passage | QuarantineRow:
    if doc.shape == "html":
        return passage_from_html(doc)
    if doc.shape == "qa":
        m = _QA.match(doc.text)
        if not m:
            return QuarantineRow("extract", doc.domain, doc.doc_id, "qa_unsplittable", "", doc.text[:2000])
        question, start = m.group("q").strip(), m.end()
    elif doc.shape == "code":
        d = _DOCSTRING.search(doc.text)
        question = " ".join(d.group("doc").split()) if d else doc.title
        start = 0
    else:
        question, start = "", 0
    body = doc.text[start:].rstrip()
    if word_count(body) < MIN_BODY_WORDS:
        return QuarantineRow("extract", doc.domain, doc.doc_id, "too_short", f"{word_count(body)} words", doc.text[:2000])
    return Passage(
        passage_id=stable_id("psg", doc.doc_id, "passthrough", body),
        doc_id=doc.doc_id,
        domain=doc.domain,
        shape=doc.shape,
        question=question,
        body=body,
        body_start=start,
        body_end=start + len(body),
        method="passthrough",
        word_count=word_count(body),
    )


def passage_from_html(doc: Document, config: WebConfig | None = None) -> Passage | QuarantineRow:
    """Offline web path: boilerplate removal, language/Gopher/relevance pre-filters, then
    the best 100-600-word window. Offsets are into the extracted main text."""
    page = extract_passage(doc.html, doc.domain, config or WebConfig())
    if not page.ok:
        return QuarantineRow("extract", doc.domain, doc.doc_id, page.reason or "no_passage", page.detail[:500], doc.html[:2000])
    return Passage(
        passage_id=stable_id("psg", doc.doc_id, "web-window", page.passage),
        doc_id=doc.doc_id,
        domain=doc.domain,
        shape="passage",
        question="",
        body=page.passage,
        body_start=page.start,
        body_end=page.end,
        method=f"trafilatura+window(relevance={page.relevance:.2f},quality={page.quality:.2f})",
        word_count=page.words or word_count(page.passage),
    )


EXTRACTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"passage": {"type": "string"}},
    "required": ["passage"],
    "additionalProperties": False,
}


def extraction_request(doc: Document, main_text: str) -> LLMRequest:
    """The LLM extraction call of the two-call web path: a 100-600-word educational
    passage from the screened main text, or an empty string."""
    tpl = template("extract_passage")
    user = tpl.render(document=fence(main_text), topic=TOPICS.get(doc.domain, doc.domain))
    return LLMRequest(
        ref_id=doc.doc_id, kind="extract", domain=doc.domain, prompt_version=tpl.version,
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}],
        inputs={"main_text": main_text}, json_schema=EXTRACTION_SCHEMA, temperature=0.2, max_tokens=2048,
    )


def passage_from_extraction(
    doc: Document, main_text: str, req: LLMRequest, resp: LLMResponse, config: WebConfig | None = None
) -> Passage | QuarantineRow:
    """Validate the extracted passage (empty, length, grounding in the page)."""
    raw = resp.texts[0] if resp.texts else ""
    if resp.error is not None:
        return QuarantineRow("extract", doc.domain, doc.doc_id, resp.error.split(":", 1)[0] or "llm_error", resp.error[:500], raw[:2000])
    try:
        obj, _ = parse_object(raw)
    except ParseError as exc:
        return QuarantineRow("extract", doc.domain, doc.doc_id, exc.reason, exc.detail[:500], raw[:2000])
    passage = str((obj or {}).get("passage", ""))
    page = check_llm_passage(passage, main_text, doc.domain, config or WebConfig())
    if not page.ok:
        return QuarantineRow("extract", doc.domain, doc.doc_id, page.reason or "llm_empty", page.detail[:500], raw[:2000])
    return Passage(
        passage_id=stable_id("psg", doc.doc_id, req.prompt_version, page.passage),
        doc_id=doc.doc_id, domain=doc.domain, shape="passage", question="", body=page.passage,
        body_start=page.start, body_end=page.end, method=f"llm:{req.prompt_version}", word_count=page.words,
    )


def passages_from_documents(
    docs: Iterable[Document], use_llm: bool, pending: list[tuple[Document, str]]
) -> Iterator[Passage | QuarantineRow]:
    """Each document's passage, or why it has none. With `use_llm`, a web page that passes
    the screens is not extracted here: (page, its main text) goes to `pending`, for the
    LLM extraction prompt (`extraction_request`, then `passage_from_extraction`)."""
    for doc in docs:
        if doc.shape == "html" and use_llm:
            screened = screen_page(doc.html, doc.domain)
            if screened.ok:
                pending.append((doc, screened.main_text))
            else:
                yield QuarantineRow("extract", doc.domain, doc.doc_id, screened.reason or "no_passage", screened.detail[:500], doc.html[:2000])
            continue
        yield passage_from_document(doc)
