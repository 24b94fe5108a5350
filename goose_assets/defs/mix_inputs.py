"""Reads what the training mix and its dataset card need from the warehouse."""

from __future__ import annotations

from typing import Any

from goose_assets.core.export import CardInfo
from goose_assets.core.funnel import DomainFunnel, mix_gap, pending
from goose_assets.core.mixing import MixConfig, plan_quotas
from goose_assets.core.records import DOMAINS
from goose_assets.resources import CorpusResource, LLMResource
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


def kept_counts(wh: Warehouse) -> dict[str, int]:
    """Kept tasks per domain, before the mix's own filters."""
    rows = wh.query("SELECT domain, count(*) AS n FROM filtered_tasks WHERE kept GROUP BY 1")
    return {r["domain"]: int(r["n"]) for r in rows}


def eligible_counts(wh: Warehouse, config: MixConfig) -> dict[str, int]:
    """Kept tasks per domain (minus never-solved ones when the mix drops them)."""
    zero_pass = " AND coalesce(d.pass_rate, 1) > 0" if config.drop_zero_pass else ""
    rows = wh.query(
        "SELECT f.domain, count(*) AS n FROM filtered_tasks f LEFT JOIN task_difficulty d USING (task_id) "
        f"WHERE f.kept{zero_pass} GROUP BY 1"
    )
    return {r["domain"]: int(r["n"]) for r in rows}


# the funnel's stages: the count field of DomainFunnel and the table that holds them
_FUNNEL_TABLES = {
    "documents": "raw_documents",
    "passages": "extracted_passages",
    "items": "masked_items",
    "tasks": "mcq_tasks",
    "screened": "filtered_tasks",
}


def domain_funnels(wh: Warehouse, mix_name: str) -> dict[str, DomainFunnel]:
    """Every domain's row counts from source rows to the mix `mix_name`, with the reasons
    rows were quarantined or dropped on the way (the input of `funnel.empty_cause`)."""
    counts: dict[str, dict[str, Any]] = {d: {} for d in DOMAINS}
    for field, table in _FUNNEL_TABLES.items():
        for r in wh.query(f"SELECT domain, count(*) AS n FROM {table} GROUP BY 1"):
            counts.setdefault(r["domain"], {})[field] = int(r["n"])
    for domain, n in kept_counts(wh).items():
        counts.setdefault(domain, {})["kept"] = n
    for r in wh.query("SELECT domain, count(*) AS n FROM training_mix WHERE mix_name = ? GROUP BY 1", [mix_name]):
        counts.setdefault(r["domain"], {})["in_mix"] = int(r["n"])
    quarantined: dict[str, dict[str, dict[str, int]]] = {}
    for r in wh.query("SELECT domain, stage, reason, count(*) AS n FROM quarantine GROUP BY ALL"):
        quarantined.setdefault(r["domain"], {}).setdefault(r["stage"], {})[r["reason"]] = int(r["n"])
    dropped: dict[str, dict[str, int]] = {}
    for r in wh.query(
        "SELECT domain, coalesce(drop_reason, '') AS reason, count(*) AS n FROM filtered_tasks "
        "WHERE NOT kept GROUP BY ALL"
    ):
        dropped.setdefault(r["domain"], {})[r["reason"]] = int(r["n"])
    return {
        domain: DomainFunnel(domain, **fields, quarantined=quarantined.get(domain, {}), dropped=dropped.get(domain, {}))
        for domain, fields in counts.items()
    }


def mix_gaps(
    wh: Warehouse, config: MixConfig, available: dict[str, int], corpus: CorpusResource, sharded: bool
) -> tuple[dict[str, str], list[str]]:
    """(domain -> why it has no task in the mix `config.name`, for every such domain;
    the domains whose tasks only wait for their own mix partition to run)."""
    quotas = plan_quotas(config, available)
    gaps: dict[str, str] = {}
    waiting: list[str] = []
    for domain, funnel in domain_funnels(wh, config.name).items():
        quota = quotas.get(domain, 0)
        if pending(funnel, quota):
            waiting.append(domain)
            continue
        left_out_by = (
            "weight 0" if config.weights is not None and not config.weights.get(domain)
            else "drop_zero_pass: none was ever solved" if config.drop_zero_pass else ""
        )
        plan = None
        if not funnel.documents:
            try:
                plan = corpus.domain_plan(domain, sharded)
            except ValueError:  # a broken sources_json: raw_documents has already said so
                plan = None
        gap = mix_gap(funnel, quota, plan, left_out_by)
        if gap:
            gaps[domain] = gap
    return gaps, waiting


def card_info(
    wh: Warehouse, mix_name: str, report: dict[str, Any], llm: LLMResource, hub_repo_id: str,
    empty_domains: dict[str, str] | None = None,
) -> CardInfo:
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
        empty_domains=empty_domains or {},
    )
