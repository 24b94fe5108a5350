"""Partial, empty and mistyped corpora (issue 16): a clean run or one clear line, never a
stack trace.

Every scenario runs the real thing: `goose run` in a subprocess (real Dagster runs in a
sqlite instance under a temp GOOSE_HOME, a real DuckDB warehouse), or the `goose_pipeline`
job the UI backfills. The corpora are generated into temp folders by the tests
(`partial_corpora.py`); nothing is read from ../shared/corpora. Each scenario asserts the
exit code, the message, the exports, and that no run failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any
from unittest import mock

import dagster as dg
import datasets
import pyarrow.parquet as pq
import pytest

from goose_assets.cli import EXIT_BAD_SOURCE, EXIT_NOTHING_EXPORTED, _failure_lines, source_problems
from goose_assets.core.records import DOMAINS
from goose_assets.definitions import ALL_ASSETS
from goose_assets.defs.resources import CorpusResource, LLMResource, WarehouseResource
from goose_assets.publish.export import CARD_FILE, GOOSEREASON_FILE, HF_DATASET_DIR, MANIFEST_FILE
from goose_assets.storage.duckdb_warehouse import Warehouse
from goose_assets_tests.llm_server import LoopbackLLMServer, ServerConfig
from goose_assets_tests.partial_corpora import cyber_rows, web_rows, write_jsonl

REPO_ROOT = Path(__file__).resolve().parents[1]
# what a clean run must never print: a stack trace, an error event, a failed partition
NEVER_ON_STDERR = ("Traceback", "Stack Trace", " - ERROR - ", "FAILED")


# ---------------------------------------------------------------- helpers


def goose_run(home: Path, env: dict[str, str], *args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    """`goose run` in its own process, with only the GOOSE_* settings given here."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GOOSE_", "DAGSTER_"))}
    return subprocess.run(
        [sys.executable, "-m", "goose_assets.cli", "run", "--no-embeddings", "--log-level", "WARNING", *args],
        cwd=REPO_ROOT, env={**clean, "GOOSE_HOME": str(home), **env}, capture_output=True, text=True, timeout=timeout,
    )


def goose_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("goose run:")]


def assert_clean(proc: subprocess.CompletedProcess[str]) -> None:
    for marker in NEVER_ON_STDERR:
        assert marker not in proc.stderr, f"{marker!r} on stderr:\n{proc.stderr[-4000:]}"


def run_statuses(home: Path) -> Counter[str]:
    # the project's instance storage finds its folder through DAGSTER_HOME (dagster.yaml)
    with mock.patch.dict(os.environ, {"DAGSTER_HOME": str(home / "dagster")}), \
            dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        return Counter(r.dagster_run.status.value for r in instance.get_run_records())


def export_dir(home: Path) -> Path:
    return home / "exports" / "default"


def exported_rows(home: Path) -> list[dict[str, Any]]:
    text = (export_dir(home) / GOOSEREASON_FILE).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def assert_valid_empty_export(home: Path) -> None:
    out = export_dir(home)
    assert (out / GOOSEREASON_FILE).read_bytes() == b""
    for split in ("train", "validation"):
        table = pq.read_table(out / "verl" / f"{split}.parquet")
        assert table.num_rows == 0 and "reward_model" in table.column_names
    loaded = datasets.load_from_disk(str(out / HF_DATASET_DIR))
    assert {s: loaded[s].num_rows for s in loaded} == {"train": 0, "validation": 0}
    assert "**This export is empty: no task survived the pipeline.**" in (out / CARD_FILE).read_text(encoding="utf-8")
    assert json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8"))["rows"] == {"train": 0, "validation": 0}


def summary_notes(proc: subprocess.CompletedProcess[str]) -> dict[str, str]:
    notes = [line.removeprefix("note: ") for line in proc.stdout.splitlines() if line.startswith("note: ")]
    return dict(note.split(": ", 1) for note in notes)  # type: ignore[misc]


