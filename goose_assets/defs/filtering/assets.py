"""Stage 3 (filtering): student difficulty, triviality baselines and the keep/drop decision."""

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import dagster as dg

from goose_assets.core.filtering import baselines, decide, decontam, difficulty, screening
from goose_assets.core.progress import BatchProgress, Progress
from goose_assets.defs import metadata
from goose_assets.defs.code_versions import code_version
from goose_assets.defs.executors import STREAM_BATCH, WRITE_POOL
from goose_assets.defs.filtering import checks
from goose_assets.defs.generation import GenerationTotals, generate
from goose_assets.defs.partitions import (
    PartitionLayout,
    PartitionScope,
    domain_partitions,
    scope_of,
)
from goose_assets.defs.resources import CorpusResource, LLMResource, WarehouseResource
from goose_assets.storage import queries
from goose_assets.storage.duckdb_warehouse import Warehouse


class DifficultyConfig(dg.Config):
    use_embeddings: bool = True
    """Run the embedding-similarity baseline (loads all-MiniLM-L6-v2; ~10 s + encoding)."""


class _Student:
    """The LLM student of `task_difficulty`: n rollouts per task, batch by batch. Its
    backend starts at the first batch, so a partition without tasks never starts one."""

    def __init__(self, wh: Warehouse, llm: LLMResource, progress: BatchProgress) -> None:
        self.wh, self.llm, self.progress = wh, llm, progress
        self.backend: Any = None
        self.name = difficulty.BASELINE_STUDENT
        self.rollouts: dict[str, difficulty.Rollouts] = {}
        self.totals = GenerationTotals()

    def answer(self, tasks: Sequence[Mapping[str, Any]]) -> None:
        if self.backend is None:
            self.backend = self.llm.make("student")
            self.name = f"{self.backend.name}:{self.backend.model}"
        requests = [difficulty.student_request(dict(t), self.llm.rollouts) for t in tasks]
        generation = generate(self.wh, self.backend, requests, self.progress)
        self.progress.next_batch(len(requests))
        self.totals.add(generation)
        for t, resp in zip(tasks, generation.responses, strict=True):
            self.rollouts[t["task_id"]] = difficulty.score_rollouts(resp, t["answer_letter"], len(t["options"]))


def _task_batches(wh: Warehouse, scope: PartitionScope) -> Iterator[list[dict[str, Any]]]:
    """The tasks option selection offers, batch by batch: a `surface_solvable` one is
    dropped whatever a student does with it, so it gets no rollouts and no gate vote."""
    # the question is the student's prompt, and what the copy baseline reads
    columns = ["task_id", "domain", "question", "context_masked", "options", "answer_index", "answer_letter",
               "surface_solvable"]
    for batch in wh.iter_rows("mcq_tasks", scope.domain, columns, order_by="task_id", batch_size=STREAM_BATCH,
                              shard=scope.shard):
        yield [t for t in batch if not t["surface_solvable"]]


def task_difficulty(
    context: dg.AssetExecutionContext, config: DifficultyConfig, warehouse: WarehouseResource, llm: LLMResource
) -> dg.MaterializeResult:
    """How hard each task is. With an LLM backend, the student answers every task n=16
    times (configurable) and we store n_correct. With the offline backend the student is
    the ensemble of triviality baselines (longest, shortest, lexical overlap, embedding
    similarity, most-central option, context copy, odd-one-out classifier): n is the number of
    baselines and n_correct the number that picked the answer. Either way every task
    carries the baseline votes."""
    scope = scope_of(context.partition_key)
    wh = warehouse.warehouse()
    # streamed: per task only its votes, option features and rollout counts stay in memory
    run = baselines.BaselineRun(use_embeddings=config.use_embeddings)
    # the flagged tasks `_task_batches` leaves out are not counted either: the ETA is the student's
    total = queries.offered_task_count(wh, scope.domain, scope.shard)
    student = _Student(wh, llm, BatchProgress(Progress(f"{scope.label} rollouts", total, context.log.info)))
    for tasks in _task_batches(wh, scope):
        run.add(tasks)
        if llm.backend != "offline" and tasks:
            student.answer(tasks)
    report = run.finish()
    rollouts = student.rollouts if student.backend is not None else difficulty.rollouts_from_votes(report.tasks)
    rows = difficulty.difficulty_rows(report.tasks, rollouts, scope.domain, student.name)
    written = wh.replace_partition("task_difficulty", scope.domain, rows, shard=scope.shard)
    stats = report.domains.get(scope.domain)
    gate = stats.to_metadata() if stats else {"n_tasks": 0}
    histogram = Counter(f"{r.n_correct}/{r.n}" for r in rollouts.values())
    generation = student.totals.metadata() if student.backend is not None else {}
    return dg.MaterializeResult(
        metadata=metadata.task_difficulty_metadata(written, student.name, difficulty.effective_share(list(rollouts.values())),
                                                   histogram, gate, generation),
        check_results=[checks.triviality_result(stats, gate)],
    )


