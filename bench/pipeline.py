"""§1 stage throughput and scaling, §2 orchestration overhead: the whole offline pipeline
over generated corpora of each size, each (size, mode) in a fresh process.

Modes (bench/pipeline_run.py): `dagster` = dg.materialize of ALL_ASSETS per domain with the
in-process executor; `direct` = the same asset bodies called directly (no executor); `plain`
= a plain Python loop over the same core functions, in memory. a/b = dagster/plain.

    python -m bench.pipeline --sizes 1000 10000 --modes dagster plain direct
"""

from __future__ import annotations

import argparse
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.common import DATA, RESULTS, md_table, read_result, run_json_child, write_result
from bench.corpus import build

# the rows a stage consumes: its docs/s denominator
STAGE_INPUT = {"ingest": "documents", "extraction": "documents", "masking": "passages",
               "assembly": "items", "gates": "tasks", "export": "kept"}
RSS_GOAL_MB = 4096
OVERHEAD_GOAL = 1.15


def run_one(size: int, mode: str, timeout: float) -> dict[str, Any]:
    corpus = build(size)
    home = DATA / f"home-pipeline-{size}-{mode}"
    shutil.rmtree(home, ignore_errors=True)
    # per-step times and memory as the run goes (kept: a run that times out leaves them)
    progress = DATA / f"progress-pipeline-{size}-{mode}.jsonl"
    progress.unlink(missing_ok=True)
    try:
        out = run_json_child(["-m", "bench.pipeline_run", "--corpus", str(corpus), "--mode", mode, "--home", str(home),
                              "--progress", str(progress)], timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - a size that cannot finish here is a recorded result
        return {"size": size, "mode": mode, "error": str(exc)[-800:]}
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


def _cpu_core(run: dict[str, Any]) -> float:
    """CPU seconds without the report asset's share (pro rata to its wall share)."""
    return run["cpu_s"] * run["wall_s_without_reports"] / run["wall_s"]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000])
    ap.add_argument("--modes", nargs="+", default=["dagster", "plain"])
    ap.add_argument("--timeout", type=float, default=6 * 3600)
    ap.add_argument("--dagster-only-from", type=int, default=0,
                    help="sizes from this one up run the dagster mode only (the RSS/scaling point)")
    ap.add_argument("--merge", action="store_true", help="merge with the sizes already in bench/results/pipeline.json")
    ap.add_argument("--parallel", action="store_true",
                    help="run a size's modes at the same time (fairer on a machine whose load drifts)")
    ap.add_argument("--resummarize", action="store_true", help="recompute ratios from bench/results/pipeline.json only")
    args = ap.parse_args(argv)
    runs = []
    if args.resummarize:
        args.merge, args.sizes, args.modes = True, [], []
    for size in args.sizes:
        modes = [m for m in args.modes if not (args.dagster_only_from and size >= args.dagster_only_from and m != "dagster")]
        if args.parallel:
            # side by side, the modes share whatever load the machine has at that moment
            with ThreadPoolExecutor(max_workers=len(modes)) as pool:
                done = list(pool.map(lambda m, size=size: run_one(size, m, args.timeout), modes))
        else:
            done = [run_one(size, m, args.timeout) for m in modes]
        for r in done:
            r["parallel"] = args.parallel
            runs.append(r)
            print(json.dumps(r), flush=True)
    if args.merge:
        # keep earlier sizes/modes of bench/results/pipeline.json that this call did not re-run
        old = read_result("pipeline") or {"runs": []}
        fresh = {(r["size"], r["mode"]) for r in runs}
        runs = sorted([r for r in old["runs"] if (r["size"], r["mode"]) not in fresh] + runs,
                      key=lambda r: (r["size"], r["mode"]))
        args.sizes = sorted({r["size"] for r in runs})
    by = {(r["size"], r["mode"]): r for r in runs if "wall_s" in r}
    overhead = []
    for size in args.sizes:
        a, b, d = by.get((size, "dagster")), by.get((size, "plain")), by.get((size, "direct"))
        row: dict[str, Any] = {"size": size}
        if a and b:
            row["dagster_over_plain"] = round(a["wall_s_without_reports"] / b["wall_s"], 3)
            # CPU time is the steadier comparison on a shared machine (reports excluded pro rata)
            share = a["wall_s_without_reports"] / a["wall_s"]
            row["dagster_over_plain_cpu"] = round(a["cpu_s"] * share / b["cpu_s"], 3)
            row["same_output"] = a["counts"] == b["counts"]
        if a and d:
            row["dagster_over_direct"] = round(a["wall_s_without_reports"] / d["wall_s_without_reports"], 3)
            row["dagster_over_direct_cpu"] = round(_cpu_core(a) / _cpu_core(d), 3)
        if d and b:
            row["direct_over_plain"] = round(d["wall_s_without_reports"] / b["wall_s"], 3)
            row["direct_over_plain_cpu"] = round(_cpu_core(d) / b["cpu_s"], 3)
        overhead.append(row)
    scaling = []
    dag = sorted((r for r in runs if r.get("mode") == "dagster" and "wall_s" in r), key=lambda r: r["size"])
    for small, big in zip(dag, dag[1:], strict=False):
        scaling.append({
            "from": small["size"], "to": big["size"],
            # CPU per document: steadier than wall time when the machine's load drifts between sizes
            "cpu_per_doc_ratio": round((big["cpu_s"] / big["counts"]["documents"]) / (small["cpu_s"] / small["counts"]["documents"]), 3),
            "time_per_doc_ratio": round((big["wall_s"] / big["counts"]["documents"]) / (small["wall_s"] / small["counts"]["documents"]), 3),
            "peak_rss_ratio": round(big["peak_rss_mb"] / small["peak_rss_mb"], 3),
        })
    result = {"runs": runs, "overhead": overhead, "scaling": scaling, "goal_overhead": OVERHEAD_GOAL, "goal_rss_mb": RSS_GOAL_MB}
    if args.resummarize:
        # same measurement, new arithmetic: keep the command, time and machine it was measured with
        previous = read_result("pipeline") or {}
        kept = {k: previous[k] for k in ("benchmark", "command", "finished_at", "machine") if k in previous}
        (RESULTS / "pipeline.json").write_text(json.dumps({**kept, **result}, indent=2) + "\n")
    else:
        write_result("pipeline", result)
    print(tables(result))
    return result


