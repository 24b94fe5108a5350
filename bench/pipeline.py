"""§1 stage throughput and scaling, §2 orchestration overhead: the whole offline pipeline
over generated corpora of each size, each (size, mode) in a fresh process.

Modes (bench/pipeline_run.py): `dagster` = dg.materialize of ALL_ASSETS per domain with the
in-process executor; `direct` = the same asset bodies called directly (no executor); `plain`
= a plain Python loop over the same core functions, in memory. a/b = dagster/plain.
Every mode runs with `make run`'s settings (embedding baseline on) unless --no-embeddings;
each run records its settings and the tables name any that differ from `make run`.

    python -m bench.pipeline --sizes 1000 10000 --modes dagster plain direct
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.common import DATA, RESULTS, machine, md_table, read_result, run_json_child, write_result
from bench.corpus import build

# the rows a stage consumes: its docs/s denominator
STAGE_INPUT = {"ingest": "documents", "extraction": "documents", "masking": "passages",
               "assembly": "items", "gates": "tasks", "export": "kept"}
RSS_GOAL_MB = 4096
OVERHEAD_GOAL = 1.15
# the sizes issue 8 sets each goal at; a smaller run shows "not measured at this size"
RSS_GOAL_DOCS = 100_000
OVERHEAD_GOAL_DOCS = 10_000


def run_one(size: int, mode: str, timeout: float, embeddings: bool = True) -> dict[str, Any]:
    corpus = build(size)  # built by main() before the modes fork: here a look-up
    home = DATA / f"home-pipeline-{size}-{mode}"
    shutil.rmtree(home, ignore_errors=True)
    # per-step times and memory as the run goes (kept: a run that times out leaves them)
    progress = DATA / f"progress-pipeline-{size}-{mode}.jsonl"
    progress.unlink(missing_ok=True)
    try:
        out = run_json_child(["-m", "bench.pipeline_run", "--corpus", str(corpus), "--mode", mode, "--home", str(home),
                              "--progress", str(progress), *([] if embeddings else ["--no-embeddings"])],
                             timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - a size that cannot finish here is a recorded result
        return {"size": size, "mode": mode, "error": str(exc)[-800:], "settings": {"embedding_baseline": embeddings}}
    finally:
        shutil.rmtree(home, ignore_errors=True)
    counts = out["counts"]
    out["size"] = size
    out["docs_per_s"] = {s: round(counts[STAGE_INPUT[s]] / t, 1) if t else None
                         for s, t in out["stage_s"].items() if s in STAGE_INPUT}
    # the HTML report asset has no plain-loop equivalent: overhead ratios leave it out
    out["wall_s_without_reports"] = round(out["wall_s"] - out["stage_s"].get("reports", 0.0), 3)
    out["source_docs_per_s_total"] = round(counts["documents"] / out["wall_s"], 2)
    return out


def embedding_baseline(run: dict[str, Any]) -> bool:
    """Whether a run had the embedding baseline on. Runs recorded before issue 20 carry no
    settings: bench/pipeline_run.py then hard-coded `use_embeddings=False` in every mode."""
    return bool(run.get("settings", {}).get("embedding_baseline", False))


def process_per_run(run: dict[str, Any]) -> bool:
    """Whether the dagster mode ran each partition run in its own forked process, as `goose
    run` does since 2026-12-07; earlier runs ran every partition run in one process."""
    return bool(run.get("settings", {}).get("process_per_run", False))


def settings_note(result: dict[str, Any]) -> str:
    """One line: the settings these runs used, against `make run`'s (issue 17 point 4)."""
    on = sorted({r["size"] for r in result["runs"] if embedding_baseline(r)})
    off = sorted({r["size"] for r in result["runs"] if not embedding_baseline(r)})
    forked = sorted({r["size"] for r in result["runs"] if process_per_run(r)})
    base = ("Settings: `make run`'s (offline backend, default mix, in-process executor"
            + (f"; at {', '.join(f'{s:,}' for s in forked)} docs each partition run in its own forked process as "
               "`goose run` now runs it, at the other sizes every run in one process" if forked else "")
            + ") on the generated corpus of each size")
    if not off:
        return base + ", embedding baseline **on** as in `make run`."
    sizes = ", ".join(f"{s:,}" for s in off)
    where = "every row" if not on else f"the rows at {sizes} docs (on at {', '.join(f'{s:,}' for s in on)})"
    return (base + f"; **differs from `make run`: the embedding baseline is off** in {where} "
            "(`task_difficulty` without `use_embeddings`; runs recorded before issue 20 all had it off, "
            "so the gates' rows/s and the CPU totals leave out the MiniLM encoding that `make run` pays).")


