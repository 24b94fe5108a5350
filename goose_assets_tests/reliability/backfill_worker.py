"""One domain's share of a repeated backfill, as its own process on a shared Dagster instance.

The test starts four of these (one per domain) at once. Each imports Dagster and the code
location once, then runs the same real Dagster runs a backfill would, in rounds the test
opens with files in `--sync`:

    go-upstream-<r>  ->  the domain's upstream assets (one run)  ->  upstream-<r>-<domain>
    go-mix-<r>       ->  the domain's training_mix partition      ->  mix-<r>-<domain>

so the four runs of a round really overlap, and the mix starts only once every domain is
filtered (its AllPartitionMapping, as a backfill orders it). Runs use the instance from
DAGSTER_HOME (the repo's dagster.yaml: pool `duckdb_write` limit 1) and GOOSE_HOME.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from pathlib import Path

import dagster as dg

from goose_assets.definitions import ALL_ASSETS, MIX_ASSETS
from goose_assets.defs.resources import default_resources

# what training_mix reads (the gallery and report are leaves; left out to keep the test fast)
MIX_INPUTS = ("raw_documents", "extracted_passages", "masked_items", "mcq_tasks", "task_difficulty", "filtered_tasks")
RUN_CONFIG = {"ops": {"task_difficulty": {"config": {"use_embeddings": False}}}}


def _wait_for(path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {path.name} after {timeout_s:.0f}s")
        time.sleep(0.05)


def _run(instance: dg.DagsterInstance, selection: list[dg.AssetsDefinition], domain: str, tag: str) -> dict[str, object]:
    keys = {a.key.path[-1] for a in selection}
    result = dg.materialize(
        ALL_ASSETS, selection=selection, partition_key=domain, instance=instance, resources=default_resources(),
        run_config={"ops": {k: v for k, v in RUN_CONFIG["ops"].items() if k in keys}},
        raise_on_error=False, tags={"goose/reliability": tag},
    )
    return {"run_id": result.run_id, "success": result.success}


def _poll_the_pool_briskly() -> None:
    """A step blocked by the pool re-checks its claim after 1 s, growing to 15 s. Steps here
    take ~1 s, so that back-off would leave the slot idle most of the time and the test would
    measure sleeps; re-check every 0.2 s instead (the claim logic itself is untouched)."""
    from dagster._core.execution.plan import instance_concurrency_context as icc

    if all(hasattr(icc, n) for n in ("INITIAL_INTERVAL_VALUE", "STEP_UP_BASE", "MAX_CONCURRENCY_CLAIM_BLOCKED_INTERVAL")):
        icc.INITIAL_INTERVAL_VALUE = 0.2
        icc.STEP_UP_BASE = 1.0
        icc.MAX_CONCURRENCY_CLAIM_BLOCKED_INTERVAL = 0.2


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--domain", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sync", required=True)
    parser.add_argument("--timeout-s", type=float, default=600.0)
    args = parser.parse_args(argv)
    sync = Path(args.sync)
    # training_mix imports these lazily; importing them now, while all four workers start in
    # parallel, keeps that CPU out of the pool-serialized steps
    import datasets  # noqa: F401
    import great_expectations  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    _poll_the_pool_briskly()
    instance = dg.DagsterInstance.get()
    upstream = [a for a in ALL_ASSETS if a.key.path[-1] in MIX_INPUTS]
    (sync / f"ready-{args.domain}").write_text("")
    for r in range(1, args.rounds + 1):
        for phase, selection in (("upstream", upstream), ("mix", MIX_ASSETS)):
            _wait_for(sync / f"go-{phase}-{r}", args.timeout_s)
            try:
                outcome = _run(instance, selection, args.domain, f"{phase}-{r}")
            except Exception:  # reported to the test, which fails with it
                outcome = {"success": False, "error": traceback.format_exc()}
            (sync / f"{phase}-{r}-{args.domain}").write_text(json.dumps(outcome))


if __name__ == "__main__":
    main()
