"""Stage 2 (synthesis): passages, masked spans with distractors, and rendered MCQ tasks."""


import dataclasses
import time
from collections import Counter
from collections.abc import Iterator

import dagster as dg

from goose_assets.core import (
    code_check,
    code_layout,
    distractors,
    leakage,
    masking,
    mcq,
    mining,
    ngram,
    option_features,
    passages,
    selection,
    spans,
    synthesis,
    synthesis_format,
    terms,
    web,
)
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
    STREAM_BATCH,
    WRITE_POOL,
    BatchProgress,
    GenerationTotals,
    Progress,
    code_version,
    counts_md,
    generate,
    table_preview,
)
from goose_assets.llm import offline
from goose_assets.partitions import PartitionScope, item_partitions, scope_of
from goose_assets.resources import LLMResource, WarehouseResource
from goose_assets.warehouse import Warehouse

from .sources import raw_documents


def _pool_texts(wh: Warehouse, domain: str, shard: str | None) -> Iterator[tuple[str, str, str]]:
    """(passage_id, shape, body) of a domain partition, in passage order, batch by batch."""
    for batch in wh.iter_rows("extracted_passages", domain, ["passage_id", "shape", "body"], order_by="passage_id",
                              batch_size=STREAM_BATCH, shard=shard):
        for r in batch:
            yield r["passage_id"], r["shape"], r["body"]


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
    pending: list[tuple[Document, str]] = []  # screened pages waiting for LLM extraction
    total = wh.count("raw_documents", domain, shard=scope.shard)
    progress = Progress(context.log, f"{scope.label} passages", total)
    document_columns = [f.name for f in dataclasses.fields(Document)]
    # streamed to the writer: per passage only its length and method stay in memory
    lengths: list[int] = []
    methods: Counter[str] = Counter()
    preview: list[Passage] = []
    web_preview: list[Passage] = []
    n_web = 0
    extra: dict[str, object] = {}

    def keep(p: Passage) -> dict[str, object]:
        nonlocal n_web
        lengths.append(p.word_count)
        methods[p.method.split("(")[0]] += 1
        if len(preview) < 3:
            preview.append(p)
        if p.method != "passthrough":
            n_web += 1
            if len(web_preview) < 3:
                web_preview.append(p)
        return p.to_row()

    def passage_rows() -> Iterator[dict[str, object]]:
        done = 0
        for batch in wh.iter_rows("raw_documents", domain, document_columns, order_by="doc_id",
                                  batch_size=STREAM_BATCH, shard=scope.shard):
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
                if isinstance(result, QuarantineRow):
                    quarantined.append(result)
                else:
                    yield keep(result)
            done += len(batch)
            progress(done)
        if pending:
            backend = llm.make("generator")
            requests = [passages.extraction_request(doc, main_text) for doc, main_text in pending]
            generation = generate(wh, backend, requests, Progress(context.log, f"{scope.label} web extraction", len(requests)))
            for (doc, main_text), req, resp in zip(pending, requests, generation.responses, strict=True):
                result = passages.passage_from_extraction(doc, main_text, req, resp)
                if isinstance(result, QuarantineRow):
                    quarantined.append(result)
                else:
                    yield keep(result)
            extra.update(generation.metadata("extraction_"))

    written = wh.replace_partition("extracted_passages", domain, passage_rows(), shard=scope.shard)
    wh.replace_quarantine("extract", domain, (q.to_row() for q in quarantined), shard=scope.shard)
    urls = {r["doc_id"]: r["url"] for r in wh.read("raw_documents", domain, ["doc_id", "url", "shape"], shard=scope.shard) if r["shape"] == "html"}
    reasons = Counter(q.reason for q in quarantined)
    return dg.MaterializeResult(
        metadata={
            "rows_in": total,
            "rows_out": written,
            "web_pages_in": len(urls),
            "web_passages_out": n_web,
            "drop_reasons": counts_md(reasons),
            "methods": dict(methods),
            "passage_words_histogram": dict(sorted(Counter(f"{100 * (n // 100)}-{100 * (n // 100) + 99}" for n in lengths).items())),
            "passage_words_median": sorted(lengths)[len(lengths) // 2] if lengths else 0,
            "web_examples": table_preview([{**p.to_row(), "url": urls.get(p.doc_id, "")} for p in web_preview], ["url", "method", "body"]),
            "preview": table_preview([p.to_row() for p in preview], ["doc_id", "shape", "method", "question", "body"]),
            "dagster/row_count": written,
            **extra,
        },
    )


class SynthesisConfig(dg.Config):
    synthesis_format: str = ""
    """'paper' (the model echoes the masked text) or 'lean' (only the span, or its unit
    numbers, and the distractors; the context is cut locally). Empty: the `llm` resource's
    setting, $GOOSE_SYNTHESIS_FORMAT, else lean for an LLM backend and paper offline."""


@dg.asset(
    partitions_def=item_partitions,
    group_name="synthesis",
    kinds={"duckdb", "python"},
    pool=WRITE_POOL,
    deps=[extracted_passages],
    code_version=code_version(masking, synthesis, synthesis_format, spans, distractors, mining, terms, code_check, code_layout,
                              offline),
)
def masked_items(
    context: dg.AssetExecutionContext, config: SynthesisConfig, warehouse: WarehouseResource, llm: LLMResource
) -> dg.MaterializeResult:
    """One generator call per passage (the paper's single JSON call): a contiguous span of
    key reasoning steps replaced by [MASK], the removed span as the answer, and at least 10
    distractors. Every answer is validated (verbatim span, exact rebuild, distinct
    distractors within a length band); failures are quarantined with the raw reply."""
    scope = scope_of(context.partition_key)
    domain = scope.domain
    wh = warehouse.warehouse()
    backend = llm.make("generator")
    fmt = llm.format_for(config.synthesis_format)
    columns = [f.name for f in dataclasses.fields(Passage)]
    total = wh.count("extracted_passages", domain, shard=scope.shard)
    # pass 1: the backend sees the whole domain's texts (the offline one mines its bounded
    # distractor pool from them), streamed, never held as one list
    backend.prepare(domain, _pool_texts(wh, domain, scope.shard))  # type: ignore[arg-type]
    progress = BatchProgress(Progress(context.log, f"{scope.label} generation", total))
    quarantined: list[QuarantineRow] = []
    totals = GenerationTotals()
    kinds: Counter[str] = Counter()
    prompt_versions: set[str] = set()
    preview: list[dict[str, object]] = []

    def item_rows() -> Iterator[dict[str, object]]:
        # pass 2: one batch of passages at a time through generation, validation and the write
        for batch in wh.iter_rows("extracted_passages", domain, columns, order_by="passage_id",
                                  batch_size=STREAM_BATCH, shard=scope.shard):
            psgs = [Passage(**r) for r in batch]
            requests = [masking.synthesis_request(p, synthesis_format=fmt) for p in psgs]
            generation = generate(wh, backend, requests, progress)
            progress.next_batch(len(requests))
            totals.add(generation)
            prompt_versions.update(r.prompt_version for r in requests)
            for p, req, resp in zip(psgs, requests, generation.responses, strict=True):
                result = masking.item_from_response(p, req, resp, backend.name, backend.model)
                if isinstance(result, QuarantineRow):
                    quarantined.append(result)
                    continue
                kinds.update(k.split("+")[0] for k in result.distractor_kinds)
                row = result.to_row()
                if len(preview) < 3:
                    preview.append(row)
                yield row

    written = wh.replace_partition("masked_items", domain, item_rows(), shard=scope.shard)
    wh.replace_quarantine("synthesis", domain, (q.to_row() for q in quarantined), shard=scope.shard)
    stats = getattr(backend, "stats", None)
    metadata: dict[str, object] = {
        "rows_in": total,
        "rows_out": written,
        "drop_reasons": counts_md(Counter(q.reason for q in quarantined)),
        "backend": backend.name,
        "model": backend.model,
        "prompt_versions": sorted(prompt_versions),
        "synthesis_format": fmt,
        **totals.metadata(),
        "distractor_kinds": dict(kinds),
        "preview": table_preview(preview, ["context_masked", "answer", "distractors"]),
        "dagster/row_count": written,
    }
    if callable(getattr(stats, "as_metadata", None)):
        metadata.update(stats.as_metadata())
    return dg.MaterializeResult(metadata=metadata)  # type: ignore[arg-type]


def _contexts(wh: Warehouse, scope: PartitionScope) -> Iterator[tuple[str, str]]:
    for batch in wh.iter_rows("masked_items", scope.domain, ["item_id", "question", "context_masked"],
                              batch_size=STREAM_BATCH, shard=scope.shard):
        for r in batch:
            yield r["question"], r["context_masked"]


def _select_options(wh: Warehouse, scope: PartitionScope, log: dg.DagsterLogManager) -> tuple[dict[str, list[int]], selection.SelectionResult]:
    """Option selection over the partition: the candidates' features (streamed, per item
    only its feature block is kept), then the cross-fitted rounds."""
    started = time.process_time()
    models = option_features.FeatureModels.fit(_contexts(wh, scope))
    pool: list[selection.PoolItem] = []
    columns = ["item_id", "question", "context_masked", "answer", "distractors"]
    total = wh.count("masked_items", scope.domain, shard=scope.shard)
    progress = BatchProgress(Progress(log, f"{scope.label} option features", total))
    for batch in wh.iter_rows("masked_items", scope.domain, columns, batch_size=STREAM_BATCH, shard=scope.shard):
        pool.extend(option_features.pool_items(models, [
            option_features.ItemOptions(r["item_id"], r["question"], r["context_masked"], [r["answer"], *r["distractors"]])
            for r in batch if len(r["distractors"]) >= selection.DISTRACTORS_SHOWN
        ]))
        progress.next_batch(len(batch))
        progress(0)
    result = selection.select_options(pool, seed=0, log=log.info, solvers=option_features.SOLVERS)
    result.cpu_s = time.process_time() - started
    return {item.item_id: chosen for item, chosen in zip(pool, result.chosen, strict=True)}, result


@dg.asset(
    partitions_def=item_partitions,
    group_name="synthesis",
    kinds={"duckdb", "python"},
    pool=WRITE_POOL,
    deps=[masked_items],
    code_version=code_version(mcq, leakage, selection, option_features, ngram),
    check_specs=[
        spec(ANSWER_LEAKAGE, "mcq_tasks", f"Leaking tasks (answer in context, duplicate options) are flagged and later dropped; fails above {MAX_LEAK_SHARE:.0%}.", blocking=True, per_item=True),
        spec(LETTER_BALANCE, "mcq_tasks", "Chi-square test of answer letters against uniform; warns at p < 0.01.", per_item=True),
        spec(TASK_SCHEMA, "mcq_tasks", "Every task has 9 distinct options, exactly one correct letter, and a [MASK].", per_item=True),
    ],
)
def mcq_tasks(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """9-option fill-in-the-middle tasks: the paper's per-domain instruction, the masked
    context, the answer and the 8 distractors that option selection keeps from the item's
    candidate pool (the ones a cross-fitted discriminator finds hardest to tell from the
    answer), and the answer letter, from a balanced seeded cycle over the partition.
    Items with too few distinct distractors are quarantined."""
    scope = scope_of(context.partition_key)
    domain = scope.domain
    wh = warehouse.warehouse()
    chosen_by_item, chosen_stats = _select_options(wh, scope, context.log)
    positions = mcq.balanced_answer_positions([mcq.task_id_for(i) for i in chosen_by_item], 9, scope.label)
    wh.replace_partition("option_selection", domain, [{"domain": domain, "n_items": len(chosen_by_item),
                         **chosen_stats.to_row()}], shard=scope.shard)
    quarantined: list[QuarantineRow] = []
    columns = [f.name for f in dataclasses.fields(MaskedItem)]
    # per task only what the checks need: id, leak reasons, letter, option count
    leaks: list[tuple[str, list[str]]] = []
    letters_in_order: list[str] = []
    n_options: list[int] = []
    schema_problems: list[str] = []
    preview: list[dict[str, object]] = []
    option_kinds: Counter[str] = Counter()
    rows_in = 0

    def task_rows() -> Iterator[dict[str, object]]:
        nonlocal rows_in
        for batch in wh.iter_rows("masked_items", domain, columns, order_by="item_id",
                                  batch_size=STREAM_BATCH, shard=scope.shard):
            rows_in += len(batch)
            tasks = []
            for r in batch:
                item = MaskedItem(**r)
                chosen = chosen_by_item.get(item.item_id)
                task = None if chosen is None else mcq.assemble_task(item, chosen, positions[mcq.task_id_for(item.item_id)])
                if task is None:
                    quarantined.append(QuarantineRow("assembly", domain, item.item_id, "too_few_options", f"{len(item.distractors)} distractors"))
                    continue
                task.leak_reasons = leakage.leak_reasons_for_options(task.question, task.options, task.answer_index)
                tasks.append(task)
            schema_problems.extend(mcq.schema_problems(tasks))
            for t in tasks:
                leaks.append((t.task_id, t.leak_reasons))
                letters_in_order.append(t.answer_letter)
                n_options.append(len(t.options))
                option_kinds.update(k.split(":")[0].split("+")[0] for k in t.option_kinds if k != "answer")
                row = t.to_row()
                if len(preview) < 3:
                    preview.append(row)
                yield row

    written = wh.replace_partition("mcq_tasks", domain, task_rows(), shard=scope.shard)
    leak_summary = leakage.summarize_leaks(leaks)
    balance = letter_balance(letters_in_order, n_options)
    wh.replace_quarantine("assembly", domain, (q.to_row() for q in quarantined), shard=scope.shard)
    letters = Counter(letters_in_order)
    n_tasks = len(letters_in_order)
    return dg.MaterializeResult(
        metadata={
            "rows_in": rows_in,
            "rows_out": written,
            "drop_reasons": counts_md(Counter(q.reason for q in quarantined)),
            "leaking": leak_summary.n_flagged,
            "answer_letters": dict(sorted(letters.items())),
            "option_selection": chosen_stats.to_metadata(),
            "selection_auroc_before": chosen_stats.auroc_before,
            "selection_auroc_after": chosen_stats.auroc_after,
            "shown_option_kinds": dict(option_kinds),
            "preview": table_preview(preview, ["question", "options", "answer_letter"], width=600),
            "dagster/row_count": written,
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=ANSWER_LEAKAGE,
                passed=leak_summary.n_flagged <= MAX_LEAK_SHARE * max(1, n_tasks),
                metadata=leak_summary.to_metadata(),
            ),
            dg.AssetCheckResult(
                check_name=LETTER_BALANCE, passed=not balance.warn, metadata=balance.to_metadata(),
                severity=dg.AssetCheckSeverity.WARN,
            ),
            dg.AssetCheckResult(
                # a shard may hold nothing for this domain; items that all failed assembly are a failure
                check_name=TASK_SCHEMA, passed=not schema_problems and (n_tasks > 0 or (scope.shard is not None and not rows_in)),
                metadata={"tasks": n_tasks, "problems": schema_problems[:10]},
            ),
        ],
    )
