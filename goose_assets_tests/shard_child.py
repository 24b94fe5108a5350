"""The sharded code location, driven the way a deployment drives it, in its own process
(GOOSE_SHARDS_DIR is read when the definitions are imported). Prints one JSON line of
facts for test_sharding.py to assert on:

1. `source_shards_sensor` is evaluated: its partition and run requests;
2. every requested (domain, shard) run but one is materialized, then the `shard_fan_in`
   automation condition is evaluated: the domain with a shard left must not start;
3. the last shard is materialized and the condition evaluated again;
4. the domain-level stages and the mix are materialized;
5. the per-partition asset-check results are read back from the instance.

    GOOSE_SHARDS_DIR=... GOOSE_HOME=... DAGSTER_HOME=... python -m goose_assets_tests.shard_child
"""

from __future__ import annotations

import json
import warnings
from typing import Any

warnings.filterwarnings("ignore")


def main() -> None:
    import dagster as dg

    from goose_assets.definitions import (
        ALL_ASSETS,
        DOMAIN_STAGES,
        MIX_ASSETS,
        SHARDED,
        SHARDED_STAGES,
        defs,
    )
    from goose_assets.defs.checks import ANSWER_LEAKAGE, TASK_SCHEMA, TRIVIALITY
    from goose_assets.defs.partitions import shard_partitions
    from goose_assets.defs.sources.sensors import source_shards_sensor

    assert SHARDED, "GOOSE_SHARDS_DIR must be set"
    facts: dict[str, Any] = {}
    ops = {"task_difficulty": {"config": {"use_embeddings": False}}}
    resources = defs.resources

    def run(selection: list[Any], key: str) -> bool:
        names = {a.key.path[-1] for a in selection}
        return dg.materialize(
            ALL_ASSETS, selection=selection, partition_key=key, instance=instance, resources=resources,
            run_config={"ops": {k: v for k, v in ops.items() if k in names}}, raise_on_error=False,
        ).success

    with dg.DagsterInstance.get() as instance:
        result = source_shards_sensor(dg.build_sensor_context(instance=instance))
        added = [k for r in result.dynamic_partitions_requests for k in r.partition_keys]
        facts["sensor_added"] = added
        facts["sensor_runs"] = sorted(str(r.partition_key) for r in result.run_requests)
        facts["sensor_run_keys_unique"] = len({r.run_key for r in result.run_requests}) == len(result.run_requests)
        instance.add_dynamic_partitions(shard_partitions.name, added)

        def fan_in_requests(cursor: Any = None) -> tuple[dict[str, list[str]], Any]:
            # what the shard_fan_in sensor's tick would request
            evaluation = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
            requested = {
                a.key.path[-1]: sorted(evaluation.get_requested_partitions(a.key))
                for a in [*DOMAIN_STAGES, *MIX_ASSETS]
            }
            return requested, evaluation.cursor

        facts["fan_in_before_any_shard"], cursor = fan_in_requests()
        keys = sorted(str(r.partition_key) for r in result.run_requests)
        last = max(k for k in keys if k.startswith("math|"))
        facts["shard_runs_ok"] = all(run(SHARDED_STAGES, k) for k in keys if k != last)
        facts["fan_in_before_last_shard"], cursor = fan_in_requests(cursor)
        facts["last_shard_ok"] = run(SHARDED_STAGES, last)
        facts["fan_in_after_last_shard"], _ = fan_in_requests(cursor)

        facts["domain_runs_ok"] = all(run(DOMAIN_STAGES, d) for d in ("math", "code", "science", "cyber"))
        facts["mix_ok"] = all(run(MIX_ASSETS, d) for d in ("math", "code", "science", "cyber"))

        checks: dict[str, dict[str, Any]] = {}
        for asset, name in (("mcq_tasks", ANSWER_LEAKAGE), ("mcq_tasks", TASK_SCHEMA), ("task_difficulty", TRIVIALITY),
                            ("filtered_tasks", "duplicates")):
            history = instance.event_log_storage.get_asset_check_execution_history(
                dg.AssetCheckKey(dg.AssetKey(asset), name), limit=100
            )
            per_partition: dict[str, Any] = {}
            for record in history:
                evaluation = record.evaluation
                partition = getattr(evaluation, "partition", None) if evaluation else None
                per_partition[str(partition)] = {
                    "passed": evaluation.passed if evaluation else None, "status": str(record.status),
                    "severity": str(evaluation.severity) if evaluation else None,
                }
            checks[f"{asset}.{name}"] = per_partition
        facts["checks"] = checks
    print(json.dumps(facts, default=str), flush=True)


if __name__ == "__main__":
    main()