def measure_embedding_cost(size: int, timeout: float) -> dict[str, Any]:
    """The plain loop at `size` docs with the embedding baseline on, then off (one after the
    other: two torch processes side by side would measure each other's threads)."""
    build(size)
    load = [round(x, 2) for x in os.getloadavg()]
    on, off = (run_one(size, "plain", timeout, embeddings=e) for e in (True, False))
    out: dict[str, Any] = {"size": size, "mode": "plain"}
    if "wall_s" not in on or "wall_s" not in off:
        out["error"] = (on.get("error") or off.get("error") or "")[-400:]
        return out
    tasks = on["counts"]["tasks"]
    out.update({
        # its own provenance: --merge keeps it beside runs measured at other times
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"), "load_avg_at_start": load, "machine": machine(),
        "tasks": tasks, "gates_s_on": on["stage_s"]["gates"], "gates_s_off": off["stage_s"]["gates"],
        "cpu_s_on": on["cpu_s"], "cpu_s_off": off["cpu_s"], "wall_s_on": on["wall_s"], "wall_s_off": off["wall_s"],
        "peak_rss_mb_on": on["peak_rss_mb"], "peak_rss_mb_off": off["peak_rss_mb"],
        "cpu_on_over_off": round(on["cpu_s"] / off["cpu_s"], 2),
        "added_cpu_s_per_task": round((on["cpu_s"] - off["cpu_s"]) / tasks, 3) if tasks else None,
        # the embedding vote changes which tasks are trivial, so the kept counts may differ
        "kept_on": on["counts"]["kept"], "kept_off": off["counts"]["kept"],
    })
    return out


def _comparable(x: dict[str, Any] | None, y: dict[str, Any] | None) -> bool:
    """Both runs present and with the same settings: a ratio across settings would measure
    the embedding baseline, not the executor or the size."""
    return bool(x and y and embedding_baseline(x) == embedding_baseline(y))


