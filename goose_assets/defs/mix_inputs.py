"""Reads what the training mix and its dataset card need from the warehouse."""

from __future__ import annotations

from typing import Any

from goose_assets.warehouse import Warehouse

KEPT_TASKS_SQL = """
SELECT t.task_id, t.domain, t.question, t.options, t.answer_letter, t.answer_index, t.doc_id,
       d.pass_rate, r.license, r.source, r.source_id, m.backend, m.model, m.prompt_version
FROM filtered_tasks f
JOIN mcq_tasks t USING (task_id)
JOIN masked_items m ON m.item_id = t.item_id
JOIN raw_documents r ON r.doc_id = t.doc_id
LEFT JOIN task_difficulty d ON d.task_id = t.task_id
WHERE f.kept
ORDER BY t.task_id
"""


def kept_tasks(wh: Warehouse) -> list[dict[str, Any]]:
    """Every kept task of every domain, with what lineage and the card need."""
    return wh.query(KEPT_TASKS_SQL)


def card_facts(wh: Warehouse, backend: str) -> dict[str, Any]:
    """Sources, licenses, generators, prompt versions and filter counts for the dataset card."""
    return {
        "licenses": wh.query(
            "SELECT domain, source, license, count(*) AS documents FROM raw_documents "
            "GROUP BY ALL ORDER BY domain, source, license"
        ),
        "generators": wh.query(
            "SELECT domain, backend, model, prompt_version, count(*) AS items FROM masked_items "
            "GROUP BY ALL ORDER BY domain, backend, model, prompt_version"
        ),
        "filters": wh.query(
            "SELECT domain, coalesce(drop_reason, 'kept') AS outcome, count(*) AS tasks FROM filtered_tasks "
            "GROUP BY ALL ORDER BY domain, outcome"
        ),
        "quarantine": wh.query(
            "SELECT stage, domain, reason, count(*) AS rows FROM quarantine GROUP BY ALL ORDER BY stage, domain, reason"
        ),
        "backend": backend,
    }
