"""Key-step span selection for the offline generator.

A body is cut into units (solution steps, code lines, sentences). Each unit is scored by
reasoning signals; the chosen span is the best run of 2-4 consecutive units, away from the
edges of the text and from text the student reads elsewhere. Spans are character offsets
into the body, so masking is exact:
`body[:start] + MASK + body[end:]` plus the answer rebuilds the body.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from goose_assets.core.synthesis.terms import code_only
from goose_assets.core.text import WordTrigram, read_trigrams, sentence_spans, word_trigrams, words

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_MATH_OP = re.compile(r"[=<>+\-*/^]|\\(?:frac|cdot|times|sqrt|le|ge|neq|sum|int)")
_CONNECTIVE = re.compile(
    r"\b(therefore|thus|hence|so|because|since|then|which gives|we get|implies|it follows|"
    r"as a result|consequently|substitut\w*|solv\w*|so that|means|if|when|unless|must|should|"
    r"allows?|prevents?|causes?|results? in|leads? to)\b",
    re.IGNORECASE,
)
_CODE_SIGNAL = re.compile(
    r"^\s*(return\b|if\b|elif\b|else\b|for\b|while\b|yield\b|raise\b)|(?<![=!<>])=(?!=)|"
    r"[<>]=?|==|!=|\+=|-=|\*=|//|%|\band\b|\bor\b|\bnot\b",
)
_HEADING = re.compile(r"^\s*(#{1,6}\s|[-*]\s*$|\|)")
_COMMENT = re.compile(r"^\s*#")
_LABEL = re.compile(r"^(?:\W*\w+(?:\s+\w+){0,2}\s*:(?!\S)|\(?[a-z0-9]{1,3}[.)]\s|(?:step|example|problem|solution|answer|note)\b)", re.IGNORECASE)
_DOCSTRING_QUOTES = re.compile(r'"""|\'\'\'')
_DEFINITION = re.compile(r"(?:async\s+)?(?:def|class)\b")


@dataclass(slots=True)
class Unit:
    start: int
    end: int
    score: float


def column(text: str, pos: int) -> int:
    """How many characters precede `pos` on its line: a code unit's indentation, as units
    start at their line's first non-blank character."""
    return pos - text.rfind("\n", 0, pos) - 1


def code_units(body: str) -> list[Unit]:
    """Logical code lines: a statement continued over several lines (open brackets, a
    trailing backslash) is one unit. Blank lines, comments, docstrings and doctest lines
    are not units."""
    units: list[Unit] = []
    in_doc = False
    pos = 0
    depth = 0  # open brackets at the start of the line: > 0 means a continuation line
    continued = False
    code = code_only(body)
    for line in body.splitlines(keepends=True):
        stripped = line.strip()
        quotes = len(_DOCSTRING_QUOTES.findall(line))
        starts_doc = stripped.startswith(('"""', "'''", 'r"""', "r'''"))
        skip = in_doc or starts_doc or not stripped or _COMMENT.match(line) is not None
        if in_doc:
            if quotes % 2 == 1:
                in_doc = False
        elif starts_doc and quotes % 2 == 1:
            in_doc = True
        content = line.rstrip("\r\n")
        if (depth > 0 or continued) and units and not skip:
            units[-1].end = pos + len(content)  # the statement goes on
        elif not skip and not stripped.startswith((">>>", "...", "@", "import ", "from ")):
            lead = len(content) - len(content.lstrip())
            units.append(Unit(pos + lead, pos + len(content), _code_score(stripped)))
        if not in_doc and not starts_doc:
            code_line = code[pos : pos + len(line)]
            depth = max(0, depth + sum(code_line.count(c) for c in "([{") - sum(code_line.count(c) for c in ")]}"))
            continued = code_line.rstrip().endswith("\\")
        pos += len(line)
    return units


def step_units(body: str) -> list[Unit]:
    """Solution steps: each line, split further into sentences when a line holds several."""
    return _line_sentence_units(body, zero_headings=False)


def sentence_units(body: str) -> list[Unit]:
    """Sentences of a passage; headings, table rows and bare bullets score zero."""
    return _line_sentence_units(body, zero_headings=True)


def _line_sentence_units(body: str, zero_headings: bool) -> list[Unit]:
    units: list[Unit] = []
    for line, pos, spans in _line_sentences(body):
        heading = zero_headings and _HEADING.match(line) is not None
        units += [Unit(pos + s, pos + e, 0.0 if heading else _prose_score(line[s:e])) for s, e in spans]
    return units


def _line_sentences(body: str) -> Iterator[tuple[str, int, list[tuple[int, int]]]]:
    """Each non-blank line, its offset and its sentences' (start, end) within it."""
    pos = 0
    for line in body.splitlines(keepends=True):
        if line.strip():
            yield line, pos, sentence_spans(line)
        pos += len(line)


