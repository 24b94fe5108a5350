"""bench/corpus.py builds a benchmark corpus safely when asked for it concurrently (issue 20:
`bench.pipeline --parallel` forked its modes, both built corpus-1000 at once and one died
on the `benchmarks` symlink), and reuses a finished corpus. A tiny fake shared-corpora
folder stands in for ../shared/corpora, so this runs anywhere."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bench import corpus


@pytest.fixture()
def fake_corpora(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shared = tmp_path / "shared"
    (shared / "benchmarks").mkdir(parents=True)
    (shared / "benchmarks" / "tiny.jsonl").write_text(json.dumps({"id": "b1", "question": "q"}) + "\n")
    for domain in ("math", "code", "science", "cyber"):
        with open(shared / f"{domain}.jsonl", "w", encoding="utf-8") as fh:
            for i in range(5):
                fh.write(json.dumps({"id": f"{domain}-{i}", "domain": domain, "text": f"Problem: {i} plus 2 is what. "
                                     f"Solution: {i} plus 2 gives {i + 2}, therefore the answer is {i + 2}."}) + "\n")
    monkeypatch.setattr(corpus, "CORPORA", shared)
    return shared


def _read(out: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(out.glob("*.jsonl"))}


def test_concurrent_builds_of_one_corpus_all_succeed(fake_corpora: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    n = 6
    root = tmp_path / "data"
    checked, linked = threading.Barrier(n, timeout=30), threading.Barrier(n, timeout=5)
    real_rows, exists = corpus.real_rows, Path.exists

    def rows_after_everyone_checked() -> dict[str, list[dict[str, Any]]]:
        # every builder has seen "no corpus yet" before any of them writes: the race of issue 20
        checked.wait()
        return real_rows()

    def exists_then_wait(self: Path, *args: Any, **kwargs: Any) -> bool:
        # a builder that asks whether the `benchmarks` link is there waits until all have
        # asked: with one shared folder they all hear "no" and all create it (FileExistsError)
        found = exists(self, *args, **kwargs)
        if self.name == "benchmarks" and self.parent.parent == root:
            try:
                linked.wait()
            except threading.BrokenBarrierError:
                pass
        return found

    monkeypatch.setattr(corpus, "real_rows", rows_after_everyone_checked)
    monkeypatch.setattr(Path, "exists", exists_then_wait)
    with ThreadPoolExecutor(max_workers=n) as pool:
        outs = list(pool.map(lambda _: corpus.build(40, root=root), range(n)))
    assert {str(o) for o in outs} == {str(root / "corpus-40")}
    out = outs[0]
    assert corpus.manifest(out)["n_docs"] == 40
    assert sum(len(t.splitlines()) for t in _read(out).values()) == 40
    assert (out / "benchmarks").is_symlink() and (out / "benchmarks" / "tiny.jsonl").exists()
    assert [p.name for p in root.iterdir()] == ["corpus-40"], "temp folders left behind"


def test_a_finished_corpus_is_reused_and_a_stale_one_rebuilt(fake_corpora: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "data"
    out = corpus.build(30, root=root)
    first = _read(out)
    inode = out.stat().st_ino

    def no_rebuild() -> None:
        raise AssertionError("a finished corpus was rebuilt")

    monkeypatch.setattr(corpus, "real_rows", no_rebuild)
    assert corpus.build(30, root=root) == out and out.stat().st_ino == inode
    monkeypatch.undo()
    monkeypatch.setattr(corpus, "CORPORA", fake_corpora)
    # an older generator version (or a half-written folder without MANIFEST.json) is replaced whole
    (out / "MANIFEST.json").write_text(json.dumps({"version": "0"}))
    (out / "leftover.jsonl").write_text("stale\n")
    rebuilt = corpus.build(30, root=root)
    assert corpus.manifest(rebuilt)["version"] == corpus.GENERATOR_VERSION
    assert _read(rebuilt) == first  # seeded: the same rows, and nothing of the stale folder
    assert [p.name for p in root.iterdir()] == ["corpus-30"]