_DIFFICULTY_COLUMNS = ["task_id", "trivial", "baselines_correct", "n_baselines", "student", "n_rollouts", "n_correct"]


def filtered_tasks(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, llm: LLMResource, corpus: CorpusResource
) -> dg.MaterializeResult:
    """Every task of the domain with `kept` and, for dropped ones, the reason: answer
    leakage, a duplicate source or task (exact or MinHash near-duplicate, across domains),
    benchmark contamination (a 13-gram shared with a benchmark item, or a short benchmark
    question held whole, in the task's question, options or source), surface-solvable
    (option selection's AFLite step), triviality (a majority of baselines solve it), or
    solved in every student rollout (the paper's 16/16 rule). Nothing is lost silently:
    dropped tasks keep their row. With sharded sources it reads every shard of the domain,
    so duplicates across shards are found here like any other."""
    domain = context.partition_key
    wh = warehouse.warehouse()
    difficulty_by_task = {r["task_id"]: r for r in wh.read("task_difficulty", domain, _DIFFICULTY_COLUMNS)}
    loaded = decontam.load_benchmark_index(corpus.benchmarks_dir(), corpus.benchmarks_setting())
    screener = screening.Screener(domain, screening.source_texts_by_doc(queries.passage_sources(wh, domain)), loaded.index)
    # per task only what the decision reads (id, source doc, leak reasons, AFLite's flag);
    # the texts stream through the benchmark look-up and only the dedup text of each task
    # is kept
    tasks: list[dict[str, Any]] = []
    columns = ["task_id", "doc_id", "question", "context_masked", "options", "leak_reasons", "surface_solvable"]
    for batch in wh.iter_rows("mcq_tasks", domain, columns, order_by="task_id", batch_size=STREAM_BATCH):
        screener.add(batch)
        tasks.extend({k: t[k] for k in ("task_id", "doc_id", "leak_reasons", "surface_solvable")} for t in batch)
    # passages, not raw pages: the text a task is built from is what must not repeat
    screen = screener.finish(queries.all_passage_bodies(wh))
    decision = decide.decide(domain, tasks, difficulty_by_task, screen.duplicate_docs, screen.duplicate_tasks,
                             screen.contaminated, decide.FilterPolicy(drop_all_correct=llm.backend != "offline"))
    written = wh.replace_partition("filtered_tasks", domain, decision.rows)
    reasons = Counter(r["drop_reason"] for r in decision.rows if not r["kept"])
    # what was written, re-screened apart from the decision: a check that can fail
    overlap = screening.kept_overlap(loaded.index, queries.kept_task_pages(wh, domain),
                                     screening.OverlapCheck.for_index(loaded, reasons.get("contaminated", 0)))
    return dg.MaterializeResult(
        metadata=metadata.filtered_tasks_metadata(decision.rows, written, reasons),
        check_results=checks.screening_results(screen, len(tasks), overlap),
    )


def filtering_assets(layout: PartitionLayout) -> list[dg.AssetsDefinition]:
    stage = {"group_name": "filtering", "kinds": {"duckdb", "python"}, "pool": WRITE_POOL}
    return [
        dg.asset(**stage, partitions_def=layout.items, deps=["mcq_tasks"], code_version=code_version(task_difficulty),
                 check_specs=checks.triviality_specs(layout.items))(task_difficulty),
        dg.asset(**stage, partitions_def=domain_partitions, deps=[layout.fan_in("task_difficulty")],
                 automation_condition=layout.fan_in_automation(), code_version=code_version(filtered_tasks),
                 check_specs=checks.screening_specs(domain_partitions))(filtered_tasks),
    ]
