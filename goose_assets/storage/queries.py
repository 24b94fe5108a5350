"""Every query the assets, the reports and the CLI run against the warehouse, in one place.

Each function takes a `Warehouse` (DuckDB file or DuckLake catalog: the SQL is the same)
and returns plain rows, counts, or, where a whole table is processed in Python, a polars
DataFrame made from DuckDB's Arrow result without a copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import polars as pl

from goose_assets.core.records import DOMAINS
from goose_assets.storage.duckdb_warehouse import Warehouse
from goose_assets.storage.schema import partition_filter

# ------------------------------------------------------------------------ lineage

# documented in the README ("Lineage") and in every dataset card; `?` is the task id
LINEAGE_SQL = """
SELECT t.task_id, t.domain, t.answer_letter, t.options, t.question,
       f.kept, f.drop_reason, d.n_correct, d.n_rollouts, d.student, d.baseline_votes,
       m.item_id, m.answer, m.span_start, m.span_end, m.backend, m.model, m.prompt_version,
       p.passage_id, p.method AS passage_method, p.body_start, p.body_end,
       r.doc_id, r.source_id, r.source, r.license, r.title, r.url, r.source_path, r.content_sha256,
       (SELECT list(mix_name || ':' || split) FROM training_mix x WHERE x.task_id = t.task_id) AS mixes
FROM mcq_tasks t
JOIN masked_items m USING (item_id)
JOIN extracted_passages p ON p.passage_id = m.passage_id
JOIN raw_documents r ON r.doc_id = t.doc_id
LEFT JOIN filtered_tasks f ON f.task_id = t.task_id
LEFT JOIN task_difficulty d ON d.task_id = t.task_id
WHERE t.task_id = ?
"""


def task_lineage(wh: Warehouse, task_id: str) -> dict[str, Any] | None:
    """One task's history from `raw_documents` to `training_mix` (None: no such task)."""
    rows = wh.query(LINEAGE_SQL, [task_id])
    return rows[0] if rows else None


# ------------------------------------------------------------------------ the training mix

_TASK_COLUMNS = """
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
    return wh.query(_TASK_COLUMNS + " WHERE f.kept AND t.domain = ? ORDER BY t.task_id", [domain])


def mixed_tasks(wh: Warehouse, mix_name: str) -> pl.DataFrame:
    """The mix assembled from every domain partition of `training_mix`, as one frame."""
    return wh.query_frame(
        _TASK_COLUMNS.replace("SELECT t.task_id", "SELECT x.split, x.difficulty_bucket, t.task_id")
        + " JOIN training_mix x ON x.task_id = t.task_id AND x.mix_name = ? ORDER BY t.task_id",
        [mix_name],
    )


def kept_counts(wh: Warehouse) -> dict[str, int]:
    """Kept tasks per domain, before the mix's own filters."""
    rows = wh.query("SELECT domain, count(*) AS n FROM filtered_tasks WHERE kept GROUP BY 1")
    return {r["domain"]: int(r["n"]) for r in rows}


def eligible_counts(wh: Warehouse, drop_zero_pass: bool) -> dict[str, int]:
    """Kept tasks per domain (minus never-solved ones when the mix drops them)."""
    zero_pass = " AND coalesce(d.pass_rate, 1) > 0" if drop_zero_pass else ""
    rows = wh.query(
        "SELECT f.domain, count(*) AS n FROM filtered_tasks f LEFT JOIN task_difficulty d USING (task_id) "
        f"WHERE f.kept{zero_pass} GROUP BY 1"
    )
    return {r["domain"]: int(r["n"]) for r in rows}


# the funnel's stages: the count field of core.funnel.DomainFunnel and its table
_FUNNEL_TABLES = {
    "documents": "raw_documents",
    "passages": "extracted_passages",
    "items": "masked_items",
    "tasks": "mcq_tasks",
    "screened": "filtered_tasks",
}


