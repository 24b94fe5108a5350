"""`goose`: run the pipeline as real Dagster runs, summarize the warehouse, trace lineage.

`goose run` materializes every asset for each domain partition in the Dagster instance
under `$GOOSE_HOME/dagster`, so `make ui` (dagster dev on that instance) shows the runs,
the filled partitions, the check results and the metadata. Its exit code:

    0  every run succeeded and at least one task was exported
    1  a partition run failed (one line per failed step names it)
    2  stopped before any run: a corpus, shards or benchmarks path that does not exist
       or cannot be read, or a shards folder without shard files (one line names the
       setting and the path)
    3  every run succeeded, but no task was exported (one line says why, per domain)
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from goose_assets.core.filtering.difficulty import student_request
from goose_assets.core.forked import ForkedWorkError, run_forked
from goose_assets.core.funnel import empty_cause, funnels_from_counts, one_line
from goose_assets.core.ingest.readers import path_problem
from goose_assets.core.ingest.shards import discover
from goose_assets.core.records import DOMAINS, Passage
from goose_assets.core.synthesis.masking import synthesis_request
from goose_assets.core.synthesis.synthesis_format import FORMATS, configured_format
from goose_assets.llm.calls.accounting import Prices
from goose_assets.llm.calls.estimate import estimate_calls, format_comparison
from goose_assets.publish import export
from goose_assets.publish.lineage import format_lineage
from goose_assets.storage import queries
from goose_assets.storage.llm_cache import LLMCache
from goose_assets.storage.open import open_warehouse

if TYPE_CHECKING:
    import dagster as dg

REPO_DAGSTER_YAML = Path(__file__).resolve().parent.parent / "dagster.yaml"
EXIT_RUN_FAILED = 1
EXIT_BAD_SOURCE = 2
EXIT_NOTHING_EXPORTED = 3
DEFAULT_MIX = "default"
# tags each partition run with its launch, so a run whose process died can be found
ATTEMPT_TAG = "goose/attempt"


def prepare_instance_home(home: Path) -> Path:
    """$GOOSE_HOME/dagster with the project's dagster.yaml (writer pool, run queue)."""
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    target = dagster_home / "dagster.yaml"
    if REPO_DAGSTER_YAML.exists() and (not target.exists() or target.read_bytes() != REPO_DAGSTER_YAML.read_bytes()):
        shutil.copyfile(REPO_DAGSTER_YAML, target)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return dagster_home


def source_problems(corpus_dir_flag: str = "") -> list[str]:
    """Every configured source path that does not exist or cannot be read, one line each
    naming the setting and the path (the `corpus` resource's settings, as the runs use
    them). `corpus_dir_flag`: the `--corpus-dir` value, named as such when it is wrong."""
    from goose_assets.definitions import defs

    if corpus_dir_flag:
        problem = path_problem(Path(corpus_dir_flag), folder=True)
        if problem:
            return [f"--corpus-dir {corpus_dir_flag}: {problem}"]
    corpus = defs.resources["corpus"]
    problems = corpus.problems()
    benchmarks = corpus.benchmarks_problem()
    return [*problems, benchmarks] if benchmarks else problems


def _failure_lines(result: Any, partition_key: str) -> list[str]:
    """One line per failed step of a run: the step and the first line of its error."""
    lines = []
    for event in result.get_step_failure_events():
        error = event.event_specific_data.error if event.event_specific_data else None
        # a user-code error is wrapped once by Dagster: its cause holds the real message
        inner = error.cause if error is not None and error.cause is not None else error
        message = inner.message.strip().splitlines()[0] if inner is not None and inner.message.strip() else "failed"
        if inner is not None and inner.cls_name:
            # "dagster._core.definitions.events.Failure: <text>" -> "<text>"; other
            # exceptions keep their short class name, which often says what happened
            qualified, sep, text = message.partition(f"{inner.cls_name}: ")
            if sep and " " not in qualified:
                message = text if inner.cls_name == "Failure" else f"{inner.cls_name}: {text}"
        lines.append(f"goose run: {partition_key}: {event.step_key} failed: {message}")
    return lines or [f"goose run: {partition_key}: the run failed (see `make ui` for its log)"]


