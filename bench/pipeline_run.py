"""One run of the whole offline pipeline over one corpus, in this process (a child of
bench.pipeline). Prints one JSON line: per-stage seconds, row counts, wall time, peak RSS.

Three modes over the same data, so overhead can be attributed:
- `dagster`: `dg.materialize` of ALL_ASSETS per domain partition with the in-process
  executor and an ephemeral instance, each partition run in its own forked process as
  `goose run` runs it (core/forked.py); stage times come from the instance's step stats.
- `direct`: the same asset bodies invoked directly (no executor, no event log, no
  instance): the warehouse I/O and metadata work stay, the orchestration goes.
- `plain`: a plain Python loop over the same `pipeline` functions, data held in memory, no
  warehouse: what a script without any platform would do.

    python -m bench.pipeline_run --corpus bench/.data/corpus-1000 --mode plain --home /tmp/h

Settings are `make run`'s (`goose run`): the offline backend, the default mix and the
embedding baseline on in `task_difficulty`. `--no-embeddings` turns the baseline off (what
every run before issue 20 did); the result records which.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import DOMAINS, cpu_s_with_children, peak_child_rss_mb, peak_rss_mb

# bench stage -> the assets (steps) that implement it
STAGES: dict[str, tuple[str, ...]] = {
    "ingest": ("raw_documents",),
    "extraction": ("extracted_passages",),
    "masking": ("masked_items",),
    "assembly": ("mcq_tasks",),
    "gates": ("task_difficulty", "filtered_tasks"),
    "export": ("training_mix",),
}
STAGE_OF = {asset: stage for stage, assets in STAGES.items() for asset in assets}
# assets outside the six stages (e.g. the task_gallery HTML report) are timed as "reports";
# the plain loop has no equivalent, so a/b compares totals without them
REPORTS = "reports"


def _quiet() -> None:
    warnings.filterwarnings("ignore")
    logging.getLogger("dagster").setLevel(logging.ERROR)
    for name in ("httpx", "datasets", "great_expectations"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _resources(home: Path, corpus_dir: Path) -> dict[str, Any]:
    from goose_assets.defs.resources import CorpusResource, LLMResource, WarehouseResource

    return {
        "warehouse": WarehouseResource(home=str(home)),
        "corpus": CorpusResource(corpus_dir=str(corpus_dir)),
        "llm": LLMResource(),
    }


def _warehouse_counts(home: Path) -> dict[str, int]:
    from goose_assets.storage.duckdb_warehouse import Warehouse

    wh = Warehouse(home / "warehouse.duckdb")
    return {
        "documents": wh.count("raw_documents"),
        "passages": wh.count("extracted_passages"),
        "items": wh.count("masked_items"),
        "tasks": wh.count("mcq_tasks"),
        "kept": int(wh.query("SELECT count(*) AS n FROM filtered_tasks WHERE kept")[0]["n"]),
        "mix": wh.count("training_mix"),
        **{f"drop:{r['drop_reason']}": int(r["n"]) for r in wh.query(
            "SELECT drop_reason, count(*) AS n FROM filtered_tasks WHERE NOT kept GROUP BY 1")},
    }


class _ProgressLog:
    """One JSON line per finished step (or plain-loop stage) to a file, as the run goes:
    a run too long to finish still leaves its per-stage times and memory behind."""

    def __init__(self, path: Path | None) -> None:
        self.path, self.start, self.cpu0 = path, time.perf_counter(), cpu_s_with_children()

    def __call__(self, **fields: Any) -> None:
        if self.path is None:
            return
        line = {"elapsed_s": round(time.perf_counter() - self.start, 1), "cpu_s": round(cpu_s_with_children() - self.cpu0, 1),
                "rss_mb": round(current_rss_mb(), 1), "peak_rss_mb": round(peak_rss_mb(), 1),
                "peak_child_rss_mb": round(peak_child_rss_mb(), 1), **fields}
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")


def current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return 0.0


PROGRESS = _ProgressLog(None)
# `goose run` turns the embedding baseline on unless --no-embeddings; so does this
USE_EMBEDDINGS = True


def _materialize_one(stage: list[Any], partition_key: str, resources: dict[str, Any], instance: Any) -> dict[str, float]:
    """One partition run (in its forked process); seconds per step."""
    import dagster as dg

    from goose_assets.definitions import ALL_ASSETS

    ops: dict[str, Any] = {"task_difficulty": {"config": {"use_embeddings": USE_EMBEDDINGS}}}
    result = dg.materialize(
        ALL_ASSETS, selection=stage, partition_key=partition_key, resources=resources,
        instance=instance, run_config={"ops": {k: v for k, v in ops.items() if k in {a.key.path[-1] for a in stage}}},
    )
    assert result.success, f"materialization of {partition_key} failed"
    return {step.step_key: (step.end_time or 0) - (step.start_time or 0) for step in instance.get_run_step_stats(result.run_id)}


def run_dagster(home: Path, corpus_dir: Path) -> tuple[dict[str, float], dict[str, int]]:
    import dagster as dg

    from goose_assets.cli import preload_step_imports, run_plan
    from goose_assets.core.forked import run_forked
    from goose_assets.defs.resources import CorpusResource, LLMResource, WarehouseResource

    instance = dg.DagsterInstance.ephemeral()
    preload_step_imports(embeddings=USE_EMBEDDINGS)
    # `goose run`'s own plan and launch (each run in its own forked process, a domain's
    # steps cut before the ones that start a fresh process), unrolled so that each run's
    # step times reach the progress log as it finishes
    resources = {
        "warehouse": WarehouseResource(home=str(home)),
        "corpus": CorpusResource(corpus_dir=str(corpus_dir)),
        "llm": LLMResource(),
    }
    stage_s: dict[str, float] = defaultdict(float)
    for run, domain, partition_key in run_plan(instance, list(DOMAINS)):
        steps = run_forked(lambda run=run, key=partition_key: _materialize_one(run, key, resources, instance))
        for step_key, seconds in steps.items():
            stage_s[STAGE_OF.get(step_key, REPORTS)] += seconds
        PROGRESS(domain=domain, steps={k: round(v, 2) for k, v in steps.items()})
    return dict(stage_s), _warehouse_counts(home)


def run_direct(home: Path, corpus_dir: Path) -> tuple[dict[str, float], dict[str, int]]:
    """Each asset's own function called directly: same bodies, no executor."""
    import dagster as dg

    from goose_assets.definitions import ALL_ASSETS, MIX_ASSETS, UPSTREAM_ASSETS

    resources = _resources(home, corpus_dir)
    stage_s: dict[str, float] = defaultdict(float)
    # the order materialize_all uses: every domain's upstream assets, then the mix per domain
    order = [(d, a) for d in DOMAINS for a in UPSTREAM_ASSETS] + [(d, a) for d in DOMAINS for a in MIX_ASSETS]
    assert {a.key for _, a in order} == {a.key for a in ALL_ASSETS}
    for domain, asset in order:
        fn = asset.op.compute_fn.decorated_fn  # type: ignore[union-attr]
        kwargs: dict[str, Any] = {}
        for name, param in inspect.signature(fn).parameters.items():
            if name == "context":
                continue
            if name == "config":
                config_cls = param.annotation
                config_cls = fn.__globals__[config_cls] if isinstance(config_cls, str) else config_cls
                extra = {"use_embeddings": USE_EMBEDDINGS} if "use_embeddings" in config_cls.model_fields else {}
                kwargs[name] = config_cls(**extra)
            else:
                kwargs[name] = resources[name]
        t = time.perf_counter()
        with dg.build_asset_context(partition_key=domain) as ctx:
            asset(ctx, **kwargs)
        stage_s[STAGE_OF.get(asset.key.path[-1], REPORTS)] += time.perf_counter() - t
    return dict(stage_s), _warehouse_counts(home)


