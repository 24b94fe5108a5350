"""Stage 3 (filtering): student difficulty, triviality baselines and the keep/drop decision."""


import json
from collections import Counter

import dagster as dg

from goose_assets.core import baselines, decontam, dedup, difficulty, filtering
from goose_assets.core import screening as screening_logic
from goose_assets.defs import screening
from goose_assets.defs.checks import (
    BENCHMARK_OVERLAP,
    DUPLICATES,
    MAX_DUPLICATE_SHARE,
    TRIVIALITY,
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
)
from goose_assets.partitions import (
    domain_partitions,
    fan_in,
    fan_in_automation,
    item_partitions,
    scope_of,
)
from goose_assets.resources import CorpusResource, LLMResource, WarehouseResource

from .synthesis import mcq_tasks


class DifficultyConfig(dg.Config):
    use_embeddings: bool = True
    """Run the embedding-similarity baseline (loads all-MiniLM-L6-v2; ~10 s + encoding)."""


@dg.asset(
    partitions_def=item_partitions,
    group_name="filtering",
    kinds={"duckdb", "python"},
    pool=WRITE_POOL,
    deps=[mcq_tasks],
    code_version=code_version(baselines, difficulty),
    check_specs=[spec(TRIVIALITY, "task_difficulty", "Surface-cue baselines stay within chance + 10 points; classifier AUROC <= 0.60.", per_item=True)],
)
def task_difficulty(
    context: dg.AssetExecutionContext, config: DifficultyConfig, warehouse: WarehouseResource, llm: LLMResource
) -> dg.MaterializeResult:
    """How hard each task is. With an LLM backend, the student answers every task n=16
    times (configurable) and we store n_correct. With the offline backend the student is
    the ensemble of triviality baselines (longest, shortest, lexical overlap, embedding
    similarity, most-central option, odd-one-out classifier): n is the number of
    baselines and n_correct the number that picked the answer. Either way every task
    carries the baseline votes."""
    scope = scope_of(context.partition_key)
    domain = scope.domain
    wh = warehouse.warehouse()
    # streamed: per task only its votes, option features and rollout counts stay in memory
    run = baselines.BaselineRun(use_embeddings=config.use_embeddings)
    student = "baseline-ensemble"
    rollouts: dict[str, difficulty.Rollouts] = {}
    extra: dict[str, object] = {}
    backend = None  # made at the first batch: a domain without tasks never starts one
    total = wh.count("mcq_tasks", domain, shard=scope.shard)
    progress = BatchProgress(Progress(context.log, f"{scope.label} rollouts", total))
    totals = GenerationTotals()
    columns = ["task_id", "domain", "context_masked", "options", "answer_index", "answer_letter"]
    if llm.backend != "offline":
        columns.append("question")  # the student's prompt; the baselines never read it
    for tasks in wh.iter_rows("mcq_tasks", domain, columns, order_by="task_id", batch_size=STREAM_BATCH, shard=scope.shard):
        run.add(tasks)
        if llm.backend != "offline" and tasks:
            if backend is None:
                backend = llm.make("student")
                student = f"{backend.name}:{backend.model}"
            requests = [difficulty.student_request(t, llm.rollouts) for t in tasks]
            generation = generate(wh, backend, requests, progress)
            progress.next_batch(len(requests))
            totals.add(generation)
            for t, resp in zip(tasks, generation.responses, strict=True):
                rollouts[t["task_id"]] = difficulty.score_rollouts(resp, t["answer_letter"], len(t["options"]))
    report = run.finish()
    if backend is not None:
        extra = totals.metadata()
    else:
        for v in report.tasks:
            rollouts[v.task_id] = difficulty.Rollouts(n=v.n_votes, n_correct=v.n_correct_votes)
    rows = []
    for v in report.tasks:
        r = rollouts[v.task_id]
        rows.append({
            "task_id": v.task_id, "domain": domain, "student": student, "n_rollouts": r.n,
            "n_correct": r.n_correct, "pass_rate": r.pass_rate, "baseline_votes": json.dumps(v.picks, sort_keys=True),
            "baselines_correct": v.n_correct_votes, "n_baselines": v.n_votes, "trivial": v.trivial,
        })
    written = wh.replace_partition("task_difficulty", domain, rows, shard=scope.shard)
    stats = report.domains.get(domain)
    gate_meta = stats.to_metadata() if stats else {"n_tasks": 0}
    return dg.MaterializeResult(
        metadata={
            "rows_out": written,
            "student": student,
            "effective_share": round(difficulty.effective_share(list(rollouts.values())), 4),
            "pass_rate_histogram": dict(sorted(Counter(f"{r.n_correct}/{r.n}" for r in rollouts.values()).items())),
            "baselines": gate_meta,
            "dagster/row_count": written,
            **extra,
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=TRIVIALITY,
                passed=bool(stats is None or stats.gate_passed),
                metadata={**gate_meta, "failures": (stats.failures if stats else [])},
                # under ~40 tasks an accuracy is too noisy to fail a run on: warn instead
                severity=dg.AssetCheckSeverity.ERROR if stats and stats.reliable else dg.AssetCheckSeverity.WARN,
            )
        ],
    )