def _cpu_core(run: dict[str, Any]) -> float:
    """CPU seconds without the report asset's share (pro rata to its wall share)."""
    return run["cpu_s"] * run["wall_s_without_reports"] / run["wall_s"]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[1000],
                    help="none with --merge --embedding-cost-size N: add only that measurement to the results")
    ap.add_argument("--modes", nargs="+", default=["dagster", "plain"])
    ap.add_argument("--timeout", type=float, default=6 * 3600)
    ap.add_argument("--dagster-only-from", type=int, default=0,
                    help="sizes from this one up run the dagster mode only (the RSS/scaling point)")
    ap.add_argument("--merge", action="store_true", help="merge with the sizes already in bench/results/pipeline.json")
    ap.add_argument("--parallel", action="store_true",
                    help="run a size's modes at the same time (fairer on a machine whose load drifts)")
    ap.add_argument("--resummarize", action="store_true", help="recompute ratios from bench/results/pipeline.json only")
    ap.add_argument("--no-embeddings", action="store_true",
                    help="embedding baseline off (differs from `make run`; the tables say so)")
    ap.add_argument("--embedding-cost-size", type=int, default=0,
                    help="also run the plain loop at this size with the embedding baseline on and off, one after "
                         "the other: what `make run`'s default costs, for tables measured without it")
    args = ap.parse_args(argv)
    embeddings = not args.no_embeddings
    runs = []
    if args.resummarize:
        args.merge, args.sizes, args.modes = True, [], []
    for size in args.sizes:
        modes = [m for m in args.modes if not (args.dagster_only_from and size >= args.dagster_only_from and m != "dagster")]
        # once, before the modes fork: they would otherwise all build the same corpus at once
        build(size)
        if args.parallel:
            # side by side, the modes share whatever load the machine has at that moment
            with ThreadPoolExecutor(max_workers=len(modes)) as pool:
                done = list(pool.map(lambda m, size=size: run_one(size, m, args.timeout, embeddings), modes))
        else:
            done = [run_one(size, m, args.timeout, embeddings) for m in modes]
        for r in done:
            r["parallel"] = args.parallel
            runs.append(r)
            print(json.dumps(r), flush=True)
    args.sizes_measured = bool(runs)
    embedding_cost = None
    if args.embedding_cost_size:
        embedding_cost = measure_embedding_cost(args.embedding_cost_size, args.timeout)
        embedding_cost["command"] = " ".join(["python -m bench.pipeline", *(sys.argv[1:] if argv is None else argv)])
    if args.merge:
        # keep earlier sizes/modes of bench/results/pipeline.json that this call did not re-run
        old = read_result("pipeline") or {"runs": []}
        embedding_cost = embedding_cost or old.get("embedding_cost")
        fresh = {(r["size"], r["mode"]) for r in runs}
        runs = sorted([r for r in old["runs"] if (r["size"], r["mode"]) not in fresh] + runs,
                      key=lambda r: (r["size"], r["mode"]))
        args.sizes = sorted({r["size"] for r in runs})
    by = {(r["size"], r["mode"]): r for r in runs if "wall_s" in r}
    overhead = []
    for size in args.sizes:
        a, b, d = by.get((size, "dagster")), by.get((size, "plain")), by.get((size, "direct"))
        row: dict[str, Any] = {"size": size}
        if _comparable(a, b):
            row["dagster_over_plain"] = round(a["wall_s_without_reports"] / b["wall_s"], 3)
            # CPU time is the steadier comparison on a shared machine (reports excluded pro rata)
            share = a["wall_s_without_reports"] / a["wall_s"]
            row["dagster_over_plain_cpu"] = round(a["cpu_s"] * share / b["cpu_s"], 3)
            row["same_output"] = a["counts"] == b["counts"]
        if _comparable(a, d):
            row["dagster_over_direct"] = round(a["wall_s_without_reports"] / d["wall_s_without_reports"], 3)
            row["dagster_over_direct_cpu"] = round(_cpu_core(a) / _cpu_core(d), 3)
        if _comparable(d, b):
            row["direct_over_plain"] = round(d["wall_s_without_reports"] / b["wall_s"], 3)
            row["direct_over_plain_cpu"] = round(_cpu_core(d) / b["cpu_s"], 3)
        overhead.append(row)
    scaling = []
    dag = sorted((r for r in runs if r.get("mode") == "dagster" and "wall_s" in r), key=lambda r: r["size"])
    for small, big in zip(dag, dag[1:], strict=False):
        # a process per run changes what peak RSS measures: scale only like with like
        if not _comparable(small, big) or process_per_run(small) != process_per_run(big):
            continue
        scaling.append({
            "from": small["size"], "to": big["size"],
            # CPU per document: steadier than wall time when the machine's load drifts between sizes
            "cpu_per_doc_ratio": round((big["cpu_s"] / big["counts"]["documents"]) / (small["cpu_s"] / small["counts"]["documents"]), 3),
            "time_per_doc_ratio": round((big["wall_s"] / big["counts"]["documents"]) / (small["wall_s"] / small["counts"]["documents"]), 3),
            "peak_rss_ratio": round(big["peak_rss_mb"] / small["peak_rss_mb"], 3),
        })
    result = {"runs": runs, "overhead": overhead, "scaling": scaling, "goal_overhead": OVERHEAD_GOAL, "goal_rss_mb": RSS_GOAL_MB,
              "goal_overhead_docs": OVERHEAD_GOAL_DOCS, "goal_rss_docs": RSS_GOAL_DOCS,
              **({"embedding_cost": embedding_cost} if embedding_cost else {})}
    if args.resummarize or (args.merge and not args.sizes_measured):
        # same measurement, new arithmetic (or only the embedding cost added, which carries
        # its own command, time and machine): keep those the runs were measured with
        previous = read_result("pipeline") or {}
        kept = {k: previous[k] for k in ("benchmark", "command", "finished_at", "machine") if k in previous}
        (RESULTS / "pipeline.json").write_text(json.dumps({**kept, **result}, indent=2) + "\n")
    else:
        write_result("pipeline", result, argv)
    print(tables(result))
    return result