def tables(result: dict[str, Any]) -> str:
    stages = list(STAGE_INPUT)
    rows = []
    for r in result["runs"]:
        if "wall_s" not in r:
            rows.append([r["size"], r["mode"], *[None] * len(stages), None, None, None, "failed: " + r.get("error", "")[:80].replace("\n", " ")])
            continue
        rows.append([r["size"], r["mode"], *[r["docs_per_s"].get(s) for s in stages], r["wall_s"],
                     r["stage_s"].get("reports"), r["peak_rss_mb"],
                     ", ".join(f"{k} {v}" for k, v in r["counts"].items())])
    t1 = md_table(["docs", "mode", *[f"{s} rows/s" for s in stages], "wall s", "of which reports s", "peak RSS MB", "rows"], rows)
    t2 = md_table(["docs", "a/b = dagster ÷ plain (wall)", "a/b (CPU time)", "dagster ÷ direct (CPU)", "direct ÷ plain (CPU)", "same rows"],
                  [[o["size"], o.get("dagster_over_plain"), o.get("dagster_over_plain_cpu"), o.get("dagster_over_direct_cpu"),
                    o.get("direct_over_plain_cpu"),
                    o.get("same_output")] for o in result["overhead"]])
    t3 = md_table(["from docs", "to docs", "wall per doc ×", "CPU per doc ×", "peak RSS ×"],
                  [[s["from"], s["to"], s["time_per_doc_ratio"], s.get("cpu_per_doc_ratio"), s["peak_rss_ratio"]]
                   for s in result["scaling"]])
    return "\n\n".join([t1, t2, t3])


if __name__ == "__main__":
    main()
