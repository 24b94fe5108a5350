"""An unusable GOOSE_HOME: one that cannot be created, a read-only one, a full disk.

Each gives a clear error naming the path, and leaves nothing half-written: no partial
partition in the warehouse, no half-written or stray temporary export file.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from goose_assets.definitions import ALL_ASSETS
from goose_assets.defs.resources import CorpusResource, LLMResource, WarehouseResource
from goose_assets.publish import export
from goose_assets.publish.dataset_card import CardInfo
from goose_assets.storage.duckdb_warehouse import Warehouse
from goose_assets.storage.schema import WarehouseError
from goose_assets_tests.reliability.corpus import write_corpus


def _materialize_raw(home: Path, corpus: CorpusResource | None = None) -> dg.ExecuteInProcessResult:
    resources = {"warehouse": WarehouseResource(home=str(home)), "corpus": corpus or CorpusResource(), "llm": LLMResource()}
    raw = [a for a in ALL_ASSETS if a.key.path[-1] == "raw_documents"]
    return dg.materialize(ALL_ASSETS, selection=raw, partition_key="math", resources=resources, raise_on_error=False)


def _failure_text(result: dg.ExecuteInProcessResult) -> str:
    failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert failures, "the run did not fail"
    error, parts = failures[0].step_failure_data.error, []
    while error is not None:
        parts.append(f"{error.cls_name}: {error.message}")
        error = error.cause
    return "\n".join(parts)


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tiny tmpfs of our own (root only); skip where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root and mount rights): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def _remount_read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True)


@pytest.mark.parametrize("where", ["under_a_file", "under_proc", "under_sys"])
def test_a_home_that_cannot_be_created_fails_clearly(tmp_path: Path, where: str) -> None:
    # root ignores chmod, so use places no one can create folders in
    if where == "under_a_file":
        blocker = tmp_path / "not_a_folder"
        blocker.write_text("a regular file where GOOSE_HOME's parent should be")
        home = blocker / "goose_home"
    elif where == "under_proc":
        home = Path("/proc/goose_reliability_home")
    else:
        home = Path("/sys/goose_reliability_home")
    with pytest.raises(WarehouseError, match=str(home.parent) if where == "under_a_file" else str(home)):
        Warehouse(home / "warehouse.duckdb").count("raw_documents")
    result = _materialize_raw(home)
    assert not result.success
    text = _failure_text(result)
    assert "WarehouseError" in text and str(home) in text, text
    assert not home.exists()
    if where == "under_a_file":
        assert blocker.read_text().startswith("a regular file"), "the blocker file was touched"


def test_a_read_only_home_fails_clearly_and_keeps_its_data(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "ro", "8m") as mount:
        home = mount / "home"
        assert _materialize_raw(home).success
        before = Warehouse(home / "warehouse.duckdb").read("raw_documents", "math", columns=["doc_id"])
        files_before = sorted(p.name for p in home.iterdir())
        _remount_read_only(mount)
        result = _materialize_raw(home)
        assert not result.success
        text = _failure_text(result)
        assert "WarehouseError" in text and str(home / "warehouse.duckdb") in text, text
        assert sorted(p.name for p in home.iterdir()) == files_before, "something was written"
        subprocess.run(["mount", "-o", "remount,rw", str(mount)], check=True, capture_output=True)
        assert Warehouse(home / "warehouse.duckdb").read("raw_documents", "math", columns=["doc_id"]) == before


def test_a_full_disk_fails_clearly_and_leaves_no_partial_partition(tmp_path: Path) -> None:
    # a corpus far larger than the filesystem: the partition write cannot commit
    big = tmp_path / "big_corpus"
    write_corpus(big, 10)
    with (big / "math.jsonl").open("a", encoding="utf-8") as f:
        for i in range(600):
            row = {"id": f"pad-{i}", "domain": "math", "source": "pad", "license": "CC0-1.0", "title": "pad",
                   "text": os.urandom(3000).hex()}
            f.write(json.dumps(row) + "\n")
    small = tmp_path / "small_corpus"
    write_corpus(small, 10)
    with _tmpfs(tmp_path / "full", "2m") as mount:
        home = mount / "home"
        assert _materialize_raw(home, CorpusResource(corpus_dir=str(small))).success
        wh = Warehouse(home / "warehouse.duckdb")
        before = sorted(r["doc_id"] for r in wh.read("raw_documents", "math", columns=["doc_id"]))
        assert len(before) == 10
        result = _materialize_raw(home, CorpusResource(corpus_dir=str(big)))
        assert not result.success
        text = _failure_text(result)
        assert "WarehouseError" in text and str(home / "warehouse.duckdb") in text, text
        assert "No space left on device" in text, text
        # the failed write rolled back whole: the old partition is intact, nothing half-new
        assert sorted(r["doc_id"] for r in wh.read("raw_documents", "math", columns=["doc_id"])) == before

        # exports on a full disk: an error, and neither a half-written file nor a temp file
        tasks = _tasks(300)
        out = mount / "exports"
        with pytest.raises(OSError, match="No space left"):
            export.write_exports(tasks, out, CardInfo(mix_name="default"))
        leftovers = [p for p in out.rglob("*") if p.name.startswith(".") and p != export.export_lock_path(out, "default")]
        assert not leftovers, f"temporary files left behind: {leftovers}"
        assert not (out / "default" / export.MANIFEST_FILE).exists(), "a manifest marks an incomplete export complete"


def _tasks(n: int) -> list[dict[str, object]]:
    letters = "ABCDEFGHI"
    return [
        {"task_id": f"t{i:05d}", "domain": "math", "question": f"Q{i} " + os.urandom(2000).hex(),
         "options": [f"option {j} of {i}" for j in range(9)], "answer_letter": letters[i % 9], "answer_index": i % 9,
         "split": "train" if i % 10 else "validation", "doc_id": f"d{i}", "source_id": f"s{i}", "source": "test",
         "license": "CC0-1.0", "backend": "offline", "model": "", "prompt_version": "synthesize_qa@1",
         "pass_rate": 0.5, "difficulty_bucket": "[0.50, 0.75)"}
        for i in range(n)
    ]
