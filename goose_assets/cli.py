"""`goose`: run the pipeline as real Dagster runs, summarize the warehouse, trace lineage.

`goose run` materializes every asset for each domain partition in the Dagster instance
under `$GOOSE_HOME/dagster`, so `make ui` (dagster dev on that instance) shows the runs,
the filled partitions, the check results and the metadata.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goose_assets.core.records import DOMAINS

if TYPE_CHECKING:
    import dagster as dg

REPO_DAGSTER_YAML = Path(__file__).resolve().parent.parent / "dagster.yaml"


def prepare_instance_home(home: Path) -> Path:
    """$GOOSE_HOME/dagster with the project's dagster.yaml (writer pool, run queue)."""
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    target = dagster_home / "dagster.yaml"
    if REPO_DAGSTER_YAML.exists() and (not target.exists() or target.read_bytes() != REPO_DAGSTER_YAML.read_bytes()):
        shutil.copyfile(REPO_DAGSTER_YAML, target)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return dagster_home


def cmd_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    home = Path(os.environ.setdefault("GOOSE_HOME", str(Path(".goose").resolve()))).resolve()
    os.environ["GOOSE_HOME"] = str(home)
    if args.corpus_dir:
        os.environ["GOOSE_CORPUS_DIR"] = str(Path(args.corpus_dir).resolve())
    prepare_instance_home(home)
    import dagster as dg

    from goose_assets.definitions import ALL_ASSETS, defs

    instance = dg.DagsterInstance.get()
    run_config = {"ops": {"task_difficulty": {"config": {"use_embeddings": not args.no_embeddings}}}}
    failures = []
    started = time.monotonic()
    plan = run_plan(instance, args.domains)
    for stage, domain, partition_key in tqdm(plan, desc="partition runs", unit="run", file=sys.stderr):
        if domain in failures:
            continue
        keys = {a.key.path[-1] for a in stage}
        result = dg.materialize(
            ALL_ASSETS, selection=stage, partition_key=partition_key, instance=instance, resources=defs.resources,
            run_config={
                "ops": {k: v for k, v in run_config["ops"].items() if k in keys},
                # progress (counts, rate, ETA) is logged at INFO; DEBUG step events drown it
                "loggers": {"console": {"config": {"log_level": args.log_level}}},
            },
            raise_on_error=False, tags={"goose/launched_by": "goose run"},
        )
        if not result.success:
            failures.append(domain)
    print(summary_text(home, time.monotonic() - started))
    if failures:
        print(f"FAILED partitions: {', '.join(failures)} (see `make ui` for the run logs)", file=sys.stderr)
        return 1
    return 0


def run_plan(instance: dg.DagsterInstance, domains: list[str]) -> list[tuple[list[Any], str, str]]:
    """(assets, domain, partition key) in backfill order: every domain through filtering
    before the mix, which reads all of them. With GOOSE_SHARDS_DIR, the per-item stages run
    once per (domain, shard) first, after registering the folder's shards as partitions
    (what source_shards_sensor does in a deployment)."""
    from goose_assets.core.shards import discover
    from goose_assets.definitions import DOMAIN_STAGES, MIX_ASSETS, SHARDED_STAGES, UPSTREAM_ASSETS
    from goose_assets.partitions import SHARDED, item_key, shard_partitions, shards_dir

    if not SHARDED:
        return [(stage, d, d) for stage in (UPSTREAM_ASSETS, MIX_ASSETS) for d in domains]
    root = shards_dir()
    found = discover(root) if root else {}
    if not found:
        raise SystemExit(f"GOOSE_SHARDS_DIR={root} holds no shard files (see README 'Sharded corpora')")
    known = set(instance.get_dynamic_partitions(shard_partitions.name))
    instance.add_dynamic_partitions(shard_partitions.name, [k for k in found if k not in known])
    plan: list[tuple[list[Any], str, str]] = [(SHARDED_STAGES, d, item_key(d, k)) for d in domains for k in found]
    return plan + [(stage, d, d) for stage in (DOMAIN_STAGES, MIX_ASSETS) for d in domains]


def summary_text(home: Path, wall_s: float | None = None) -> str:
    from goose_assets.warehouse import open_warehouse

    wh = open_warehouse(home)
    tables = ["raw_documents", "extracted_passages", "masked_items", "mcq_tasks", "filtered_tasks", "training_mix"]
    rows = []
    for domain in DOMAINS:
        counts = [wh.count(t, domain) for t in tables]
        kept = wh.query("SELECT count(*) AS n FROM filtered_tasks WHERE domain = ? AND kept", [domain])[0]["n"]
        quarantined = wh.count("quarantine", domain)
        rows.append([domain, *counts[:5], kept, counts[5], quarantined])
    header = ["domain", "documents", "passages", "items", "tasks", "screened", "kept", "in mix", "quarantined"]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).rjust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]]
    letters = wh.query("SELECT answer_letter, count(*) AS n FROM mcq_tasks GROUP BY 1 ORDER BY 1")
    out = ["", "Golden Goose pipeline: per-domain summary", *lines, ""]
    out.append("answer letters: " + " ".join(f"{r['answer_letter']}={r['n']}" for r in letters))
    if wall_s is not None:
        out.append(f"wall time: {wall_s:.1f}s")
    out += [
        f"warehouse:  {home / 'warehouse.duckdb'}",
        f"exports:    {home / 'exports' / 'default'} (goosereason.jsonl, verl/, openrlhf/, hf_dataset/, README.md)",
        f"reports:    {home / 'reports'}",
        f"dagster:    {home / 'dagster'}  (open it with `make ui`)",
    ]
    return "\n".join(out)


def cmd_summary(args: argparse.Namespace) -> int:
    print(summary_text(Path(os.environ.get("GOOSE_HOME", ".goose")).resolve()))
    return 0


def cmd_lineage(args: argparse.Namespace) -> int:
    from goose_assets.core.lineage import LINEAGE_SQL, format_lineage
    from goose_assets.warehouse import open_warehouse

    wh = open_warehouse(Path(os.environ.get("GOOSE_HOME", ".goose")).resolve())
    rows = wh.query(LINEAGE_SQL, [args.task_id])
    if not rows:
        print(f"no task {args.task_id!r} in the warehouse", file=sys.stderr)
        return 1
    print(format_lineage(rows[0]))
    return 0


def cmd_estimate(args: argparse.Namespace) -> int:
    """Dry run of `masked_items` (and the student rollouts of existing tasks): calls after
    cache hits, estimated tokens and cost per domain, for both synthesis output formats (the
    configured one first). Makes no LLM call."""
    from goose_assets.core.difficulty import student_request
    from goose_assets.core.masking import synthesis_request
    from goose_assets.core.records import Passage
    from goose_assets.core.synthesis_format import FORMATS, configured_format
    from goose_assets.llm.calls import Prices, estimate_calls, format_comparison
    from goose_assets.warehouse import LLMCache, open_warehouse

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
