"""WARC ingest (`goose_assets.core.ingest.warc`): HTML response records in, everything else skipped
with a reason, never a crash on a corrupt archive."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from goose_assets.core.ingest import warc
from goose_assets.core.records import QuarantineRow
from goose_assets.core.web import pages as web_pages

ARTICLE = (
    "<html><head><title>{title}</title></head><body><nav><a href='/'>Home</a></nav><main>"
    "<h1>{title}</h1>"
    "<p>Cross-site scripting lets an attacker run script in the browser of another user. The "
    "attacker places a payload in input that the application later echoes into a page without "
    "encoding it, and the browser cannot tell the injected script from the real one.</p>"
    "<p>Output encoding for the right context is the main defense: HTML entity encoding in "
    "element content, attribute encoding in attributes, and JavaScript string escaping inside "
    "scripts. A content security policy that forbids inline script limits the damage when "
    "encoding is forgotten somewhere, and HttpOnly cookies keep session tokens out of reach.</p>"
    "<p>Stored cross-site scripting is the most dangerous variant, because the payload is saved "
    "on the server and runs for every visitor of the page. Reflected cross-site scripting needs "
    "a victim to follow a crafted link, and DOM-based cross-site scripting happens entirely in "
    "client code that writes untrusted data into the page. Security testers check every input "
    "and every place where the application writes data back into a page.</p>"
    "</main><footer>&copy; 2024 Example. All rights reserved.</footer></body></html>"
)
PAGES = [
    warc.WarcResponse(
        "https://example.org/xss", ARTICLE.format(title="XSS"), fetched_at="2024-03-01T10:00:00Z"
    ),
    warc.WarcResponse(
        "https://example.org/csp", ARTICLE.format(title="CSP"), fetched_at="2024-03-02T11:30:00Z"
    ),
    warc.WarcResponse(
        "https://example.org/latin1",
        ARTICLE.format(title="Café").encode("iso-8859-1"),
        content_type="text/html; charset=iso-8859-1",
        fetched_at="2024-03-03T12:00:00Z",
    ),
    warc.WarcResponse(
        "https://example.org/paper.pdf", b"%PDF-1.7\n\x00\x01binary", content_type="application/pdf"
    ),
    warc.WarcResponse("https://example.org/gone", "<html>Not found</html>", status="404 Not Found"),
    warc.WarcResponse("https://example.org/moved", "", status="301 Moved Permanently"),
    warc.WarcResponse("https://example.org/empty", b"   "),
    warc.WarcResponse(
        "https://example.org/untyped", ARTICLE.format(title="Untyped"), content_type=""
    ),
]
EXPECTED_PAGE_URLS = [
    "https://example.org/xss",
    "https://example.org/csp",
    "https://example.org/latin1",
    "https://example.org/untyped",
]
EXPECTED_SKIPS = {
    "https://example.org/paper.pdf": warc.SKIP_NON_HTML,
    "https://example.org/gone": warc.SKIP_HTTP_STATUS,
    "https://example.org/moved": warc.SKIP_HTTP_STATUS,
    "https://example.org/empty": warc.SKIP_EMPTY,
}


@pytest.fixture(params=["crawl.warc.gz", "crawl.warc"])
def warc_file(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    path = tmp_path / request.param
    assert warc.write_warc(path, PAGES) == len(PAGES)
    return path


def test_write_warc_gzips_only_gz_names(tmp_path: Path) -> None:
    gz, plain = tmp_path / "a.warc.gz", tmp_path / "a.warc"
    warc.write_warc(gz, [("https://example.org/", "<html></html>")])
    warc.write_warc(plain, [("https://example.org/", "<html></html>")])
    assert gz.read_bytes()[:2] == b"\x1f\x8b"
    assert plain.read_bytes().startswith(b"WARC/1")


def test_pages_keep_url_date_and_payload_hash(warc_file: Path) -> None:
    pages = [item for item in warc.iter_warc(warc_file) if isinstance(item, warc.WarcPage)]
    assert [p.url for p in pages] == EXPECTED_PAGE_URLS
    written = {r.url: r for r in PAGES}
    for page in pages:
        body = written[page.url].body
        body_bytes = body.encode("utf-8") if isinstance(body, str) else body
        assert page.payload == body_bytes
        assert page.payload_sha256 == hashlib.sha256(body_bytes).hexdigest()
        assert page.fetched_at == written[page.url].fetched_at
        assert page.record_id.startswith("<urn:uuid:")
    assert len({p.record_id for p in pages}) == len(pages)


def test_non_html_and_failed_responses_are_skipped_with_reasons(warc_file: Path) -> None:
    skips = {
        item.url: item.reason
        for item in warc.iter_warc(warc_file)
        if isinstance(item, warc.WarcSkip)
    }
    assert skips == EXPECTED_SKIPS


def test_declared_charset_is_used_for_decoding(warc_file: Path) -> None:
    latin1 = next(
        p
        for p in warc.iter_warc(warc_file)
        if isinstance(p, warc.WarcPage) and p.url.endswith("latin1")
    )
    assert "<title>Café</title>" in latin1.html_text()
    assert warc.decode_payload("café".encode(), "text/html; charset=bogus-charset") == "café"
    assert warc.decode_payload(b"caf\xe9", "text/html") == "café"  # cp1252 fallback


def test_records_for_ingest_are_rows_and_quarantine_rows(warc_file: Path) -> None:
    items = list(warc.iter_warc_records(warc_file))
    rows = [item for item in items if isinstance(item, dict)]
    quarantined = [item for item in items if isinstance(item, QuarantineRow)]
    assert [row["id"] for row in rows] == EXPECTED_PAGE_URLS
    assert {q.ref_id: q.reason for q in quarantined} == EXPECTED_SKIPS
    assert all(q.stage == "ingest" for q in quarantined)
    first = rows[0]
    assert first["url_or_path"] == "https://example.org/xss"
    assert first["fetched_at"] == "2024-03-01T10:00:00Z"
    assert first["source"] == f"warc:{warc_file.name}"
    assert first["payload_sha256"] == hashlib.sha256(first["html"].encode("utf-8")).hexdigest()


def test_warc_pages_go_through_the_web_chain(warc_file: Path) -> None:
    pages = [item for item in warc.iter_warc(warc_file) if isinstance(item, warc.WarcPage)]
    results = [web_pages.extract_passage(page.html_text(), "cyber") for page in pages]
    assert all(result.ok for result in results), [r.reason for r in results]
    for result in results:
        assert "cross-site scripting" in result.passage
        assert "All rights reserved" not in result.passage


def test_non_response_records_are_passed_over(tmp_path: Path) -> None:
    path = tmp_path / "mixed.warc.gz"
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        writer.write_record(writer.create_warcinfo_record("mixed.warc.gz", {"software": "test"}))
        request_headers = StatusAndHeaders(
            "GET / HTTP/1.1", [("Host", "example.org")], is_http_request=True
        )
        writer.write_record(
            writer.create_warc_record(
                "https://example.org/", "request", http_headers=request_headers
            )
        )
    assert list(warc.iter_warc(path)) == []


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"this is not a warc file at all\n" * 20, id="text-lines"),
        pytest.param(b"garbage" * 100, id="garbage"),
        pytest.param(
            gzip.compress(b"WARC/1.0\r\nWARC-Type: response\r\n\r\n")[:-8], id="truncated-gzip"
        ),
    ],
)
def test_corrupt_archives_end_with_one_unreadable_skip(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.warc.gz"
    path.write_bytes(content)
    [item] = list(warc.iter_warc(path))
    assert isinstance(item, warc.WarcSkip)
    assert item.reason == warc.SKIP_UNREADABLE


def test_empty_archive_has_no_records(tmp_path: Path) -> None:
    path = tmp_path / "empty.warc.gz"
    path.write_bytes(b"")
    assert list(warc.iter_warc(path)) == []


def test_truncated_archive_keeps_the_records_before_the_damage(tmp_path: Path) -> None:
    good = tmp_path / "good.warc"
    warc.write_warc(good, PAGES[:2])
    damaged = tmp_path / "damaged.warc"
    data = good.read_bytes()
    damaged.write_bytes(
        data + b"WARC/1.0\r\nWARC-Type: response\r\nContent-Length: 999999\r\n\r\n<html>"
    )
    items = list(warc.iter_warc(damaged))
    urls = [item.url for item in items if isinstance(item, warc.WarcPage)]
    assert urls[:2] == ["https://example.org/xss", "https://example.org/csp"]


def test_oversized_payload_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "big.warc.gz"
    warc.write_warc(path, [("https://example.org/big", "<html>" + "x" * 5000 + "</html>")])
    [item] = list(warc.iter_warc(path, max_bytes=1000))
    assert isinstance(item, warc.WarcSkip)
    assert item.reason == warc.SKIP_TOO_LARGE


def test_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list(warc.iter_warc(tmp_path / "nope.warc.gz"))
