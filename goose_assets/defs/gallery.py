"""Reports: the task gallery (a static HTML page per domain for auditing generated tasks)
and the quality report (markdown plus plots)."""


import dagster as dg

from goose_assets.core import gallery, gallery_static, report
from goose_assets.defs.common import WRITE_POOL, code_version, table_preview
from goose_assets.partitions import (
    SHARDED,
    domain_partitions,
    fan_in_automation,
    item_key,
    shard_partitions,
)
from goose_assets.resources import WarehouseResource

from .filtering import filtered_tasks

STAGE_COUNTS_SQL = """
SELECT (SELECT count(*) FROM raw_documents WHERE domain = $1) AS documents,
       (SELECT count(*) FROM extracted_passages WHERE domain = $1) AS passages,
       (SELECT count(*) FROM masked_items WHERE domain = $1) AS items,
       (SELECT count(*) FROM mcq_tasks WHERE domain = $1) AS tasks,
       (SELECT count(*) FROM filtered_tasks WHERE domain = $1 AND kept) AS kept
"""

# the light columns of every task: the summary header covers all of them, not the sample
TASK_STATS_SQL = """
SELECT t.answer_letter, t.answer_index, len(t.options) AS n_options,
       d.baseline_votes, d.n_correct, d.n_rollouts, f.kept, f.drop_reason
FROM mcq_tasks t
LEFT JOIN task_difficulty d ON d.task_id = t.task_id AND d.domain = t.domain
LEFT JOIN filtered_tasks f ON f.task_id = t.task_id AND f.domain = t.domain
WHERE t.domain = $1
"""

QUARANTINE_SQL = "SELECT stage, reason, count(*) AS n FROM quarantine WHERE domain = $1 GROUP BY stage, reason"

SELECTION_SQL = "SELECT * FROM option_selection WHERE domain = $1"

# ordering by md5(task_id) is a deterministic pseudo-random sample: the same tasks on every
# re-run, and an unbiased mix of kept and dropped ones
SAMPLE_SQL = """
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

DOCUMENTS_SQL = """
SELECT doc_id, license, source, title, url,
       left(coalesce(nullif(text, ''), html, ''), $3) AS text,
       length(coalesce(nullif(text, ''), html, '')) AS text_length
FROM raw_documents
WHERE domain = $1 AND doc_id IN (SELECT unnest($2::VARCHAR[]))
"""


class TaskGalleryConfig(dg.Config):
    sample_size: int = gallery.DEFAULT_SAMPLE_SIZE
    """Most tasks per domain page (a deterministic sample); caps the file size. The page
    stays quick at 10,000; the summary header always covers every task."""
    max_source_chars: int = gallery.DEFAULT_MAX_SOURCE_CHARS
    """Characters of each source document kept for the 'original text' view."""
    page_size: int = gallery.DEFAULT_PAGE_SIZE
    """Task cards per page in the browser."""


@dg.asset(
    partitions_def=domain_partitions,
    group_name="reports",
    kinds={"html"},
    # DuckDB readers take the same file lock as writers, so reads queue in the writer pool
    pool=WRITE_POOL,
    deps=[filtered_tasks],
    automation_condition=fan_in_automation(),
    code_version=code_version(gallery, gallery_static),
)
def task_gallery(
    context: dg.AssetExecutionContext, config: TaskGalleryConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """A static, self-contained HTML gallery of the domain's tasks for auditors, at
    `GOOSE_HOME/reports/gallery/<domain>.html` with an `index.html` over all domains. The
    header shows the yield per stage, drop reasons, the answer-letter histogram, baseline
    accuracies against chance and the difficulty histogram, over every task. Below it, a
    deterministic sample of tasks: masked context with [MASK] highlighted, the options with
    the answer behind a 'reveal answer' toggle, source document, licence and original text,
    backend/model/prompt version, difficulty and baseline votes, kept or the drop reason;
    filter, search, sort by difficulty, paginate. The page makes no network requests and
    renders every document-derived string as text."""
    if config.sample_size < 1 or config.page_size < 1:
        raise dg.Failure(f"sample_size and page_size must be >= 1, got {config.sample_size} and {config.page_size}")
    domain = context.partition_key
    wh = warehouse.warehouse()
    summary = gallery.summarize(
        domain,
        wh.query(STAGE_COUNTS_SQL, [domain])[0],
        wh.query(TASK_STATS_SQL, [domain]),
        wh.query(QUARANTINE_SQL, [domain]),
        sample_size=config.sample_size,
        selection_rows=wh.query(SELECTION_SQL, [domain]),
    )
    sample = wh.query(SAMPLE_SQL, [domain, config.sample_size])
    doc_ids = sorted({r["doc_id"] for r in sample if r["doc_id"]})
    documents = {
        r["doc_id"]: gallery.document_record(r, config.max_source_chars)
        for r in wh.query(DOCUMENTS_SQL, [domain, doc_ids, config.max_source_chars])
    }
    page_html = gallery.render_domain_page(
        summary, [gallery.task_record(r) for r in sample], documents, page_size=config.page_size
    )
    files = gallery.write_gallery(warehouse.home_path() / "reports" / "gallery", summary, page_html)
    context.log.info(f"gallery for {domain}: {len(sample)} of {summary.n_tasks} tasks, {files.page_bytes / 1e6:.2f} MB")
    return dg.MaterializeResult(
        metadata={
            "gallery": dg.MetadataValue.path(str(files.page)),
            "index": dg.MetadataValue.path(str(files.index)),
            "tasks": summary.n_tasks,
            "kept": summary.n_kept,
            "dropped": summary.n_dropped,
            "tasks_in_page": len(sample),
            "sample_size": config.sample_size,
            "page_bytes": files.page_bytes,
            "domains_in_index": list(files.domains_in_index),
            "preview": table_preview(sample, ["context_masked", "options", "answer_letter"]),
        }
    )


LENGTHS_SQL = """
SELECT (SELECT list(length(answer)) FROM masked_items WHERE domain = $1) AS span_lengths,
       (SELECT flatten(list(list_transform(options, o -> length(o)))) FROM mcq_tasks WHERE domain = $1) AS option_lengths
