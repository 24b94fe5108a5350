"""The noisy-web path: raw HTML to one coherent, educational 100-600-word passage, or a
drop reason (issue 7; the paper's cyber recipe).

The chain for one page (`extract_passage`):

1. `extract_main_text`: size and content guards, then trafilatura (precision first, a
   balanced retry when precision keeps nothing), then a line filter for boilerplate that
   trafilatura lets through (cookie notices, copyright lines, sign-up prompts, Sphinx
   sidebars). It never raises on its input: bad pages come back as ("", reason).
2. Pre-filters, each returning a stable drop reason or None: `language_reason`
   (stop-word ratio), `gopher_reason` (Gopher quality rules), `relevance_reason`
   (keyword relevance to the partition's domain).
3. `find_best_window` (the offline extractor): the best contiguous run of whole sentences
   of 100-600 words, scored by relevance and prose quality, with character offsets into
   the main text.

`screen_page` runs steps 1-2 only: the LLM extraction path sends the screened main text to
the model instead of picking a window, then validates the model's answer with
`check_llm_passage` (empty, length, grounding in the page; reasons in `LLM_REASONS`).

Drop reasons are stable strings (they become quarantine reasons and metadata count keys):
`too_large`, `too_many_elements`, `binary_content`, `not_html`, `extraction_error`,
`empty_extraction`, `non_<language>` (e.g. `non_english`), `gopher:<rule>`, `off_topic`,
`no_passage`.

Everything here is pure: no Dagster, no I/O, no global state that changes results
(trafilatura's cross-document deduplication is off for that reason).
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

import trafilatura

from goose_assets.core.text import sentence_spans
from goose_assets.core.web_lexicon import (
    DOMAIN_LEXICONS,
    GOPHER_STOP_WORDS,
    LANGUAGE_NAMES,
    STOP_WORDS,
    DomainLexicon,
)

# --- drop reasons -------------------------------------------------------------------------
REASON_TOO_LARGE = "too_large"
REASON_TOO_MANY_ELEMENTS = "too_many_elements"
REASON_BINARY = "binary_content"
REASON_NOT_HTML = "not_html"
REASON_EXTRACTION_ERROR = "extraction_error"
REASON_EMPTY = "empty_extraction"
REASON_OFF_TOPIC = "off_topic"
REASON_NO_PASSAGE = "no_passage"
GOPHER_TOO_FEW_WORDS = "gopher:too_few_words"
GOPHER_TOO_MANY_WORDS = "gopher:too_many_words"
GOPHER_MEAN_WORD_LENGTH = "gopher:mean_word_length"
GOPHER_SYMBOL_RATIO = "gopher:symbol_ratio"
GOPHER_BULLET_LINES = "gopher:bullet_lines"
GOPHER_ELLIPSIS_LINES = "gopher:ellipsis_lines"
GOPHER_ALPHA_WORDS = "gopher:alpha_words"
GOPHER_STOP_WORDS_RULE = "gopher:stop_words"


def non_language_reason(expected: str) -> str:
    """The drop reason for a page not in `expected`, e.g. `non_english` for "en"."""
    return f"non_{LANGUAGE_NAMES.get(expected, expected)}"


# every reason the chain can return, for zero-filled metadata counts
GOPHER_REASONS: tuple[str, ...] = (
    GOPHER_TOO_FEW_WORDS,
    GOPHER_TOO_MANY_WORDS,
    GOPHER_MEAN_WORD_LENGTH,
    GOPHER_SYMBOL_RATIO,
    GOPHER_BULLET_LINES,
    GOPHER_ELLIPSIS_LINES,
    GOPHER_ALPHA_WORDS,
    GOPHER_STOP_WORDS_RULE,
)


def drop_reasons(language: str = "en") -> tuple[str, ...]:
    """All drop reasons `extract_passage` can return for pages expected in `language`."""
    return (
        REASON_TOO_LARGE,
        REASON_TOO_MANY_ELEMENTS,
        REASON_BINARY,
        REASON_NOT_HTML,
        REASON_EXTRACTION_ERROR,
        REASON_EMPTY,
        non_language_reason(language),
        *GOPHER_REASONS,
        REASON_OFF_TOPIC,
        REASON_NO_PASSAGE,
    )


# --- limits -------------------------------------------------------------------------------
MAX_HTML_BYTES = 5_000_000
# trafilatura needs about 0.1-0.2 ms per element (50k <p> elements took 10 s here, 200k
# took 21 s); counting "<" is a free upper bound on the element count. The pages of
# web_raw.jsonl have a median of ~800 and at most ~3,200.
MAX_TAGS = 50_000
# share of control characters (other than tab/newlines) above which input is binary, not text
MAX_CONTROL_SHARE = 0.05
_SNIFF_CHARS = 8192


class MainText(NamedTuple):
    """Boilerplate-free main text of a page, or "" with the reason it is empty."""

    text: str
    reason: str | None
    detail: str = ""


# --- step 1: main text --------------------------------------------------------------------
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_HTML_MARKUP = re.compile(
    r"<(?:!doctype|html|head|body|title|meta|div|p|span|a|h[1-6]|article|main|section|"
    r"table|ul|ol|li|br|pre|script|style|header|footer|nav)\b",
    re.IGNORECASE,
)
_GZIP_MAGIC = b"\x1f\x8b"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_NON_ASCII = re.compile(r"[^\x00-\x7f\ufffd]")


def _control_share(sample: str) -> float:
    if not sample:
        return 0.0
    return len(_CONTROL_CHARS.findall(sample)) / len(sample)


def decode_html_bytes(data: bytes, max_bytes: int = MAX_HTML_BYTES) -> MainText:
    """Bytes of an HTML file to text (gzip-compressed files are inflated, bounded).

    Returns `MainText(html_text, None)` on success, else ("", reason): `binary_content`
    for non-text bytes, `too_large` when inflating would exceed `max_bytes`.
    """
    if data.startswith(_GZIP_MAGIC):
        inflater = zlib.decompressobj(31)
        try:
            data = inflater.decompress(data, max_bytes + 1)
        except zlib.error as exc:
            return MainText("", REASON_BINARY, f"corrupt gzip: {exc}")
        if len(data) > max_bytes:
            return MainText("", REASON_TOO_LARGE, f"inflates past {max_bytes} bytes")
    if data.startswith(_UTF16_BOMS):
        return MainText(data.decode("utf-16", errors="replace"), None)
    head = data[:_SNIFF_CHARS].decode("latin-1")
    if _control_share(head) > MAX_CONTROL_SHARE:
        return MainText("", REASON_BINARY, "control bytes in the first 8 KB")
    try:
        return MainText(data.decode("utf-8"), None)
    except UnicodeDecodeError:
        pass
    as_utf8 = data.decode("utf-8", errors="replace")
    # A page whose non-ASCII characters mostly decode as UTF-8 is UTF-8 with a few broken
    # bytes; otherwise it is a legacy encoding, and cp1252 covers most Western pages.
    valid_non_ascii = len(_NON_ASCII.findall(as_utf8))
    if valid_non_ascii >= as_utf8.count("\ufffd"):
        return MainText(as_utf8, None)
    return MainText(data.decode("cp1252", errors="replace"), None)


def _without_surrogates(text: str) -> str:
    # lone surrogates (from bad JSON or decoding) cannot be encoded to UTF-8 downstream
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="replace").decode("utf-8")


def _trafilatura_text(html: str, favor_precision: bool, fast: bool = False) -> str:
    text = trafilatura.extract(
        html,
        favor_precision=favor_precision,
        fast=fast,
        include_comments=False,
        # tables on these pages are mostly layout, specs and prices; as text they are
        # word salad that the window scorer would have to reject anyway
        include_tables=False,
        include_images=False,
        include_links=False,
        include_formatting=False,
        deduplicate=False,
        with_metadata=False,
        output_format="txt",
    )
    return text or ""


def extract_main_text(
    html: str | bytes,
    *,
    max_bytes: int = MAX_HTML_BYTES,
    max_tags: int = MAX_TAGS,
    recall_fallback: bool = True,
    fast: bool = False,
) -> MainText:
    """The main text of a page, with boilerplate removed; never raises on its input.

    `html` may be text or raw bytes (decoded by `decode_html_bytes`). The size limit
    counts bytes for bytes input and characters for text. The extraction favours
    precision; when that keeps nothing and `recall_fallback` is set, a balanced
    extraction is tried (the precision mode drops some long articles whole), and
    `clean_main_text` then removes boilerplate lines either mode let through. `fast`
    skips trafilatura's fallback extractors in the precision pass: about 35 % more pages
    per second on web_raw.jsonl for 48 passages instead of 49.
    Lines are separated by "\\n"; offsets of passages refer to this exact string.
    """
    if not isinstance(html, str | bytes):
        return MainText("", REASON_NOT_HTML, f"unsupported input type {type(html).__name__}")
    if len(html) > max_bytes:
        return MainText("", REASON_TOO_LARGE, f"{len(html)} > {max_bytes}")
    if isinstance(html, bytes):
        decoded = decode_html_bytes(html, max_bytes)
        if decoded.reason is not None:
            return decoded
        html = decoded.text
    if _control_share(html[:_SNIFF_CHARS]) > MAX_CONTROL_SHARE:
        return MainText("", REASON_BINARY, "control characters in the first 8 KB")
    # NULs and other control characters make lxml refuse the whole document
    html = _without_surrogates(_CONTROL_CHARS.sub("", html))
    if not _HTML_MARKUP.search(html):
        return MainText("", REASON_NOT_HTML, "no HTML element found")
    tag_count = html.count("<")
    if tag_count > max_tags:
        return MainText("", REASON_TOO_MANY_ELEMENTS, f"{tag_count} > {max_tags}")
    try:
        text = _trafilatura_text(html, favor_precision=True, fast=fast)
        if not text.strip() and recall_fallback:
            text = _trafilatura_text(html, favor_precision=False)
    except Exception as exc:  # noqa: BLE001 - lxml/trafilatura failures are per-page data errors
        return MainText("", REASON_EXTRACTION_ERROR, f"{type(exc).__name__}: {exc}"[:300])
    text = clean_main_text(text)
    if not text:
        return MainText("", REASON_EMPTY, "no main content found")
    return MainText(text, None)


def main_text(html: str | bytes) -> str:
    """The boilerplate-free main text of a page, "" when there is none (never raises)."""
    return extract_main_text(html).text


# Boilerplate lines trafilatura sometimes keeps. Each rule has a word limit: a long line is
# running prose (an article *about* cookies or copyright) and stays.
_BOILERPLATE_RULES: tuple[tuple[re.Pattern[str], int], ...] = (
    (
        re.compile(
            r"©|\(c\)\s*\d{4}|\ball rights reserved\b|^\W*copyright\b|\bcopyright\s*\d{4}", re.I
        ),
        40,
    ),
    (
        re.compile(
            # banner wording only: security prose about session cookies must survive
            r"\b(we|this (web)?site|our (web)?site)\s+(use|uses)\s+cookies\b|\buse of cookies\b"
            r"|\baccept (all )?cookies\b|\bcookies? (settings|preferences|consent|policy|notice)\b"
            r"|\bcookies?\b.*\b(einwilligung|akzeptieren|zustimm\w*|datenschutz\w*)"
            r"|\b(nutzen|verwenden) wir\b.*\bcookies\b",
            re.I,
        ),
        40,
    ),
    (re.compile(r"\bskip to (the )?(main )?(content|navigation|menu)\b", re.I), 40),
    # sign-up prompts; "to sign up a user, hash the password" is security prose and stays
    (
        re.compile(
            r"\bnewsletter\b|\babonnier\w*|\b(un)?subscribe\b.{0,30}\b(newsletter|our|free|now|"
            r"today|here|channel|podcast|updates|mailing list)\b|\bsign[ -]?up\W+(for|to|here|"
            r"now|today|free)\b",
            re.I,
        ),
        25,
    ),
    (
        re.compile(
            r"\b(follow|like) us\b|\bshare (this|on)\b.*\b(facebook|twitter|linkedin|e-?mail|whatsapp)\b",
            re.I,
        ),
        25,
    ),
    (
        re.compile(
            r"\bjavascript\b.*\b(enable|disabled|required|support)"
            r"|\b(enable|activate|turn on|requires?)\b.{0,20}\b(javascript|js)\b",
            re.I,
        ),
        30,
    ),
    (
        re.compile(
            r"\bprivacy (policy|statement|notice|settings)\b|\bterms (of|and) (use|service|"
            r"conditions)\b|\bcookie policy\b|\bimpressum\b|\bdatenschutz\w*",
            re.I,
        ),
        12,
    ),
    (re.compile(r"\b(read|learn|see) more\b|\bclick here\b|\bcontinue reading\b", re.I), 10),
    (
        re.compile(
            r"^\W*(advertisement|anzeige|sponsored|related (articles|posts|stories)|"
            r"recommended|trending( now)?|most (popular|read)|you may also like|more from)\b",
            re.I,
        ),
        8,
    ),
    # a line made only of account links ("Log in | Register")
    (
        re.compile(
            r"^\W*((log ?in|log ?out|sign ?in|sign ?out|sign ?up|register|subscribe|my account|"
            r"create an account)\W*(or|and)?\W*)+$",
            re.I,
        ),
        8,
    ),
    # Sphinx / Sphinx-Gallery chrome (documentation sites)
    (
        re.compile(
            r"\b(previous|next) (topic|page)\b|\bquick search\b|\bshow source\b|\bedit (it|this "
            r"page) on github\b|\bgallery generated by sphinx-gallery\b|\bdownload (python source "
            r"code|jupyter notebook|all examples)\b|\btotal running time of the script\b|"
            r"\bcollapse document to compact view\b|\bimprove this page\b",
            re.I,
        ),
        20,
    ),
)
_NAV_LINES = frozenset(
    """home menu navigation next previous prev back top share tweet print email e-mail
    search contents index | » « › ‹ ^ more""".split()
)


def is_boilerplate_line(line: str) -> bool:
    """A short line of site chrome: cookie notice, copyright, sign-up prompt, nav word."""
    stripped = line.strip()
    if stripped.lower() in _NAV_LINES:
        return True
    n_words = len(stripped.split())
    return any(n_words <= limit and rule.search(stripped) for rule, limit in _BOILERPLATE_RULES)


def clean_main_text(text: str) -> str:
    """Drop blank and boilerplate lines; keep each kept line's leading indentation (code)."""
    kept = [
        line.rstrip()
        for line in text.splitlines()
        if line.strip() and not is_boilerplate_line(line)
    ]
    return "\n".join(kept)


