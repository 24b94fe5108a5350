"""Reports: the task gallery (a static HTML page per domain for auditing generated tasks)
and the quality report (markdown plus plots)."""

import dagster as dg

from goose_assets.defs import metadata
from goose_assets.defs.code_versions import code_version
from goose_assets.defs.executors import WRITE_POOL
from goose_assets.defs.partitions import (
    PartitionLayout,
    domain_partitions,
    item_key,
    shard_partitions,
    sharded_from_env,
)
from goose_assets.defs.resources import WarehouseResource
from goose_assets.publish import report
from goose_assets.publish.gallery import render
from goose_assets.storage import queries


class TaskGalleryConfig(dg.Config):
    sample_size: int = render.DEFAULT_SAMPLE_SIZE
    """Most tasks per domain page (a deterministic sample); caps the file size. The page
    stays quick at 10,000; the summary header always covers every task."""
    max_source_chars: int = render.DEFAULT_MAX_SOURCE_CHARS
    """Characters of each source document kept for the 'original text' view."""
    page_size: int = render.DEFAULT_PAGE_SIZE
    """Task cards per page in the browser."""


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
    summary = render.summarize(domain, **queries.domain_summary_inputs(wh, domain), sample_size=config.sample_size)
    sample = queries.task_sample(wh, domain, config.sample_size)
    doc_ids = sorted({r["doc_id"] for r in sample if r["doc_id"]})
    documents = {
        r["doc_id"]: render.document_record(r, config.max_source_chars)
        for r in queries.source_documents(wh, domain, doc_ids, config.max_source_chars)
    }
    page_html = render.render_domain_page(
        summary, [render.task_record(r) for r in sample], documents, page_size=config.page_size
    )
    files = render.write_gallery(warehouse.home_path() / "reports" / "gallery", summary, page_html)
    context.log.info(f"gallery for {domain}: {len(sample)} of {summary.n_tasks} tasks, {files.page_bytes / 1e6:.2f} MB")
    return dg.MaterializeResult(metadata=metadata.task_gallery_metadata(summary, files, sample, config.sample_size))


def _latest_difficulty_gate(context: dg.AssetExecutionContext, domain: str) -> dict[str, object]:
    """The classifier AUROC lives in task_difficulty's materialization metadata (it is a
    property of the whole partition, not of any row): read it from the instance. With
    shards, the worst shard speaks for the domain: its highest AUROC, and the gate passes
    only if it passed on every shard."""
    if sharded_from_env():
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
    return report.worst_gate(gates)


def quality_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """The domain's quality report, `GOOSE_HOME/reports/quality/<domain>/quality_report.md`
    plus a PNG of plots: yield at each stage, drop reasons, triviality-baseline accuracies
    against chance, the odd-one-out classifier's AUROC and the gate verdict, option
    selection's AUROC before and after, answer-span and option length histograms, and the
    answer-letter histogram."""
    domain = context.partition_key
    wh = warehouse.warehouse()
    summary = render.summarize(domain, **queries.domain_summary_inputs(wh, domain), sample_size=0)
    gate = _latest_difficulty_gate(context, domain)
    stats = report.DomainQualityStats.from_summary(summary, gate, queries.length_distributions(wh, domain))
    paths = report.write_quality_report([stats], warehouse.home_path() / "reports" / "quality" / domain,
                                        title=f"Golden Goose quality report: {domain}")
    return dg.MaterializeResult(metadata=metadata.quality_report_metadata(summary, paths, gate))


def reports_assets(layout: PartitionLayout) -> list[dg.AssetsDefinition]:
    # DuckDB readers take the same file lock as writers, so reads queue in the writer pool
    stage = {"partitions_def": domain_partitions, "group_name": "reports", "pool": WRITE_POOL, "deps": ["filtered_tasks"],
             "automation_condition": layout.fan_in_automation()}
    return [
        dg.asset(**stage, kinds={"html"}, code_version=code_version(task_gallery))(task_gallery),
        dg.asset(**stage, kinds={"markdown", "matplotlib"}, code_version=code_version(quality_report))(quality_report),
    ]
