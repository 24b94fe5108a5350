"""Readers for every source kind, and row validation into `Document`s or quarantine rows.

Readers stream: a whole domain is never held in memory as Python objects. Every row that
cannot become a Document yields a QuarantineRow with a reason and a bounded copy of the raw
content, so nothing is dropped silently and one bad row never stops the run.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, field_validator

from goose_assets.core.ingest import warc
from goose_assets.core.records import DOMAINS, Document, QuarantineRow, sha256_text, stable_id

SourceKind = Literal["jsonl", "parquet", "hf_disk", "html_dir", "warc", "hub"]
MAX_DOC_BYTES = 2_000_000
RAW_COPY_CHARS = 2_000
REQUIRED_FIELDS = ("id", "text")


class SourceSpec(BaseModel):
    """One source for one domain. `domain_field_routing`: for mixed files such as
    web_raw.jsonl, take only rows whose `domain` field is this domain (or `fallback_labels`)."""

    model_config = ConfigDict(extra="forbid")

    kind: SourceKind
    path: str
    route_by_domain_field: bool = False
    fallback_labels: list[str] = []
    license: str = ""
    max_rows: int | None = None
    # namespaces source ids: two shards may both hold an id 17 without being duplicates
    id_prefix: str = ""

    @field_validator("path")
    @classmethod
    def _path_is_plain(cls, v: str) -> str:
        if not v or "\x00" in v:
            raise ValueError("source path must be a non-empty string without NUL bytes")
        return v


@dataclass(frozen=True, slots=True)
class SourcePlan:
    """The sources one domain (or one shard of it) reads, and where the project looked.

    `searched` names the folder or setting searched, for short messages ("no source in
    /data/corpus"); `looked_for` lists every place the domain's rows could have come from,
    for the metadata of a domain without a source.
    """

    domain: str
    specs: tuple[SourceSpec, ...]
    searched: str
    looked_for: tuple[str, ...]

    @property
    def has_source(self) -> bool:
        return bool(self.specs)

    def no_source_cause(self) -> str:
        return f"no source in {self.searched}"

    def no_source_note(self) -> str:
        places = " and ".join(self.looked_for) or self.searched
        return f"no source for {self.domain}: looked for {places}"


def path_problem(path: Path, folder: bool = False) -> str | None:
    """Why `path` cannot be read as a source (`folder`: it must be a folder), or None.

    Readability is tried, not inferred from permission bits: opening the file or listing
    the folder is the check (ACLs, network mounts and root all make the bits misleading).
    """
    if not path.exists():
        return "is a broken symbolic link" if path.is_symlink() else "does not exist"
    if folder and not path.is_dir():
        return "is not a folder"
    try:
        if path.is_dir():
            with os.scandir(path) as entries:
                next(entries, None)
        else:
            with path.open("rb") as fh:
                fh.read(1)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return None


def spec_problem(spec: SourceSpec) -> str | None:
    """Why a source spec's path cannot be read, or None (a Hub id is not a path)."""
    return None if spec.kind == "hub" else path_problem(Path(spec.path))


@dataclass(slots=True)
class RawRow:
    """A decoded source row before validation; `origin` says where it came from."""

    fields: dict[str, Any]
    origin: str


def read_source(spec: SourceSpec, domain: str) -> Iterator[RawRow | QuarantineRow]:
    path = Path(spec.path)
    if spec.kind != "hub" and not path.exists():
        yield QuarantineRow("ingest", domain, spec.path, "source_missing", f"{spec.kind} source not found")
        return
    readers = {
        "jsonl": _read_jsonl, "parquet": _read_parquet, "hf_disk": _read_hf_disk,
        "html_dir": _read_html_dir, "warc": _read_warc, "hub": _read_hub,
    }
    rows = readers[spec.kind](path if spec.kind != "hub" else spec.path, domain)  # type: ignore[operator]
    n = 0
    for row in rows:
        if isinstance(row, RawRow) and spec.route_by_domain_field:
            label = str(row.fields.get("domain", ""))
            if label != domain and label not in spec.fallback_labels:
                continue
        if isinstance(row, RawRow) and spec.license and not row.fields.get("license"):
            row.fields["license"] = spec.license
        yield row
        n += 1
        if spec.max_rows is not None and n >= spec.max_rows:
            return


def _read_jsonl(path: Path, domain: str) -> Iterator[RawRow | QuarantineRow]:
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    for f in files:
        try:
            fh = f.open("rb")
        except OSError as exc:  # one unreadable file of a folder is one quarantine row
            yield QuarantineRow("ingest", domain, f.name, "unreadable_file", str(exc)[:200])
            continue
        with fh:
            for lineno, raw in enumerate(fh, 1):
                origin = f"{f.name}:{lineno}"
                if not raw.strip():
                    continue
                if len(raw) > MAX_DOC_BYTES * 2:
                    yield QuarantineRow("ingest", domain, origin, "too_large", f"{len(raw)} bytes", _bounded(raw))
                    continue
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    yield QuarantineRow("ingest", domain, origin, "undecodable", str(exc)[:200], _bounded(raw))
                    continue
                try:
                    obj = json.loads(line)
                except ValueError as exc:
                    yield QuarantineRow("ingest", domain, origin, "broken_json", str(exc)[:200], _bounded(line))
                    continue
                if not isinstance(obj, dict):
                    yield QuarantineRow("ingest", domain, origin, "not_an_object", type(obj).__name__, _bounded(line))
                    continue
                yield RawRow(obj, origin)


def _read_parquet(path: Path, domain: str) -> Iterator[RawRow | QuarantineRow]:
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    for f in files:
        try:
            pf = pq.ParquetFile(f)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is one quarantine row
            yield QuarantineRow("ingest", domain, f.name, "unreadable_file", str(exc)[:200])
            continue
        i = 0
        for batch in pf.iter_batches(batch_size=2000):
            for obj in batch.to_pylist():
                i += 1
                yield RawRow(obj, f"{f.name}:{i}")


def _read_hf_disk(path: Path, domain: str) -> Iterator[RawRow | QuarantineRow]:
    import datasets

    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as exc:  # noqa: BLE001
        yield QuarantineRow("ingest", domain, str(path), "unreadable_file", str(exc)[:200])
        return
    splits = ds.items() if isinstance(ds, datasets.DatasetDict) else [("data", ds)]
    for split, part in splits:
        for i, obj in enumerate(part):
            yield RawRow(dict(obj), f"{split}:{i}")


def _read_hub(dataset_id: str, domain: str) -> Iterator[RawRow | QuarantineRow]:
    """A Hub dataset id (for users with network). Streams the train split."""
    import datasets

    try:
        ds = datasets.load_dataset(dataset_id, split="train", streaming=True)
        for i, obj in enumerate(ds):
            yield RawRow(dict(obj), f"{dataset_id}:{i}")
    except Exception as exc:  # noqa: BLE001
        yield QuarantineRow("ingest", domain, dataset_id, "hub_unreachable", str(exc)[:200])


def _read_html_dir(path: Path, domain: str) -> Iterator[RawRow | QuarantineRow]:
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".html", ".htm")) if path.is_dir() else [path]
    for f in files:
        rel = str(f.relative_to(path)) if path.is_dir() else f.name
        try:
            raw = f.read_bytes()
        except OSError as exc:
            yield QuarantineRow("ingest", domain, rel, "unreadable_file", str(exc)[:200])
            continue
        yield RawRow({"id": rel, "html": raw, "url_or_path": str(f), "source": "html_dir"}, rel)