def unit_bounds(shape: str, body: str) -> list[tuple[int, int]]:
    """(start, end) of each of `units_for`'s units, without scoring them (for a caller that
    only cuts a text into its units)."""
    if shape == "code":
        return [(u.start, u.end) for u in code_units(body)]
    return [(pos + s, pos + e) for _, pos, spans in _line_sentences(body) for s, e in spans]


def units_for(shape: str, body: str) -> list[Unit]:
    if shape == "code":
        return code_units(body)
    if shape == "qa":
        return step_units(body)
    return sentence_units(body)


# (min units, max units, min chars, max chars) of a masked span, per shape
SPAN_LIMITS: dict[str, tuple[int, int, int, int]] = {
    "code": (2, 4, 30, 400),
    "qa": (1, 3, 30, 500),
    "passage": (2, 3, 80, 700),
}


# how much a span's value falls with the share of it the student reads elsewhere: a fully
# repeated span keeps a fifth of its value. A step restating the problem, a sentence
# repeating the passage or a code line repeating the file's own phrases is no new
# reasoning, and its answer is the option copying the context (BENCHMARKS.md §8)
NOVELTY_WEIGHT = 0.8


class _RepeatedText:
    """How much of a run of units the student reads elsewhere: the share of its word
    trigrams (none across units) found in the question or in a unit outside the run."""

    def __init__(self, body: str, units: list[Unit], question: str) -> None:
        self.grams = [word_trigrams(words(body[u.start : u.end])) for u in units]
        self.question = read_trigrams(question)
        self.units_with: Counter[WordTrigram] = Counter(g for grams in self.grams for g in grams)

    def share(self, i: int, j: int) -> float:
        inside: Counter[WordTrigram] = Counter(g for grams in self.grams[i : j + 1] for g in grams)
        if not inside:
            return 0.0
        seen = sum(1 for g, n in inside.items() if g in self.question or self.units_with[g] > n)
        return seen / len(inside)


def choose_span(shape: str, body: str, question: str = "") -> tuple[int, int] | None:
    """The best contiguous run of key units, as (start, end) offsets into `body`, or None.
    `question` is what the student reads besides the body (a math problem)."""
    units = units_for(shape, body)
    kmin, kmax, cmin, cmax = SPAN_LIMITS.get(shape, SPAN_LIMITS["passage"])
    if len(units) < 2:
        return None
    repeated = _RepeatedText(body, units, question)
    best: tuple[float, int, int] | None = None
    n = len(units)
    indents = [column(body, u.start) for u in units] if shape == "code" else []
    for i in range(n):
        total = 0.0
        for k in range(1, kmax + 1):
            j = i + k - 1
            if j >= n:
                break
            if units[j].score <= 0 and k == 1:
                break  # never start a span on a heading or an empty signal unit
            if indents and k > 1 and (indents[j] < indents[i] or _DEFINITION.match(body, units[j].start)):
                break  # code: stay inside the block the span starts in, and inside its function
            total += units[j].score
            if k < kmin:
                continue
            start, end = units[i].start, units[j].end
            length = end - start
            if length < cmin or length > cmax:
                continue
            if units[j].score <= 0:
                continue
            if indents and code_only(body[start:end]).rstrip().endswith(":"):
                continue  # a block header without its block is no step of reasoning
            # prefer the middle: the first unit restates the problem, the last often
            # states the final answer that the context repeats
            centre = (i + j) / 2 / max(1, n - 1)
            position = 1.0 - abs(centre - 0.5)
            edge = 0.5 if i == 0 or j == n - 1 else 1.0
            value = (total / k**0.5) * edge * (0.6 + 0.4 * position) * (1.0 - NOVELTY_WEIGHT * repeated.share(i, j))
            if best is None or value > best[0] + 1e-9:
                best = (value, start, end)
    return (best[1], best[2]) if best else None


def _prose_score(text: str) -> float:
    if len(text) < 15:
        return 0.0
    nums = len(_NUMBER.findall(text))
    ops = len(_MATH_OP.findall(text))
    conn = len(_CONNECTIVE.findall(text))
    return 1.0 + min(nums, 6) * 0.4 + min(ops, 8) * 0.3 + min(conn, 3) * 0.8


def _code_score(line: str) -> float:
    if len(line) < 4 or line in ("else:", "try:", "pass", "continue", "break"):
        return 0.2
    signals = len(_CODE_SIGNAL.findall(line))
    return 1.0 + min(signals, 5) * 0.6 + (0.5 if _NUMBER.search(line) else 0.0)


def unit_form(text: str) -> tuple[str, bool, bool, bool]:
    """What kind of sentence a unit is, as a reader sees it at a glance: how it ends (a
    statement, a question, an introduction to what follows), whether it opens with a label
    ("Solution:", "(b)", "Step 3."), whether it holds a formula, and its first letter's case."""
    stripped = text.strip()
    end = stripped[-1:] if stripped[-1:] in "?:" else "."
    math = "$" in stripped or "\\" in stripped or "=" in stripped
    return end, _LABEL.match(stripped) is not None, math, stripped[:1].isupper()