def no_source_note(corpus: Path, domain: str) -> str:
    labels = f"'{domain}' or 'general'" if domain == "cyber" else f"'{domain}'"
    return f"no source for {domain}: looked for {corpus}/{domain}.jsonl and rows labelled {labels} in {corpus}/web_raw.jsonl"


# ---------------------------------------------------------------- the corpus resource, no run


def test_a_partial_folder_gives_the_other_domains_no_source(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "cyber.jsonl", cyber_rows(3))
    corpus = CorpusResource(corpus_dir=str(tmp_path))
    assert corpus.problems() == []
    math = corpus.source_plan("math")
    assert not math.has_source and math.no_source_cause() == f"no source in {tmp_path}"
    assert math.no_source_note() == no_source_note(tmp_path, "math")
    assert [s.path for s in corpus.sources("cyber")] == [str(tmp_path / "cyber.jsonl")]
    # web_raw.jsonl is routed by each row's domain field: every domain reads it
    write_jsonl(tmp_path / "web_raw.jsonl", web_rows(1))
    assert [s.path for s in corpus.sources("math")] == [str(tmp_path / "web_raw.jsonl")]


def test_each_unreadable_setting_is_one_line_naming_it_and_its_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "does-not-exist"
    assert CorpusResource(corpus_dir=str(missing)).problems() == [f"corpus.corpus_dir={missing}: does not exist"]
    monkeypatch.setenv("GOOSE_CORPUS_DIR", str(missing))
    assert CorpusResource().problems() == [f"GOOSE_CORPUS_DIR={missing}: does not exist"]
    a_file = write_jsonl(tmp_path / "cyber.jsonl", cyber_rows(1))
    monkeypatch.setenv("GOOSE_CORPUS_DIR", str(a_file))
    assert CorpusResource().problems() == [f"GOOSE_CORPUS_DIR={a_file}: is not a folder"]
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "code.jsonl").symlink_to(tmp_path / "moved-away.jsonl")
    monkeypatch.setenv("GOOSE_CORPUS_DIR", str(folder))
    assert CorpusResource().problems() == [f"GOOSE_CORPUS_DIR={folder}: {folder}/code.jsonl is a broken symbolic link"]
    assert CorpusResource().problems(["math"]) == []  # math's own sources are fine
    named = CorpusResource(sources_json=json.dumps({"code": [{"kind": "parquet", "path": str(tmp_path / "code-pq")}]}))
    assert named.problems() == [f"corpus.sources_json[code]: parquet source {tmp_path}/code-pq does not exist"]
    garbled = CorpusResource(sources_json='{"code": [{"kind": "parquet"}]')
    (problem,) = garbled.problems()
    assert problem.startswith("corpus.sources_json is not a valid source list: ")
    monkeypatch.setenv("GOOSE_BENCHMARKS_DIR", str(tmp_path / "benchmarkz"))
    assert CorpusResource().benchmarks_problem() == f"GOOSE_BENCHMARKS_DIR={tmp_path}/benchmarkz: does not exist"


def _raw_documents_failure(home: Path, corpus: CorpusResource) -> tuple[dg.ExecuteInProcessResult, str]:
    resources = {"warehouse": WarehouseResource(home=str(home)), "corpus": corpus, "llm": LLMResource()}
    raw = [a for a in ALL_ASSETS if a.key.path[-1] == "raw_documents"]
    result = dg.materialize(ALL_ASSETS, selection=raw, partition_key="cyber", resources=resources, raise_on_error=False)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    assert error is not None and error.cls_name == "Failure"
    return result, error.message.strip()


def test_raw_documents_fails_with_the_line_goose_run_prints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "does-not-exist"
    result, message = _raw_documents_failure(tmp_path / "home", CorpusResource(corpus_dir=str(missing)))
    assert message.endswith(f"Failure: corpus.corpus_dir={missing}: does not exist")
    assert _failure_lines(result, "cyber") == [f"goose run: cyber: raw_documents failed: corpus.corpus_dir={missing}: does not exist"]
    # the code location's own resource reads GOOSE_CORPUS_DIR: the run and goose run's
    # check before any run say the same line
    monkeypatch.setenv("GOOSE_CORPUS_DIR", str(missing))
    _, message = _raw_documents_failure(tmp_path / "home", CorpusResource())
    assert source_problems() == [f"GOOSE_CORPUS_DIR={missing}: does not exist"]
    assert message.endswith(f"Failure: {source_problems()[0]}")