def _read_warc(path: Path, domain: str) -> Iterator[RawRow | QuarantineRow]:
    files = sorted(p for p in path.rglob("*") if p.name.endswith((".warc", ".warc.gz"))) if path.is_dir() else [path]
    for f in files:
        try:
            for rec in warc.iter_warc_records(f):
                if isinstance(rec, QuarantineRow):
                    rec.domain = domain
                    yield rec
                else:
                    yield RawRow(rec, f"{f.name}:{rec.get('id', '')}")
        except Exception as exc:  # noqa: BLE001 - a corrupt archive is one quarantine row
            yield QuarantineRow("ingest", domain, f.name, "unreadable_file", str(exc)[:200])


_QA = re.compile(r"^\s*(?:Problem|Question)\s*:\s*(.*?)\n\s*(?:Solution|Answer)\s*:\s*(.+)$", re.DOTALL)
_CODE_LINE = re.compile(r"^\s*(def |class |import |from \S+ import |return\b|for .+:|while .+:|if .+:)", re.MULTILINE)


def detect_shape(domain: str, text: str, html: str) -> str:
    """The prompt is chosen by the document's shape, not only its domain (DESIGN §5)."""
    if html and not text:
        return "html"
    if _QA.match(text):
        return "qa"
    if domain == "code" or len(_CODE_LINE.findall(text)) >= 3:
        return "code"
    return "passage"


