"""Stage 2 (synthesis): passages, masked spans with distractors, and rendered MCQ tasks."""

import dataclasses
import time
from collections.abc import Iterator

import dagster as dg
from threadpoolctl import threadpool_limits

from goose_assets.core.progress import BatchProgress, Progress
from goose_assets.core.records import Document, MaskedItem, McqTask, Passage
from goose_assets.core.synthesis import masking, mcq, option_features, passages, selection
from goose_assets.defs import metadata
from goose_assets.defs.code_versions import code_version
from goose_assets.defs.executors import STREAM_BATCH, WRITE_POOL
from goose_assets.defs.generation import GenerationTotals, generate
from goose_assets.defs.partitions import PartitionLayout, PartitionScope, scope_of
from goose_assets.defs.resources import LLMResource, WarehouseResource
from goose_assets.defs.synthesis import checks
from goose_assets.storage.duckdb_warehouse import Warehouse


class PassageConfig(dg.Config):
    web_extraction: str = "auto"
    """How web pages become passages: 'window' (offline: the best 100-600-word window),
    'llm' (the two-call path: an extraction prompt, then the synthesis prompt), or 'auto'
    (llm with an LLM backend, window with the offline one)."""

    def use_llm(self, backend: str) -> bool:
        return self.web_extraction == "llm" or (self.web_extraction == "auto" and backend != "offline")


class SynthesisConfig(dg.Config):
    synthesis_format: str = ""
    """'paper' (the model echoes the masked text) or 'lean' (only the span, or its unit
    numbers, and the distractors; the context is cut locally). Empty: the `llm` resource's
    setting, $GOOSE_SYNTHESIS_FORMAT, else lean for an LLM backend and paper offline."""


def _one_blas_thread() -> threadpool_limits:
    """Validation, mining and option features multiply many small matrices (a few dozen
    options' trigrams); OpenBLAS splits each product over every core and its threads spin
    between them: at 10K documents, 44 s of CPU beyond the wall time on 2 cores."""
    return threadpool_limits(limits=1, user_api="blas")


def _records(wh: Warehouse, table: str, record: type, scope: PartitionScope, order_by: str,
             progress: BatchProgress | None = None) -> Iterator[list]:
    """A partition's rows as records of `record`'s type, batch by batch, in `order_by` order."""
    columns = [f.name for f in dataclasses.fields(record)]
    for batch in wh.iter_rows(table, scope.domain, columns, order_by=order_by, batch_size=STREAM_BATCH, shard=scope.shard):
        yield [record(**r) for r in batch]
        if progress is not None:
            progress.next_batch(len(batch))
            progress(0)


def _extracted_by_llm(wh: Warehouse, llm: LLMResource, pending: list[tuple[Document, str]], log: dg.DagsterLogManager,
                      label: str, extra: dict[str, object]) -> Iterator[Passage | object]:
    """The web pages set aside for the LLM extraction prompt, extracted and validated."""
    if not pending:
        return
    requests = [passages.extraction_request(doc, main_text) for doc, main_text in pending]
    generation = generate(wh, llm.make("generator"), requests, Progress(f"{label} web extraction", len(requests), log.info))
    for (doc, main_text), req, resp in zip(pending, requests, generation.responses, strict=True):
        yield passages.passage_from_extraction(doc, main_text, req, resp)
    extra.update(generation.metadata("extraction_"))


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
    wh = warehouse.warehouse()
    total = wh.count("raw_documents", scope.domain, shard=scope.shard)
    progress = BatchProgress(Progress(f"{scope.label} passages", total, context.log.info))
    tally, pending, extra = metadata.PassageTally(), [], {}

    def results() -> Iterator[object]:
        for docs in _records(wh, "raw_documents", Document, scope, "doc_id", progress):
            yield from passages.passages_from_documents(docs, config.use_llm(llm.backend), pending)
        yield from _extracted_by_llm(wh, llm, pending, context.log, scope.label, extra)

    written = wh.replace_partition("extracted_passages", scope.domain, tally.rows(results(), tally.count), shard=scope.shard)
    wh.replace_quarantine("extract", scope.domain, tally.quarantine_rows(), shard=scope.shard)
    urls = {r["doc_id"]: r["url"] for r in wh.read("raw_documents", scope.domain, ["doc_id", "url", "shape"], shard=scope.shard) if r["shape"] == "html"}
    return dg.MaterializeResult(metadata=metadata.extracted_passages_metadata(total, written, tally, urls, extra))


def _pool_texts(wh: Warehouse, scope: PartitionScope) -> Iterator[tuple[str, str, str]]:
    """(passage_id, shape, body) of a partition, in passage order, batch by batch."""
    for batch in wh.iter_rows("extracted_passages", scope.domain, ["passage_id", "shape", "body"], order_by="passage_id",
                              batch_size=STREAM_BATCH, shard=scope.shard):
        for r in batch:
            yield r["passage_id"], r["shape"], r["body"]


