"""Source shards: the files of a watched folder, each one partition of a large corpus.

Layout (README "Sharded corpora"):

    <shards_dir>/<domain>/<name>.jsonl|.parquet|.warc|.warc.gz   rows of that domain
    <shards_dir>/<name>.jsonl|.parquet                           mixed rows, routed by their `domain` field

A shard is the set of files sharing `<name>` (its key, made safe for a partition key), so
one crawl segment can feed several domains. A file still being written is not a shard yet:
writers should land files under a temporary name (a leading dot or a `.tmp`/`.part`
suffix) and rename them when complete.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from goose_assets.core.ingest.readers import SourceKind, SourceSpec
from goose_assets.core.records import DOMAINS

_KINDS: dict[str, SourceKind] = {".jsonl": "jsonl", ".parquet": "parquet", ".warc": "warc", ".warc.gz": "warc"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_KEY_LEN = 120


@dataclass(frozen=True, slots=True)
class ShardFile:
    path: Path
    kind: SourceKind
    domain: str | None  # None: a mixed file, routed by each row's `domain` field
    size: int
    mtime_ns: int


@dataclass(slots=True)
class Shard:
    key: str
    files: list[ShardFile] = field(default_factory=list)

    def fingerprint(self, domain: str) -> str:
        """Changes when a file this domain reads from the shard (its own or a mixed one) is
        added, replaced or rewritten; other domains' files leave it alone."""
        h = hashlib.sha256()
        for f in sorted(self.files, key=lambda f: str(f.path)):
            if f.domain in (domain, None):
                h.update(f"{f.path}\0{f.size}\0{f.mtime_ns}\n".encode())
        return h.hexdigest()[:16]

    def sources(self, domain: str, fallback_labels: list[str]) -> list[SourceSpec]:
        """The shard's sources for one domain; ids are namespaced by the shard key."""
        specs = []
        for f in sorted(self.files, key=lambda f: str(f.path)):
            if f.domain == domain:
                specs.append(SourceSpec(kind=f.kind, path=str(f.path), id_prefix=f"{self.key}/"))
            elif f.domain is None:
                specs.append(SourceSpec(kind=f.kind, path=str(f.path), route_by_domain_field=True,
                                        fallback_labels=fallback_labels, id_prefix=f"{self.key}/"))
        return specs


def shard_key(name: str) -> str:
    """A partition-safe key for a file name: no `|` or `,` (Dagster's multi-partition and
    range delimiters), no path separators, bounded length."""
    key = _UNSAFE.sub("_", name).strip("._-")[:MAX_KEY_LEN]
    if not key:
        raise ValueError(f"no usable shard key in file name {name!r}")
    return key


def _split_name(path: Path) -> tuple[str, SourceKind] | None:
    name = path.name
    if name.startswith(".") or name.endswith((".tmp", ".part")):
        return None  # still being written
    for suffix in sorted(_KINDS, key=len, reverse=True):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], _KINDS[suffix]
    return None


def discover(root: Path) -> dict[str, Shard]:
    """Every complete shard file under `root`, grouped by shard key, sorted by key."""
    shards: dict[str, Shard] = {}
    if not root.is_dir():
        return shards
    candidates: list[tuple[Path, str | None]] = [(p, None) for p in root.iterdir() if p.is_file()]
    for domain in DOMAINS:
        folder = root / domain
        if folder.is_dir():
            candidates += [(p, domain) for p in folder.iterdir() if p.is_file()]
    for path, domain in candidates:
        parsed = _split_name(path)
        if parsed is None:
            continue
        stem, kind = parsed
        if domain is None and kind == "warc":
            continue  # a WARC carries no domain field to route its records by
        stat = path.stat()
        key = shard_key(stem)
        shards.setdefault(key, Shard(key)).files.append(ShardFile(path, kind, domain, stat.st_size, stat.st_mtime_ns))
    return dict(sorted(shards.items()))
