"""Step 2 of the web path: pre-filters, each returning a stable drop reason or None:
language (stop-word ratio), Gopher quality rules, keyword relevance to the domain."""

from __future__ import annotations

import re
from collections import Counter
from functools import cache

from goose_assets.core.web.lexicon import (
    DOMAIN_LEXICONS,
    GOPHER_STOP_WORDS,
    STOP_WORDS,
    DomainLexicon,
)
from goose_assets.core.web.reasons import (
    GOPHER_ALPHA_WORDS,
    GOPHER_BULLET_LINES,
    GOPHER_ELLIPSIS_LINES,
    GOPHER_MEAN_WORD_LENGTH,
    GOPHER_STOP_WORDS_RULE,
    GOPHER_SYMBOL_RATIO,
    GOPHER_TOO_FEW_WORDS,
    GOPHER_TOO_MANY_WORDS,
    REASON_OFF_TOPIC,
    non_language_reason,
)

# --- step 2: pre-filters ------------------------------------------------------------------
# Lines that are plainly source code: left out of the language sample, counted as
# relevance evidence for the code domain, and never joined to a wrapped prose line.
CODE_LINE = re.compile(
    r"^\s*(?:>>>|\.\.\.\s|def |class |import |from \S+ import |return\b|for .+ in .+:|"
    r"if .+:|while .+:|print\(|[A-Za-z_][\w.]*\s*=\s*\S|[A-Za-z_][\w.]*\(.*\)\s*;?\s*$|"
    r"[{}]\s*$|#include\b|(?:public|private|static|const|let|var|function)\s)"
)


_TOKEN = re.compile(r"\w+", re.UNICODE)
_LANGUAGE_SAMPLE_TOKENS = 3000
# English prose has 35-50 % stop words; list-like pages (scores, names) and notes
# pages still have 8-12 %; pages in other languages have under 5 % English ones
MIN_LANGUAGE_RATIO = 0.08
MIN_LANGUAGE_TOKENS = 20


def lower_tokens(text: str, limit: int | None = None) -> list[str]:
    tokens = _TOKEN.findall(text.lower())
    return tokens[:limit] if limit is not None else tokens


def _language_sample(text: str) -> list[str]:
    # code lines are full of English keywords and empty of stop words: they say nothing
    # about the language of the prose around them
    prose = "\n".join(line for line in text.splitlines() if not CODE_LINE.match(line))
    return lower_tokens(prose, _LANGUAGE_SAMPLE_TOKENS)


def _stop_word_shares(tokens: list[str]) -> dict[str, float]:
    if not tokens:
        return {lang: 0.0 for lang in STOP_WORDS}
    counts = Counter(tokens)
    return {
        lang: sum(counts[word] for word in stops.intersection(counts)) / len(tokens)
        for lang, stops in STOP_WORDS.items()
    }


def language_scores(text: str) -> dict[str, float]:
    """Share of stop words of each known language among the first 3,000 word tokens of
    the text's non-code lines."""
    return _stop_word_shares(_language_sample(text))


def detect_language(text: str, min_ratio: float = MIN_LANGUAGE_RATIO) -> str:
    """The language whose stop words are most frequent; "unknown" below `min_ratio`
    (non-Latin scripts, word lists) and "undecided" for fewer than 20 prose tokens."""
    tokens = _language_sample(text)
    if len(tokens) < MIN_LANGUAGE_TOKENS:
        return "undecided"
    scores = _stop_word_shares(tokens)
    best = max(scores, key=lambda lang: scores[lang])
    return best if scores[best] >= min_ratio else "unknown"


def language_verdict(text: str, expected: str, min_ratio: float) -> tuple[str | None, str]:
    if expected not in STOP_WORDS:
        raise ValueError(
            f"no stop-word list for language {expected!r}; known: {sorted(STOP_WORDS)}"
        )
    detected = detect_language(text, min_ratio)
    reason = None if detected in (expected, "undecided") else non_language_reason(expected)
    return reason, detected


def language_reason(
    text: str, expected: str = "en", min_ratio: float = MIN_LANGUAGE_RATIO
) -> str | None:
    """`non_<language>` (e.g. `non_english`) when the text is in another language or in
    none with stop words; None when it is in `expected`, or too short to tell (the
    word-count rule of `gopher_reason` judges those).

    Raises ValueError for a language without a stop-word list (a configuration error).
    """
    return language_verdict(text, expected, min_ratio)[0]


GOPHER_MIN_WORDS = 50
GOPHER_MAX_WORDS = 100_000
BULLET = re.compile(r"^\s*(?:[-*•·‣◦▪▸►–—]|\d+[.)])\s")
_ELLIPSIS_END = re.compile(r"(?:\.\.\.|…)\s*$")
# a whitespace-delimited token without a single letter ("42", "--", "3.14", "=>")
LETTERLESS_TOKEN = re.compile(r"(?<!\S)(?:[\d_]|[^\w\s])+(?!\S)")
_PUNCT_EDGES = "\"'()[]{}<>.,;:!?«»“”‘’"


