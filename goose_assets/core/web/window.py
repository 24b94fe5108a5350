"""Step 3 of the web path (the offline extractor): the best contiguous run of whole
sentences of 100-600 words, scored by relevance and prose quality, with character offsets
into the main text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from goose_assets.core.text import sentence_spans
from goose_assets.core.web.lexicon import (
    STOP_WORDS,
)
from goose_assets.core.web.prefilters import (
    BULLET,
    CODE_LINE,
    LETTERLESS_TOKEN,
    distinct_key,
    keyword_hits,
    lower_tokens,
    relevance_from_counts,
)

# --- step 3: best window ------------------------------------------------------------------
MIN_WINDOW_QUALITY = 0.55
# prose has 35-50 % stop words; above 30 % counts as fully prose-like
_PROSE_STOP_SATURATION = 0.3
_TERMINAL = re.compile(r"[.!?:;][\"'”’)\]]*$")
_SHORT_LINE_WORDS = 6
_LENGTH_BONUS_WORDS = 250


@dataclass(frozen=True, slots=True)
class _Unit:
    """One sentence of the main text with the counts the window scorer sums."""

    start: int
    end: int
    words: int
    stop_words: int
    alpha_words: int
    terminal: bool
    short_line: bool
    code_line: bool
    n_hits: int
    distinct: frozenset[str]


class ScoredWindow(NamedTuple):
    """A chosen window: `text[start:end] == passage`, with the scores that chose it."""

    passage: str
    start: int
    end: int
    words: int
    relevance: float
    quality: float
    score: float


def _is_continuation(previous: str, line: str) -> bool:
    """A hard-wrapped line that continues the previous line's sentence."""
    first = line.lstrip()[:1]
    return (
        first.islower()
        and not _TERMINAL.search(previous.rstrip())
        and not BULLET.match(line)
        and not CODE_LINE.match(line)
        and not CODE_LINE.match(previous)
    )


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of paragraphs: lines, with hard-wrapped continuation lines joined so
    that no window starts in the middle of a sentence."""
    spans: list[tuple[int, int]] = []
    offset = 0
    previous = ""
    for line in text.split("\n"):
        end = offset + len(line)
        if spans and _is_continuation(previous, line):
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((offset, end))
        previous = line
        offset = end + 1
    return spans


def _units(text: str, domain: str, language: str) -> list[_Unit]:
    stops = STOP_WORDS.get(language, STOP_WORDS["en"])
    units: list[_Unit] = []
    for para_start, para_end in _paragraph_spans(text):
        paragraph = text[para_start:para_end]
        short_line = len(paragraph.split()) < _SHORT_LINE_WORDS and not _TERMINAL.search(
            paragraph.rstrip()
        )
        for start, end in sentence_spans(paragraph):
            sentence = paragraph[start:end]
            tokens = sentence.split()
            hits = keyword_hits(sentence, domain)
            units.append(
                _Unit(
                    start=para_start + start,
                    end=para_start + end,
                    words=len(tokens),
                    stop_words=sum(1 for t in lower_tokens(sentence) if t in stops),
                    alpha_words=len(tokens) - len(LETTERLESS_TOKEN.findall(sentence)),
                    terminal=bool(_TERMINAL.search(sentence)),
                    short_line=short_line,
                    code_line=bool(CODE_LINE.match(sentence)),
                    n_hits=len(hits),
                    distinct=frozenset(distinct_key(h) for h in hits),
                )
            )
    return units


def _starts_cleanly(units: list[_Unit], index: int) -> bool:
    """A window may start here: after a finished sentence, a heading or a code line, not
    in a sentence that a line break cut in two."""
    if index == 0:
        return True
    previous = units[index - 1]
    return previous.terminal or previous.short_line or previous.code_line


def _window_quality(
    words: int, stop_words: int, alpha_words: int, terminal_words: int, short_words: int
) -> float:
    """Prose quality in [0, 1]: stop-word share (running prose, not lists or code),
    sentences that end properly, words that contain letters, minus short headline-like lines."""
    prose = min(1.0, stop_words / words / _PROSE_STOP_SATURATION)
    quality = 0.4 * prose + 0.3 * (terminal_words / words) + 0.3 * (alpha_words / words)
    quality -= 0.5 * (short_words / words)
    return max(0.0, min(1.0, quality))


def find_best_window(
    text: str,
    domain: str,
    min_words: int = 100,
    max_words: int = 600,
    min_quality: float = MIN_WINDOW_QUALITY,
    language: str = "en",
) -> ScoredWindow | None:
    """The best contiguous run of whole sentences with `min_words`..`max_words` words.

    Score = 0.5 * relevance + 0.5 * quality + up to 0.1 for length (saturating at 250
    words, so a longer window wins ties). Windows below `min_quality` do not qualify.
    Offsets are into `text`: `text[start:end] == passage`. None when nothing qualifies.
    Cost is O(sentences x sentences-per-window).
    """
    units = _units(text, domain, language)
    best: ScoredWindow | None = None
    best_score = float("-inf")  # unrounded, so ties are decided by the real score
    for first in range(len(units)):
        if not _starts_cleanly(units, first):
            continue
        words = stop_words = alpha_words = terminal_words = short_words = n_hits = 0
        distinct: set[str] = set()
        for last in range(first, len(units)):
            unit = units[last]
            words += unit.words
            if words > max_words:
                break
            stop_words += unit.stop_words
            alpha_words += unit.alpha_words
            terminal_words += unit.words if unit.terminal else 0
            short_words += unit.words if unit.short_line else 0
            n_hits += unit.n_hits
            distinct |= unit.distinct
            # a window never ends on a heading-like line
            if words < min_words or unit.short_line:
                continue
            quality = _window_quality(words, stop_words, alpha_words, terminal_words, short_words)
            if quality < min_quality:
                continue
            relevance = relevance_from_counts(n_hits, len(distinct), words)
            score = 0.5 * relevance + 0.5 * quality + 0.1 * min(1.0, words / _LENGTH_BONUS_WORDS)
            if score > best_score:
                best_score = score
                start, end = units[first].start, unit.end
                best = ScoredWindow(
                    text[start:end],
                    start,
                    end,
                    words,
                    round(relevance, 4),
                    round(quality, 4),
                    round(score, 4),
                )
    return best


def best_window(
    text: str, domain: str, min_words: int = 100, max_words: int = 600
) -> tuple[str, int, int] | None:
    """(passage, start, end) of the best window (see `find_best_window`), or None."""
    window = find_best_window(text, domain, min_words, max_words)
    return None if window is None else (window.passage, window.start, window.end)
