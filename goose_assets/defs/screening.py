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
    # passages, not raw pages: the text a task is built from is what must not repeat
    docs = wh.query("SELECT doc_id, domain, body FROM extracted_passages ORDER BY doc_id")
    all_docs = [(d["doc_id"], d["domain"], d["body"]) for d in docs]
    texts = {d["doc_id"]: d["body"] for d in docs if d["domain"] == domain}
    index = _index(str(benchmarks), benchmarks.stat().st_mtime) if benchmarks else None
    return screening_logic.screen(domain, tasks, all_docs, texts, index)
