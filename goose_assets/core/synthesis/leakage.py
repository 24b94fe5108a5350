"""Answer-leakage detectors for one masked item (issue 5, check 1).

A leak is any cue that gives the answer away without reasoning about the context:
- `answer_in_context`: the answer text still appears in the masked context;
- `distractor_equals_answer`: a distractor is the answer (whitespace- and case-insensitive);
- `distractor_contains_answer` / `answer_contains_distractor`: one wraps the other;
- `near_duplicate_options`: two options have char-3-gram Jaccard >= 0.9;
- `answer_sentence_repeated`: a sentence (or code line) of the answer is repeated
  elsewhere in the context.

"The context" is everything the student reads besides the options: for a QA or code task
the problem statement as well as the masked solution, since a statement often repeats what
the solution says (Asymptote code, an equation). Text is compared as word sequences with
punctuation removed, for every shape; code and math keep their operators, so a mirror-image
line (`d - 1` for `d + 1`) is no repeat, while marks that only lay text out (LaTeX `&`
alignment, markdown emphasis and bullets, doctest prompts) count as punctuation.

Each detector has a length floor, because a 1-word answer like "x = 2" occurs in
contexts and options by coincidence, not as a leak.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from goose_assets.core.records import MASK
from goose_assets.core.text import (
    collapse_ws,
    jaccard,
    normalize_loose,
    sentence_spans,
)

ANSWER_IN_CONTEXT = "answer_in_context"
DISTRACTOR_EQUALS_ANSWER = "distractor_equals_answer"
DISTRACTOR_CONTAINS_ANSWER = "distractor_contains_answer"
ANSWER_CONTAINS_DISTRACTOR = "answer_contains_distractor"
NEAR_DUPLICATE_OPTIONS = "near_duplicate_options"
ANSWER_SENTENCE_REPEATED = "answer_sentence_repeated"

LEAK_REASONS: tuple[str, ...] = (
    ANSWER_IN_CONTEXT,
    DISTRACTOR_EQUALS_ANSWER,
    DISTRACTOR_CONTAINS_ANSWER,
    ANSWER_CONTAINS_DISTRACTOR,
    NEAR_DUPLICATE_OPTIONS,
    ANSWER_SENTENCE_REPEATED,
)

# A text shorter than this (after normalize_loose) is too short to count as leaked:
# it occurs by coincidence.
MIN_LEAK_WORDS = 3
MIN_LEAK_CHARS = 12
# A repeated answer sentence must be this long to count (normalized form).
MIN_SENTENCE_WORDS = 6
MIN_SENTENCE_CHARS = 30
NEAR_DUPLICATE_JACCARD = 0.9

_LATEX_SPACING = re.compile(r"\\[,;:! ]|\\(?:quad|qquad)\b")
# multi-char operators first so `<=` stays one token
_OPERATOR = re.compile(r"\*\*|//|==|!=|<=|>=|->|<<|>>|[-+*/%<>=^&|~]")
# an answer with one of these is treated as code/math (the hyphen alone is prose too)
_OPERATOR_HINT = re.compile(r"[+*/%<>=^&|~]")
_NON_WORD = re.compile(r"[^\w]+")
# layout, not meaning: LaTeX's `&` column mark (a lone `&`: `&&` is an operator), a
# markdown bullet or a doctest prompt opening a line, and emphasis stars that touch a word
# on one side only (`**Note**`; `a*b` and `a * b` stay multiplication)
_LAYOUT = re.compile(
    r"(?<!&)&(?!&)"
    r"|^[ \t]*(?:[-*][ \t]+|>>>[ \t]?)"
    r"|(?<![\w*])\*{1,2}(?=\w)|(?<=\w)\*{1,2}(?![\w*])",
    re.MULTILINE,
)


@dataclass(frozen=True, slots=True)
class LeakFinding:
    """One detected leak: the reason code and a short human-readable detail."""

    reason: str
    detail: str


def option_key(text: str) -> str:
    """`normalize_option` (NFKC, whitespace runs collapsed, stripped, lower case) with
    `str.split` in place of the regex: the same characters count as whitespace (both
    use Unicode's white-space property), at half the cost on the hot paths."""
    return " ".join(unicodedata.normalize("NFKC", text).split()).lower()


def trigram_set(text: str) -> set[str] | set[tuple[str, ...]]:
    """`char_ngrams(text, 3)` for Jaccard comparisons only, ~2x faster: the 3-grams of
    the normalized text as character triples (a text under 3 characters is one 1-tuple).
    The sets are in one-to-one correspondence with char_ngrams', so every size,
    intersection and Jaccard value is the same; compare them only with each other."""
    t = option_key(text)
    if len(t) < 3:
        return {(t,)} if t else set()
    return set(zip(t, t[1:], t[2:], strict=False))


# above this many cells (texts x distinct trigrams), trigram_jaccard goes sparse
_DENSE_CELLS = 1 << 22


def trigram_jaccard(texts: Sequence[str]) -> np.ndarray:
    """Pairwise `jaccard` of the texts' `trigram_set`s, every value the same, as one matrix
    product: trigrams as integers (a key under 3 characters is one token of its own), and
    the intersections of all pairs at once. Two empty texts are identical (1.0)."""
    keys = [option_key(text) for text in texts]
    lengths = np.fromiter((len(k) for k in keys), dtype=np.int64, count=len(keys))
    codes = np.frombuffer("".join(keys).encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
    owner = np.repeat(np.arange(len(keys)), lengths)
    # a trigram starts at every character but a text's last two; code points stop below
    # 2**21, so trigrams are >= 0, and a short key's own token (negative) never meets one
    valid = np.zeros(len(codes), dtype=bool)
    if len(codes) >= 3:
        valid[: len(codes) - 2] = owner[: len(codes) - 2] == owner[2:]
    positions = np.flatnonzero(valid)
    grams = (codes[positions] << 42) | (codes[positions + 1] << 21) | codes[positions + 2]
    rows = owner[positions]
    short = [i for i, k in enumerate(keys) if 0 < len(k) < 3]
    if short:
        token_ids: dict[str, int] = {}
        grams = np.concatenate((grams, [-1 - token_ids.setdefault(keys[i], len(token_ids)) for i in short]))
        rows = np.concatenate((rows, short))
    distinct, cols = np.unique(grams, return_inverse=True)
    shape = (len(keys), max(1, len(distinct)))
    if shape[0] * shape[1] <= _DENSE_CELLS:
        # a few dozen options: a dense 0/1 matrix and one BLAS product beat sparse ones
        # (float32 counts are exact far beyond any text's trigram count)
        indicator = np.zeros(shape, dtype=np.float32)
        indicator[rows, cols] = 1.0
        inter = (indicator @ indicator.T).astype(np.int64)
    else:
        # imported here: the reply checks load this module inside the vLLM venv, which has
        # numpy but not scipy, and only hundreds of long candidates ever reach this branch
        from scipy.sparse import csr_matrix

        sparse = csr_matrix((np.ones(len(cols), dtype=np.int32), (rows, cols)), shape=shape)
        sparse.data[:] = 1  # a trigram a text holds twice counts once
        inter = (sparse @ sparse.T).toarray().astype(np.int64)
    sizes = np.diag(inter).copy()
    union = sizes[:, None] + sizes[None, :] - inter
    return np.where((sizes[:, None] == 0) & (sizes[None, :] == 0), 1.0, inter / np.maximum(union, 1))


def _is_substantial(normalized: str) -> bool:
    return len(normalized.split()) >= MIN_LEAK_WORDS or len(normalized) >= MIN_LEAK_CHARS


def _contains_phrase(haystack: str, needle: str) -> bool:
    """Word-boundary containment on space-normalized strings ("ab c" is not in "xab c")."""
    return f" {needle} " in f" {haystack} "


def _compact(text: str) -> str:
    """Case- and all-whitespace-insensitive form: `a+b` equals `a + b` (code, LaTeX)."""
    return "".join(option_key(text).split())


def _contains_token_aligned(outer: str, inner: str) -> bool:
    """`inner` occurs in `outer` (normalize_option forms) not inside a longer word."""
    # the regex `(?<!\w)inner(?!\w)` without compiling one pattern per pair (it was most
    # of the assembly stage's time): every occurrence, overlapping ones included, is tried
    if not inner:
        return False
    i = outer.find(inner)
    while i >= 0:
        end = i + len(inner)
        if (i == 0 or not _is_word_char(outer[i - 1])) and (end == len(outer) or not _is_word_char(outer[end])):
            return True
        i = outer.find(inner, i + 1)
    return False


def _is_word_char(ch: str) -> bool:
    r"""The regex `\w` for one character of a str pattern (Unicode alphanumeric or `_`)."""
    return ch.isalnum() or ch == "_"


def normalize_symbolic(text: str) -> str:
    """`normalize_loose`, but code/math operators survive as tokens.

    Loose normalization maps `(d - 1) % 4` and `(d + 1) % 4` to the same string, so a code
    answer would "appear" in a context that holds its mirror-image line. Prose punctuation
    (. , ; : ! ? quotes, brackets) is still dropped, and so are layout marks (`_LAYOUT`).
    """
    text = unicodedata.normalize("NFKC", text)
    text = _LAYOUT.sub(" ", _LATEX_SPACING.sub(" ", text)).lower()
    text = _OPERATOR.sub(lambda m: f" {m.group(0)} ", text)
    parts = [tok if _OPERATOR.fullmatch(tok) else _NON_WORD.sub(" ", tok) for tok in text.split()]
    return collapse_ws(" ".join(parts))


def _has_operator(text: str) -> bool:
    return _OPERATOR_HINT.search(text) is not None


@dataclass(frozen=True, slots=True)
class _ContextForms:
    """The context split at [MASK] (a match may not span the mask), in both normal forms."""

    loose: list[str]
    symbolic: list[str]

    @classmethod
    def of(cls, context_masked: str) -> _ContextForms:
        raw = context_masked.split(MASK)
        return cls(
            [p for p in map(normalize_loose, raw) if p],
            [p for p in map(normalize_symbolic, raw) if p],
        )

    def contains(self, fragment: str) -> bool:
        """Whether `fragment` occurs, operator-exact when it has operators, else loosely."""
        if _has_operator(fragment):
            needle = _strip_edge_relations(normalize_symbolic(fragment))
            return bool(needle) and any(_contains_phrase(p, needle) for p in self.symbolic)
        needle = normalize_loose(fragment)
        return any(_contains_phrase(p, needle) for p in self.loose)


def _strip_edge_relations(symbolic: str) -> str:
    """Drop `=` opening or closing a fragment: an aligned line `&= a + b` shows the same
    expression as a context that reads `... = a + b` or `a + b` alone. Signs stay, since
    `-x + 1` and `x + 1` differ."""
    tokens = symbolic.split()
    while tokens and tokens[0] == "=":
        tokens.pop(0)
    while tokens and tokens[-1] == "=":
        tokens.pop()
    return " ".join(tokens)


def _answer_units(answer: str) -> list[str]:
    """Sentences and lines of the answer (prose has sentences, code and math have lines)."""
    units: list[str] = [answer[a:b] for a, b in sentence_spans(answer)]
    units.extend(line for line in answer.splitlines() if line.strip())
    seen: set[str] = set()
    out: list[str] = []
    for unit in units:
        norm = normalize_loose(unit)
        if (
            norm not in seen
            and len(norm.split()) >= MIN_SENTENCE_WORDS
            and len(norm) >= MIN_SENTENCE_CHARS
        ):
            seen.add(norm)
            out.append(unit)
    return out


def _short(text: str, limit: int = 80) -> str:
    text = collapse_ws(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def find_leaks(context_masked: str, answer: str, distractors: Sequence[str]) -> list[LeakFinding]:
    """All leak findings for one item, at most one per reason code, in LEAK_REASONS order."""
    findings: dict[str, LeakFinding] = {}
    context = _ContextForms.of(context_masked)

    loose_answer = normalize_loose(answer)
    if _is_substantial(loose_answer) and context.contains(answer):
        findings[ANSWER_IN_CONTEXT] = LeakFinding(ANSWER_IN_CONTEXT, _short(answer))

    option_answer = option_key(answer)
    compact_answer = _compact(answer)
    for idx, distractor in enumerate(distractors):
        option_d = option_key(distractor)
        compact_d = _compact(distractor)
        if compact_d == compact_answer:
            findings.setdefault(
                DISTRACTOR_EQUALS_ANSWER,
                LeakFinding(DISTRACTOR_EQUALS_ANSWER, f"distractor {idx}: {_short(distractor)}"),
            )
            continue
        if _is_substantial(loose_answer) and _contains_token_aligned(option_d, option_answer):
            findings.setdefault(
                DISTRACTOR_CONTAINS_ANSWER,
                LeakFinding(DISTRACTOR_CONTAINS_ANSWER, f"distractor {idx}: {_short(distractor)}"),
            )
        if _is_substantial(normalize_loose(distractor)) and _contains_token_aligned(
            option_answer, option_d
        ):
            findings.setdefault(
                ANSWER_CONTAINS_DISTRACTOR,
                LeakFinding(ANSWER_CONTAINS_DISTRACTOR, f"distractor {idx}: {_short(distractor)}"),
            )

    options = [answer, *distractors]
    grams = [trigram_set(o) for o in options]
    near = _first_near_duplicate(grams)
    if near is not None:
        i, j, sim = near
        findings[NEAR_DUPLICATE_OPTIONS] = LeakFinding(
            NEAR_DUPLICATE_OPTIONS,
            f"{_option_label(i)} ~ {_option_label(j)} (char-3gram J={sim:.2f})",
        )

    for unit in _answer_units(answer):
        if context.contains(unit):
            findings[ANSWER_SENTENCE_REPEATED] = LeakFinding(ANSWER_SENTENCE_REPEATED, _short(unit))
            break

    return [findings[r] for r in LEAK_REASONS if r in findings]


def _option_label(k: int) -> str:
    return "answer" if k == 0 else f"distractor {k - 1}"


def _first_near_duplicate(grams: Sequence[set[Any]]) -> tuple[int, int, float] | None:
    for i in range(len(grams)):
        for j in range(i + 1, len(grams)):
            a, b = grams[i], grams[j]
            # Jaccard <= min/max size ratio: skip pairs whose sizes alone rule it out
            if not a or not b or min(len(a), len(b)) < NEAR_DUPLICATE_JACCARD * max(len(a), len(b)):
                continue
            sim = jaccard(a, b)
            if sim >= NEAR_DUPLICATE_JACCARD:
                return i, j, sim
    return None


def leak_reasons(context_masked: str, answer: str, distractors: Sequence[str]) -> list[str]:
    """Reason codes (see LEAK_REASONS) of every leak in one item; empty when clean."""
    return [f.reason for f in find_leaks(context_masked, answer, distractors)]


def leak_reasons_for_options(
    question: str, options: Sequence[str], answer_index: int
) -> list[str]:
    """`leak_reasons` for an assembled task (options list plus the answer's index).

    Pass the task's rendered `question`, which holds the problem statement as well as the
    masked context: an answer the statement repeats is as visible as one the solution does.
    """
    distractors = [o for k, o in enumerate(options) if k != answer_index]
    return leak_reasons(question, options[answer_index], distractors)


@dataclass(slots=True)
class LeakSummary:
    """Counts per reason plus a few examples per reason, for check metadata."""

    n_items: int = 0
    n_flagged: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    def to_metadata(self) -> dict[str, Any]:
        return {
            "n_items": self.n_items,
            "n_flagged": self.n_flagged,
            "flagged_share": round(self.n_flagged / self.n_items, 4) if self.n_items else 0.0,
            "counts": {r: int(self.counts.get(r, 0)) for r in LEAK_REASONS},
            "examples": self.examples,
        }


def summarize_leaks(
    findings_by_item: Iterable[tuple[str, Sequence[LeakFinding | str]]],
    max_examples: int = 3,
) -> LeakSummary:
    """Aggregate per-item findings (item id, findings or bare reason codes) into a summary."""
    summary = LeakSummary()
    for item_id, findings in findings_by_item:
        summary.n_items += 1
        if findings:
            summary.n_flagged += 1
        for finding in findings:
            reason = finding.reason if isinstance(finding, LeakFinding) else finding
            detail = finding.detail if isinstance(finding, LeakFinding) else ""
            summary.counts[reason] += 1
            examples = summary.examples.setdefault(reason, [])
            if len(examples) < max_examples:
                examples.append({"id": item_id, "detail": detail})
    return summary