def _materialize_run(stage: list[Any], partition_key: str, instance: dg.DagsterInstance,
                     args: argparse.Namespace, attempt: str) -> list[str]:
    """One partition run, tagged with `attempt`; one line per failed step, none when it
    succeeded."""
    import dagster as dg

    from goose_assets.definitions import ALL_ASSETS, defs

    ops = {"task_difficulty": {"config": {"use_embeddings": not args.no_embeddings}}}
    keys = {a.key.path[-1] for a in stage}
    result = dg.materialize(
        ALL_ASSETS, selection=stage, partition_key=partition_key, instance=instance, resources=defs.resources,
        run_config={
            "ops": {k: v for k, v in ops.items() if k in keys},
            # progress (counts, rate, ETA) is logged at INFO; DEBUG step events drown it
            "loggers": {"console": {"config": {"log_level": args.log_level}}},
        },
        raise_on_error=False, tags={"goose/launched_by": "goose run", ATTEMPT_TAG: attempt},
    )
    return [] if result.success else _failure_lines(result, partition_key)


# what the steps import on first use: imported once here so that every forked run inherits
# them rather than paying for them again (~3 s a run, most of it great_expectations)
LAZY_IMPORTS = ("great_expectations", "sklearn.decomposition", "sklearn.ensemble", "sklearn.feature_extraction.text",
                "sklearn.linear_model", "sklearn.metrics", "sklearn.model_selection", "sklearn.pipeline",
                "matplotlib.figure", "datasets")


def preload_step_imports(embeddings: bool) -> None:
    """Import what the runs would each import, and load the embedding model (~5 s) that
    task_difficulty would load in each run. Loading only: this process must run no torch
    or OpenMP work before it forks (core/forked.py)."""
    for module in LAZY_IMPORTS:
        importlib.import_module(module)
    if embeddings:
        from goose_assets.core.filtering.embeddings import load_model

        load_model()


def _close_killed_run(instance: dg.DagsterInstance, attempt: str, why: str) -> None:
    """Mark the run of a process that died mid-run as failed: it cannot report its own end,
    and the UI would show it as started forever."""
    import dagster as dg

    for run in instance.get_runs(filters=dg.RunsFilter(tags={ATTEMPT_TAG: attempt})):
        if not run.is_finished:
            instance.report_run_failed(run, message=f"goose run: {why}")