def gopher_reason(
    text: str,
    language: str = "en",
    min_words: int = GOPHER_MIN_WORDS,
    max_words: int = GOPHER_MAX_WORDS,
) -> str | None:
    """The first Gopher quality rule (Rae et al. 2021, appendix A) the text breaks, or None.

    Rules: word count in [min_words, max_words]; mean word length 3..10 characters; hash
    and ellipsis symbols at most 10 % of words; at most 90 % of lines start with a bullet;
    at most 30 % of lines end in an ellipsis; at least 80 % of words contain a letter; at
    least two of the language's Gopher stop words are present.
    """
    tokens = text.split()
    n_words = len(tokens)
    if n_words < min_words:
        return GOPHER_TOO_FEW_WORDS
    if n_words > max_words:
        return GOPHER_TOO_MANY_WORDS
    stripped = [t.strip(_PUNCT_EDGES) for t in tokens]
    mean_length = sum(len(t) for t in stripped) / n_words
    if not 3 <= mean_length <= 10:
        return GOPHER_MEAN_WORD_LENGTH
    symbols = text.count("#") + text.count("...") + text.count("…")
    if symbols / n_words > 0.1:
        return GOPHER_SYMBOL_RATIO
    lines = [line for line in text.splitlines() if line.strip()]
    if sum(1 for line in lines if BULLET.match(line)) > 0.9 * len(lines):
        return GOPHER_BULLET_LINES
    if sum(1 for line in lines if _ELLIPSIS_END.search(line)) > 0.3 * len(lines):
        return GOPHER_ELLIPSIS_LINES
    if n_words - len(LETTERLESS_TOKEN.findall(text)) < 0.8 * n_words:
        return GOPHER_ALPHA_WORDS
    required = GOPHER_STOP_WORDS.get(language) or STOP_WORDS.get(language, GOPHER_STOP_WORDS["en"])
    present = required.intersection(lower_tokens(text))
    if len(present) < 2:
        return GOPHER_STOP_WORDS_RULE
    return None


# Relevance: keyword density and keyword variety, each saturating, averaged into [0, 1].
DENSITY_SATURATION = 0.06
DISTINCT_SATURATION = 12
RELEVANCE_THRESHOLD = 0.35
# LaTeX commands and small formulas ("x = 3", "2^5", "a/b") count for the math domain
_MATH_EXPRESSION = re.compile(
    r"\\(?:frac|sqrt|sum|int|cdot|times|le|ge|leq|geq|pi|theta|alpha|beta|binom|log|sin|cos)\b"
    r"|\b[a-z]\s*[=<>≤≥]\s*-?\d|\d\s*[\^*/+=]\s*\(?-?\d"
)


def domain_description(domain: str) -> str:
    """A one-line description of what `domain` is about (for prompts and embeddings)."""
    return domain_lexicon(domain).description


def domain_lexicon(domain: str) -> DomainLexicon:
    try:
        return DOMAIN_LEXICONS[domain]
    except KeyError:
        raise ValueError(
            f"unknown domain {domain!r}; expected one of {sorted(DOMAIN_LEXICONS)}"
        ) from None


@cache
def _keyword_pattern(domain: str) -> re.Pattern[str]:
    alternatives = []
    for stem in domain_lexicon(domain).keywords:
        if stem.endswith("*"):
            alternatives.append(re.escape(stem[:-1]) + r"\w*")
        else:
            alternatives.append(re.escape(stem) + r"(?:e?s)?")
    # longest first: the regex engine tries fewer alternatives that the (?!\w) guard rejects
    alternatives.sort(key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")


def keyword_hits(text: str, domain: str) -> list[str]:
    """The domain keywords found in `text`, lower-cased, one entry per occurrence.

    For the code domain each line that looks like source code adds a `<code>` hit; for
    math each LaTeX command or small formula adds a `<math>` hit.
    """
    lowered = text.lower()
    hits = _keyword_pattern(domain).findall(lowered)
    if domain == "code":
        hits.extend("<code>" for line in text.splitlines() if CODE_LINE.match(line))
    elif domain == "math":
        hits.extend("<math>" for _ in _MATH_EXPRESSION.finditer(text))
    return hits


def relevance_from_counts(n_hits: int, n_distinct: int, n_words: int) -> float:
    if n_words == 0:
        return 0.0
    density = min(1.0, n_hits / n_words / DENSITY_SATURATION)
    variety = min(1.0, n_distinct / DISTINCT_SATURATION)
    return 0.5 * density + 0.5 * variety


def distinct_key(hit: str) -> str:
    # "attack", "attacks" and "attacker" count as one keyword for variety
    return hit[:6]


def relevance_score(text: str, domain: str) -> float:
    """Keyword relevance of `text` to `domain` in [0, 1]: the mean of keyword density
    (saturating at 6 % of words) and keyword variety (saturating at 12 distinct stems)."""
    hits = keyword_hits(text, domain)
    n_words = len(_TOKEN.findall(text))
    return round(
        relevance_from_counts(len(hits), len({distinct_key(h) for h in hits}), n_words), 4
    )


def relevance_reason(text: str, domain: str, threshold: float = RELEVANCE_THRESHOLD) -> str | None:
    """`off_topic` when the relevance score is below `threshold`, else None."""
    return REASON_OFF_TOPIC if relevance_score(text, domain) < threshold else None


def best_domain(text: str) -> tuple[str, float]:
    """The domain with the highest relevance score (for routing unlabelled pages)."""
    scores = {domain: relevance_score(text, domain) for domain in DOMAIN_LEXICONS}
    domain = max(scores, key=lambda d: scores[d])
    return domain, scores[domain]
