"""Plain data records passed between pipeline stages.

Each record maps 1:1 onto a warehouse table (DESIGN §6). They are dataclasses, not
pydantic models, because millions of them are built on the hot path; validation of
*external* input (config, LLM JSON) uses pydantic at the boundary instead.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

DOMAINS: tuple[str, ...] = ("math", "code", "science", "cyber")
Shape = Literal["qa", "code", "passage", "html"]
MASK = "[MASK]"


def stable_id(prefix: str, *parts: str) -> str:
    """A content hash id: the same parts always give the same id."""
    h = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return f"{prefix}_{h[:20]}"


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(slots=True)
class Document:
    """One ingested source row (`raw_documents`)."""

    doc_id: str
    domain: str
    source_id: str
    source: str
    license: str
    title: str
    text: str
    html: str
    shape: str
    url: str
    fetched_at: str
    content_sha256: str
    source_path: str

    def to_row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class QuarantineRow:
    """A rejected row with its reason; nothing is dropped silently."""

    stage: str
    domain: str
    ref_id: str
    reason: str
    detail: str = ""
    raw: str = ""

    def to_row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Passage:
    """The text a task is built from (`extracted_passages`).

    `question` is empty for passages; `body` is the maskable text (a solution, code, or
    an extracted passage). `body_start/body_end` are offsets into the source document text
    when the passage was cut from it (offline extraction), else -1.
    """

    passage_id: str
    doc_id: str
    domain: str
    shape: str
    question: str
    body: str
    body_start: int
    body_end: int
    method: str
    word_count: int

    def to_row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class MaskedItem:
    """A masked span with its answer and distractors (`masked_items`)."""

    item_id: str
    doc_id: str
    passage_id: str
    domain: str
    shape: str
    question: str
    context_masked: str
    answer: str
    distractors: list[str]
    distractor_kinds: list[str]
    span_start: int
    span_end: int
    backend: str
    model: str
    prompt_version: str
    synthesis_format: str = "paper"  # paper | lean (core.synthesis.synthesis_format)

    def to_row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class McqTask:
    """A rendered multiple-choice fill-in-the-middle task (`mcq_tasks`)."""

    task_id: str
    item_id: str
    doc_id: str
    domain: str
    shape: str
    question: str
    options: list[str]
    answer_letter: str
    answer_index: int
    context_masked: str = ""
    leak_reasons: list[str] = field(default_factory=list)
    option_kinds: list[str] = field(default_factory=list)  # "answer", or how each distractor was made
    # option selection found its answer picked out by surface models whatever it shows
    # (AFLite, core.synthesis.selection): kept for the record, out of the gate, dropped
    surface_solvable: bool = False

    def to_row(self) -> dict[str, Any]:
        return asdict(self)