def funnel_counts(wh: Warehouse, mix_name: str) -> dict[str, dict[str, Any]]:
    """Per domain: the row count at every stage up to the mix `mix_name`, and the reasons
    rows were quarantined (`quarantined`: stage -> reason -> n) or dropped (`dropped`)."""
    counts: dict[str, dict[str, Any]] = {d: {"quarantined": {}, "dropped": {}} for d in DOMAINS}

    def of(domain: str) -> dict[str, Any]:
        return counts.setdefault(domain, {"quarantined": {}, "dropped": {}})

    for field, table in _FUNNEL_TABLES.items():
        for r in wh.query(f"SELECT domain, count(*) AS n FROM {table} GROUP BY 1"):
            of(r["domain"])[field] = int(r["n"])
    for domain, n in kept_counts(wh).items():
        of(domain)["kept"] = n
    for r in wh.query("SELECT domain, count(*) AS n FROM training_mix WHERE mix_name = ? GROUP BY 1", [mix_name]):
        of(r["domain"])["in_mix"] = int(r["n"])
    for r in wh.query("SELECT domain, stage, reason, count(*) AS n FROM quarantine GROUP BY ALL"):
        of(r["domain"])["quarantined"].setdefault(r["stage"], {})[r["reason"]] = int(r["n"])
    for r in wh.query(
        "SELECT domain, coalesce(drop_reason, '') AS reason, count(*) AS n FROM filtered_tasks "
        "WHERE NOT kept GROUP BY ALL"
    ):
        of(r["domain"])["dropped"][r["reason"]] = int(r["n"])
    return counts


def answer_letter_counts(wh: Warehouse) -> list[dict[str, Any]]:
    """How many tasks of every domain have each answer letter."""
    return wh.query("SELECT answer_letter, count(*) AS n FROM mcq_tasks GROUP BY 1 ORDER BY 1")


def generators(wh: Warehouse) -> list[dict[str, Any]]:
    """Every (backend, model, prompt_version) that wrote a masked item."""
    return wh.query("SELECT DISTINCT backend, model, prompt_version FROM masked_items ORDER BY ALL")


def screening_outcomes(wh: Warehouse) -> dict[str, dict[str, int]]:
    """domain -> drop reason ('kept' for kept tasks) -> tasks."""
    drops: dict[str, dict[str, int]] = {}
    for r in wh.query(
        "SELECT domain, coalesce(drop_reason, 'kept') AS outcome, count(*) AS n FROM filtered_tasks GROUP BY ALL ORDER BY ALL"
    ):
        drops.setdefault(r["domain"], {})[r["outcome"]] = int(r["n"])
    return drops


# ------------------------------------------------------------------------ screening

# the kept tasks are re-screened a page at a time, each page on its own short connection
_PAGE = 2000

_KEPT_SQL = """
SELECT t.task_id, t.question, t.options, p.question AS source_question, p.body AS source_body
FROM filtered_tasks f
JOIN mcq_tasks t ON t.task_id = f.task_id
LEFT JOIN masked_items m ON m.item_id = t.item_id
LEFT JOIN extracted_passages p ON p.passage_id = m.passage_id
WHERE f.domain = ? AND f.kept AND t.task_id > ?
ORDER BY t.task_id
LIMIT ?
"""


def offered_task_count(wh: Warehouse, domain: str, shard: str | None = None) -> int:
    """A partition's tasks that option selection offers: all but those its AFLite step
    flagged `surface_solvable` (what the student answers and the gate reads)."""
    where, params = partition_filter(domain, shard)
    rows = wh.query(f"SELECT count(*) AS n FROM mcq_tasks WHERE {where} AND surface_solvable IS NOT TRUE", params)
    return int(rows[0]["n"])


def passage_sources(wh: Warehouse, domain: str) -> list[dict[str, Any]]:
    """(doc_id, question, body) of a domain's passages: what a task's source is screened as."""
    return wh.query("SELECT doc_id, question, body FROM extracted_passages WHERE domain = ?", [domain])


def all_passage_bodies(wh: Warehouse) -> list[tuple[str, str, str]]:
    """(doc_id, domain, body) of every passage of every domain, for the cross-domain dedup."""
    with wh.connect() as con:  # tuples straight from the cursor: no dict per passage
        return con.execute("SELECT doc_id, domain, body FROM extracted_passages ORDER BY doc_id").fetchall()


def kept_task_pages(wh: Warehouse, domain: str) -> Iterator[list[dict[str, Any]]]:
    """The domain's kept tasks with their source texts, page by page (keyset pagination)."""
    last = ""
    while True:
        page = wh.query(_KEPT_SQL, [domain, last, _PAGE])
        if not page:
            return
        yield page
        last = page[-1]["task_id"]


# ------------------------------------------------------------------------ reports

