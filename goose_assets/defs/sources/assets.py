"""Stage 1 (sources): ingest documents per domain, quarantining every bad row."""

from collections import Counter

import dagster as dg

from goose_assets.core.ingest import readers
from goose_assets.core.records import Document
from goose_assets.defs import metadata
from goose_assets.defs.code_versions import code_version
from goose_assets.defs.executors import WRITE_POOL
from goose_assets.defs.partitions import PartitionLayout, scope_of
from goose_assets.defs.resources import CorpusResource, WarehouseResource


def raw_documents(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, corpus: CorpusResource
) -> dg.MaterializeResult:
    """Source rows of one domain: id, source, license, text or raw HTML, content hash and
    detected shape (qa | code | passage | html). Reads jsonl in the corpus schema, parquet,
    local Hugging Face datasets, HTML folders and WARC files. Empty, undecodable, binary,
    oversized, malformed and duplicate-id rows go to `quarantine` with their reason. With
    sharded sources, one shard's files (ids namespaced by the shard key). A domain with no
    source materializes empty and says where the project looked; a configured path that
    does not exist or cannot be read fails the run with one line naming it."""
    scope = scope_of(context.partition_key)
    problems = corpus.problems([scope.domain], scope.shard)
    if problems:
        raise dg.Failure(description="; ".join(problems))
    plan = corpus.source_plan(scope.domain, scope.shard)
    wh = warehouse.warehouse()
    tally, rows_per_source = metadata.Tally(), Counter[str]()

    def count(doc: Document) -> None:
        tally.counters["shapes"][doc.shape] += 1

    documents = tally.rows(readers.ingest(plan.specs, scope.domain, rows_per_source), count)
    written = wh.replace_partition("raw_documents", scope.domain, documents, shard=scope.shard)
    wh.replace_quarantine("ingest", scope.domain, tally.quarantine_rows(), shard=scope.shard)
    warning = readers.empty_source_warning(plan, written, len(tally.quarantined), rows_per_source)
    reasons = dict(Counter(q.reason for q in tally.quarantined))
    context.log.info(f"{scope.label}: {written} documents, {len(tally.quarantined)} quarantined {reasons}")
    if warning:
        context.log.warning(warning)
    return dg.MaterializeResult(metadata=metadata.raw_documents_metadata(written, tally, plan, rows_per_source, warning))


def sources_assets(layout: PartitionLayout) -> list[dg.AssetsDefinition]:
    return [
        dg.asset(
            partitions_def=layout.items, group_name="sources", kinds={"duckdb", "python"}, pool=WRITE_POOL,
            code_version=code_version(raw_documents),
        )(raw_documents)
    ]