def test_a_missing_corpus_folder_stops_goose_run_before_any_run(tmp_path: Path) -> None:
    home, missing = tmp_path / "home", tmp_path / "does-not-exist"
    proc = goose_run(home, {"GOOSE_CORPUS_DIR": str(missing)})
    assert proc.returncode == EXIT_BAD_SOURCE
    assert proc.stderr.strip().splitlines() == [f"goose run: GOOSE_CORPUS_DIR={missing}: does not exist"]
    assert proc.stdout == "" and not home.exists(), "nothing may run or be written"
    flag = goose_run(home, {}, "--corpus-dir", str(missing))
    assert flag.returncode == EXIT_BAD_SOURCE
    assert flag.stderr.strip().splitlines() == [f"goose run: --corpus-dir {missing}: does not exist"]


def test_a_missing_or_empty_shards_folder_stops_goose_run_before_any_run(tmp_path: Path) -> None:
    home, missing, empty = tmp_path / "home", tmp_path / "no-shards", tmp_path / "shards"
    proc = goose_run(home, {"GOOSE_SHARDS_DIR": str(missing)})
    assert proc.returncode == EXIT_BAD_SOURCE
    assert proc.stderr.strip().splitlines() == [f"goose run: GOOSE_SHARDS_DIR={missing}: does not exist"]
    empty.mkdir()
    proc = goose_run(home, {"GOOSE_SHARDS_DIR": str(empty)})
    assert proc.returncode == EXIT_BAD_SOURCE
    assert goose_lines(proc) == [f"goose run: GOOSE_SHARDS_DIR={empty} holds no shard files (see README 'Sharded corpora')"]
    assert_clean(proc)
    assert run_statuses(home) == {}


# ---------------------------------------------------------------- whole runs


@pytest.mark.slow
def test_only_cyber_jsonl_exports_the_cyber_tasks_and_exits_0(tmp_path: Path) -> None:
    corpus, home = tmp_path / "corpus", tmp_path / "home"
    write_jsonl(corpus / "cyber.jsonl", cyber_rows(40))
    proc = goose_run(home, {"GOOSE_CORPUS_DIR": str(corpus)})
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert_clean(proc)
    assert goose_lines(proc) == []
    assert run_statuses(home) == {"SUCCESS": 12}  # 4 × 2 upstream runs (cut before mcq_tasks) + 4 mix runs, none failed
    wh = Warehouse(home / "warehouse.duckdb")
    kept = wh.query("SELECT task_id FROM filtered_tasks WHERE kept")
    rows = exported_rows(home)
    assert len(kept) > 20 and sorted(r["task_id"] for r in rows) == sorted(r["task_id"] for r in kept)
    assert {r["domain"] for r in rows} == {"cyber"}
    for domain in ("math", "code", "science"):
        assert all(wh.count(table, domain) == 0 for table in ("raw_documents", "mcq_tasks", "training_mix"))
        assert wh.count("quarantine", domain) == 0, "an absent file is no source, not a bad row"
    assert summary_notes(proc) == {d: no_source_note(corpus, d) for d in ("math", "code", "science")}
    assert f"mix default: every kept task, in natural proportions: {len(kept)} of {len(kept)} kept tasks" in proc.stdout
    card = (export_dir(home) / CARD_FILE).read_text(encoding="utf-8")
    assert f"- **math**: no source in {corpus}" in card and "This export is empty" not in card


