"""Text normalization and tokenization shared by every stage."""

from __future__ import annotations

import re
import unicodedata

from goose_assets.core.records import MASK

_WS = re.compile(r"\s+")
_WORD = re.compile(r"\w+", re.UNICODE)
_LATEX_SPACING = re.compile(r"\\[,;:! ]|\\(?:quad|qquad)\b")
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def collapse_ws(text: str) -> str:
    return _WS.sub(" ", text).strip()


def strip_control(text: str) -> str:
    return _CONTROL.sub("", text)


def normalize_loose(text: str) -> str:
    """Case-, whitespace-, punctuation- and LaTeX-spacing-insensitive form (leak checks)."""
    text = unicodedata.normalize("NFKC", text)
    text = _LATEX_SPACING.sub(" ", text)
    text = _PUNCT.sub(" ", text.lower())
    return collapse_ws(text)


def normalize_option(text: str) -> str:
    """Whitespace- and case-insensitive form used to tell options apart."""
    return collapse_ws(unicodedata.normalize("NFKC", text)).lower()


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


WordTrigram = tuple[str, str, str]


def word_trigrams(tokens: list[str]) -> set[WordTrigram]:
    return set(zip(tokens, tokens[1:], tokens[2:], strict=False))


def read_trigrams(*parts: str) -> set[WordTrigram]:
    """The word trigrams of what a student reads (a question, a masked context), none
    across [MASK] or from one part into the next: the text either side never meets."""
    return set().union(*(word_trigrams(words(piece)) for part in parts for piece in part.split(MASK)))


def copied_share(tokens: list[str], read: set[WordTrigram]) -> float:
    """The share of an option's word trigrams found in `read` (`read_trigrams`): how much of
    it repeats text the student already reads. 0 for an option under three words."""
    grams = word_trigrams(tokens)
    return len(grams & read) / len(grams) if grams else 0.0


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def char_ngrams(text: str, n: int = 3) -> set[str]:
    t = normalize_option(text)
    if len(t) < n:
        return {t} if t else set()
    return {t[i : i + n] for i in range(len(t) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    # |a | b| = |a| + |b| - |a & b|: the same value without building the union set
    inter = len(a & b)
    return inter / max(1, len(a) + len(b) - inter)


_SENT = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9$\\])")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of sentences; whitespace between sentences belongs to neither."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _SENT.finditer(text):
        # closing quotes/brackets after the terminal punctuation stay with the sentence
        closers = len(m.group(0)) - len(m.group(0).lstrip("\"')]"))
        seg_end = m.start() + closers
        if text[start:seg_end].strip():
            spans.append(_trim(text, start, seg_end))
        start = m.end()
    if text[start:].strip():
        spans.append(_trim(text, start, len(text)))
    return spans


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
