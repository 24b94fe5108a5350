"""`mcq_tasks` flags an answer that the problem statement repeats: a real materialization of
the synthesis stages on the bundled math sample plus one document written for this test,
whose solution redraws the statement's Asymptote code with other spacing and punctuation."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from goose_assets.core.synthesis import spans
from goose_assets.definitions import ASSETS_BY_NAME, UPSTREAM_ASSETS
from goose_assets.defs.resources import (
    SAMPLE_CORPUS,
    CorpusResource,
    LLMResource,
    WarehouseResource,
)
from goose_assets.storage.duckdb_warehouse import Warehouse
from goose_assets_tests.core.synthesis.test_leakage import ASY_ANSWER, ASY_QUESTION

ASY_SOLUTION = (
    "The graph is made of two pieces, drawn by this code:\n[asy]\nreal f(real x) {\n  real y;\n  "
    + ASY_ANSWER
    + "\n  return(y);\n}\n[/asy]\nOn the first piece $f(0) = 3 - 2 \\cdot 0 = 3$.\n"
    "On the second piece $f(3) = 3 - 1 = 2$.\nSo $f(0) + f(3) = 3 + 2 = \\boxed{5}$."
)

raw_documents, extracted_passages, masked_items, mcq_tasks = (ASSETS_BY_NAME['raw_documents'], ASSETS_BY_NAME['extracted_passages'], ASSETS_BY_NAME['masked_items'], ASSETS_BY_NAME['mcq_tasks'])


def test_an_answer_the_problem_statement_repeats_is_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the offline generator steers its span away from text the student reads elsewhere
    # (spans.NOVELTY_WEIGHT); an LLM backend may still mask such a step, and the leak check
    # must catch it whoever chose the span. dg.materialize runs in this process.
    monkeypatch.setattr(spans, "NOVELTY_WEIGHT", 0.0)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    doc = {"id": "asy-1", "domain": "math", "source": "goose_assets test", "license": "Apache-2.0",
           "title": "Piecewise graph", "text": f"Problem:\n{ASY_QUESTION}\n\nSolution:\n{ASY_SOLUTION}"}
    sample = (SAMPLE_CORPUS / "math.jsonl").read_text()
    (corpus / "math.jsonl").write_text(sample + json.dumps(doc) + "\n")
    resources = {"warehouse": WarehouseResource(home=str(tmp_path / "home")),
                 "corpus": CorpusResource(corpus_dir=str(corpus)), "llm": LLMResource()}
    result = dg.materialize(UPSTREAM_ASSETS, selection=[raw_documents, extracted_passages, masked_items, mcq_tasks],
                            partition_key="math", resources=resources)
    assert result.success
    (row,) = Warehouse(tmp_path / "home" / "warehouse.duckdb").query(
        "SELECT m.answer, t.leak_reasons FROM mcq_tasks t JOIN masked_items m USING (item_id) "
        "JOIN raw_documents d ON d.doc_id = t.doc_id WHERE d.source_id = 'asy-1'"
    )
    assert row["answer"] == ASY_ANSWER, "the offline generator masks the redrawn code"
    assert "answer_in_context" in row["leak_reasons"]