@pytest.mark.slow
def test_only_web_raw_jsonl_routes_pages_by_domain_and_exits_0(tmp_path: Path) -> None:
    corpus, home = tmp_path / "corpus", tmp_path / "home"
    write_jsonl(corpus / "web_raw.jsonl", web_rows(24))
    proc = goose_run(home, {"GOOSE_CORPUS_DIR": str(corpus)})
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert_clean(proc)
    assert run_statuses(home) == {"SUCCESS": 12}
    rows = exported_rows(home)
    assert rows and {r["domain"] for r in rows} == {"cyber"}
    web = corpus / "web_raw.jsonl"
    assert summary_notes(proc) == {d: f"no {d} rows in {web}" for d in ("math", "code", "science")}


@pytest.mark.slow
def test_an_empty_folder_writes_valid_empty_exports_and_exits_3(tmp_path: Path) -> None:
    corpus, home = tmp_path / "corpus", tmp_path / "home"
    corpus.mkdir()
    proc = goose_run(home, {"GOOSE_CORPUS_DIR": str(corpus)})
    assert proc.returncode == EXIT_NOTHING_EXPORTED, proc.stderr[-4000:]
    assert_clean(proc)
    assert goose_lines(proc) == [
        f"goose run: no task was exported to {export_dir(home)}: math, code, science, cyber: no source in {corpus}"
    ]
    assert run_statuses(home) == {"SUCCESS": 12}
    assert_valid_empty_export(home)
    assert summary_notes(proc) == {d: no_source_note(corpus, d) for d in DOMAINS}


@pytest.mark.slow
def test_every_item_quarantined_by_an_invalid_json_server_exits_3_naming_why(tmp_path: Path) -> None:
    """Two documents: six replies with re-asks, under the 8 replies after which the
    ConstraintGuard stops a server whose replies mostly fail the schema (a run failure
    by design, with its own message); below it every item is quarantined."""
    corpus, home = tmp_path / "corpus", tmp_path / "home"
    write_jsonl(corpus / "cyber.jsonl", cyber_rows(2))
    with LoopbackLLMServer(ServerConfig(fault="truncated_json_early")) as server:
        env = {"GOOSE_CORPUS_DIR": str(corpus), "GOOSE_LLM_BACKEND": "openai",
               "GOOSE_LLM_BASE_URL": server.base_url, "GOOSE_LLM_MODEL": "loopback-model"}
        proc = goose_run(home, env)
        assert server.stats()["received"] >= 2
    assert proc.returncode == EXIT_NOTHING_EXPORTED, proc.stderr[-4000:]
    assert_clean(proc)
    wh = Warehouse(home / "warehouse.duckdb")
    reasons = Counter(r["reason"] for r in wh.read("quarantine", "cyber") if r["stage"] == "synthesis")
    assert sum(reasons.values()) == 2 and wh.count("masked_items") == 0
    why = ", ".join(f"{reason}: {n}" for reason, n in reasons.most_common())
    assert goose_lines(proc) == [
        f"goose run: no task was exported to {export_dir(home)}: math, code, science: no source in {corpus}; "
        f"cyber: 2 passages, but every item was quarantined at synthesis ({why})"
    ]
    assert run_statuses(home) == {"SUCCESS": 12}
    assert_valid_empty_export(home)


@pytest.mark.slow
def test_every_task_dropped_by_screening_exits_3_naming_the_drop_reason(tmp_path: Path) -> None:
    corpus, home = tmp_path / "corpus", tmp_path / "home"
    rows = cyber_rows(12)
    write_jsonl(corpus / "cyber.jsonl", rows)
    # a benchmark that holds the corpus itself: every task is contaminated
    write_jsonl(corpus / "benchmarks" / "leaked.jsonl",
                [{"id": f"leak-{i}", "benchmark": "Leaked", "question": r["text"]} for i, r in enumerate(rows)])
    proc = goose_run(home, {"GOOSE_CORPUS_DIR": str(corpus)})
    assert proc.returncode == EXIT_NOTHING_EXPORTED, proc.stderr[-4000:]
    assert_clean(proc)
    wh = Warehouse(home / "warehouse.duckdb")
    tasks = wh.count("mcq_tasks", "cyber")
    drops = Counter(r["drop_reason"] for r in wh.read("filtered_tasks", "cyber"))
    assert tasks > 0 and sum(drops.values()) == tasks and "contaminated" in drops
    why = ", ".join(f"{reason}: {n}" for reason, n in sorted(drops.items(), key=lambda kv: (-kv[1], kv[0])))
    assert goose_lines(proc) == [
        f"goose run: no task was exported to {export_dir(home)}: math, code, science: no source in {corpus}; "
        f"cyber: {tasks} tasks, but screening dropped every one ({why})"
    ]
    assert run_statuses(home) == {"SUCCESS": 12}
    assert_valid_empty_export(home)


