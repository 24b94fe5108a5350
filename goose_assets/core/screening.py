"""Duplicate and benchmark screening of one domain's tasks, against every domain's sources.

Near-duplicate detection runs across partitions, so a cyber page copied into science is
caught; the representative kept is the smallest id, so the outcome does not depend on
which partition ran first once all of them have been ingested.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from goose_assets.core import dedup

if TYPE_CHECKING:
    from goose_assets.core.decontam import BenchmarkIndex


@dataclass(slots=True)
class Screen:
    duplicate_docs: dict[str, str] = field(default_factory=dict)
    duplicate_tasks: dict[str, str] = field(default_factory=dict)
    contaminated: dict[str, str] = field(default_factory=dict)
    benchmark_hits: Counter[str] = field(default_factory=Counter)
    benchmarks: list[str] = field(default_factory=list)
    docs_screened: int = 0
    source_dedup: dict[str, Any] = field(default_factory=dict)

    def duplicate_share(self, n_tasks: int) -> float:
        return (len(self.duplicate_tasks) + len(self.duplicate_docs)) / n_tasks if n_tasks else 0.0

    def duplicate_metadata(self) -> dict[str, Any]:
        return {
            "docs_screened": self.docs_screened,
            "duplicate_sources_in_domain": len(self.duplicate_docs),
            "sources_all_domains": self.source_dedup,
            "duplicate_tasks": len(self.duplicate_tasks),
            "examples": [f"{a} -> {b}" for a, b in sorted(self.duplicate_docs.items())[:3]],
        }

    def contamination_metadata(self) -> dict[str, Any]:
        return {
            "benchmarks_indexed": self.benchmarks or "none configured (set GOOSE_BENCHMARKS_DIR)",
            "contaminated_tasks": len(self.contaminated),
            "hits_per_benchmark": dict(self.benchmark_hits),
        }

    def kept_contaminated(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        return [r["task_id"] for r in rows if r["kept"] and r["task_id"] in self.contaminated]


def screen(
    domain: str,
    tasks: Sequence[Mapping[str, Any]],
    all_docs: Iterable[tuple[str, str, str]],
    doc_text_by_id: Mapping[str, str],
    index: BenchmarkIndex | None,
) -> Screen:
    """`all_docs` are (doc_id, domain, text) of every ingested domain."""
    screener = Screener(domain, doc_text_by_id, index)
    screener.add(tasks)
    return screener.finish(all_docs)


class Screener:
    """`screen` over a domain's tasks fed in batches: the benchmark look-up runs per task
    as it arrives, and per task only its id, doc id and dedup text are kept."""

    def __init__(self, domain: str, doc_text_by_id: Mapping[str, str], index: BenchmarkIndex | None) -> None:
        self.domain, self.doc_text_by_id, self.index = domain, doc_text_by_id, index
        self.out = Screen()
        self.doc_ids: set[str] = set()
        self.task_texts: list[tuple[str, str, str]] = []

    def add(self, tasks: Iterable[Mapping[str, Any]]) -> None:
        out, index = self.out, self.index
        for t in tasks:
            self.doc_ids.add(t["doc_id"])
            self.task_texts.append((t["task_id"], self.domain, t["question"] + "\n" + "\n".join(t["options"])))
            if index is not None:
                source = self.doc_text_by_id.get(t["doc_id"], "")
                hits = index.hits(t["context_masked"] + "\n" + "\n".join(t["options"])) or index.hits(source)
                if hits:
                    out.contaminated[t["task_id"]] = hits[0][0]
                    out.benchmark_hits[hits[0][0]] += 1

    def finish(self, all_docs: Iterable[tuple[str, str, str]]) -> Screen:
        out = self.out
        docs = list(all_docs)
        out.docs_screened = len(docs)
        source_dups = dedup.deduplicate(docs)
        out.duplicate_docs = {d: m.kept_id for d, m in source_dups.dropped.items() if d in self.doc_ids}
        out.source_dedup = source_dups.to_metadata()
        out.duplicate_tasks = {d: m.kept_id for d, m in dedup.deduplicate(self.task_texts).dropped.items()}
        if self.index is not None:
            out.benchmarks = self.index.benchmarks
        return out
