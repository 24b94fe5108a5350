"""Duplicate and benchmark screening of one domain's tasks, against every domain's sources.

Near-duplicate detection runs across partitions, so a cyber page copied into science is
caught; the representative kept is the smallest id, so the outcome does not depend on
which partition ran first once all of them have been ingested.

A task is contaminated when a benchmark item overlaps anything the student reads or the
task came from: the rendered question (instruction, problem statement, masked context),
the options, or the source (a QA document's question as well as its solution). The
problem statement is what MATH and GSM8K test items hold, so screening only the solution
would miss them.

`kept_overlap` is the re-screen behind the `benchmark_overlap` check: it takes the tasks a
decision kept and screens them again, sharing nothing with `Screener` but the index.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from goose_assets.core.filtering import dedup
from goose_assets.core.filtering.decontam import BenchmarkIndex, LoadedIndex


def task_text(task: Mapping[str, Any]) -> str:
    """What the student reads: the rendered question (which holds the masked context) and
    the options."""
    return "\n".join([str(task["question"]), *task["options"]])


def source_text(question: str, body: str) -> str:
    """A source passage as screened: a QA document's question, then its solution or body."""
    return f"{question}\n\n{body}" if question else body


def source_texts_by_doc(passages: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """doc_id -> its passage as screened, from rows of (doc_id, question, body)."""
    return {p["doc_id"]: source_text(p["question"] or "", p["body"] or "") for p in passages}


@dataclass(slots=True)
class Screen:
    duplicate_docs: dict[str, str] = field(default_factory=dict)
    duplicate_tasks: dict[str, str] = field(default_factory=dict)
    contaminated: dict[str, str] = field(default_factory=dict)
    benchmark_hits: Counter[str] = field(default_factory=Counter)
    benchmarks: list[str] = field(default_factory=list)
    docs_screened: int = 0
    source_dedup: dict[str, Any] = field(default_factory=dict)
    # tasks dropped as duplicates for either reason, each counted once
    duplicate_task_ids: set[str] = field(default_factory=set)

    def duplicate_share(self, n_tasks: int) -> float:
        """The share of the domain's tasks that are duplicates, by source or by task text:
        a task with a duplicate source and a duplicate text counts once, and a duplicate
        source counts once per task built from it."""
        return len(self.duplicate_task_ids) / n_tasks if n_tasks else 0.0

    def duplicate_metadata(self) -> dict[str, Any]:
        return {
            "docs_screened": self.docs_screened,
            "duplicate_sources_in_domain": len(self.duplicate_docs),
            "sources_all_domains": self.source_dedup,
            "duplicate_tasks": len(self.duplicate_tasks),
            "tasks_with_a_duplicate_source_or_text": len(self.duplicate_task_ids),
            "examples": [f"{a} -> {b}" for a, b in sorted(self.duplicate_docs.items())[:3]],
        }


def screen(
    domain: str,
    tasks: Sequence[Mapping[str, Any]],
    all_docs: Iterable[tuple[str, str, str]],
    doc_text_by_id: Mapping[str, str],
    index: BenchmarkIndex | None,
) -> Screen:
    """`all_docs` are (doc_id, domain, text) of every ingested domain; `doc_text_by_id`
    maps the domain's doc ids to their `source_text`."""
    screener = Screener(domain, doc_text_by_id, index)
    screener.add(tasks)
    return screener.finish(all_docs)


class Screener:
    """`screen` over a domain's tasks fed in batches: the benchmark look-up runs per batch
    as it arrives, and per task only its id, doc id and dedup text are kept."""

    def __init__(self, domain: str, doc_text_by_id: Mapping[str, str], index: BenchmarkIndex | None) -> None:
        self.domain, self.doc_text_by_id, self.index = domain, doc_text_by_id, index
        self.out = Screen()
        self.task_doc: dict[str, str] = {}
        self.task_texts: list[tuple[str, str, str]] = []
        self._source_hits: dict[str, str | None] = {}  # doc id -> first benchmark hit

    def add(self, tasks: Iterable[Mapping[str, Any]]) -> None:
        batch = list(tasks)
        texts = [task_text(t) for t in batch]
        for t, text in zip(batch, texts, strict=True):
            self.task_doc[t["task_id"]] = t["doc_id"]
            self.task_texts.append((t["task_id"], self.domain, text))
        if self.index is None or not batch:
            return
        self._screen_sources({t["doc_id"] for t in batch})
        for t, hits in zip(batch, self.index.hits_many(texts), strict=True):
            benchmark = hits[0][0] if hits else self._source_hits.get(t["doc_id"])
            if benchmark:
                self.out.contaminated[t["task_id"]] = benchmark
                self.out.benchmark_hits[benchmark] += 1

    def _screen_sources(self, doc_ids: Iterable[str]) -> None:
        assert self.index is not None
        todo = sorted(d for d in doc_ids if d not in self._source_hits)
        hits = self.index.hits_many([self.doc_text_by_id.get(d, "") for d in todo])
        self._source_hits.update((d, h[0][0] if h else None) for d, h in zip(todo, hits, strict=True))

    def finish(self, all_docs: Iterable[tuple[str, str, str]]) -> Screen:
        out = self.out
        docs = list(all_docs)
        out.docs_screened = len(docs)
        source_dups = dedup.deduplicate(docs)
        doc_ids = set(self.task_doc.values())
        out.duplicate_docs = {d: m.kept_id for d, m in source_dups.dropped.items() if d in doc_ids}
        out.source_dedup = source_dups.to_metadata()
        out.duplicate_tasks = {d: m.kept_id for d, m in dedup.deduplicate(self.task_texts).dropped.items()}
        out.duplicate_task_ids = set(out.duplicate_tasks) | {
            t for t, d in self.task_doc.items() if d in out.duplicate_docs
        }
        if self.index is not None:
            out.benchmarks = self.index.benchmarks
        return out


@dataclass(slots=True)
class OverlapCheck:
    """The `benchmark_overlap` check: kept tasks that overlap a benchmark, and benchmark
    files that failed to load. Either one fails it."""

    benchmarks: list[str] = field(default_factory=list)
    load_errors: dict[str, str] = field(default_factory=dict)
    kept_screened: int = 0
    kept_contaminated: dict[str, str] = field(default_factory=dict)  # task id -> benchmark
    dropped_as_contaminated: int = 0
    configured: bool = True

    @classmethod
    def for_index(cls, loaded: LoadedIndex, dropped_as_contaminated: int) -> OverlapCheck:
        """An empty check of the tasks screened against `loaded` (nothing re-screened yet)."""
        return cls(
            benchmarks=loaded.index.benchmarks if loaded.index else [], load_errors=dict(loaded.errors),
            dropped_as_contaminated=dropped_as_contaminated, configured=loaded.configured,
        )

    @property
    def passed(self) -> bool:
        return not self.kept_contaminated and not self.load_errors

    def to_metadata(self) -> dict[str, Any]:
        return {
            "benchmarks_indexed": self.benchmarks if self.configured else "none configured (set GOOSE_BENCHMARKS_DIR)",
            "benchmarks_failed_to_load": dict(sorted(self.load_errors.items())),
            "kept_tasks_rescreened": self.kept_screened,
            "kept_contaminated": len(self.kept_contaminated),
            "kept_contaminated_examples": [f"{t} ~ {b}" for t, b in sorted(self.kept_contaminated.items())[:5]],
            "dropped_as_contaminated": self.dropped_as_contaminated,
        }


def kept_overlap(
    index: BenchmarkIndex | None, kept: Iterable[Sequence[Mapping[str, Any]]], check: OverlapCheck
) -> OverlapCheck:
    """Screen batches of kept tasks (rows with task_id, question, options, source_question,
    source_body) against `index` and record every hit in `check`."""
    for batch in kept:
        check.kept_screened += len(batch)
        if index is None or not batch:
            continue
        texts = [task_text(r) for r in batch] + [source_text(r["source_question"] or "", r["source_body"] or "") for r in batch]
        hits = index.hits_many(texts)
        for r, task_hits, source_hits in zip(batch, hits[: len(batch)], hits[len(batch) :], strict=True):
            found = task_hits or source_hits
            if found:
                check.kept_contaminated[r["task_id"]] = found[0][0]
    return check
