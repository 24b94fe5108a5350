"""Reads what the training mix and its dataset card need from the warehouse."""

from __future__ import annotations

from typing import Any

from goose_assets.core.export import CardInfo
from goose_assets.core.mixing import MixConfig
from goose_assets.resources import LLMResource
from goose_assets.warehouse import Warehouse

TASK_COLUMNS = """
SELECT t.task_id, t.domain, t.question, t.options, t.answer_letter, t.answer_index, t.doc_id,
       d.pass_rate, r.license, r.source, r.source_id, m.backend, m.model, m.prompt_version
FROM filtered_tasks f
JOIN mcq_tasks t USING (task_id)
JOIN masked_items m ON m.item_id = t.item_id
JOIN raw_documents r ON r.doc_id = t.doc_id
LEFT JOIN task_difficulty d ON d.task_id = t.task_id
"""


def kept_tasks(wh: Warehouse, domain: str) -> list[dict[str, Any]]:
    """A domain's kept tasks, with what sampling, lineage and the card need."""
    return wh.query(TASK_COLUMNS + " WHERE f.kept AND t.domain = ? ORDER BY t.task_id", [domain])


def mixed_tasks(wh: Warehouse, mix_name: str) -> list[dict[str, Any]]:
    """The mix assembled from every domain partition of `training_mix`."""
    return wh.query(
        TASK_COLUMNS.replace("SELECT t.task_id", "SELECT x.split, x.difficulty_bucket, t.task_id")
        + " JOIN training_mix x ON x.task_id = t.task_id AND x.mix_name = ? ORDER BY t.task_id",
        [mix_name],
    )


def eligible_counts(wh: Warehouse, config: MixConfig) -> dict[str, int]:
    """Kept tasks per domain (minus never-solved ones when the mix drops them)."""
    zero_pass = " AND coalesce(d.pass_rate, 1) > 0" if config.drop_zero_pass else ""
    rows = wh.query(
        "SELECT f.domain, count(*) AS n FROM filtered_tasks f LEFT JOIN task_difficulty d USING (task_id) "
        f"WHERE f.kept{zero_pass} GROUP BY 1"
    )
    return {r["domain"]: int(r["n"]) for r in rows}


def card_info(wh: Warehouse, mix_name: str, report: dict[str, Any], llm: LLMResource, hub_repo_id: str) -> CardInfo:
    """What the dataset card needs beyond the tasks: generator, prompts and filter counts."""
    generators = wh.query("SELECT DISTINCT backend, model, prompt_version FROM masked_items ORDER BY ALL")
    drops: dict[str, dict[str, int]] = {}
    for r in wh.query(
        "SELECT domain, coalesce(drop_reason, 'kept') AS outcome, count(*) AS n FROM filtered_tasks GROUP BY ALL ORDER BY ALL"
    ):
        drops.setdefault(r["domain"], {})[r["outcome"]] = int(r["n"])
    return CardInfo(
        mix_name=mix_name,
        mix_report=report,
        backend=",".join(sorted({g["backend"] for g in generators})) or llm.backend,
        model=",".join(sorted({g["model"] for g in generators})) or llm.model,
        student_model=llm.student_model or llm.model or "baseline-ensemble",
        prompt_versions=sorted({g["prompt_version"] for g in generators}),
        filter_drops=drops,
        hub_repo_id=hub_repo_id,
    )
