"""Gathers what duplicate and benchmark screening needs from the warehouse."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from goose_assets.core import screening as screening_logic
from goose_assets.core.decontam import BenchmarkIndex
from goose_assets.warehouse import Warehouse


@cache
def _index(folder: str, mtime: float) -> BenchmarkIndex:
    # cached per process and folder version: building the index costs seconds
    return BenchmarkIndex.from_folder(Path(folder))


def screen(wh: Warehouse, domain: str, tasks: Sequence[Mapping[str, Any]], benchmarks: Path | None) -> screening_logic.Screen:
    s = screener(wh, domain, benchmarks)
    s.add(tasks)
    return finish(wh, s)


def screener(wh: Warehouse, domain: str, benchmarks: Path | None) -> screening_logic.Screener:
    """A Screener for `domain`'s tasks, fed in batches; `finish` runs the dedup."""
    # the domain's passage texts, for the benchmark look-up of a task's source
    texts = {d["doc_id"]: d["body"] for d in wh.query("SELECT doc_id, body FROM extracted_passages WHERE domain = ?", [domain])}
    index = _index(str(benchmarks), benchmarks.stat().st_mtime) if benchmarks else None
    return screening_logic.Screener(domain, texts, index)


def finish(wh: Warehouse, screener: screening_logic.Screener) -> screening_logic.Screen:
    # passages, not raw pages: the text a task is built from is what must not repeat
    with wh.connect() as con:  # tuples straight from the cursor: no dict per passage
        docs = con.execute("SELECT doc_id, domain, body FROM extracted_passages ORDER BY doc_id").fetchall()
    return screener.finish(docs)
