"""The context's own vocabulary: numbers, math variables, code identifiers and named terms.

Distractors borrow from it, so that a wrong option shares the context's symbols as much as
the answer does: otherwise "the option that mentions the problem's numbers" is the answer.
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections import Counter
from dataclasses import dataclass, field

from goose_assets.core.web.lexicon import STOP_WORDS

# a number as a whole token: not inside an identifier or a longer number, not an ordinal
NUMBER = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?![\d,])|(?<![\w.])\d+(?:\.\d+)?(?!\d|\.\d|st\b|nd\b|rd\b|th\b|[A-Za-z_])")
MATH_SEGMENT = re.compile(r"\$\$?([^$]+)\$\$?|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
MATH_LETTER = re.compile(r"(?<![\\A-Za-z_])[a-zA-Z](?![A-Za-z_])")
# a name as code uses it: not an attribute (`.name`) and not inside another word
IDENTIFIER = re.compile(r"(?<![.\w])[A-Za-z_]\w*\b")
_RESERVED = frozenset(keyword.kwlist) | frozenset(dir(builtins)) | {"self", "cls"}
_ASSIGNED = re.compile(r"^[ \t]*([A-Za-z_]\w*(?:[ \t]*,[ \t]*[A-Za-z_]\w*)*)[ \t]*(?:[-+*/%]|//|\*\*)?=(?!=)", re.MULTILINE)
_BOUND = re.compile(r"\b(?:for|as)\s+([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)|\b(?:def|class)\s+([A-Za-z_]\w*)")
_PARAMS = re.compile(r"\bdef\s+\w+\s*\(([^)]*)\)")
_STOP = STOP_WORDS["en"]
_WORD = re.compile(r"\b(?=[A-Za-z-]{4})[A-Za-z]+(?:-[A-Za-z]+)*\b(?!-)")


def numbers_of(text: str) -> list[str]:
    return NUMBER.findall(text)


def parse_number(raw: str) -> float | None:
    try:
        return float(raw.replace(",", ""))
    except ValueError:
        return None


def format_number(value: float, like: str) -> str:
    """`value` written the way `like` is: integers stay integers, decimals keep their places."""
    if "." in like:
        places = len(like.split(".", 1)[1])
        return f"{value:.{places}f}"
    if float(value).is_integer():
        whole = int(value)
        return f"{whole:,}" if "," in like else str(whole)
    return f"{value:g}"


def math_variables(text: str) -> Counter[str]:
    """Single-letter variables inside math mode ($...$, \\(...\\), \\[...\\])."""
    found: Counter[str] = Counter()
    for m in MATH_SEGMENT.finditer(text):
        segment = next(g for g in m.groups() if g is not None)
        found.update(MATH_LETTER.findall(segment))
    return found


_CODE_STRING = re.compile(r"(?:\b[rRbBuUfF]{1,2})?(\"\"\"|\'\'\'|\"|\')(?:\\.|(?!\1).)*?\1|#[^\n]*", re.DOTALL)


def code_only(source: str) -> str:
    """The source with string literals and comments blanked out (same length)."""
    return _CODE_STRING.sub(lambda m: " " * len(m.group(0)), source)


def code_names(source: str, functions: bool = True) -> Counter[str]:
    """Names the code defines (assigned, loop and `as` targets, parameters and, with
    `functions`, functions and classes), counted by how often they occur in it. Strings
    and comments are not code: "for the" in a docstring defines nothing."""
    source = code_only(source)
    defined: set[str] = set()
    for m in _ASSIGNED.finditer(source):
        defined.update(n.strip() for n in m.group(1).split(","))
    for m in _BOUND.finditer(source):
        if m.group(1) or functions:
            defined.update(n.strip() for n in (m.group(1) or m.group(2)).split(","))
    for m in _PARAMS.finditer(source):
        for param in m.group(1).split(","):
            name = param.split(":")[0].split("=")[0].strip().lstrip("*")
            if name.isidentifier():
                defined.add(name)
    defined -= _RESERVED
    uses = Counter(IDENTIFIER.findall(source))
    # sorted: a set's order follows PYTHONHASHSEED, and most_common() breaks ties by
    # insertion order, so distractors would differ between processes
    return Counter({n: uses[n] for n in sorted(defined) if uses[n]})


# endings that mark a noun (and its kind: -ase enzymes, -ide compounds, -cyte cells...)
_NOUN_ENDING = re.compile(r"(tion|sion|ment|ness|ance|ence|ism|logy|ase|ide|ium|cyte|ysis|ator|ogen)s?$")


def term_class(word: str) -> tuple[str, str] | None:
    """A word's form, or None for words that are not safe to swap: acronyms swap with
    acronyms, names with names, nouns with nouns of the same ending (-tion, -ase, -ide,
    -cyte...), which keeps the part of speech and so the grammar of the sentence."""
    if len(word) > 1 and word.isupper():
        return ("acronym", "")
    if word[:1].isupper():
        return ("name", "")
    m = _NOUN_ENDING.search(word)
    if m is None:
        return None
    return ("noun", m.group(0))


def term_occurrences(text: str) -> list[tuple[re.Match[str], str]]:
    """Each salient word of `text` with its canonical form: acronyms and names capitalized
    mid-sentence keep their case, every other word (a capitalized sentence start
    included) is lower-cased."""
    out = []
    for m in _WORD.finditer(text):
        word = m.group(0)
        lowered = word.lower()
        if lowered in _STOP:
            continue
        if word[:1].isupper() and not (len(word) > 1 and word.isupper()):
            # a capitalized word is a name only where the sentence is clearly under way
            i = m.start() - 1
            while i >= 0 and text[i] in " \t\"'(*":
                i -= 1
            canonical = word if i >= 0 and (text[i].islower() or text[i] in ",;") else lowered
        else:
            canonical = word if len(word) > 1 and word.isupper() else lowered
        out.append((m, canonical))
    return out


def matching_case(replacement: str, original: str) -> str:
    """`replacement` capitalized where `original` starts a sentence capitalized."""
    if original[:1].isupper() and replacement[:1].islower():
        return replacement[:1].upper() + replacement[1:]
    return replacement


@dataclass(slots=True)
class ContextTerms:
    """The salient words of a text (no stop words, 4+ letters), most frequent first,
    grouped by `term_class`."""

    counts: Counter[str] = field(default_factory=Counter)
    _by_class: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, text: str) -> ContextTerms:
        counts: Counter[str] = Counter(canonical for _, canonical in term_occurrences(text))
        terms = cls(counts)
        for word, _ in counts.most_common():
            if (cls_ := term_class(word)) is not None:
                terms._by_class.setdefault(cls_, []).append(word)
        return terms

    def __contains__(self, word: str) -> bool:
        return word in self.counts

    def by_class(self, cls: tuple[str, str] | None) -> list[str]:
        return self._by_class.get(cls, []) if cls is not None else []


def is_reserved(name: str) -> bool:
    return name in _RESERVED