@dg.asset(
    partitions_def=domain_partitions,
    group_name="filtering",
    kinds={"duckdb", "python"},
    pool=WRITE_POOL,
    deps=[fan_in(task_difficulty)],
    automation_condition=fan_in_automation(),
    code_version=code_version(filtering, dedup, decontam, screening_logic, screening),
    check_specs=[
        spec(DUPLICATES, "filtered_tasks", "Exact and near-duplicate (MinHash, J >= 0.8) sources and tasks, across domains."),
        spec(BENCHMARK_OVERLAP, "filtered_tasks", "Re-screens the kept tasks (question, options, source) against the benchmark index; fails on any overlap or on a benchmark that failed to load."),
    ],
)
def filtered_tasks(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, llm: LLMResource, corpus: CorpusResource
) -> dg.MaterializeResult:
    """Every task of the domain with `kept` and, for dropped ones, the reason: answer
    leakage, a duplicate source or task (exact or MinHash near-duplicate, across domains),
    benchmark contamination (a 13-gram shared with a benchmark item, or a short benchmark
    question held whole, in the task's question, options or source), triviality (a
    majority of baselines solve it), or solved in every student rollout (the paper's 16/16 rule). Nothing is lost
    silently: dropped tasks keep their row. With sharded sources it reads every shard of
    the domain, so duplicates across shards are found here like any other."""
    domain = context.partition_key
    wh = warehouse.warehouse()
    # per task only what the decision reads (id, source doc, leak reasons); the texts stream
    # through the benchmark look-up and only the dedup text of each task is kept
    difficulty_columns = ["task_id", "trivial", "baselines_correct", "n_baselines", "student", "n_rollouts", "n_correct"]
    difficulty_by_task = {r["task_id"]: r for r in wh.read("task_difficulty", domain, difficulty_columns)}
    loaded = screening.load_index(corpus)
    screener = screening.screener(wh, domain, loaded.index)
    tasks: list[dict[str, object]] = []
    columns = ["task_id", "doc_id", "question", "context_masked", "options", "leak_reasons"]
    for batch in wh.iter_rows("mcq_tasks", domain, columns, order_by="task_id", batch_size=STREAM_BATCH):
        screener.add(batch)
        tasks.extend({"task_id": t["task_id"], "doc_id": t["doc_id"], "leak_reasons": t["leak_reasons"]} for t in batch)
    screen = screening.finish(wh, screener)
    decision = filtering.decide(
        domain, tasks, difficulty_by_task, screen.duplicate_docs, screen.duplicate_tasks, screen.contaminated,
        filtering.FilterPolicy(drop_all_correct=llm.backend != "offline"),
    )
    written = wh.replace_partition("filtered_tasks", domain, decision.rows)
    reasons = Counter(r["drop_reason"] for r in decision.rows if not r["kept"])
    kept = sum(1 for r in decision.rows if r["kept"])
    # what was written, re-screened apart from the decision: a check that can fail
    overlap = screening.overlap_check(wh, domain, loaded, reasons.get("contaminated", 0))
    return dg.MaterializeResult(
        metadata={
            "rows_in": len(decision.rows),
            "kept": kept,
            "dropped": len(decision.rows) - kept,
            "drop_reasons": counts_md(reasons),
            "dagster/row_count": written,
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=DUPLICATES,
                passed=screen.duplicate_share(len(tasks)) <= MAX_DUPLICATE_SHARE,
                metadata=screen.duplicate_metadata(),
                severity=dg.AssetCheckSeverity.WARN,
                description=f"Duplicates are dropped; warns when over {MAX_DUPLICATE_SHARE:.0%} of tasks are duplicates.",
            ),
            dg.AssetCheckResult(
                check_name=BENCHMARK_OVERLAP,
                passed=overlap.passed,
                metadata={**overlap.to_metadata(), "hits_per_benchmark": dict(screen.benchmark_hits)},
            ),
        ],
    )
