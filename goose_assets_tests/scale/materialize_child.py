"""One writer process of the scale-out tests: materialize a stage's assets for the given
domains, in order, with the warehouse that the environment selects (GOOSE_WAREHOUSE...).
Prints one JSON line: seconds, success and the commits lost to concurrent writers.

    python -m goose_assets_tests.scale.materialize_child --stage synthesis --domains math
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import warnings

# stages in backfill order. Screening in filtered_tasks reads every domain's passages, so
# it starts only after all domains have them: then the result cannot depend on which
# writer happened to finish first, and concurrent and sequential runs must agree.
STAGES: dict[str, tuple[str, ...]] = {
    "synthesis": ("raw_documents", "extracted_passages", "masked_items", "mcq_tasks", "task_difficulty"),
    "filtering": ("filtered_tasks", "task_gallery"),
    "mix": ("training_mix",),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stage", choices=sorted(STAGES), required=True)
    parser.add_argument("--domains", nargs="+", required=True)
    parser.add_argument("--max-docs", type=int, default=0, help="cap per domain (0: no cap)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("dagster").setLevel(logging.WARNING)

    import dagster as dg

    from goose_assets.definitions import ALL_ASSETS
    from goose_assets.ducklake_warehouse import DuckLakeWarehouse
    from goose_assets.resources import CorpusResource, LLMResource, WarehouseResource

    selection = STAGES[args.stage]
    resources = {
        "warehouse": WarehouseResource(),  # GOOSE_HOME / GOOSE_WAREHOUSE / GOOSE_DUCKLAKE_* from the env
        "corpus": CorpusResource(max_docs_per_domain=args.max_docs),
        "llm": LLMResource(),
    }
    ops = {"task_difficulty": {"config": {"use_embeddings": False}}}
    start = time.perf_counter()
    ok = True
    for domain in args.domains:
        result = dg.materialize(
            ALL_ASSETS, selection=list(selection), partition_key=domain, resources=resources,
            run_config={"ops": {k: v for k, v in ops.items() if k in selection}}, raise_on_error=False,
        )
        ok = ok and result.success
    print(json.dumps({
        "stage": args.stage, "domains": args.domains, "success": ok,
        "seconds": round(time.perf_counter() - start, 3),
        "lost_commits": DuckLakeWarehouse.lost_commits_in_process,
    }), flush=True)


if __name__ == "__main__":
    main()
