"""Turn a document into the passage a task is built from.

QA pairs split into question and reference solution; code keeps the whole file as the
solution with its docstring as the question; passages pass through. Raw HTML goes through
`core.web` (boilerplate removal, pre-filters, best window) instead.
"""

from __future__ import annotations

import re

from goose_assets.core.records import Document, Passage, QuarantineRow, stable_id
from goose_assets.core.text import word_count
from goose_assets.core.web import WebConfig, extract_passage

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