def _run_partitions(plan: list[tuple[list[Any], str, str]], instance: dg.DagsterInstance,
                    args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """Materialize each (assets, domain, partition key) of `plan` in turn, each in its own
    forked process (its heap goes back to the system when the run ends: core/forked.py),
    skipping the rest of a domain once one of its runs failed; (failed domains, one line
    per failed step)."""
    preload_step_imports(embeddings=not args.no_embeddings)
    # no tqdm monitor thread: a fork while it held tqdm's lock would leave the lock held
    # in the child
    tqdm.monitor_interval = 0
    failures: list[str] = []
    failure_lines: list[str] = []
    for stage, domain, partition_key in tqdm(plan, desc="partition runs", unit="run", file=sys.stderr):
        if domain in failures:
            continue
        attempt = uuid.uuid4().hex
        try:
            lines = run_forked(lambda s=stage, k=partition_key, a=attempt: _materialize_run(s, k, instance, args, a))
        except ForkedWorkError as exc:
            _close_killed_run(instance, attempt, str(exc))
            lines = [f"goose run: {partition_key}: {exc}"]
        if lines:
            failures.append(domain)
            failure_lines += lines
    return failures, failure_lines


def cmd_run(args: argparse.Namespace) -> int:
    home = Path(os.environ.setdefault("GOOSE_HOME", str(Path(".goose").resolve()))).resolve()
    os.environ["GOOSE_HOME"] = str(home)
    if args.corpus_dir:
        os.environ["GOOSE_CORPUS_DIR"] = str(Path(args.corpus_dir).resolve())
    # before any run, and before GOOSE_HOME is touched: a mistyped path is one line, not
    # four failed runs
    problems = source_problems(args.corpus_dir)
    if problems:
        for problem in problems:
            print(f"goose run: {problem}", file=sys.stderr)
        return EXIT_BAD_SOURCE
    prepare_instance_home(home)
    # Dagster and the code location load only now: they read the GOOSE_* settings set above
    import dagster as dg

    instance = dg.DagsterInstance.get()
    started = time.monotonic()
    try:
        plan = run_plan(instance, args.domains)
    except NothingToRunError as exc:
        print(f"goose run: {exc}", file=sys.stderr)
        return EXIT_BAD_SOURCE
    failures, failure_lines = _run_partitions(plan, instance, args)
    print(summary_text(home, time.monotonic() - started))
    if failures:
        for line in failure_lines:
            print(line, file=sys.stderr)
        print(f"FAILED partitions: {', '.join(failures)} (see `make ui` for the run logs)", file=sys.stderr)
        return EXIT_RUN_FAILED
    exported, why = export_outcome(home)
    if not exported:
        print(f"goose run: no task was exported to {home / 'exports' / DEFAULT_MIX}: {why}", file=sys.stderr)
        return EXIT_NOTHING_EXPORTED
    return 0


def export_outcome(home: Path, mix_name: str = DEFAULT_MIX) -> tuple[int, str]:
    """(rows in the mix's export, why domains have none as one line) from its manifest."""
    manifest_path = home / "exports" / mix_name / export.MANIFEST_FILE
    if not manifest_path.exists():
        return 0, "the training_mix asset wrote no export"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    gaps = manifest.get("mix", {}).get("empty_domains", {})
    return sum(manifest["rows"].values()), one_line(gaps, list(DOMAINS)) or "no domain kept a task"


class NothingToRunError(Exception):
    """The configured sources give no partition to run; the message says which setting."""


def run_plan(instance: dg.DagsterInstance, domains: list[str]) -> list[tuple[list[Any], str, str]]:
    """(assets, domain, partition key) in backfill order: every domain through filtering
    before the mix, which reads all of them. With GOOSE_SHARDS_DIR, the per-item stages run
    once per (domain, shard) first, after registering the folder's shards as partitions
    (what source_shards_sensor does in a deployment)."""
    from goose_assets.definitions import (
        DOMAIN_STAGES,
        MIX_ASSETS,
        SHARDED,
        SHARDED_STAGES,
        UPSTREAM_ASSETS,
        split_for_memory,
    )
    from goose_assets.defs.partitions import item_key, shard_partitions, shards_dir

    if not SHARDED:
        plan = [(stage, d, d) for stage in (UPSTREAM_ASSETS, MIX_ASSETS) for d in domains]
    else:
        root = shards_dir()
        found = discover(root) if root else {}
        if not found:
            raise NothingToRunError(f"GOOSE_SHARDS_DIR={root} holds no shard files (see README 'Sharded corpora')")
        known = set(instance.get_dynamic_partitions(shard_partitions.name))
        instance.add_dynamic_partitions(shard_partitions.name, [k for k in found if k not in known])
        plan = [(SHARDED_STAGES, d, item_key(d, k)) for d in domains for k in found]
        plan += [(stage, d, d) for stage in (DOMAIN_STAGES, MIX_ASSETS) for d in domains]
    return [(run, d, key) for stage, d, key in plan for run in split_for_memory(stage)]


def summary_text(home: Path, wall_s: float | None = None, mix_name: str = DEFAULT_MIX) -> str:
    """The per-domain counts from source rows to the mix, how the mix chose its tasks, and
    a note for every domain without a task in it (no source and where the project looked,
    everything quarantined or screened out)."""
    # the Dagster layer only for the corpus settings, as the runs read them
    from goose_assets.defs.partitions import sharded_from_env
    from goose_assets.defs.resources import CorpusResource

    wh = open_warehouse(home)
    funnels = funnels_from_counts(queries.funnel_counts(wh, mix_name))
    header = ["domain", "documents", "passages", "items", "tasks", "screened", "kept", "in mix", "quarantined"]
    rows = [
        [d, f.documents, f.passages, f.items, f.tasks, f.screened, f.kept, f.in_mix, f.quarantined_total]
        for d, f in ((d, funnels[d]) for d in DOMAINS)
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).rjust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]]
    letters = queries.answer_letter_counts(wh)
    out = ["", "Golden Goose pipeline: per-domain summary", *lines, ""]
    manifest_path = home / "exports" / mix_name / export.MANIFEST_FILE
    mix_facts = json.loads(manifest_path.read_text(encoding="utf-8")).get("mix", {}) if manifest_path.exists() else {}
    if mix_facts.get("selection"):
        out.append(f"mix {mix_name}: {mix_facts['selection']}")
    corpus = CorpusResource()
    for domain in DOMAINS:
        f = funnels[domain]
        if f.in_mix:
            continue
        # the export's own account first (it knows the mix's config), then the counts'
        note = mix_facts.get("empty_domains", {}).get(domain) or empty_cause(f) or f"{f.kept} kept tasks, none in mix {mix_name}"
        if not f.documents and not f.quarantined_at("ingest"):
            try:
                plan = corpus.domain_plan(domain, sharded_from_env())
            except ValueError:
                plan = None
            if plan is not None and not plan.has_source:
                note = plan.no_source_note()
        out.append(f"note: {domain}: {note}")
    out.append("answer letters: " + (" ".join(f"{r['answer_letter']}={r['n']}" for r in letters) or "none"))
    if wall_s is not None:
        out.append(f"wall time: {wall_s:.1f}s")
    out += [
        f"warehouse:  {home / 'warehouse.duckdb'}",
        f"exports:    {home / 'exports' / mix_name} (goosereason.jsonl, verl/, openrlhf/, hf_dataset/, README.md)",
        f"reports:    {home / 'reports'}",
        f"dagster:    {home / 'dagster'}  (open it with `make ui`)",
    ]
    return "\n".join(out)


