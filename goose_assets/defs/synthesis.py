"""Stage 2 (synthesis): passages, masked spans with distractors, and rendered MCQ tasks."""


import dataclasses
from collections import Counter

import dagster as dg

from goose_assets.core import distractors, leakage, masking, mcq, passages, spans, synthesis, web
from goose_assets.core.balance import letter_balance
from goose_assets.core.records import Document, MaskedItem, Passage, QuarantineRow
from goose_assets.defs.checks import (
    ANSWER_LEAKAGE,
    LETTER_BALANCE,
    MAX_LEAK_SHARE,
    TASK_SCHEMA,
    spec,
)
from goose_assets.defs.common import (
    WRITE_POOL,
    Progress,
    code_version,
    counts_md,
    generate,
    table_preview,
)
from goose_assets.llm import offline
from goose_assets.partitions import item_partitions, scope_of
from goose_assets.resources import LLMResource, WarehouseResource

from .sources import raw_documents


class PassageConfig(dg.Config):
    web_extraction: str = "auto"
    """How web pages become passages: 'window' (offline: the best 100-600-word window),
    'llm' (the two-call path: an extraction prompt, then the synthesis prompt), or 'auto'
    (llm with an LLM backend, window with the offline one)."""


@dg.asset(
    partitions_def=item_partitions,
    group_name="synthesis",
    kinds={"duckdb", "python"},
    pool=WRITE_POOL,
    deps=[raw_documents],
    code_version=code_version(passages, web),
)
def extracted_passages(
    context: dg.AssetExecutionContext, config: PassageConfig, warehouse: WarehouseResource, llm: LLMResource
) -> dg.MaterializeResult:
    """The text each task is built from. QA pairs split into question and reference
    solution; code keeps the file as the solution with its docstring as the question;
    passages pass through; raw web pages go through boilerplate removal, language/quality/
    relevance pre-filters and then either the best 100-600-word window (offline) or an LLM
    extraction prompt checked for length and grounding in the page, or are dropped with a
    reason."""
    scope = scope_of(context.partition_key)
    domain = scope.domain
    wh = warehouse.warehouse()
    use_llm = config.web_extraction == "llm" or (config.web_extraction == "auto" and llm.backend != "offline")
    quarantined: list[QuarantineRow] = []
    results: list[Passage] = []
    pending: list[tuple[Document, str]] = []  # screened pages waiting for LLM extraction
    total = wh.count("raw_documents", domain, shard=scope.shard)
    progress = Progress(context.log, f"{scope.label} passages", total)
    done = 0
    document_columns = [f.name for f in dataclasses.fields(Document)]
    for batch in wh.iter_rows("raw_documents", domain, document_columns, order_by="doc_id", shard=scope.shard):
        for r in batch:
            doc = Document(**r)
            if doc.shape == "html" and use_llm:
                screened = web.screen_page(doc.html, domain)
                if screened.ok:
                    pending.append((doc, screened.main_text))
                else:
                    quarantined.append(QuarantineRow("extract", domain, doc.doc_id, screened.reason or "no_passage", screened.detail[:500], doc.html[:2000]))
                continue
            result = passages.passage_from_document(doc)
            (quarantined if isinstance(result, QuarantineRow) else results).append(result)  # type: ignore[arg-type]
        done += len(batch)
        progress(done)
    extra: dict[str, object] = {}
    if pending:
        backend = llm.make("generator")
        requests = [passages.extraction_request(doc, main_text) for doc, main_text in pending]
        generation = generate(wh, backend, requests, Progress(context.log, f"{scope.label} web extraction", len(requests)))
        for (doc, main_text), req, resp in zip(pending, requests, generation.responses, strict=True):
            result = passages.passage_from_extraction(doc, main_text, req, resp)
            (quarantined if isinstance(result, QuarantineRow) else results).append(result)  # type: ignore[arg-type]
        extra = generation.metadata("extraction_")
    written = wh.replace_partition("extracted_passages", domain, (p.to_row() for p in results), shard=scope.shard)
    wh.replace_quarantine("extract", domain, (q.to_row() for q in quarantined), shard=scope.shard)
    lengths = [p.word_count for p in results]
    web_passages = [p for p in results if p.method != "passthrough"]
    urls = {r["doc_id"]: r["url"] for r in wh.read("raw_documents", domain, ["doc_id", "url", "shape"], shard=scope.shard) if r["shape"] == "html"}
    reasons = Counter(q.reason for q in quarantined)
    return dg.MaterializeResult(
        metadata={
            "rows_in": total,
            "rows_out": written,
            "web_pages_in": len(urls),
            "web_passages_out": len(web_passages),
            "drop_reasons": counts_md(reasons),
            "methods": dict(Counter(p.method.split("(")[0] for p in results)),
            "passage_words_histogram": dict(sorted(Counter(f"{100 * (n // 100)}-{100 * (n // 100) + 99}" for n in lengths).items())),
            "passage_words_median": sorted(lengths)[len(lengths) // 2] if lengths else 0,
            "web_examples": table_preview([{**p.to_row(), "url": urls.get(p.doc_id, "")} for p in web_passages[:3]], ["url", "method", "body"]),
            "preview": table_preview([p.to_row() for p in results[:3]], ["doc_id", "shape", "method", "question", "body"]),
            "dagster/row_count": written,
            **extra,
        },
    )


@dg.asset(
    partitions_def=item_partitions,
    group_name="synthesis",
    kinds={"duckdb", "python"},
    pool=WRITE_POOL,
    deps=[extracted_passages],
    code_version=code_version(masking, synthesis, spans, distractors, offline),
)
def masked_items(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, llm: LLMResource
) -> dg.MaterializeResult:
    """One generator call per passage (the paper's single JSON call): a contiguous span of
    key reasoning steps replaced by [MASK], the removed span as the answer, and at least 10
    distractors. Every answer is validated (verbatim span, exact rebuild, distinct
    distractors within a length band); failures are quarantined with the raw reply."""
    scope = scope_of(context.partition_key)
    domain = scope.domain
    wh = warehouse.warehouse()
    backend = llm.make("generator")
    columns = [f.name for f in dataclasses.fields(Passage)]
    psgs = [Passage(**r) for r in wh.read("extracted_passages", domain, columns, order_by="passage_id", shard=scope.shard)]
    backend.prepare(domain, [(p.passage_id, p.shape, p.body) for p in psgs])
    requests = [masking.synthesis_request(p) for p in psgs]
    generation = generate(wh, backend, requests, Progress(context.log, f"{scope.label} generation", len(requests)))
    responses = generation.responses
    items: list[MaskedItem] = []
    quarantined: list[QuarantineRow] = []
    for p, req, resp in zip(psgs, requests, responses, strict=True):
        result = masking.item_from_response(p, req, resp, backend.name, backend.model)
        (quarantined if isinstance(result, QuarantineRow) else items).append(result)  # type: ignore[arg-type]
    written = wh.replace_partition("masked_items", domain, (i.to_row() for i in items), shard=scope.shard)
    wh.replace_quarantine("synthesis", domain, (q.to_row() for q in quarantined), shard=scope.shard)
    kinds = Counter(k.split("+")[0] for i in items for k in i.distractor_kinds)
    stats = getattr(backend, "stats", None)
    metadata: dict[str, object] = {
        "rows_in": len(psgs),
        "rows_out": written,
        "drop_reasons": counts_md(Counter(q.reason for q in quarantined)),
        "backend": backend.name,
        "model": backend.model,
        "prompt_versions": sorted({r.prompt_version for r in requests}),
        **generation.metadata(),
        "distractor_kinds": dict(kinds),
        "preview": table_preview([i.to_row() for i in items[:3]], ["context_masked", "answer", "distractors"]),
        "dagster/row_count": written,
    }
    if callable(getattr(stats, "as_metadata", None)):
        metadata.update(stats.as_metadata())
    return dg.MaterializeResult(metadata=metadata)  # type: ignore[arg-type]


@dg.asset(
    partitions_def=item_partitions,
    group_name="synthesis",
    kinds={"duckdb", "python"},
    pool=WRITE_POOL,
    deps=[masked_items],
    code_version=code_version(mcq, leakage),
    check_specs=[
        spec(ANSWER_LEAKAGE, "mcq_tasks", f"Leaking tasks (answer in context, duplicate options) are flagged and later dropped; fails above {MAX_LEAK_SHARE:.0%}.", blocking=True, per_item=True),
        spec(LETTER_BALANCE, "mcq_tasks", "Chi-square test of answer letters against uniform; warns at p < 0.01.", per_item=True),
        spec(TASK_SCHEMA, "mcq_tasks", "Every task has 9 distinct options, exactly one correct letter, and a [MASK].", per_item=True),
    ],
)
def mcq_tasks(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """9-option fill-in-the-middle tasks: the paper's per-domain instruction, the masked
    context, the answer plus 8 distractors shuffled with a seed from the task id, and the
    answer letter. Items with too few distinct distractors are quarantined."""
    scope = scope_of(context.partition_key)
    domain = scope.domain
    wh = warehouse.warehouse()
    tasks = []
    quarantined: list[QuarantineRow] = []
    columns = [f.name for f in dataclasses.fields(MaskedItem)]
    rows = wh.read("masked_items", domain, columns, order_by="item_id", shard=scope.shard)
    for r in rows:
        item = MaskedItem(**r)
        task = mcq.assemble_task(item)
        if task is None:
            quarantined.append(QuarantineRow("assembly", domain, item.item_id, "too_few_options", f"{len(item.distractors)} distractors"))
        else:
            task.leak_reasons = leakage.leak_reasons_for_options(task.context_masked, task.options, task.answer_index)
            tasks.append(task)
    written = wh.replace_partition("mcq_tasks", domain, (t.to_row() for t in tasks), shard=scope.shard)
    leak_summary = leakage.summarize_leaks((t.task_id, t.leak_reasons) for t in tasks)
    balance = letter_balance([t.answer_letter for t in tasks], [len(t.options) for t in tasks])
    schema_problems = mcq.schema_problems(tasks)
    wh.replace_quarantine("assembly", domain, (q.to_row() for q in quarantined), shard=scope.shard)
    letters = Counter(t.answer_letter for t in tasks)
    return dg.MaterializeResult(
        metadata={
            "rows_in": len(rows),
            "rows_out": written,
            "drop_reasons": counts_md(Counter(q.reason for q in quarantined)),
            "leaking": leak_summary.n_flagged,
            "answer_letters": dict(sorted(letters.items())),
            "preview": table_preview([t.to_row() for t in tasks[:3]], ["question", "options", "answer_letter"], width=600),
            "dagster/row_count": written,
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=ANSWER_LEAKAGE,
                passed=leak_summary.n_flagged <= MAX_LEAK_SHARE * max(1, len(tasks)),
                metadata=leak_summary.to_metadata(),
            ),
            dg.AssetCheckResult(
                check_name=LETTER_BALANCE, passed=not balance.warn, metadata=balance.to_metadata(),
                severity=dg.AssetCheckSeverity.WARN,
            ),
            dg.AssetCheckResult(
                # a shard may hold nothing for this domain; items that all failed assembly are a failure
                check_name=TASK_SCHEMA, passed=not schema_problems and (len(tasks) > 0 or (scope.shard is not None and not rows)),
                metadata={"tasks": len(tasks), "problems": schema_problems[:10]},
            ),
        ],
    )
