"""The offline pipeline on 300 real documents per domain from ../shared/corpora."""

from __future__ import annotations

from pathlib import Path

import pytest

from goose_assets.core.records import DOMAINS
from goose_assets.core.text import collapse_ws, normalize_option
from goose_assets.defs.resources import CorpusResource
from goose_assets.storage import queries
from goose_assets.storage.duckdb_warehouse import Warehouse
from goose_assets_tests.pipeline_helpers import materialize_all

pytestmark = [pytest.mark.corpora, pytest.mark.slow]


@pytest.fixture(scope="module")
def corpora_home(tmp_path_factory: pytest.TempPathFactory, corpora_dir: Path) -> Path:
    home = tmp_path_factory.mktemp("corpora_home")
    corpus = CorpusResource(corpus_dir=str(corpora_dir), max_docs_per_domain=300)
    materialize_all(home, corpus=corpus)
    return home


def test_yield_at_least_80_percent_for_reasoning_domains(corpora_home: Path) -> None:
    wh = Warehouse(corpora_home / "warehouse.duckdb")
    for domain in ("math", "code", "science"):
        docs = wh.query("SELECT count(*) AS n FROM raw_documents WHERE domain = ? AND shape <> 'html'", [domain])[0]["n"]
        tasks = wh.count("mcq_tasks", domain)
        assert docs >= 290
        assert tasks / docs >= 0.8, f"{domain}: {tasks}/{docs} documents yield a task"


def test_every_task_has_nine_distinct_options_and_one_correct_letter(corpora_home: Path) -> None:
    wh = Warehouse(corpora_home / "warehouse.duckdb")
    for domain in DOMAINS:
        rows = wh.query(
            "SELECT t.options, t.answer_letter, t.answer_index, m.answer FROM mcq_tasks t JOIN masked_items m USING (item_id) WHERE t.domain = ?",
            [domain],
        )
        assert rows
        for r in rows:
            assert len(r["options"]) == 9
            assert len({normalize_option(o) for o in r["options"]}) == 9
            assert sum(o == r["answer"] for o in r["options"]) == 1
            assert r["options"][r["answer_index"]] == r["answer"] and r["answer_letter"] == "ABCDEFGHI"[r["answer_index"]]


def test_no_answer_appears_verbatim_in_its_question(corpora_home: Path) -> None:
    wh = Warehouse(corpora_home / "warehouse.duckdb")
    rows = wh.query(
        "SELECT t.question, m.answer, t.leak_reasons, f.kept FROM mcq_tasks t JOIN masked_items m USING (item_id) "
        "JOIN filtered_tasks f USING (task_id)"
    )
    leaks = [r for r in rows if collapse_ws(r["answer"]) in collapse_ws(r["question"])]
    # a source that repeats its own sentence can leak; the leakage check must flag it and
    # the gate must drop it, so no kept task shows its answer
    assert all(r["leak_reasons"] and not r["kept"] for r in leaks), "a verbatim leak was not flagged and dropped"
    assert len(leaks) <= 0.01 * len(rows), f"{len(leaks)} of {len(rows)} answers appear verbatim in their question"


def test_web_pages_are_screened_with_reasons(corpora_home: Path) -> None:
    wh = Warehouse(corpora_home / "warehouse.duckdb")
    reasons = wh.query("SELECT reason, count(*) AS n FROM quarantine WHERE stage = 'extract' GROUP BY 1")
    assert reasons, "web pages of little educational content must be dropped with a reason"
    assert all(r["reason"] for r in reasons)


def test_surface_solvable_tasks_skip_the_gate_and_are_dropped(corpora_home: Path) -> None:
    """Option selection's AFLite step on real partitions (300 documents a domain, enough for
    a discriminator): its flagged tasks are in `mcq_tasks`, get no difficulty row (no
    rollouts, no gate vote) and are dropped by `filtered_tasks` with their reason."""
    wh = Warehouse(corpora_home / "warehouse.duckdb")
    flagged_total = 0
    for domain in ("math", "code", "science", "cyber"):
        flagged = {r["task_id"] for r in wh.query(
            "SELECT task_id FROM mcq_tasks WHERE domain = ? AND surface_solvable", [domain])}
        recorded = wh.read("option_selection", domain)[0]["surface_solvable"]
        assert len(flagged) == recorded
        graded = {r["task_id"] for r in wh.read("task_difficulty", domain, ["task_id"])}
        assert not flagged & graded and len(graded) == wh.count("mcq_tasks", domain) - len(flagged)
        assert queries.offered_task_count(wh, domain) == len(graded)  # task_difficulty's progress total
        reasons = {r["task_id"]: r["drop_reason"] for r in wh.read("filtered_tasks", domain, ["task_id", "drop_reason"])}
        # a leak, a duplicate or contamination comes first in DROP_ORDER
        assert all(reasons[t] in ("surface_solvable", "contaminated", "duplicate_source", "duplicate_task")
                   or reasons[t].startswith("leak:") for t in flagged)
        assert sum(reasons[t] == "surface_solvable" for t in flagged) >= 0.8 * len(flagged)
        flagged_total += len(flagged)
    assert flagged_total > 0, "300 documents a domain and no task set aside: the AFLite step did not run"