class _Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def __call__(self, stage: str, fn: Callable[[], Any]) -> Any:
        t = time.perf_counter()
        out = fn()
        self.seconds[stage] += time.perf_counter() - t
        PROGRESS(stage=stage, seconds=round(time.perf_counter() - t, 2))
        return out


def run_plain(home: Path, corpus_dir: Path) -> tuple[dict[str, float], dict[str, int]]:
    """The asset bodies' core calls, in the same order and with the same inputs, in memory."""
    import pandas as pd

    from goose_assets.core import mixing
    from goose_assets.core.filtering import baselines, difficulty
    from goose_assets.core.filtering import decide as filtering
    from goose_assets.core.filtering import screening as screening_logic
    from goose_assets.core.filtering.balance import letter_balance
    from goose_assets.core.filtering.decontam import BenchmarkIndex
    from goose_assets.core.ingest import readers as ingest_logic
    from goose_assets.core.records import Document, QuarantineRow
    from goose_assets.core.synthesis import (
        leakage,
        masking,
        mcq,
        option_features,
        passages,
    )
    from goose_assets.defs.resources import CorpusResource
    from goose_assets.defs.training.assets import TrainingMixConfig
    from goose_assets.llm.offline import OfflineBackend
    from goose_assets.publish import expectations, export

    corpus = CorpusResource(corpus_dir=str(corpus_dir))
    bench_dir = corpus.benchmarks_dir()
    index = BenchmarkIndex.from_folder(bench_dir) if bench_dir else None
    mix_config = TrainingMixConfig().mix_config()
    timer = _Timer()
    docs_by_id: dict[str, Document] = {}
    passages_all: list[Any] = []
    items_by_id: dict[str, Any] = {}
    difficulty_all: dict[str, dict[str, Any]] = {}
    filtered_all: dict[str, dict[str, Any]] = {}
    mix_rows: dict[str, dict[str, Any]] = {}  # task_id -> {split, difficulty_bucket}
    tasks_by_domain: dict[str, list[dict[str, Any]]] = {}
    counts: Counter[str] = Counter()

    for domain in DOMAINS:
        def ingest(domain: str = domain) -> list[Document]:
            rows = ingest_logic.ingest(corpus.sources(domain), domain)
            return sorted((r for r in rows if isinstance(r, Document)), key=lambda x: x.doc_id)

        docs = timer("ingest", ingest)
        docs_by_id.update((d.doc_id, d) for d in docs)

        def extract(docs: list[Document] = docs) -> list[Any]:
            out = [passages.passage_from_document(d) for d in docs]
            return sorted((p for p in out if not isinstance(p, QuarantineRow)), key=lambda p: p.passage_id)

        psgs = timer("extraction", extract)
        passages_all.extend(psgs)

        def mask(domain: str = domain, psgs: list[Any] = psgs) -> list[Any]:
            backend = OfflineBackend()
            backend.prepare(domain, [(p.passage_id, p.shape, p.body) for p in psgs])
            requests = [masking.synthesis_request(p) for p in psgs]
            responses = backend.generate(requests)
            out = [masking.item_from_response(p, q, r, backend.name, backend.model)
                   for p, q, r in zip(psgs, requests, responses, strict=True)]
            return sorted((i for i in out if not isinstance(i, QuarantineRow)), key=lambda i: i.item_id)

        items = timer("masking", mask)
        items_by_id.update((i.item_id, i) for i in items)

        def assemble(domain: str = domain, items: list[Any] = items) -> list[dict[str, Any]]:
            # what mcq_tasks does: option selection over the partition, then balanced letters
            models = option_features.FeatureModels.fit((i.question, i.context_masked) for i in items)
            chosen_by_item, _ = option_features.choose_options(models, [[option_features.ItemOptions.of(i) for i in items]])
            positions = mcq.balanced_answer_positions([mcq.task_id_for(i) for i in chosen_by_item], 9, domain)
            tasks = []
            for item in items:
                chosen = chosen_by_item.get(item.item_id)
                task = None if chosen is None else mcq.assemble_task(item, chosen, positions[mcq.task_id_for(item.item_id)])
                if task is not None:
                    task.leak_reasons = leakage.leak_reasons_for_options(task.context_masked, task.options, task.answer_index)
                    tasks.append(task)
            leakage.summarize_leaks((t.task_id, t.leak_reasons) for t in tasks)
            letter_balance([t.answer_letter for t in tasks], [len(t.options) for t in tasks])
            mcq.schema_problems(tasks)
            return sorted((t.to_row() for t in tasks), key=lambda r: r["task_id"])

        tasks = timer("assembly", assemble)
        tasks_by_domain[domain] = tasks

        def gates(domain: str = domain, tasks: list[dict[str, Any]] = tasks) -> None:
            report = baselines.run_baselines(tasks, use_embeddings=USE_EMBEDDINGS)
            for v in report.tasks:
                r = difficulty.Rollouts(n=v.n_votes, n_correct=v.n_correct_votes)
                # the asset's task_difficulty row (filtering.decide reads `trivial` and the pass rate)
                difficulty_all[v.task_id] = {
                    "task_id": v.task_id, "domain": domain, "student": "baseline-ensemble", "n_rollouts": r.n,
                    "n_correct": r.n_correct, "pass_rate": r.pass_rate, "baseline_votes": json.dumps(v.picks, sort_keys=True),
                    "baselines_correct": v.n_correct_votes, "n_baselines": v.n_votes, "trivial": v.trivial,
                }
            all_docs = sorted(((p.doc_id, p.domain, p.body) for p in passages_all), key=lambda x: x[0])
            texts = {p.doc_id: p.body for p in passages_all if p.domain == domain}
            screen = screening_logic.screen(domain, tasks, all_docs, texts, index)
            decision = filtering.decide(
                domain, tasks, {t["task_id"]: difficulty_all[t["task_id"]] for t in tasks}, screen.duplicate_docs,
                screen.duplicate_tasks, screen.contaminated, filtering.FilterPolicy(drop_all_correct=False),
            )
            filtered_all.update((r["task_id"], r) for r in decision.rows)

        timer("gates", gates)

    # the mix reads every domain's kept tasks, so it runs once all domains are filtered
    for domain in DOMAINS:
        def export_stage(domain: str = domain) -> None:
            def joined(t: dict[str, Any]) -> dict[str, Any]:
                item, doc = items_by_id[t["item_id"]], docs_by_id[t["doc_id"]]
                return {
                    "task_id": t["task_id"], "domain": t["domain"], "question": t["question"],
                    "options": t["options"], "answer_letter": t["answer_letter"], "answer_index": t["answer_index"],
                    "doc_id": t["doc_id"], "pass_rate": difficulty_all[t["task_id"]]["pass_rate"],
                    "license": doc.license, "source": doc.source, "source_id": doc.source_id,
                    "backend": item.backend, "model": item.model, "prompt_version": item.prompt_version,
                }

            kept = [joined(t) for t in tasks_by_domain[domain] if filtered_all[t["task_id"]]["kept"]]
            available = Counter(
                r["domain"] for r in filtered_all.values()
                if r["kept"] and not (mix_config.drop_zero_pass and difficulty_all[r["task_id"]]["pass_rate"] == 0)
            )
            domain_mix = mixing.build_domain_mix(kept, mix_config, domain, dict(available))
            mix_rows.update((t["task_id"], {"split": t["split"], "difficulty_bucket": t["difficulty_bucket"]})
                            for t in domain_mix.tasks)
            assembled = sorted(
                ({**mix_rows[t["task_id"]], **joined(t)} for d in tasks_by_domain for t in tasks_by_domain[d]
                 if t["task_id"] in mix_rows),
                key=lambda t: t["task_id"],
            )
            report = mixing.assembled_report(assembled, mix_config, dict(available))
            drops: dict[str, dict[str, int]] = defaultdict(dict)
            for (d, outcome), n in sorted(Counter((r["domain"], r["drop_reason"] or "kept") for r in filtered_all.values()).items()):
                drops[d][outcome] = n
            generators = {(i.backend, i.model, i.prompt_version) for i in items_by_id.values()}
            info = export.CardInfo(
                mix_name=mix_config.name, mix_report=report,
                backend=",".join(sorted({g[0] for g in generators})), model=",".join(sorted({g[1] for g in generators})),
                student_model="baseline-ensemble", prompt_versions=sorted({g[2] for g in generators}),
                filter_drops=dict(drops), hub_repo_id="",
            )
            manifest = export.write_exports(assembled, home / "exports", info)
            table = pd.read_json(manifest.export_dir / export.GOOSEREASON_FILE, lines=True, dtype=False)
            expectations.validate_training_table(table)

        timer("export", export_stage)
    counts.update({
        "documents": len(docs_by_id), "passages": len(passages_all), "items": len(items_by_id),
        "tasks": sum(len(v) for v in tasks_by_domain.values()),
        "kept": sum(r["kept"] for r in filtered_all.values()), "mix": len(mix_rows),
        **Counter(f"drop:{r['drop_reason']}" for r in filtered_all.values() if not r["kept"]),
    })
    return dict(timer.seconds), dict(counts)


