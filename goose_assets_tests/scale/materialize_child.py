"""One writer process of the scale-out tests: materialize the pipeline's stages for the
given domains, with the warehouse that the environment selects (GOOSE_WAREHOUSE...).
Prints one JSON line: per-stage seconds, success and the commits lost to other writers.

    python -m goose_assets_tests.scale.materialize_child --domains math --barrier DIR --writers 4
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import warnings
from pathlib import Path

# stages in backfill order. Screening in filtered_tasks reads every domain's passages and
# the mix reads every domain's kept counts, so writers wait for each other between stages:
# then no result depends on which writer finished first, and concurrent and sequential
# runs must agree row for row.
STAGES: dict[str, tuple[str, ...]] = {
    "synthesis": ("raw_documents", "extracted_passages", "masked_items", "mcq_tasks", "task_difficulty"),
    "filtering": ("filtered_tasks", "task_gallery", "quality_report"),
    "mix": ("training_mix",),
}


def wait_for_writers(barrier: Path, stage: str, name: str, writers: int, timeout_s: float = 1800) -> None:
    """A file barrier: every writer marks the stage done, then waits for all the others."""
    barrier.mkdir(parents=True, exist_ok=True)
    (barrier / f"{stage}.{name}.done").touch()
    deadline = time.monotonic() + timeout_s
    while len(list(barrier.glob(f"{stage}.*.done"))) < writers:
        if time.monotonic() > deadline:
            raise TimeoutError(f"other writers never finished {stage}")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--domains", nargs="+", required=True)
    parser.add_argument("--barrier", type=Path, help="folder shared by the writers; omit for a single writer")
    parser.add_argument("--writers", type=int, default=1)
    parser.add_argument("--max-docs", type=int, default=0, help="cap per domain (0: no cap)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("dagster").setLevel(logging.WARNING)

    import dagster as dg

    from goose_assets.definitions import ALL_ASSETS
    from goose_assets.defs.resources import CorpusResource, LLMResource, WarehouseResource
    from goose_assets.storage.ducklake_warehouse import DuckLakeWarehouse

    resources = {
        "warehouse": WarehouseResource(),  # GOOSE_HOME / GOOSE_WAREHOUSE / GOOSE_DUCKLAKE_* from the env
        "corpus": CorpusResource(max_docs_per_domain=args.max_docs),
        "llm": LLMResource(),
    }
    ops = {"task_difficulty": {"config": {"use_embeddings": False}}}
    stage_seconds: dict[str, float] = {}
    ok = True
    for stage, selection in STAGES.items():
        start = time.perf_counter()
        for domain in args.domains:
            result = dg.materialize(
                ALL_ASSETS, selection=list(selection), partition_key=domain, resources=resources,
                run_config={"ops": {k: v for k, v in ops.items() if k in selection}}, raise_on_error=False,
            )
            ok = ok and result.success
        stage_seconds[stage] = round(time.perf_counter() - start, 3)
        if args.barrier:
            wait_for_writers(args.barrier, stage, "-".join(args.domains), args.writers)
    print(json.dumps({
        "domains": args.domains, "success": ok, "stage_seconds": stage_seconds,
        "lost_commits": DuckLakeWarehouse.lost_commits_in_process,
    }), flush=True)


if __name__ == "__main__":
    main()