_STAGE_COUNTS_SQL = """
SELECT (SELECT count(*) FROM raw_documents WHERE domain = $1) AS documents,
       (SELECT count(*) FROM extracted_passages WHERE domain = $1) AS passages,
       (SELECT count(*) FROM masked_items WHERE domain = $1) AS items,
       (SELECT count(*) FROM mcq_tasks WHERE domain = $1) AS tasks,
       (SELECT count(*) FROM filtered_tasks WHERE domain = $1 AND kept) AS kept
"""

# the light columns of every task: the summary header covers all of them, not the sample
_TASK_STATS_SQL = """
SELECT t.answer_letter, t.answer_index, len(t.options) AS n_options,
       d.baseline_votes, d.n_correct, d.n_rollouts, f.kept, f.drop_reason
FROM mcq_tasks t
LEFT JOIN task_difficulty d ON d.task_id = t.task_id AND d.domain = t.domain
LEFT JOIN filtered_tasks f ON f.task_id = t.task_id AND f.domain = t.domain
WHERE t.domain = $1
"""

_QUARANTINE_SQL = "SELECT stage, reason, count(*) AS n FROM quarantine WHERE domain = $1 GROUP BY stage, reason"

_SELECTION_SQL = "SELECT * FROM option_selection WHERE domain = $1"

# ordering by md5(task_id) is a deterministic pseudo-random sample: the same tasks on every
# re-run, and an unbiased mix of kept and dropped ones
_SAMPLE_SQL = """
WITH sample AS (SELECT task_id FROM mcq_tasks WHERE domain = $1 ORDER BY md5(task_id) LIMIT $2)
SELECT t.task_id, t.doc_id, t.shape, t.context_masked, t.options, t.answer_letter, t.answer_index,
       m.backend, m.model, m.prompt_version,
       d.student, d.n_correct, d.n_rollouts, d.baseline_votes,
       f.kept, f.drop_reason, f.detail
FROM mcq_tasks t
JOIN sample s ON s.task_id = t.task_id
LEFT JOIN masked_items m ON m.item_id = t.item_id AND m.domain = t.domain
LEFT JOIN task_difficulty d ON d.task_id = t.task_id AND d.domain = t.domain
LEFT JOIN filtered_tasks f ON f.task_id = t.task_id AND f.domain = t.domain
WHERE t.domain = $1
ORDER BY t.task_id
"""

_DOCUMENTS_SQL = """
SELECT doc_id, license, source, title, url,
       left(coalesce(nullif(text, ''), html, ''), $3) AS text,
       length(coalesce(nullif(text, ''), html, '')) AS text_length
FROM raw_documents
WHERE domain = $1 AND doc_id IN (SELECT unnest($2::VARCHAR[]))
"""

_LENGTHS_SQL = """
SELECT (SELECT list(length(answer)) FROM masked_items WHERE domain = $1) AS span_lengths,
       (SELECT flatten(list(list_transform(options, o -> length(o)))) FROM mcq_tasks WHERE domain = $1) AS option_lengths
"""


def domain_summary_inputs(wh: Warehouse, domain: str) -> dict[str, Any]:
    """What a domain's gallery and quality-report summary reads: stage counts, every task's
    light columns, quarantine counts and the option-selection rows (keyword arguments of
    `publish.gallery.render.summarize`, after the domain)."""
    return {
        "stage_counts": wh.query(_STAGE_COUNTS_SQL, [domain])[0],
        "stat_rows": wh.query(_TASK_STATS_SQL, [domain]),
        "quarantine_rows": wh.query(_QUARANTINE_SQL, [domain]),
        "selection_rows": wh.query(_SELECTION_SQL, [domain]),
    }


def task_sample(wh: Warehouse, domain: str, size: int) -> list[dict[str, Any]]:
    """A deterministic sample of a domain's tasks with their generator, difficulty and outcome."""
    return wh.query(_SAMPLE_SQL, [domain, size])


def source_documents(wh: Warehouse, domain: str, doc_ids: list[str], max_chars: int) -> list[dict[str, Any]]:
    """The source rows of `doc_ids`, their text cut to `max_chars` (and its full length)."""
    return wh.query(_DOCUMENTS_SQL, [domain, doc_ids, max_chars])


def length_distributions(wh: Warehouse, domain: str) -> dict[str, list[int]]:
    """Answer-span and option lengths (characters) of a domain."""
    row = wh.query(_LENGTHS_SQL, [domain])[0]
    return {"span_lengths": row["span_lengths"] or [], "option_lengths": row["option_lengths"] or []}