def masked_items(
    context: dg.AssetExecutionContext, config: SynthesisConfig, warehouse: WarehouseResource, llm: LLMResource
) -> dg.MaterializeResult:
    """One generator call per passage (the paper's single JSON call): a contiguous span of
    key reasoning steps replaced by [MASK], the removed span as the answer, and at least 10
    distractors. Every answer is validated (verbatim span, exact rebuild, distinct
    distractors within a length band); failures are quarantined with the raw reply."""
    scope = scope_of(context.partition_key)
    wh = warehouse.warehouse()
    backend = llm.make("generator")
    fmt = llm.format_for(config.synthesis_format)
    total = wh.count("extracted_passages", scope.domain, shard=scope.shard)
    # pass 1: the backend sees the whole domain's texts (the offline one mines its bounded
    # distractor pool from them), streamed, never held as one list
    backend.prepare(scope.domain, _pool_texts(wh, scope))  # type: ignore[arg-type]
    progress = BatchProgress(Progress(f"{scope.label} generation", total, context.log.info))
    tally, totals, prompt_versions = metadata.Tally(), GenerationTotals(), set()

    def results() -> Iterator[object]:
        # pass 2: one batch of passages at a time through generation, validation and the write
        for psgs in _records(wh, "extracted_passages", Passage, scope, "passage_id"):
            requests = [masking.synthesis_request(p, synthesis_format=fmt) for p in psgs]
            generation = generate(wh, backend, requests, progress)
            progress.next_batch(len(requests))
            totals.add(generation)
            prompt_versions.update(r.prompt_version for r in requests)
            for p, req, resp in zip(psgs, requests, generation.responses, strict=True):
                yield masking.item_from_response(p, req, resp, backend.name, backend.model)

    def count(item: MaskedItem) -> None:
        tally.counters["distractor_kinds"].update(k.split("+")[0] for k in item.distractor_kinds)

    with _one_blas_thread():
        written = wh.replace_partition("masked_items", scope.domain, tally.rows(results(), count), shard=scope.shard)
    wh.replace_quarantine("synthesis", scope.domain, tally.quarantine_rows(), shard=scope.shard)
    return dg.MaterializeResult(  # type: ignore[arg-type]
        metadata=metadata.masked_items_metadata(total, written, tally, backend, prompt_versions, fmt, totals.metadata()))


def _select_options(wh: Warehouse, scope: PartitionScope, log: dg.DagsterLogManager) -> tuple[dict[str, list[int]], selection.SelectionResult]:
    """Option selection over the partition: the candidates' features (streamed, per item
    only its feature block is kept), then the cross-fitted rounds."""
    started = time.process_time()
    contexts = ((r["question"], r["context_masked"]) for batch in wh.iter_rows(
        "masked_items", scope.domain, ["item_id", "question", "context_masked"], batch_size=STREAM_BATCH, shard=scope.shard,
    ) for r in batch)
    models = option_features.FeatureModels.fit(contexts)
    total = wh.count("masked_items", scope.domain, shard=scope.shard)
    progress = BatchProgress(Progress(f"{scope.label} option features", total, log.info))
    batches = ([option_features.ItemOptions.of(i) for i in items]
               for items in _records(wh, "masked_items", MaskedItem, scope, "item_id", progress))
    chosen_by_item, result = option_features.choose_options(models, batches, log=log.info)
    result.cpu_s = time.process_time() - started
    return chosen_by_item, result


def mcq_tasks(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """9-option fill-in-the-middle tasks: the paper's per-domain instruction, the masked
    context, the answer and the 8 distractors that option selection keeps from the item's
    candidate pool (the ones a cross-fitted discriminator finds hardest to tell from the
    answer), and the answer letter, from a balanced seeded cycle over the partition.
    Items with too few distinct distractors are quarantined; a task whose answer surface
    models still pick out after selection is flagged `surface_solvable` (AFLite): the
    triviality gate and the student skip it, and `filtered_tasks` drops it."""
    scope = scope_of(context.partition_key)
    wh = warehouse.warehouse()
    with _one_blas_thread():
        chosen_by_item, chosen = _select_options(wh, scope, context.log)
    positions = mcq.balanced_answer_positions([mcq.task_id_for(i) for i in chosen_by_item], 9, scope.label)
    wh.replace_partition("option_selection", scope.domain, [{"domain": scope.domain, "n_items": len(chosen_by_item),
                         **chosen.to_row()}], shard=scope.shard)
    tally, tasks = metadata.Tally(), checks.TaskChecks()

    def results() -> Iterator[McqTask | object]:
        for items in _records(wh, "masked_items", MaskedItem, scope, "item_id"):
            tally.rows_in += len(items)
            yield from mcq.tasks_from_items(items, chosen_by_item, positions, scope.domain, chosen.solvable)

    def count(task: McqTask) -> None:
        tasks.add(task)
        tally.counters["letters"][task.answer_letter] += 1
        tally.counters["option_kinds"].update(k.split(":")[0].split("+")[0] for k in task.option_kinds if k != "answer")

    written = wh.replace_partition("mcq_tasks", scope.domain, tally.rows(results(), count), shard=scope.shard)
    wh.replace_quarantine("assembly", scope.domain, tally.quarantine_rows(), shard=scope.shard)
    return dg.MaterializeResult(
        metadata=metadata.mcq_tasks_metadata(written, tally, tasks.n_leaking, chosen),
        check_results=tasks.results(scope, tally.rows_in),
    )


def synthesis_assets(layout: PartitionLayout) -> list[dg.AssetsDefinition]:
    stage = {"partitions_def": layout.items, "group_name": "synthesis", "kinds": {"duckdb", "python"}, "pool": WRITE_POOL}
    return [
        dg.asset(**stage, deps=["raw_documents"], code_version=code_version(extracted_passages))(extracted_passages),
        dg.asset(**stage, deps=["extracted_passages"], code_version=code_version(masked_items))(masked_items),
        dg.asset(**stage, deps=["masked_items"], code_version=code_version(mcq_tasks),
                 check_specs=checks.mcq_task_specs(layout.items))(mcq_tasks),
    ]
