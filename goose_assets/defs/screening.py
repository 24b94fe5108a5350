"""Gathers what duplicate and benchmark screening needs from the warehouse."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from goose_assets.core import screening as screening_logic
from goose_assets.core.decontam import BenchmarkIndex
from goose_assets.resources import CorpusResource
from goose_assets.warehouse import Warehouse

# the kept tasks are re-screened a page at a time, each page on its own short connection
_PAGE = 2000

_KEPT_SQL = """
SELECT t.task_id, t.question, t.options, p.question AS source_question, p.body AS source_body
FROM filtered_tasks f
JOIN mcq_tasks t ON t.task_id = f.task_id
LEFT JOIN masked_items m ON m.item_id = t.item_id
LEFT JOIN extracted_passages p ON p.passage_id = m.passage_id
WHERE f.domain = ? AND f.kept AND t.task_id > ?
ORDER BY t.task_id
LIMIT ?
"""


@dataclass(slots=True)
class LoadedIndex:
    """The benchmark index of a run, or why there is none."""

    index: BenchmarkIndex | None = None
    errors: dict[str, str] = field(default_factory=dict)  # benchmark (or folder) -> why not indexed
    configured: bool = False


@cache
def _index(folder: str, fingerprint: tuple[tuple[str, float, int], ...]) -> BenchmarkIndex:
    # cached per process and per version of the folder's files: building the index costs seconds
    return BenchmarkIndex.from_folder(Path(folder))


def _fingerprint(folder: Path) -> tuple[tuple[str, float, int], ...]:
    return tuple((f.name, f.stat().st_mtime, f.stat().st_size) for f in sorted(folder.glob("*.jsonl")))


def load_index(corpus: CorpusResource) -> LoadedIndex:
    """The index of the configured benchmark folder. A folder that was set but is missing,
    or a benchmark file that cannot be read, is an error for `benchmark_overlap` to fail on;
    the default `<corpus>/benchmarks` may be absent (nothing configured)."""
    folder = corpus.benchmarks_dir()
    if folder is None:
        explicit = corpus.benchmarks_setting()
        if explicit is None:
            return LoadedIndex()
        return LoadedIndex(errors={"(folder)": f"benchmark folder not found: {explicit}"}, configured=True)
    try:
        index = _index(str(folder), _fingerprint(folder))
    except OSError as exc:
        return LoadedIndex(errors={"(folder)": f"cannot read {folder}: {exc}"}, configured=True)
    return LoadedIndex(index, dict(index.load_errors), configured=True)


def screen(wh: Warehouse, domain: str, tasks: Sequence[Mapping[str, Any]], index: BenchmarkIndex | None) -> screening_logic.Screen:
    s = screener(wh, domain, index)
    s.add(tasks)
    return finish(wh, s)


def screener(wh: Warehouse, domain: str, index: BenchmarkIndex | None) -> screening_logic.Screener:
    """A Screener for `domain`'s tasks, fed in batches; `finish` runs the dedup."""
    # the domain's passages as screened: a QA document's question with its solution
    texts = {
        d["doc_id"]: screening_logic.source_text(d["question"] or "", d["body"] or "")
        for d in wh.query("SELECT doc_id, question, body FROM extracted_passages WHERE domain = ?", [domain])
    }
    return screening_logic.Screener(domain, texts, index)


def finish(wh: Warehouse, screener: screening_logic.Screener) -> screening_logic.Screen:
    # passages, not raw pages: the text a task is built from is what must not repeat
    with wh.connect() as con:  # tuples straight from the cursor: no dict per passage
        docs = con.execute("SELECT doc_id, domain, body FROM extracted_passages ORDER BY doc_id").fetchall()
    return screener.finish(docs)


def _kept_pages(wh: Warehouse, domain: str) -> Iterator[list[dict[str, Any]]]:
    last = ""
    while True:
        page = wh.query(_KEPT_SQL, [domain, last, _PAGE])
        if not page:
            return
        yield page
        last = page[-1]["task_id"]


def overlap_check(wh: Warehouse, domain: str, loaded: LoadedIndex, dropped_as_contaminated: int) -> screening_logic.OverlapCheck:
    """`benchmark_overlap`: the kept tasks as written to `filtered_tasks`, re-screened with
    their texts and sources read back from the warehouse, apart from the decision."""
    check = screening_logic.OverlapCheck(
        benchmarks=loaded.index.benchmarks if loaded.index else [], load_errors=dict(loaded.errors),
        dropped_as_contaminated=dropped_as_contaminated, configured=loaded.configured,
    )
    return screening_logic.kept_overlap(loaded.index, _kept_pages(wh, domain), check)