"""


def _latest_difficulty_metadata(context: dg.AssetExecutionContext, domain: str) -> dict[str, object]:
    """The classifier AUROC lives in task_difficulty's materialization metadata (it is a
    property of the whole partition, not of any row): read it from the instance. With
    shards, the worst shard speaks for the domain: its highest AUROC, and the gate passes
    only if it passed on every shard."""
    if SHARDED:
        keys = [item_key(domain, s) for s in context.instance.get_dynamic_partitions(shard_partitions.name)]
    else:
        keys = [domain]
    gates = []
    for key in keys:
        result = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("task_difficulty"), asset_partitions=[key]), limit=1
        )
        if result.records:
            value = result.records[0].asset_materialization.metadata.get("baselines")  # type: ignore[union-attr]
            gate = dict(getattr(value, "value", None) or {})
            if gate.get("classifier_auroc") is not None:
                gates.append(gate)
    if len(gates) <= 1:
        return gates[0] if gates else {}
    return {
        "classifier_auroc": max(g["classifier_auroc"] for g in gates),
        "gate_passed": all(g.get("gate_passed") for g in gates),
    }


@dg.asset(
    partitions_def=domain_partitions,
    group_name="reports",
    kinds={"markdown", "matplotlib"},
    pool=WRITE_POOL,
    deps=[filtered_tasks],
    automation_condition=fan_in_automation(),
    code_version=code_version(gallery, report),
)
def quality_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """The domain's quality report, `GOOSE_HOME/reports/quality/<domain>/quality_report.md`
    plus a PNG of plots: yield at each stage, drop reasons, triviality-baseline accuracies
    against chance, the odd-one-out classifier's AUROC and the gate verdict, option
    selection's AUROC before and after, answer-span and option length histograms, and the
    answer-letter histogram."""
    domain = context.partition_key
    wh = warehouse.warehouse()
    summary = gallery.summarize(
        domain, wh.query(STAGE_COUNTS_SQL, [domain])[0], wh.query(TASK_STATS_SQL, [domain]),
        wh.query(QUARANTINE_SQL, [domain]), sample_size=0, selection_rows=wh.query(SELECTION_SQL, [domain]),
    )
    lengths = wh.query(LENGTHS_SQL, [domain])[0]
    gate = _latest_difficulty_metadata(context, domain)
    stats = report.DomainQualityStats(
        domain=domain,
        stage_yield=summary.stage_counts,
        drop_reasons={**summary.drop_reasons, **{f"quarantine {k}": v for k, v in summary.quarantine.items()}},
        baseline_accuracy=dict(summary.baseline_accuracy()),
        chance=summary.chance,
        auroc=gate.get("classifier_auroc"),  # type: ignore[arg-type]
        gate_passed=gate.get("gate_passed"),  # type: ignore[arg-type]
        selection_auroc_before=summary.selection.get("auroc_before"),
        selection_auroc_after=summary.selection.get("auroc_after"),
        span_lengths=lengths["span_lengths"] or [],
        option_lengths=lengths["option_lengths"] or [],
        letter_histogram=summary.answer_letters,
    )
    paths = report.write_quality_report([stats], warehouse.home_path() / "reports" / "quality" / domain,
                                        title=f"Golden Goose quality report: {domain}")
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.path(str(paths.markdown)),
            "plots": [str(p) for p in paths.plots],
            "baseline_accuracy": {k: round(v, 4) for k, v in summary.baseline_accuracy().items()},
            "chance": round(summary.chance, 4),
            "classifier_auroc": gate.get("classifier_auroc"),
            "selection": summary.selection,
            "stage_yield": summary.stage_counts,
            "report_markdown": dg.MetadataValue.md(paths.markdown.read_text(encoding="utf-8")[:20000]),
        }
    )