def to_document(
    row: RawRow, domain: str, source_path: str, seen_ids: set[str], id_prefix: str = "",
) -> Document | QuarantineRow:
    """Validate one decoded row. Duplicate ids within a domain are quarantined."""
    f = row.fields
    ref = str(f.get("id", row.origin))
    for key in REQUIRED_FIELDS:
        if key == "text" and f.get("html") not in (None, ""):
            continue
        if key not in f or f[key] is None:
            return QuarantineRow("ingest", domain, ref, f"missing_field:{key}", "", _bounded(f))
    text, html = f.get("text") or "", f.get("html") or ""
    if not isinstance(f.get("id"), str | int) or isinstance(f.get("id"), bool):
        return QuarantineRow("ingest", domain, ref, "wrong_type:id", type(f.get("id")).__name__, _bounded(f))
    for name in ("text", "title", "license", "source"):
        if f.get(name) is not None and not isinstance(f.get(name), str):
            return QuarantineRow("ingest", domain, ref, f"wrong_type:{name}", type(f.get(name)).__name__, _bounded(f))
    if isinstance(html, bytes):
        decoded = _decode_html(html)
        if decoded is None:
            return QuarantineRow("ingest", domain, ref, "undecodable", "html bytes are not text", _bounded(html))
        html = decoded
    if not isinstance(html, str):
        return QuarantineRow("ingest", domain, ref, "wrong_type:html", type(html).__name__, _bounded(f))
    if len(text) + len(html) > MAX_DOC_BYTES:
        return QuarantineRow("ingest", domain, ref, "too_large", f"{len(text) + len(html)} chars", _bounded(text or html))
    if _is_binary(text) or (html and _is_binary(html)):
        return QuarantineRow("ingest", domain, ref, "binary_content", "NUL or control bytes", _bounded(text or html))
    if not text.strip() and not html.strip():
        return QuarantineRow("ingest", domain, ref, "empty_text", "", _bounded(f))
    source_id = id_prefix + str(f["id"])
    if source_id in seen_ids:
        return QuarantineRow("ingest", domain, ref, "duplicate_id", source_id, _bounded(text or html))
    seen_ids.add(source_id)
    content = text if text.strip() else html
    digest = sha256_text(content)
    shape = detect_shape(domain, text, html)
    return Document(
        doc_id=stable_id("doc", domain, source_id, digest),
        domain=domain,
        source_id=source_id,
        source=str(f.get("source") or ""),
        license=str(f.get("license") or ""),
        title=str(f.get("title") or ""),
        text=text,
        html=html if shape == "html" else "",
        shape=shape,
        url=str(f.get("url_or_path") or f.get("url") or ""),
        fetched_at=str(f.get("fetched_at") or ""),
        content_sha256=digest,
        source_path=source_path,
    )


def ingest(
    specs: Iterable[SourceSpec], domain: str, rows_per_source: Counter[str] | None = None
) -> Iterator[Document | QuarantineRow]:
    """All documents of one domain from its sources, in source order. `rows_per_source`,
    when given, counts the rows (documents and quarantined) each source path gave."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; expected one of {DOMAINS}")
    seen: set[str] = set()
    for spec in specs:
        if rows_per_source is not None:
            rows_per_source[spec.path] += 0  # a source that gives nothing is listed too
        for row in read_source(spec, domain):
            if rows_per_source is not None:
                rows_per_source[spec.path] += 1
            if isinstance(row, QuarantineRow):
                yield row
            else:
                yield to_document(row, domain, spec.path, seen, spec.id_prefix)


def empty_source_warning(
    plan: SourcePlan, documents: int, quarantined: int, rows_per_source: Counter[str]
) -> str | None:
    """One line when a domain ingested no document: no source (and where the project
    looked), sources without rows for the domain, or every row quarantined. None when
    there are documents."""
    if documents:
        return None
    if not plan.has_source:
        return plan.no_source_note()
    if quarantined:
        return f"no {plan.domain} document: all {quarantined} rows of its sources were quarantined"
    listed = ", ".join(f"{spec.path} ({rows_per_source[spec.path]} rows)" for spec in plan.specs)
    return f"no {plan.domain} document: its sources hold no {plan.domain} rows: {listed}"


def _decode_html(raw: bytes) -> str | None:
    if b"\x00" in raw[:4096]:
        return None
    for enc in ("utf-8", "cp1252"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return None


def _is_binary(text: str) -> bool:
    if "\x00" in text:
        return True
    sample = text[:4096]
    ctrl = sum(1 for c in sample if ord(c) < 32 and c not in "\n\r\t\f")
    return len(sample) > 0 and ctrl / len(sample) > 0.05


def _bounded(value: Any) -> str:
    if isinstance(value, bytes):
        return value[:RAW_COPY_CHARS].decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        try:
            value = json.dumps({k: (v.decode("utf-8", "backslashreplace") if isinstance(v, bytes) else v)
                                for k, v in value.items()}, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            value = repr(value)
    return str(value)[:RAW_COPY_CHARS]