MODES: dict[str, Callable[[Path, Path], tuple[dict[str, float], dict[str, int]]]] = {
    "dagster": run_dagster, "direct": run_direct, "plain": run_plain,
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--mode", choices=sorted(MODES), required=True)
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--progress", type=Path, default=None, help="append one JSON line per finished step here")
    ap.add_argument("--no-embeddings", action="store_true",
                    help="skip the embedding baseline (`goose run --no-embeddings`); on by default, as in `make run`")
    args = ap.parse_args()
    global PROGRESS, USE_EMBEDDINGS
    USE_EMBEDDINGS = not args.no_embeddings
    _quiet()
    args.home.mkdir(parents=True, exist_ok=True)
    import goose_assets.definitions  # noqa: F401 - import cost is not the pipeline's work

    start = time.perf_counter()
    cpu0 = cpu_s_with_children()
    PROGRESS = _ProgressLog(args.progress)
    stage_s, counts = MODES[args.mode](args.home, args.corpus)
    wall = time.perf_counter() - start
    print(json.dumps({
        "mode": args.mode, "wall_s": round(wall, 3), "cpu_s": round(cpu_s_with_children() - cpu0, 3),
        "stage_s": {k: round(v, 3) for k, v in stage_s.items()}, "counts": counts,
        # a forked run's RSS counts the pages it shares with this process, so the sum is an
        # upper bound on what the two held at once
        "peak_rss_mb": round(peak_rss_mb() + peak_child_rss_mb(), 1),
        "peak_rss_mb_parts": {"self": round(peak_rss_mb(), 1), "largest_child": round(peak_child_rss_mb(), 1)},
        "settings": {"embedding_baseline": USE_EMBEDDINGS, "process_per_run": args.mode == "dagster"},
    }))


if __name__ == "__main__":
    main()
