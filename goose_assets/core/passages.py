"""Turn a document into the passage a task is built from.

QA pairs split into question and reference solution; code keeps the whole file as the
solution with its docstring as the question; passages pass through. Raw HTML goes through
`core.web` (boilerplate removal, pre-filters, best window) instead.
"""

from __future__ import annotations

import re

from goose_assets.core.records import Document, Passage, QuarantineRow, stable_id
from goose_assets.core.text import word_count

_QA = re.compile(r"^\s*(?:Problem|Question)\s*:\s*(?P<q>.*?)\n\s*(?:Solution|Answer)\s*:\s*", re.DOTALL)
_DOCSTRING = re.compile(r'("""|\'\'\')(?P<doc>.*?)\1', re.DOTALL)
MIN_BODY_WORDS = 12


def passage_from_document(doc: Document) -> Passage | QuarantineRow:
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