def cmd_summary(args: argparse.Namespace) -> int:
    print(summary_text(Path(os.environ.get("GOOSE_HOME", ".goose")).resolve()))
    return 0


def cmd_lineage(args: argparse.Namespace) -> int:
    wh = open_warehouse(Path(os.environ.get("GOOSE_HOME", ".goose")).resolve())
    history = queries.task_lineage(wh, args.task_id)
    if history is None:
        print(f"no task {args.task_id!r} in the warehouse", file=sys.stderr)
        return 1
    print(format_lineage(history))
    return 0


def cmd_estimate(args: argparse.Namespace) -> int:
    """Dry run of `masked_items` (and the student rollouts of existing tasks): calls after
    cache hits, estimated tokens and cost per domain, for both synthesis output formats (the
    configured one first). Makes no LLM call."""
    home = Path(os.environ.get("GOOSE_HOME", ".goose")).resolve()
    wh = open_warehouse(home)
    backend = os.environ.get("GOOSE_LLM_BACKEND", "openai")
    model = os.environ.get("GOOSE_LLM_MODEL", "")
    student_model = os.environ.get("GOOSE_LLM_STUDENT_MODEL", "") or model
    prices = Prices(args.price_in, args.price_out)
    configured = configured_format(backend=backend)
    columns = [f.name for f in dataclasses.fields(Passage)]
    passages = [Passage(**r) for d in args.domains for r in wh.read("extracted_passages", d, columns)]
    rollouts = [student_request(t, args.rollouts) for d in args.domains for t in wh.read("mcq_tasks", d)]
    if not passages:
        print("no extracted passages yet: materialize raw_documents and extracted_passages first "
              "(they need no LLM), e.g. `goose run` with the offline backend", file=sys.stderr)
        return 1
    with wh.connect() as con:
        cache = LLMCache(con)
        by_format = {}
        for fmt in [configured, *(f for f in FORMATS if f != configured)]:
            synth = [synthesis_request(p, synthesis_format=fmt) for p in passages]
            by_format[fmt] = estimate_calls(backend, model, synth, cache, prices)
            note = " (configured)" if fmt == configured else " (GOOSE_SYNTHESIS_FORMAT to switch)"
            print(f"\nmasked_items (synthesis), {fmt} format{note}: backend={backend} model={model or '(unset)'}")
            print("\n".join(by_format[fmt].lines()))
        print("\n" + "\n".join(format_comparison(by_format)))
        if rollouts:
            print(f"\ntask_difficulty (student rollouts): backend={backend} model={student_model or '(unset)'}")
            print("\n".join(estimate_calls(backend, student_model, rollouts, cache, prices).lines()))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="goose", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="materialize every asset for the given domains")
    run.add_argument("--domains", nargs="+", default=list(DOMAINS), choices=list(DOMAINS))
    run.add_argument("--corpus-dir", default="", help="folder with {math,code,science,cyber}.jsonl")
    run.add_argument("--no-embeddings", action="store_true", help="skip the embedding baseline")
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.set_defaults(func=cmd_run)
    sub.add_parser("summary", help="per-domain counts from the warehouse").set_defaults(func=cmd_summary)
    lineage = sub.add_parser("lineage", help="an exported task's history back to its source row")
    lineage.add_argument("task_id")
    lineage.set_defaults(func=cmd_lineage)
    estimate = sub.add_parser("estimate", help="dry run: LLM calls, tokens and cost, without calling")
    estimate.add_argument("--domains", nargs="+", default=list(DOMAINS), choices=list(DOMAINS))
    estimate.add_argument("--price-in", type=float, default=0.0, help="USD per million prompt tokens")
    estimate.add_argument("--price-out", type=float, default=0.0, help="USD per million completion tokens")
    estimate.add_argument("--rollouts", type=int, default=16)
    estimate.set_defaults(func=cmd_estimate)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
