"""Real Dagster materializations of every asset, all four partitions, into a real DuckDB."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from goose_assets.core.records import DOMAINS
from goose_assets.storage.duckdb_warehouse import Warehouse
from goose_assets_tests.pipeline_helpers import materialize_all

TABLES = ("raw_documents", "extracted_passages", "masked_items", "mcq_tasks", "task_difficulty", "filtered_tasks", "training_mix")


def _snapshot(wh: Warehouse) -> dict[str, list[str]]:
    id_col = {"raw_documents": "doc_id", "extracted_passages": "passage_id", "masked_items": "item_id"}
    return {t: sorted(r[id_col.get(t, "task_id")] for r in wh.read(t)) for t in TABLES}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict, bytes, bytes, list]:
    home = tmp_path_factory.mktemp("home")
    instance = dg.DagsterInstance.ephemeral()
    results = materialize_all(home, instance=instance)
    wh = Warehouse(home / "warehouse.duckdb")
    first = _snapshot(wh)
    export_file = home / "exports" / "default" / "goosereason.jsonl"
    first_export = export_file.read_bytes()
    materialize_all(home, instance=instance)
    return home, first, _snapshot(wh), first_export, export_file.read_bytes(), results


def test_every_asset_fills_every_partition(two_runs) -> None:  # noqa: ANN001
    home, first, *_ = two_runs
    wh = Warehouse(home / "warehouse.duckdb")
    for table in TABLES:
        for domain in DOMAINS:
            assert wh.count(table, domain) > 0, f"{table}/{domain} is empty"


def test_rematerializing_gives_same_ids_and_counts(two_runs) -> None:  # noqa: ANN001
    _, first, second, first_export, second_export, _ = two_runs
    assert first == second
    assert first_export == second_export


def test_export_rows_follow_the_released_schema(two_runs) -> None:  # noqa: ANN001
    home, *_ = two_runs
    rows = [json.loads(line) for line in (home / "exports" / "default" / "goosereason.jsonl").read_text().splitlines()]
    assert rows and {r["domain"] for r in rows} == set(DOMAINS)
    for r in rows:
        assert {"task_id", "domain", "question", "options", "answer"} <= set(r)
        assert len(r["options"]) == 9 and r["answer"] in "ABCDEFGHI"
        assert "[MASK]" in r["question"] and "select the option that best fills in the [mask]" in r["question"].lower()


def test_materializations_carry_counts_reasons_and_previews(two_runs) -> None:  # noqa: ANN001
    *_, results = two_runs
    by_asset = {}
    for result in results:
        for event in result.get_asset_materialization_events():
            by_asset.setdefault(event.asset_key.path[-1], []).append(event.materialization.metadata)
    assert set(by_asset) == {*TABLES, "task_gallery", "quality_report"}
    for name in ("raw_documents", "extracted_passages", "masked_items", "mcq_tasks", "filtered_tasks"):
        for metadata in by_asset[name]:
            assert "drop_reasons" in metadata or "dropped" in metadata, name
            assert "dagster/row_count" in metadata
    assert all("preview" in m for m in by_asset["mcq_tasks"])
    checks = {(e.check_name, e.partition) for r in results for e in r.get_asset_check_evaluations()}
    assert {"answer_leakage", "answer_letter_balance", "triviality_baselines", "duplicates", "benchmark_overlap",
            "export_expectations"} <= {name for name, _ in checks}


def test_lineage_query_traces_an_export_row_to_its_source(two_runs) -> None:  # noqa: ANN001
    from goose_assets.publish.lineage import format_lineage
    from goose_assets.storage.queries import LINEAGE_SQL

    home, *_ = two_runs
    row = json.loads((home / "exports" / "default" / "goosereason.jsonl").read_text().splitlines()[0])
    wh = Warehouse(home / "warehouse.duckdb")
    (history,) = wh.query(LINEAGE_SQL, [row["task_id"]])
    assert history["doc_id"] == row["source_doc_id"] and history["kept"]
    text = format_lineage(history)
    assert "raw_documents" in text and "training_mix" in text and "default:" in text


def test_the_sample_benchmark_drops_the_problem_it_repeats(two_runs) -> None:  # noqa: ANN001
    # sample_corpus/benchmarks holds items written for the project; one repeats the problem
    # of sample-math-006, so the default run decontaminates something
    home, *_, results = two_runs
    wh = Warehouse(home / "warehouse.duckdb")
    dropped = wh.query(
        "SELECT d.source_id, f.detail FROM filtered_tasks f JOIN mcq_tasks t USING (task_id) "
        "JOIN raw_documents d ON d.doc_id = t.doc_id WHERE f.drop_reason = 'contaminated'"
    )
    assert [(r["source_id"], r["detail"]) for r in dropped] == [("sample-math-006", "Goose sample benchmark")]
    overlap = [e for r in results for e in r.get_asset_check_evaluations() if e.check_name == "benchmark_overlap"]
    assert len(overlap) == len(DOMAINS) and all(e.passed for e in overlap)
    assert all(e.metadata["benchmarks_indexed"].value == ["Goose sample benchmark"] for e in overlap)