@pytest.mark.slow
def test_a_shard_with_one_domain_runs_every_domain_and_exits_0(tmp_path: Path) -> None:
    shards, home = tmp_path / "shards", tmp_path / "home"
    write_jsonl(shards / "cyber" / "part-0001.jsonl", cyber_rows(16))
    proc = goose_run(home, {"GOOSE_SHARDS_DIR": str(shards)})
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert_clean(proc)
    # 4 (domain, shard) × 2 runs of the per-item stages (cut before mcq_tasks), 4
    # domain-level runs, 4 mix runs
    assert run_statuses(home) == {"SUCCESS": 16}
    rows = exported_rows(home)
    assert rows and {r["domain"] for r in rows} == {"cyber"}
    assert summary_notes(proc) == {
        d: f"no source for {d}: looked for {shards}/{d}/* and rows labelled '{d}' in {shards}/*"
        for d in ("math", "code", "science")
    }


@pytest.mark.slow
def test_a_ui_backfill_of_four_domains_on_a_one_domain_corpus_is_four_successful_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The `goose_pipeline` job the UI backfills, one run per domain partition, with the
    code location's own resources (read from the environment, as `dagster dev` does)."""
    from goose_assets.definitions import defs

    corpus, home = tmp_path / "corpus", tmp_path / "home"
    write_jsonl(corpus / "cyber.jsonl", cyber_rows(12))
    monkeypatch.setenv("GOOSE_CORPUS_DIR", str(corpus))
    monkeypatch.setenv("GOOSE_HOME", str(home))
    job = defs.resolve_job_def("goose_pipeline")
    with dg.DagsterInstance.ephemeral() as instance:
        results = {
            domain: job.execute_in_process(
                partition_key=domain, instance=instance, raise_on_error=False,
                run_config={"ops": {"task_difficulty": {"config": {"use_embeddings": False}}}},
            )
            for domain in DOMAINS
        }
        assert {d: r.success for d, r in results.items()} == dict.fromkeys(DOMAINS, True)

        def metadata(asset: str, domain: str) -> dict[str, Any]:
            (event,) = [e for e in results[domain].get_asset_materialization_events() if e.asset_key.path[-1] == asset]
            return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}

        math_docs = metadata("raw_documents", "math")
        assert math_docs["no_source"] is True and math_docs["rows_out"] == 0
        assert math_docs["warning"] == no_source_note(corpus, "math")
        assert math_docs["looked_for"] == [f"{corpus}/math.jsonl", f"rows labelled 'math' in {corpus}/web_raw.jsonl"]
        math_mix = metadata("training_mix", "math")
        assert math_mix["rows_out"] == 0
        assert f"math: no task in the mix: no source in {corpus}" in math_mix["warnings"]
        cyber_mix = metadata("training_mix", "cyber")
        kept = Warehouse(home / "warehouse.duckdb").query("SELECT count(*) AS n FROM filtered_tasks WHERE kept")[0]["n"]
        assert cyber_mix["mix_size"] == cyber_mix["rows_out"] == kept > 0 and cyber_mix["kept_left_out"] == 0
        assert cyber_mix["domains_without_tasks"] == dict.fromkeys(("code", "math", "science"), f"no source in {corpus}")
        assert cyber_mix["selection"] == f"every kept task, in natural proportions: {kept} of {kept} kept tasks"
