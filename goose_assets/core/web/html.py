"""Step 1 of the web path: raw HTML (or bytes) to the boilerplate-free main text of the
page, behind size and content guards, or "" with the reason it is empty. Never raises on
its input."""

from __future__ import annotations

import re
import zlib
from typing import NamedTuple

import trafilatura

from goose_assets.core.web.reasons import (
    REASON_BINARY,
    REASON_EMPTY,
    REASON_EXTRACTION_ERROR,
    REASON_NOT_HTML,
    REASON_TOO_LARGE,
    REASON_TOO_MANY_ELEMENTS,
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
