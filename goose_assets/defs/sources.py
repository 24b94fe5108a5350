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
    sharded sources, one shard's files (ids namespaced by the shard key)."""
    scope = scope_of(context.partition_key)
    domain = scope.domain
    specs = corpus.sources(domain, scope.shard)
    wh = warehouse.warehouse()
    quarantined: list[QuarantineRow] = []
    shapes: Counter[str] = Counter()
    preview: list[dict[str, object]] = []

    def documents():  # noqa: ANN202 - a generator streamed into the warehouse
        for row in ingest_logic.ingest(specs, domain):
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
    context.log.info(f"{scope.label}: {written} documents, {len(quarantined)} quarantined {dict(reasons)}")
    return dg.MaterializeResult(
        metadata={
            "rows_in": written + len(quarantined),
            "rows_out": written,
            "quarantined": len(quarantined),
            "drop_reasons": counts_md(reasons),
            "shapes": dict(shapes),
            "sources": [f"{s.kind}:{s.path}" for s in specs],
            "preview": table_preview(preview, ["source_id", "shape", "license", "title", "text"]),
            "dagster/row_count": written,
        }
    )
