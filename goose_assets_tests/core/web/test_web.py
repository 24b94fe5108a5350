"""The noisy-web path in `goose_assets.core.web.pages`: main text, pre-filters, best window, chain.

Hand-written HTML fixtures cover each rule; tests marked `corpora` run the chain over the
363 real pages of ../shared/corpora/web_raw.jsonl.
"""

from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goose_assets.core.web import html as web_html
from goose_assets.core.web import lexicon, llm_check, pages, prefilters, reasons, window

# --- hand-written fixtures ------------------------------------------------------------------

SQLI_PARAGRAPHS = [
    "SQL injection is a vulnerability that appears when an application builds a database "
    "query by pasting user input into the query string. An attacker who controls that input "
    "can change the meaning of the query, read tables that should stay private, or modify data.",
    "The classic example is a login form. The application concatenates the user name and the "
    "password into a WHERE clause, and the attacker types a quote followed by a condition that "
    "is always true. The database then returns the first account, often the administrator, "
    "and the attacker is authenticated without knowing any password.",
    "The reliable defense is a parameterized query. The query text and the parameters travel "
    "to the database separately, so the input can never be parsed as SQL. Stored procedures "
    "help only when they do not build dynamic SQL themselves. Input validation with an allow "
    "list is a useful second layer, and the database account of the application should have "
    "the least privilege it needs, so that a successful injection exposes as little as possible.",
    "Security testers look for injection by sending quotes, comment markers and boolean "
    "conditions in every parameter and watching for errors or changes in the response. Blind "
    "injection is detected through timing differences when the application shows no errors. "
    "Logging and monitoring of failed queries help the incident response team notice an attack early.",
]
COOKING_PARAGRAPHS = [
    "Our grandmother made this apple cake every autumn, and the whole house smelled of "
    "cinnamon for the rest of the day. We still bake it when the first apples come in from "
    "the orchard behind the barn, and the children fight over the crispy corners.",
    "Peel and slice six apples, then toss them with sugar and a pinch of cinnamon. Beat the "
    "butter with the sugar until it is pale, add the eggs one at a time, and fold in the flour "
    "with the milk. Spread the batter in a buttered tin and press the apples into the top.",
    "Bake the cake for about fifty minutes, until a skewer comes out clean and the top is "
    "golden. Let it cool in the tin for a while before you turn it out. It tastes best on the "
    "day it is baked, with a spoon of whipped cream and a cup of strong coffee on the side.",
]
GERMAN_PARAGRAPHS = [
    "Die Sicherheit von Webanwendungen ist ein wichtiges Thema, denn viele Angriffe nutzen "
    "Fehler in der Eingabeprüfung aus. Wenn eine Anwendung die Eingaben der Nutzer nicht "
    "prüft, kann ein Angreifer eigene Befehle an die Datenbank senden und dort Daten lesen.",
    "Die beste Abwehr sind vorbereitete Abfragen, bei denen die Daten getrennt von dem "
    "Befehl an die Datenbank gehen. Außerdem sollte das Konto der Anwendung nur die Rechte "
    "haben, die es wirklich braucht, damit ein Angriff möglichst wenig Schaden anrichtet.",
    "Wer seine Anwendung testen will, sendet Anführungszeichen und andere Sonderzeichen in "
    "jedem Parameter und beobachtet, ob sich die Antwort der Anwendung verändert. Auch die "
    "Protokolle der Datenbank helfen dabei, einen Angriff früh zu erkennen und zu stoppen.",
]
CHROME_STRINGS = (
    "Accept all cookies",
    "Skip to content",
    "All rights reserved",
    "Subscribe to our newsletter",
    "Privacy Policy",
    "Home",
    "var tracker",
)


def page(paragraphs: list[str], title: str = "Preventing SQL injection") -> str:
    """A realistic page: cookie banner, skip link, nav menu, scripts, article, footer."""
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html>
<html lang="en"><head><title>{title}</title>
<script>var tracker = {{id: 42}}; function track() {{ return tracker; }}</script>
<style>body {{ font-family: sans-serif; }}</style></head>
<body>
<div id="cookie-banner" class="cookie-consent">We use cookies to improve your experience.
  <button>Accept all cookies</button></div>
