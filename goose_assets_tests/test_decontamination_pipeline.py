"""Benchmark decontamination through real Dagster materializations into a real DuckDB.

Ten real math documents have their problem statements copied into a benchmark file of a
temporary corpus (`<corpus>/benchmarks/planted.jsonl`), as a held-out benchmark would
hold them: only the problem, never the solution. Every task built from them must be
dropped as contaminated, and the `benchmark_overlap` check, which re-screens what was
kept, must fail when a contaminated task gets past the decision.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from goose_assets.core.filtering import decide as filtering
from goose_assets.core.filtering.decontam import LoadedIndex, load_benchmark_index
from goose_assets.definitions import ASSETS_BY_NAME, UPSTREAM_ASSETS
from goose_assets.defs.resources import CorpusResource, LLMResource, WarehouseResource
from goose_assets.storage.duckdb_warehouse import Warehouse

pytestmark = [pytest.mark.corpora, pytest.mark.slow]

N_DOCS = 40
N_PLANTED = 10

filtered_tasks, = (ASSETS_BY_NAME['filtered_tasks'],)


def load_index(corpus: CorpusResource) -> LoadedIndex:
    """The benchmark index `filtered_tasks` loads for `corpus`."""
    return load_benchmark_index(corpus.benchmarks_dir(), corpus.benchmarks_setting())


def _problem(text: str) -> str:
    return text.split("\n\nSolution:\n", 1)[0].removeprefix("Problem:\n")


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory, corpora_dir: Path) -> dict[str, Any]:
    """A 40-document math corpus whose every 4th document's problem is a benchmark item."""
    root = tmp_path_factory.mktemp("planted")
    corpus = root / "corpus"
    (corpus / "benchmarks").mkdir(parents=True)
    rows = []
    with open(corpora_dir / "math.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row["id"].startswith("MATH:"):
                rows.append(row)
            if len(rows) == N_DOCS:
                break
    chosen = rows[:: N_DOCS // N_PLANTED]
    assert len(chosen) == N_PLANTED
    (corpus / "math.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (corpus / "benchmarks" / "planted.jsonl").write_text("".join(
        json.dumps({"id": f"planted:{i}", "benchmark": "Planted", "question": _problem(r["text"])}) + "\n"
        for i, r in enumerate(chosen)
    ))
    home = root / "home"
    resources = _resources(home, corpus)
    result = dg.materialize(UPSTREAM_ASSETS, partition_key="math", resources=resources,
                            run_config={"ops": {"task_difficulty": {"config": {"use_embeddings": False}}}})
    assert result.success
    return {"home": home, "corpus": corpus, "source_ids": {r["id"] for r in chosen}, "result": result}


def _resources(home: Path, corpus: Path) -> dict[str, Any]:
    return {"warehouse": WarehouseResource(home=str(home)), "corpus": CorpusResource(corpus_dir=str(corpus)),
            "llm": LLMResource()}


def _planted_rows(home: Path, source_ids: set[str]) -> list[dict[str, Any]]:
    return Warehouse(home / "warehouse.duckdb").query(
        "SELECT d.source_id, f.kept, f.drop_reason, f.detail FROM filtered_tasks f JOIN mcq_tasks t USING (task_id) "
        "JOIN raw_documents d ON d.doc_id = t.doc_id WHERE d.source_id IN (SELECT unnest(?))",
        [sorted(source_ids)],
    )


def _overlap_check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "benchmark_overlap"]
    return evaluation


def test_every_planted_problem_is_dropped_as_contaminated(planted: dict[str, Any]) -> None:
    rows = _planted_rows(planted["home"], planted["source_ids"])
    assert {r["source_id"] for r in rows} == planted["source_ids"], "every planted document made a task"
    assert [r for r in rows if r["kept"] or r["drop_reason"] != "contaminated"] == []
    assert {r["detail"] for r in rows} == {"Planted"}
    wh = Warehouse(planted["home"] / "warehouse.duckdb")
    others = wh.query("SELECT count(*) AS n FROM filtered_tasks WHERE drop_reason = 'contaminated'")[0]["n"]
    assert others == N_PLANTED, "only the planted problems overlap the planted benchmark"
    evaluation = _overlap_check(planted["result"])
    assert evaluation.passed
    assert evaluation.metadata["dropped_as_contaminated"].value == N_PLANTED
    assert evaluation.metadata["kept_contaminated"].value == 0


def test_a_contaminated_task_that_bypasses_the_decision_fails_the_check(
    planted: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a fake decision that never drops contamination stands in for a bug in the decision
    # code; the check must catch it from what was written, not from what was decided
    real = filtering.decide

    def blind(domain, tasks, difficulty, duplicate_docs, duplicate_tasks, contaminated, policy):  # noqa: ANN001, ANN202
        return real(domain, tasks, difficulty, duplicate_docs, duplicate_tasks, {}, policy)

    monkeypatch.setattr(filtering, "decide", blind)
    result = dg.materialize([*UPSTREAM_ASSETS], selection=[filtered_tasks], partition_key="math",
                            resources=_resources(planted["home"], planted["corpus"]), raise_on_error=False)
    rows = _planted_rows(planted["home"], planted["source_ids"])
    assert any(r["kept"] for r in rows), "the blind decision kept a planted task"
    evaluation = _overlap_check(result)
    assert not evaluation.passed
    assert evaluation.metadata["kept_contaminated"].value == sum(r["kept"] for r in rows)
    monkeypatch.undo()
    # the real decision again: the same partition passes
    again = dg.materialize([*UPSTREAM_ASSETS], selection=[filtered_tasks], partition_key="math",
                           resources=_resources(planted["home"], planted["corpus"]))
    assert _overlap_check(again).passed


def test_a_benchmark_that_fails_to_load_fails_the_check(planted: dict[str, Any], tmp_path: Path) -> None:
    benchmarks = tmp_path / "benchmarks"
    benchmarks.mkdir()
    (benchmarks / "planted.jsonl").write_bytes((planted["corpus"] / "benchmarks" / "planted.jsonl").read_bytes())
    (benchmarks / "broken.jsonl").write_text('{"id": "b:1", "question": "an item"}\n{"id": "b:2", "question": \n')
    resources = _resources(planted["home"], planted["corpus"])
    resources["corpus"] = CorpusResource(corpus_dir=str(planted["corpus"]), benchmarks=str(benchmarks))
    result = dg.materialize([*UPSTREAM_ASSETS], selection=[filtered_tasks], partition_key="math",
                            resources=resources, raise_on_error=False)
    evaluation = _overlap_check(result)
    assert not evaluation.passed
    failed = evaluation.metadata["benchmarks_failed_to_load"].value
    assert list(failed) == ["broken"] and "line 2" in failed["broken"]
    # the readable benchmark still screened: the planted tasks stay dropped
    rows = _planted_rows(planted["home"], planted["source_ids"])
    assert all(r["drop_reason"] == "contaminated" for r in rows)


def test_a_configured_benchmark_folder_that_is_missing_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOSE_BENCHMARKS_DIR", raising=False)
    missing = load_index(CorpusResource(corpus_dir=str(tmp_path), benchmarks=str(tmp_path / "absent")))
    assert missing.index is None and missing.configured and "not found" in missing.errors["(folder)"]
    # the default <corpus>/benchmarks may be absent: nothing is configured, nothing fails
    assert load_index(CorpusResource(corpus_dir=str(tmp_path))).errors == {}