# --- step 2: pre-filters ------------------------------------------------------------------
# Lines that are plainly source code: left out of the language sample, counted as
# relevance evidence for the code domain, and never joined to a wrapped prose line.
_CODE_LINE = re.compile(
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


def _lower_tokens(text: str, limit: int | None = None) -> list[str]:
    tokens = _TOKEN.findall(text.lower())
    return tokens[:limit] if limit is not None else tokens


def _language_sample(text: str) -> list[str]:
    # code lines are full of English keywords and empty of stop words: they say nothing
    # about the language of the prose around them
    prose = "\n".join(line for line in text.splitlines() if not _CODE_LINE.match(line))
    return _lower_tokens(prose, _LANGUAGE_SAMPLE_TOKENS)


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


def _language_verdict(text: str, expected: str, min_ratio: float) -> tuple[str | None, str]:
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
    return _language_verdict(text, expected, min_ratio)[0]


GOPHER_MIN_WORDS = 50
GOPHER_MAX_WORDS = 100_000
_BULLET = re.compile(r"^\s*(?:[-*•·‣◦▪▸►–—]|\d+[.)])\s")
_ELLIPSIS_END = re.compile(r"(?:\.\.\.|…)\s*$")
# a whitespace-delimited token without a single letter ("42", "--", "3.14", "=>")
_LETTERLESS_TOKEN = re.compile(r"(?<!\S)(?:[\d_]|[^\w\s])+(?!\S)")
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
    if sum(1 for line in lines if _BULLET.match(line)) > 0.9 * len(lines):
        return GOPHER_BULLET_LINES
    if sum(1 for line in lines if _ELLIPSIS_END.search(line)) > 0.3 * len(lines):
        return GOPHER_ELLIPSIS_LINES
    if n_words - len(_LETTERLESS_TOKEN.findall(text)) < 0.8 * n_words:
        return GOPHER_ALPHA_WORDS
    required = GOPHER_STOP_WORDS.get(language) or STOP_WORDS.get(language, GOPHER_STOP_WORDS["en"])
    present = required.intersection(_lower_tokens(text))
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
    return _lexicon(domain).description


def _lexicon(domain: str) -> DomainLexicon:
    try:
        return DOMAIN_LEXICONS[domain]
    except KeyError:
        raise ValueError(
            f"unknown domain {domain!r}; expected one of {sorted(DOMAIN_LEXICONS)}"
        ) from None


@cache
def _keyword_pattern(domain: str) -> re.Pattern[str]:
    alternatives = []
    for stem in _lexicon(domain).keywords:
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
        hits.extend("<code>" for line in text.splitlines() if _CODE_LINE.match(line))
    elif domain == "math":
        hits.extend("<math>" for _ in _MATH_EXPRESSION.finditer(text))
    return hits


def _relevance_from_counts(n_hits: int, n_distinct: int, n_words: int) -> float:
    if n_words == 0:
        return 0.0
    density = min(1.0, n_hits / n_words / DENSITY_SATURATION)
    variety = min(1.0, n_distinct / DISTINCT_SATURATION)
    return 0.5 * density + 0.5 * variety


def _distinct_key(hit: str) -> str:
    # "attack", "attacks" and "attacker" count as one keyword for variety
    return hit[:6]


def relevance_score(text: str, domain: str) -> float:
    """Keyword relevance of `text` to `domain` in [0, 1]: the mean of keyword density
    (saturating at 6 % of words) and keyword variety (saturating at 12 distinct stems)."""
    hits = keyword_hits(text, domain)
    n_words = len(_TOKEN.findall(text))
    return round(
        _relevance_from_counts(len(hits), len({_distinct_key(h) for h in hits}), n_words), 4
    )


def relevance_reason(text: str, domain: str, threshold: float = RELEVANCE_THRESHOLD) -> str | None:
    """`off_topic` when the relevance score is below `threshold`, else None."""
    return REASON_OFF_TOPIC if relevance_score(text, domain) < threshold else None


def best_domain(text: str) -> tuple[str, float]:
    """The domain with the highest relevance score (for routing unlabelled pages)."""
    scores = {domain: relevance_score(text, domain) for domain in DOMAIN_LEXICONS}
    domain = max(scores, key=lambda d: scores[d])
    return domain, scores[domain]


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
        and not _BULLET.match(line)
        and not _CODE_LINE.match(line)
        and not _CODE_LINE.match(previous)
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
                    stop_words=sum(1 for t in _lower_tokens(sentence) if t in stops),
                    alpha_words=len(tokens) - len(_LETTERLESS_TOKEN.findall(sentence)),
                    terminal=bool(_TERMINAL.search(sentence)),
                    short_line=short_line,
                    code_line=bool(_CODE_LINE.match(sentence)),
                    n_hits=len(hits),
                    distinct=frozenset(_distinct_key(h) for h in hits),
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
            relevance = _relevance_from_counts(n_hits, len(distinct), words)
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


# --- the whole chain ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WebConfig:
    """Knobs of the web chain. Invalid values raise ValueError at construction."""

    language: str = "en"
    min_words: int = 100
    max_words: int = 600
    relevance_threshold: float = RELEVANCE_THRESHOLD
    min_window_quality: float = MIN_WINDOW_QUALITY
    max_html_bytes: int = MAX_HTML_BYTES
    max_tags: int = MAX_TAGS
    recall_fallback: bool = True
    fast_extraction: bool = False

    def __post_init__(self) -> None:
        if self.language not in STOP_WORDS:
            raise ValueError(
                f"no stop-word list for language {self.language!r}; known: {sorted(STOP_WORDS)}"
            )
        if not 0 < self.min_words <= self.max_words:
            raise ValueError(
                f"need 0 < min_words <= max_words, got {self.min_words}, {self.max_words}"
            )


@dataclass(frozen=True, slots=True)
class PageResult:
    """The outcome for one page: a passage, or a drop reason (never both).

    `main_text` is kept whenever extraction produced one (also for dropped pages), and
    `start`/`end` are character offsets of `passage` into it. `relevance` is the page-level
    score for `screen_page` and the window's for `extract_passage`.
    """

    reason: str | None
    detail: str = ""
    main_text: str = ""
    passage: str = ""
    start: int = -1
    end: int = -1
    words: int = 0
    relevance: float = 0.0
    quality: float = 0.0

    @property
    def ok(self) -> bool:
        return self.reason is None


def screen_text(text: str, domain: str, config: WebConfig = WebConfig()) -> PageResult:
    """Pre-filters on an already extracted main text: language, Gopher rules, relevance."""
    reason, detected = _language_verdict(text, config.language, MIN_LANGUAGE_RATIO)
    if reason is not None:
        return PageResult(reason, f"detected {detected}", main_text=text)
    reason = gopher_reason(text, config.language, min_words=config.min_words)
    if reason is not None:
        return PageResult(reason, main_text=text)
    relevance = relevance_score(text, domain)
    if relevance < config.relevance_threshold:
        return PageResult(
            REASON_OFF_TOPIC,
            f"relevance {relevance:.3f} < {config.relevance_threshold}",
            main_text=text,
            relevance=relevance,
        )
    return PageResult(None, main_text=text, relevance=relevance)


def screen_page(html: str | bytes, domain: str, config: WebConfig = WebConfig()) -> PageResult:
    """Main-text extraction plus pre-filters, no window: the input of LLM extraction."""
    extracted = _configured_main_text(html, domain, config)
    if extracted.reason is not None:
        return PageResult(extracted.reason, extracted.detail)
    return screen_text(extracted.text, domain, config)


def _configured_main_text(html: str | bytes, domain: str, config: WebConfig) -> MainText:
    _lexicon(domain)  # fail on a bad domain even when the page is dropped before relevance
    return extract_main_text(
        html,
        max_bytes=config.max_html_bytes,
        max_tags=config.max_tags,
        recall_fallback=config.recall_fallback,
        fast=config.fast_extraction,
    )


def passage_from_text(text: str, domain: str, config: WebConfig = WebConfig()) -> PageResult:
    """Pre-filters and offline window selection on an already extracted main text."""
    screened = screen_text(text, domain, config)
    if not screened.ok:
        return screened
    window = find_best_window(
        text, domain, config.min_words, config.max_words, config.min_window_quality, config.language
    )
    if window is None:
        return PageResult(
            REASON_NO_PASSAGE, "no qualifying window", main_text=text, relevance=screened.relevance
        )
    return PageResult(
        None,
        main_text=text,
        passage=window.passage,
        start=window.start,
        end=window.end,
        words=window.words,
        relevance=window.relevance,
        quality=window.quality,
    )


def extract_passage(html: str | bytes, domain: str, config: WebConfig = WebConfig()) -> PageResult:
    """The whole offline chain for one page: main text, pre-filters, best window.

    Never raises on `html`; raises ValueError only for an unknown `domain` (a config error).
    """
    extracted = _configured_main_text(html, domain, config)
    if extracted.reason is not None:
        return PageResult(extracted.reason, extracted.detail)
    return passage_from_text(extracted.text, domain, config)


# --- LLM extraction results -------------------------------------------------------------------
REASON_LLM_EMPTY = "llm_empty"
REASON_LLM_TOO_SHORT = "llm_too_short"
REASON_LLM_TOO_LONG = "llm_too_long"
REASON_LLM_UNGROUNDED = "llm_ungrounded"
LLM_REASONS: tuple[str, ...] = (
    REASON_LLM_EMPTY,
    REASON_LLM_TOO_SHORT,
    REASON_LLM_TOO_LONG,
    REASON_LLM_UNGROUNDED,
)
# The prompt allows "extract or summarize", so a passage need not be verbatim; but a
# summary still reuses the page's phrases. Under a quarter of its word trigrams found in
# the page means the model wrote about something else (or from memory).
MIN_GROUNDING = 0.25
# the model may run a little past the asked-for length; more is a failed instruction
_LLM_LENGTH_SLACK = 1.1


def grounding(passage: str, main_text: str) -> float:
    """Share of the passage's word trigrams that also occur in `main_text` (0..1)."""
    passage_tokens = _lower_tokens(passage)
    if len(passage_tokens) < 3:
        return 0.0
    source_tokens = _lower_tokens(main_text)
    source = set(zip(source_tokens, source_tokens[1:], source_tokens[2:], strict=False))
    trigrams = list(zip(passage_tokens, passage_tokens[1:], passage_tokens[2:], strict=False))
    return sum(1 for t in trigrams if t in source) / len(trigrams)


def check_llm_passage(
    passage: str, main_text: str, domain: str, config: WebConfig = WebConfig()
) -> PageResult:
    """Validate the passage an LLM extracted from a screened page's `main_text`.

    Drop reasons: `llm_empty` (the model found nothing, as the prompt allows),
    `llm_too_short` / `llm_too_long` (outside min_words..max_words, 10 % slack above),
    `llm_ungrounded` (under `MIN_GROUNDING` of its trigrams occur in the page).
    A kept passage carries its offsets into `main_text` when it is verbatim, else -1.
    """
    passage = passage.strip()
    if not passage:
        return PageResult(REASON_LLM_EMPTY, main_text=main_text)
    words = len(passage.split())
    if words < config.min_words:
        return PageResult(REASON_LLM_TOO_SHORT, f"{words} words", main_text=main_text)
    if words > config.max_words * _LLM_LENGTH_SLACK:
        return PageResult(REASON_LLM_TOO_LONG, f"{words} words", main_text=main_text)
    grounded = grounding(passage, main_text)
    if grounded < MIN_GROUNDING:
        return PageResult(REASON_LLM_UNGROUNDED, f"grounding {grounded:.2f}", main_text=main_text)
    start = main_text.find(passage)
    return PageResult(
        None,
        main_text=main_text,
        passage=passage,
        start=start,
        end=start + len(passage) if start >= 0 else -1,
        words=words,
        relevance=relevance_score(passage, domain),
    )