<a class="skip-link" href="#main">Skip to content</a>
<header><nav class="menu"><ul><li><a href="/">Home</a></li><li><a href="/blog">Blog</a></li>
  <li><a href="/about">About</a></li><li><a href="/contact">Contact</a></li></ul></nav></header>
<main id="main"><article><h1>{title}</h1>
{body}
</article></main>
<aside class="sidebar"><h3>Subscribe to our newsletter</h3><form><input type="email"></form></aside>
<footer><p>&copy; 2024 Example Security Blog. All rights reserved.</p>
  <a href="/privacy">Privacy Policy</a> | <a href="/terms">Terms of Use</a></footer>
<script>track();</script>
</body></html>"""


# --- main text ------------------------------------------------------------------------------


def test_main_text_keeps_the_article_and_drops_site_chrome() -> None:
    text = web_html.main_text(page(SQLI_PARAGRAPHS))
    assert "parameterized query" in text
    assert "Blind injection is detected" in text
    for chrome in CHROME_STRINGS:
        assert chrome not in text, chrome


def test_main_text_accepts_bytes_gzip_and_cp1252() -> None:
    html = page(SQLI_PARAGRAPHS).replace("SQL injection is", "SQL injection (café) is")
    expected = web_html.main_text(html)
    assert "café" in expected
    assert web_html.main_text(html.encode("utf-8")) == expected
    assert web_html.main_text(gzip.compress(html.encode("utf-8"))) == expected
    assert web_html.main_text(html.encode("cp1252")) == expected
    one_broken_byte = html.encode("utf-8").replace(b"SQL", b"SQL\xff", 1)
    assert "café" in web_html.main_text(one_broken_byte)  # stays UTF-8, not mojibake


def test_nul_bytes_are_removed_not_fatal() -> None:
    html = page(SQLI_PARAGRAPHS).replace("<p>", "<p>\x00", 2)
    extracted = web_html.extract_main_text(html)
    assert extracted.reason is None
    assert "\x00" not in extracted.text
    assert "parameterized query" in extracted.text


def test_lone_surrogates_do_not_break_extraction() -> None:
    extracted = web_html.extract_main_text(page(SQLI_PARAGRAPHS).replace("SQL", "SQL\ud800", 1))
    assert extracted.reason is None
    extracted.text.encode("utf-8")  # what every writer downstream needs


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        pytest.param(
            "<html><head><script>" + "var x = 1;" * 500 + "</script></head>"
            "<body><script>document.write('hi')</script><noscript>Enable JS</noscript></body></html>",
            reasons.REASON_EMPTY,
            id="scripts-only",
        ),
        pytest.param("", reasons.REASON_NOT_HTML, id="empty-string"),
        pytest.param(
            "just some words, no markup at all " * 20, reasons.REASON_NOT_HTML, id="plain-text"
        ),
        pytest.param(
            b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40, reasons.REASON_BINARY, id="png-bytes"
        ),
        pytest.param(random.Random(7).randbytes(20_000), reasons.REASON_BINARY, id="random-bytes"),
        pytest.param(b"\x1f\x8b\x08\x00broken gzip", reasons.REASON_BINARY, id="corrupt-gzip"),
        pytest.param("\x01\x02\x03" * 2000, reasons.REASON_BINARY, id="control-chars-as-text"),
    ],
)
def test_unusable_pages_give_empty_text_and_a_reason(html: str | bytes, reason: str) -> None:
    extracted = web_html.extract_main_text(html)
    assert extracted == web_html.MainText("", reason, extracted.detail)
    assert web_html.main_text(html) == ""


def test_malformed_html_never_raises() -> None:
    broken = (
        "<html><body><div><p>unclosed paragraph <b>bold <i>italic</div></span></table>"
        "<<<>>> <p attr='x>" + " ".join(SQLI_PARAGRAPHS) + "<td></tr></html></html><html>"
    )
    extracted = web_html.extract_main_text(broken)
    assert (extracted.text == "") == (extracted.reason is not None)


def test_thousands_of_nesting_levels_do_not_crash() -> None:
    depth = 20_000
    html = (
        "<html><body>"
        + "<div>" * depth
        + "<p>"
        + SQLI_PARAGRAPHS[0]
        + "</p>"
        + "</div>" * depth
        + "</body></html>"
    )
    extracted = web_html.extract_main_text(html)
    assert isinstance(extracted.text, str)
    assert (extracted.text == "") == (extracted.reason is not None)


def test_size_and_element_guards() -> None:
    assert (
        web_html.extract_main_text("<html>" + "x" * 2000, max_bytes=1000).reason == reasons.REASON_TOO_LARGE
    )
    assert (
        web_html.extract_main_text(b"<html>" + b"x" * 2000, max_bytes=1000).reason
        == reasons.REASON_TOO_LARGE
    )
    many = "<html><body>" + "<p>x</p>" * 500 + "</body></html>"
    assert web_html.extract_main_text(many, max_tags=100).reason == reasons.REASON_TOO_MANY_ELEMENTS
    bomb = gzip.compress(b"<html>" + b" " * 50_000)
    assert web_html.extract_main_text(bomb, max_bytes=10_000).reason == reasons.REASON_TOO_LARGE


def test_boilerplate_lines_are_dropped_but_prose_about_cookies_stays() -> None:
    prose = (
        "A session cookie carries the identifier that links each request to the server-side "
        "session, so the cookie must be marked Secure and HttpOnly, and the application must "
        "accept it only over TLS and rotate it after every login to prevent session fixation "
        "attacks, which remain common in older frameworks and custom authentication code."
    )
    headings_and_prose = [
        "Binary search",
        "Register allocation",
        "To sign up a new user, the application hashes the password with bcrypt.",
        "Subscribe to the vendor security advisories to learn about patches early.",
    ]
    noisy = "\n".join(
        [
            "This website uses cookies. Accept cookies to continue.",
            prose,
            "© 2024 Example Corp",
            "Sign up for our newsletter",
            "Log in | Register",
            "Menu",
            "Quick search",
            *headings_and_prose,
        ]
    )
    assert web_html.clean_main_text(noisy) == "\n".join([prose, *headings_and_prose])


# --- language -------------------------------------------------------------------------------


def test_language_detection_for_english_and_german() -> None:
    english, german = " ".join(SQLI_PARAGRAPHS), " ".join(GERMAN_PARAGRAPHS)
    assert prefilters.detect_language(english) == "en"
    assert prefilters.detect_language(german) == "de"
    assert prefilters.language_reason(english) is None
    assert prefilters.language_reason(german) == "non_english"
    assert prefilters.language_reason(german, expected="de") is None
    assert prefilters.language_reason(english, expected="de") == "non_german"


def test_language_of_non_latin_script_is_unknown_and_dropped() -> None:
    russian = "Это пример текста на русском языке, который не содержит английских слов. " * 10
    assert prefilters.detect_language(russian) == "unknown"
    assert prefilters.language_reason(russian) == "non_english"


def test_too_short_to_tell_is_left_to_the_word_count_rule() -> None:
    assert prefilters.detect_language("Skip") == "undecided"
    assert prefilters.language_reason("Skip") is None


def test_unknown_language_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="stop-word list"):
        prefilters.language_reason("text", expected="xx")
    with pytest.raises(ValueError, match="stop-word list"):
        pages.WebConfig(language="xx")


# --- Gopher rules ---------------------------------------------------------------------------

PROSE = " ".join(SQLI_PARAGRAPHS)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param(
            "The attack and the defense of the system.",
            reasons.GOPHER_TOO_FEW_WORDS,
            id="too-few-words",
        ),
        pytest.param(PROSE * 40, reasons.GOPHER_TOO_MANY_WORDS, id="too-many-words"),
        pytest.param(
            "a of to be it is an as at by " * 20, reasons.GOPHER_MEAN_WORD_LENGTH, id="short-words"
        ),
        pytest.param(
            " ".join(["internationalization"] * 100) + " the of and",
            reasons.GOPHER_MEAN_WORD_LENGTH,
            id="long-words",
        ),
        pytest.param(PROSE + " #tag" * 40, reasons.GOPHER_SYMBOL_RATIO, id="hashtags"),
        pytest.param(
            "\n".join(f"- item number {i} of the list" for i in range(40)),
            reasons.GOPHER_BULLET_LINES,
            id="bullets",
        ),
        pytest.param(
            "\n".join(f"Read the whole story about the attack {i} and more..." for i in range(40)),
            reasons.GOPHER_ELLIPSIS_LINES,
            id="ellipsis-lines",
        ),
        pytest.param(PROSE + " 1 2 3 4 5 6 7 8 9 0" * 12, reasons.GOPHER_ALPHA_WORDS, id="numbers"),
        pytest.param(
            " ".join(
                w
                for w in PROSE.split()
                if w.lower().strip(".,")
                not in {"the", "be", "to", "of", "and", "that", "have", "with"}
            ),
            reasons.GOPHER_STOP_WORDS_RULE,
            id="no-stop-words",
        ),
    ],
)
def test_each_gopher_rule(text: str, reason: str) -> None:
    assert prefilters.gopher_reason(text, max_words=2000) == reason


def test_gopher_passes_ordinary_prose() -> None:
    assert prefilters.gopher_reason(PROSE) is None
    assert prefilters.gopher_reason(" ".join(GERMAN_PARAGRAPHS), language="de") is None


# --- relevance ------------------------------------------------------------------------------


def test_relevance_ranks_the_right_domain() -> None:
    cooking = " ".join(COOKING_PARAGRAPHS)
    assert prefilters.relevance_score(PROSE, "cyber") >= prefilters.RELEVANCE_THRESHOLD
    assert prefilters.relevance_score(cooking, "cyber") < 0.1
    assert prefilters.relevance_reason(cooking, "cyber") == reasons.REASON_OFF_TOPIC
    assert prefilters.relevance_reason(PROSE, "cyber") is None
    assert prefilters.best_domain(PROSE)[0] == "cyber"
    assert prefilters.relevance_score(PROSE, "math") < prefilters.relevance_score(PROSE, "cyber")


def test_relevance_does_not_count_prefix_traps() -> None:
    # "important", "general", "optimistic" start like keywords but are everyday words
    assert prefilters.keyword_hits("It is important and general and optimistic.", "code") == []
    assert prefilters.keyword_hits("It is important and general and optimistic.", "science") == []
    assert prefilters.keyword_hits("It is important and general and optimistic.", "math") == []


def test_code_and_math_count_structural_evidence() -> None:
    assert "<code>" in prefilters.keyword_hits("def area(r):\n    return 3.14 * r * r", "code")
    assert "<math>" in prefilters.keyword_hits(r"Then x = 3 and \frac{1}{2} of it", "math")


def test_unknown_domain_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="unknown domain"):
        prefilters.relevance_score("text", "cooking")
    with pytest.raises(ValueError, match="unknown domain"):
        pages.extract_passage("<html></html>", "cooking")
    assert "security" in prefilters.domain_description("cyber").lower()


# --- best window ----------------------------------------------------------------------------


def test_best_window_offsets_and_bounds() -> None:
    text = "\n".join(SQLI_PARAGRAPHS * 3)
    chosen = window.best_window(text, "cyber", min_words=100, max_words=300)
    assert chosen is not None
    passage, start, end = chosen
    assert text[start:end] == passage
    assert 100 <= len(passage.split()) <= 300
    assert passage[0].isupper() and passage.rstrip()[-1] in ".!?"


def test_best_window_prefers_the_relevant_part() -> None:
    text = "\n".join(COOKING_PARAGRAPHS + SQLI_PARAGRAPHS + COOKING_PARAGRAPHS)
    best = window.find_best_window(text, "cyber", min_words=100, max_words=250)
    assert best is not None
    assert "injection" in best.passage
    assert "apple" not in best.passage


def test_best_window_none_when_nothing_qualifies() -> None:
    assert window.best_window(SQLI_PARAGRAPHS[0], "cyber") is None  # under 100 words
    nav = "\n".join(f"Category {i}" for i in range(300))
    assert window.best_window(nav, "cyber") is None  # no prose at all


def test_best_window_does_not_start_inside_a_wrapped_sentence() -> None:
    wrapped = "\n".join(line for p in SQLI_PARAGRAPHS for line in _hard_wrap(p, width=60))
    for max_words in (120, 150, 200):
        best = window.find_best_window(wrapped, "cyber", min_words=100, max_words=max_words)
        assert best is not None
        assert best.passage[0].isupper(), best.passage[:40]


def _hard_wrap(paragraph: str, width: int) -> list[str]:
    lines, current = [], ""
    for word in paragraph.split():
        if current and len(current) + len(word) + 1 > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return [*lines, current]


# --- the whole chain ------------------------------------------------------------------------


def test_chain_returns_a_passage_with_offsets_into_the_main_text() -> None:
    result = pages.extract_passage(page(SQLI_PARAGRAPHS), "cyber")
    assert result.ok and result.reason is None
    assert result.main_text[result.start : result.end] == result.passage
    assert 100 <= result.words <= 600
    assert result.relevance >= prefilters.RELEVANCE_THRESHOLD
    for chrome in CHROME_STRINGS:
        assert chrome not in result.passage


@pytest.mark.parametrize(
    ("html", "domain", "reason"),
    [
        pytest.param(
            page(COOKING_PARAGRAPHS, "Apple cake"), "cyber", reasons.REASON_OFF_TOPIC, id="off-topic"
        ),
        pytest.param(page(GERMAN_PARAGRAPHS), "cyber", "non_english", id="german"),
        pytest.param(page(SQLI_PARAGRAPHS[:1]), "cyber", reasons.GOPHER_TOO_FEW_WORDS, id="too-short"),
        pytest.param(
            b"%PDF-1.7\n" + bytes(range(32)) * 100, "cyber", reasons.REASON_BINARY, id="pdf-named-html"
        ),
        pytest.param(
            "<html><script>alert(1)</script></html>", "cyber", reasons.REASON_EMPTY, id="scripts-only"
        ),
    ],
)
def test_chain_drops_with_a_stable_reason(html: str | bytes, domain: str, reason: str) -> None:
    result = pages.extract_passage(html, domain)
    assert not result.ok
    assert result.reason == reason
    assert result.reason in reasons.drop_reasons()
    assert result.passage == ""


def test_chain_other_language_config() -> None:
    # the keyword lexicons are English, so a German partition needs its own threshold
    config = pages.WebConfig(language="de", relevance_threshold=0.0)
    german = pages.extract_passage(page(GERMAN_PARAGRAPHS), "cyber", config)
    assert german.ok, german.reason
    assert "vorbereitete Abfragen" in german.passage
    assert pages.extract_passage(page(SQLI_PARAGRAPHS), "cyber", config).reason == "non_german"


def test_fast_extraction_finds_the_same_article() -> None:
    fast = pages.extract_passage(page(SQLI_PARAGRAPHS), "cyber", pages.WebConfig(fast_extraction=True))
    assert fast.ok
    assert "parameterized query" in fast.main_text
    assert "Accept all cookies" not in fast.main_text


def test_screen_page_keeps_the_main_text_for_llm_extraction() -> None:
    screened = pages.screen_page(page(SQLI_PARAGRAPHS), "cyber")
    assert screened.ok
    assert "parameterized query" in screened.main_text
    assert screened.passage == ""


def test_llm_passage_checks() -> None:
    main_text = pages.screen_page(page(SQLI_PARAGRAPHS), "cyber").main_text
    verbatim = "\n".join(SQLI_PARAGRAPHS[1:3])
    kept = llm_check.check_llm_passage(verbatim, main_text, "cyber")
    assert kept.ok
    assert main_text[kept.start : kept.end] == verbatim
    summary = " ".join(SQLI_PARAGRAPHS[:3]).replace("The classic example", "A textbook case")
    paraphrased = llm_check.check_llm_passage(summary, main_text, "cyber")
    assert paraphrased.ok and paraphrased.start == -1
    assert llm_check.check_llm_passage("  ", main_text, "cyber").reason == reasons.REASON_LLM_EMPTY
    assert (
        llm_check.check_llm_passage(SQLI_PARAGRAPHS[0], main_text, "cyber").reason
        == reasons.REASON_LLM_TOO_SHORT
    )
    too_long = " ".join(SQLI_PARAGRAPHS * 6)
    assert llm_check.check_llm_passage(too_long, main_text, "cyber").reason == reasons.REASON_LLM_TOO_LONG
    invented = " ".join(COOKING_PARAGRAPHS)
    assert llm_check.check_llm_passage(invented, main_text, "cyber").reason == reasons.REASON_LLM_UNGROUNDED
    assert llm_check.grounding(verbatim, main_text) == 1.0


# --- never raises (property tests) ----------------------------------------------------------

_TAGS = [
    "html",
    "body",
    "div",
    "p",
    "script",
    "style",
    "table",
    "td",
    "a",
    "pre",
    "nav",
    "footer",
    "!--",
    "!doctype html",
]
_html_soup = st.lists(
    st.one_of(
        st.sampled_from(_TAGS).map(lambda t: f"<{t}>"),
        st.sampled_from(_TAGS).map(lambda t: f"</{t}>"),
        st.text(max_size=80),
        st.sampled_from(SQLI_PARAGRAPHS),
    ),
    max_size=40,
).map("".join)

_NEVER_RAISES = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@_NEVER_RAISES
@given(st.one_of(st.text(), st.binary(), _html_soup))
def test_main_text_never_raises(html: str | bytes) -> None:
    extracted = web_html.extract_main_text(html)
    assert (extracted.text == "") == (extracted.reason is not None)
    extracted.text.encode("utf-8")


@_NEVER_RAISES
@given(st.one_of(st.text(), st.binary(), _html_soup), st.sampled_from(sorted(lexicon.DOMAIN_LEXICONS)))
def test_chain_never_raises(html: str | bytes, domain: str) -> None:
    result = pages.extract_passage(html, domain)
    assert result.ok or result.reason in reasons.drop_reasons()
    if result.ok:
        assert result.main_text[result.start : result.end] == result.passage


@_NEVER_RAISES
@given(st.text(max_size=3000), st.sampled_from(sorted(lexicon.DOMAIN_LEXICONS)))
def test_filters_never_raise_on_text(text: str, domain: str) -> None:
    prefilters.language_reason(text)
    prefilters.gopher_reason(text)
    assert 0.0 <= prefilters.relevance_score(text, domain) <= 1.0
    best = window.find_best_window(text, domain, min_words=5, max_words=50)
    if best is not None:
        assert text[best.start : best.end] == best.passage


# --- the real corpus ------------------------------------------------------------------------

# Site chrome that occurs in the raw HTML of web_raw.jsonl (nav, cookie banners, footers,
# sign-up boxes, Sphinx sidebars); none of it may reach a passage.
BOILERPLATE_PHRASES = (
    "Skip to content",
    "Skip to main content",
    "All rights reserved",
    "All Rights Reserved",
    "©",
    "Subscribe",
    "Newsletter",
    "Privacy Policy",
    "Terms of Use",
    "Terms of Service",
    "Sign up",
    "Follow us",
    "Share this",
    "Share on Facebook",
    "Advertisement",
    "Leave a Reply",
    "Trending",
    "Previous topic",
    "Next topic",
    "Quick search",
    "Show Source",
    "Edit it on Github",
    "Improve this page",
    "Collapse document to compact view",
    "Gallery generated by Sphinx-Gallery",
    "Download Python source code",
    "Download Jupyter notebook",
    "Total running time of the script",
)


def _domain_for(row: dict[str, str], main_text: str) -> str:
    """The row's domain label when it names a partition; unlabelled pages are routed to
    their best-scoring domain, as a caller without labels would."""
    if row["domain"] in lexicon.DOMAIN_LEXICONS:
        return row["domain"]
    return prefilters.best_domain(main_text)[0] if main_text else "cyber"


@pytest.fixture(scope="module")
def web_results(corpora_dir: Path) -> list[tuple[dict[str, str], pages.PageResult]]:
    rows = [json.loads(line) for line in (corpora_dir / "web_raw.jsonl").open(encoding="utf-8")]
    results = []
    for row in rows:
        extracted = web_html.extract_main_text(row["html"])
        if extracted.reason is not None:
            results.append((row, pages.PageResult(extracted.reason, extracted.detail)))
        else:
            results.append(
                (row, pages.passage_from_text(extracted.text, _domain_for(row, extracted.text)))
            )
    return results


@pytest.mark.corpora
def test_corpus_every_page_gets_a_passage_or_a_known_reason(web_results: list) -> None:
    counts = Counter(result.reason for _, result in web_results)
    assert set(counts) - {None} <= set(reasons.drop_reasons())
    assert counts[None] >= 30, counts  # a useful share of the pages yields a passage


@pytest.mark.corpora
def test_corpus_no_boilerplate_survives_into_passages(web_results: list) -> None:
    checked = 0
    for row, result in web_results:
        if not result.ok:
            continue
        for phrase in BOILERPLATE_PHRASES:
            if phrase in row["html"]:
                checked += 1
                assert phrase not in result.passage, (row["id"], phrase)
    assert checked >= 100  # the phrases really occur in the raw pages that yield passages


@pytest.mark.corpora
def test_corpus_sphinx_and_footer_chrome_never_reaches_the_main_text(web_results: list) -> None:
    scipy_pages = [
        (row, r)
        for row, r in web_results
        if row["id"].startswith("scipy-lectures-site:") and r.main_text
    ]
    assert len(scipy_pages) >= 50
    checked = 0
    for row, result in scipy_pages:
        for phrase in (
            "Quick search",
            "Show Source",
            "Edit it on Github",
            "Collapse document to compact view",
        ):
            if phrase in row["html"]:
                checked += 1
                assert phrase not in result.main_text, (row["id"], phrase)
    assert checked >= 200


@pytest.mark.corpora
def test_corpus_passage_lengths_and_offsets(web_results: list) -> None:
    passages = [result for _, result in web_results if result.ok]
    for result in passages:
        assert 100 <= len(result.passage.split()) <= 600
        assert result.main_text[result.start : result.end] == result.passage


@pytest.mark.corpora
def test_corpus_low_content_pages_are_dropped_with_a_reason(web_results: list) -> None:
    by_id = {row["id"]: result for row, result in web_results}
    # indexes, search pages and benchmark chrome: little or no educational text
    low_content = [
        "scipy-lectures-site:search.html",
        "scipy-lectures-site:intro/index.html",
        "scipy-lectures-site:advanced/index.html",
        "scipy-lectures-site:packages/statistics/auto_examples/index.html",
        "seceval-site:docs/explore.html",
        "seceval-site:docs/leaderboard.html",
    ]
    for page_id in low_content:
        assert not by_id[page_id].ok, page_id
        assert by_id[page_id].reason in reasons.drop_reasons()


@pytest.mark.corpora
def test_corpus_news_is_off_topic_for_cyber(corpora_dir: Path) -> None:
    rows = [json.loads(line) for line in (corpora_dir / "web_raw.jsonl").open(encoding="utf-8")]
    news = [row for row in rows if row["source"].startswith("scrapinghub/")]
    assert len(news) >= 50
    results = [pages.extract_passage(row["html"], "cyber") for row in news]
    kept = [row["id"] for row, result in zip(news, results, strict=True) if result.ok]
    assert len(kept) <= 0.05 * len(news), kept
    counts = Counter(result.reason for result in results)
    assert counts[reasons.REASON_OFF_TOPIC] >= 0.5 * len(news), counts


@pytest.mark.corpora
def test_corpus_german_pages_are_non_english(web_results: list) -> None:
    german = [result for row, result in web_results if row["lang_guess"] == "de"]
    assert len(german) >= 30
    dropped_for_language = sum(1 for result in german if result.reason == "non_english")
    assert dropped_for_language >= 0.9 * len(german)


@pytest.mark.corpora
def test_corpus_domain_texts_are_relevant_to_their_domain(corpora_dir: Path) -> None:
    """The keyword scorer separates the domain corpora: most passages of a domain clear
    the threshold for their own domain."""
    for domain, min_share in (("cyber", 0.75), ("code", 0.95), ("science", 0.75), ("math", 0.6)):
        lines = (corpora_dir / f"{domain}.jsonl").read_text(encoding="utf-8").splitlines()[:300]
        texts = [json.loads(line)["text"] for line in lines]
        passing = sum(
            1 for text in texts if prefilters.relevance_score(text, domain) >= prefilters.RELEVANCE_THRESHOLD
        )
        assert passing >= min_share * len(texts), (domain, passing)