def tables(result: dict[str, Any]) -> str:
    stages = list(STAGE_INPUT)
    rows = []
    for r in result["runs"]:
        if "wall_s" not in r:
            rows.append([r["size"], r["mode"], *[None] * len(stages), None, None, None, _on_off(r),
                         "failed: " + r.get("error", "")[:80].replace("\n", " ")])
            continue
        rows.append([r["size"], r["mode"], *[r["docs_per_s"].get(s) for s in stages], r["wall_s"],
                     r["stage_s"].get("reports"), r["peak_rss_mb"], _on_off(r),
                     ", ".join(f"{k} {v}" for k, v in r["counts"].items())])
    t1 = md_table(["docs", "mode", *[f"{s} rows/s" for s in stages], "wall s", "of which reports s", "peak RSS MB",
                   "embedding baseline", "rows"], rows)
    t2 = md_table(["docs", "a/b = dagster ÷ plain (wall)", "a/b (CPU time)", "dagster ÷ direct (CPU)", "direct ÷ plain (CPU)", "same rows"],
                  [[o["size"], o.get("dagster_over_plain"), o.get("dagster_over_plain_cpu"), o.get("dagster_over_direct_cpu"),
                    o.get("direct_over_plain_cpu"),
                    o.get("same_output")] for o in result["overhead"]])
    t3 = md_table(["from docs", "to docs", "wall per doc ×", "CPU per doc ×", "peak RSS ×"],
                  [[s["from"], s["to"], s["time_per_doc_ratio"], s.get("cpu_per_doc_ratio"), s["peak_rss_ratio"]]
                   for s in result["scaling"]])
    parts = [settings_note(result), t1, t2, t3]
    e = result.get("embedding_cost")
    if e:
        m = e.get("machine") or {}
        when = (f", measured {e['measured_at']} with `{e['command']}` on {m.get('nproc')} cores ({m.get('cpu')}), "
                f"load {e['load_avg_at_start'][0]} at start" if "measured_at" in e else "")
        parts.append(f"What `make run`'s embedding baseline costs (plain loop at {e['size']:,} docs, on then off, one "
                     f"after the other{when}; the model load is inside the gates):")
        parts.append(md_table(
            ["docs", "tasks", "gates s on", "gates s off", "CPU s on", "CPU s off", "CPU on ÷ off", "added CPU s per task",
             "peak RSS MB on / off", "kept on / off"],
            [[e["size"], e.get("tasks"), e.get("gates_s_on"), e.get("gates_s_off"), e.get("cpu_s_on"), e.get("cpu_s_off"),
              e.get("cpu_on_over_off"), e.get("added_cpu_s_per_task"),
              f"{e['peak_rss_mb_on']:,.0f} / {e['peak_rss_mb_off']:,.0f}" if "peak_rss_mb_on" in e else None,
              f"{e['kept_on']:,} / {e['kept_off']:,}" if "kept_on" in e else "failed: " + e.get("error", "")[:80]]]))
    return "\n\n".join(parts)


def _on_off(run: dict[str, Any]) -> str:
    return "on" if embedding_baseline(run) else "**off**"


if __name__ == "__main__":
    main()
