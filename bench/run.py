"""Every benchmark, quick or full:  python -m bench.run --quick | --full [--only NAME ...]

--quick is sized for ≤ 5 minutes on an idle 2-core machine (pipeline at 1K docs, a few
hundred LLM requests per point, dedup at ~10K docs); --full runs the issue's sizes (1K, 10K
and 100K docs, 1,000 requests per point, 100K-doc dedup, medians of 3 where cheap). Each
benchmark writes bench/results/<name>.json; BENCHMARKS.md is then regenerated from them.
A benchmark that fails is recorded in bench/results/run.json and the others still run.
"""

from __future__ import annotations

import argparse
import time
import traceback
from collections.abc import Callable
from typing import Any

from bench import cache_rerun, dedup_decontam, html_extraction, llm_saturation, pipeline, report
from bench.common import write_result

PLANS: dict[str, dict[str, tuple[Callable[[list[str] | None], Any], list[str]]]] = {
    "quick": {
        "pipeline": (pipeline.main, ["--sizes", "1000", "--modes", "dagster", "plain", "--parallel"]),
        "llm_saturation": (llm_saturation.main, ["--requests", "300", "--repeats", "1"]),
        "cache_rerun": (cache_rerun.main, ["--docs-per-domain", "50", "--repeats", "1"]),
        "dedup_decontam": (dedup_decontam.main, ["--n-docs", "10000", "--n-planted", "200"]),
        "html_extraction": (html_extraction.main, ["--repeats", "1"]),
    },
    "full": {
        "pipeline": (pipeline.main, ["--sizes", "1000", "10000", "100000", "--modes", "dagster", "plain", "direct",
                                     "--dagster-only-from", "100000", "--parallel"]),
        "llm_saturation": (llm_saturation.main, ["--requests", "1000", "--repeats", "3"]),
        "cache_rerun": (cache_rerun.main, ["--docs-per-domain", "250", "--repeats", "3"]),
        "dedup_decontam": (dedup_decontam.main, ["--n-docs", "100000", "--n-planted", "2000"]),
        "html_extraction": (html_extraction.main, ["--repeats", "3"]),
    },
}


def _cap(fn_args: list[str], max_docs: int) -> list[str]:
    """Drop pipeline sizes above max_docs and clamp --n-docs to it."""
    out: list[str] = []
    flag = ""
    for a in fn_args:
        if a.startswith("--"):
            flag = a
            out.append(a)
        elif flag == "--sizes" and int(a) > max_docs:
            continue
        elif flag == "--n-docs":
            out.append(str(min(int(a), max_docs)))
        else:
            out.append(a)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--quick", action="store_true")
    mode.add_argument("--full", action="store_true")
    ap.add_argument("--only", nargs="*", default=[])
    ap.add_argument("--max-docs", type=int, default=0,
                    help="cap the pipeline and dedup sizes (what fits a session here); recorded in the results")
    args = ap.parse_args(argv)
    plan_name = "full" if args.full else "quick"
    summary: dict[str, Any] = {"plan": plan_name, "benchmarks": {}}
    start = time.perf_counter()
    for name, (fn, fn_args) in PLANS[plan_name].items():
        if args.only and name not in args.only:
            continue
        if args.max_docs:
            fn_args = _cap(fn_args, args.max_docs)
        print(f"\n## {name} ({plan_name}): python -m bench.{name} {' '.join(fn_args)}", flush=True)
        t = time.perf_counter()
        try:
            fn(fn_args)
            status = "ok"
        except Exception:  # noqa: BLE001 - one broken benchmark must not hide the others
            status = "failed: " + traceback.format_exc()[-1500:]
            print(status, flush=True)
        summary["benchmarks"][name] = {"args": fn_args, "seconds": round(time.perf_counter() - t, 1), "status": status}
    summary["total_seconds"] = round(time.perf_counter() - start, 1)
    write_result(f"run-{plan_name}", summary)
    report.main([])
    print(f"\nall done in {summary['total_seconds']:.0f}s; BENCHMARKS.md regenerated")


if __name__ == "__main__":
    main()
