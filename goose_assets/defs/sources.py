"""Stage 1 (sources): ingest documents per domain, quarantining every bad row."""


from collections import Counter

import dagster as dg

from goose_assets.core import ingest as ingest_logic
from goose_assets.core.records import Document, QuarantineRow
from goose_assets.defs.common import WRITE_POOL, code_version, counts_md, table_preview
from goose_assets.partitions import item_partitions, scope_of
from goose_assets.resources import CorpusResource, WarehouseResource


@dg.asset(
    partitions_def=item_partitions,
    group_name="sources",
    kinds={"duckdb", "python"},
    pool=WRITE_POOL,
    code_version=code_version(ingest_logic),
)
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
    domain = scope.domain
    problems = corpus.problems([domain], scope.shard)
    if problems:
        raise dg.Failure(description="; ".join(problems))
    plan = corpus.source_plan(domain, scope.shard)
    wh = warehouse.warehouse()
    quarantined: list[QuarantineRow] = []
    shapes: Counter[str] = Counter()
    preview: list[dict[str, object]] = []
    rows_per_source: Counter[str] = Counter()

    def documents():  # noqa: ANN202 - a generator streamed into the warehouse
        for row in ingest_logic.ingest(plan.specs, domain, rows_per_source):
            if isinstance(row, Document):
                shapes[row.shape] += 1
                if len(preview) < 3:
                    preview.append(row.to_row())
                yield row.to_row()
            else:
                quarantined.append(row)

    written = wh.replace_partition("raw_documents", domain, documents(), shard=scope.shard)
    wh.replace_quarantine("ingest", domain, (q.to_row() for q in quarantined), shard=scope.shard)
    reasons = Counter(q.reason for q in quarantined)
    warning = ingest_logic.empty_source_warning(plan, written, len(quarantined), rows_per_source)
    context.log.info(f"{scope.label}: {written} documents, {len(quarantined)} quarantined {dict(reasons)}")
    if warning:
        context.log.warning(warning)
    return dg.MaterializeResult(
        metadata={
            "rows_in": written + len(quarantined),
            "rows_out": written,
            "quarantined": len(quarantined),
            "drop_reasons": counts_md(reasons),
            "shapes": dict(shapes),
            "sources": [f"{s.kind}:{s.path} ({rows_per_source[s.path]} rows)" for s in plan.specs],
            "no_source": not plan.has_source,
            "looked_for": list(plan.looked_for),
            **({"warning": warning} if warning else {}),
            "preview": table_preview(preview, ["source_id", "shape", "license", "title", "text"]),
            "dagster/row_count": written,
        }
    )
