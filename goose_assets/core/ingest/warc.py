"""Read HTML pages out of WARC / WARC.gz files, and write small WARC files (tests, benchmarks).

Only `response` records are pages. Request, metadata, warcinfo and revisit records are not
documents and are passed over without a word; a response that is not a usable HTML page
(another content type, an HTTP error or redirect, an empty or oversized body) comes back as a
`WarcSkip` with a stable reason, so the caller can quarantine it. A file that stops parsing
part-way yields one `warc:unreadable` skip after the records read so far.

warcio undoes chunked transfer encoding and gzip/deflate/brotli content encoding of the
HTTP body, so `payload` holds the page bytes as served.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from goose_assets.core.records import QuarantineRow

HTML_MIME_TYPES = frozenset({"text/html", "application/xhtml+xml"})
MAX_PAYLOAD_BYTES = 5_000_000
SKIP_NON_HTML = "warc:non_html"
SKIP_HTTP_STATUS = "warc:http_status"
SKIP_EMPTY = "warc:empty_payload"
SKIP_TOO_LARGE = "warc:too_large"
SKIP_UNREADABLE = "warc:unreadable"
# a page with no Content-Type header still counts as HTML when its start says so
_HTML_SNIFF = (b"<!doctype html", b"<html", b"<head", b"<body")


@dataclass(frozen=True, slots=True)
class WarcPage:
    """One HTML response record."""

    url: str
    fetched_at: str  # WARC-Date as written in the record (ISO 8601, UTC)
    content_type: str  # the HTTP Content-Type header, "" when absent
    payload: bytes
    record_id: str
    payload_sha256: str

    def html_text(self) -> str:
        """The payload decoded with the charset the server declared, else UTF-8, else
        cp1252 (the usual mislabelled legacy pages); never raises."""
        return decode_payload(self.payload, self.content_type)


@dataclass(frozen=True, slots=True)
class WarcSkip:
    """A response record that is not a usable page, with a stable reason."""

    url: str
    reason: str
    detail: str
    record_id: str = ""


def _mime_and_charset(content_type: str) -> tuple[str, str]:
    mime, _, params = content_type.partition(";")
    charset = ""
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'").lower()
    return mime.strip().lower(), charset


def decode_payload(payload: bytes, content_type: str = "") -> str:
    """HTML bytes to text using the declared charset when it works (never raises)."""
    _, charset = _mime_and_charset(content_type)
    for encoding in (charset, "utf-8"):
        if not encoding:
            continue
        try:
            return payload.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("cp1252", errors="replace")


def _looks_like_html(payload: bytes) -> bool:
    head = payload[:1024].lstrip().lower()
    return head.startswith(_HTML_SNIFF)


def _response_to_item(record: Any, max_bytes: int) -> WarcPage | WarcSkip:
    url = record.rec_headers.get_header("WARC-Target-URI") or ""
    record_id = record.rec_headers.get_header("WARC-Record-ID") or ""
    http = record.http_headers
    status = http.get_statuscode() if http is not None else ""
    if http is not None and not str(status).startswith("2"):
        return WarcSkip(url, SKIP_HTTP_STATUS, f"HTTP {status}", record_id)
    content_type = (http.get_header("Content-Type") if http is not None else "") or ""
    payload = record.content_stream().read(max_bytes + 1)
    if len(payload) > max_bytes:
        return WarcSkip(url, SKIP_TOO_LARGE, f"payload over {max_bytes} bytes", record_id)
    if not payload.strip():
        return WarcSkip(url, SKIP_EMPTY, "empty body", record_id)
    mime, _ = _mime_and_charset(content_type)
    is_html = mime in HTML_MIME_TYPES or (not mime and _looks_like_html(payload))
    if not is_html:
        return WarcSkip(url, SKIP_NON_HTML, mime or "no content type", record_id)
    return WarcPage(
        url=url,
        fetched_at=record.rec_headers.get_header("WARC-Date") or "",
        content_type=content_type,
        payload=payload,
        record_id=record_id,
        payload_sha256=hashlib.sha256(payload).hexdigest(),
    )


def iter_warc(
    path: str | Path, max_bytes: int = MAX_PAYLOAD_BYTES
) -> Iterator[WarcPage | WarcSkip]:
    """HTML pages (`WarcPage`) and rejected responses (`WarcSkip`) of one WARC or WARC.gz
    file, in file order. Never raises on a corrupt file: it ends with a `warc:unreadable`
    skip instead. A missing file raises FileNotFoundError (a configuration error)."""
    path = Path(path)
    with path.open("rb") as stream:
        try:
            for record in ArchiveIterator(stream):
                if not str(record.format).startswith("warc"):
                    # warcio reads any line-oriented text as legacy ARC records; a WARC
                    # path holding such content is damaged, not a different format
                    yield WarcSkip(
                        str(path), SKIP_UNREADABLE, f"not a WARC record (format {record.format})"
                    )
                    return
                if record.rec_type == "response":
                    yield _response_to_item(record, max_bytes)
        except Exception as exc:  # noqa: BLE001 - warcio raises several types on bad input
            yield WarcSkip(str(path), SKIP_UNREADABLE, f"{type(exc).__name__}: {exc}"[:300])


def iter_warc_records(
    path: str | Path, max_bytes: int = MAX_PAYLOAD_BYTES
) -> Iterator[dict[str, Any] | QuarantineRow]:
    """`iter_warc` in the shape the ingest readers use: a raw-row dict per page, a
    `QuarantineRow` (stage "ingest", domain left "" for the caller to set) per skip.

    Row keys: `id` (the URL; a URL captured twice shares it, so ingest's duplicate check
    keeps the first capture), `html` (decoded text), `url_or_path`, `fetched_at`,
    `content_type`, `payload_sha256`, `warc_record_id`, `source` ("warc:<file name>").
    """
    path = Path(path)
    for item in iter_warc(path, max_bytes):
        if isinstance(item, WarcSkip):
            ref = item.url or item.record_id or path.name
            yield QuarantineRow("ingest", "", ref, item.reason, item.detail)
            continue
        yield {
            "id": item.url or item.record_id,
            "html": item.html_text(),
            "url_or_path": item.url,
            "fetched_at": item.fetched_at,
            "content_type": item.content_type,
            "payload_sha256": item.payload_sha256,
            "warc_record_id": item.record_id,
            "source": f"warc:{path.name}",
        }


@dataclass(frozen=True, slots=True)
class WarcResponse:
    """One response to write; plain (url, html) pairs get the defaults."""

    url: str
    body: str | bytes
    content_type: str = "text/html; charset=utf-8"
    status: str = "200 OK"
    fetched_at: str = "2024-01-01T00:00:00Z"


def write_warc(path: str | Path, pages: Iterable[tuple[str, str | bytes] | WarcResponse]) -> int:
    """Write response records to `path`, gzipped per record when the name ends in `.gz`.

    `pages` holds (url, html) pairs or `WarcResponse`s (to set a content type, an HTTP
    status or a fetch date). Returns the number of records written.
    """
    path = Path(path)
    count = 0
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=path.name.endswith(".gz"))
        for page in pages:
            response = page if isinstance(page, WarcResponse) else WarcResponse(*page)
            body = (
                response.body.encode("utf-8") if isinstance(response.body, str) else response.body
            )
            http_headers = StatusAndHeaders(
                response.status,
                [("Content-Type", response.content_type), ("Content-Length", str(len(body)))],
                protocol="HTTP/1.1",
            )
            record = writer.create_warc_record(
                response.url,
                "response",
                payload=io.BytesIO(body),
                http_headers=http_headers,
                warc_headers_dict={"WARC-Date": response.fetched_at},
            )
            writer.write_record(record)
            count += 1
    return count
