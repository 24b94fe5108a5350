"""The sensor that turns files landing in the shards folder into shard partitions and runs."""

import dagster as dg

from goose_assets.core.ingest import shards
from goose_assets.core.records import DOMAINS
from goose_assets.defs.partitions import (
    DOMAIN_DIMENSION,
    SHARD_DIMENSION,
    shard_partitions,
    shards_dir,
)

SHARD_JOB = "goose_shards"


@dg.sensor(
    job_name=SHARD_JOB,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds a `source_shards` partition for each new file (group) in GOOSE_SHARDS_DIR and "
    "requests the per-item stages for it in every domain; a rewritten file runs again.",
)
def source_shards_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    root = shards_dir()
    if root is None or not root.is_dir():
        return dg.SkipReason(f"shards folder {root} does not exist")
    found = shards.discover(root)
    if not found:
        return dg.SkipReason(f"no shard files in {root}")
    known = set(context.instance.get_dynamic_partitions(shard_partitions.name))
    new_keys = [k for k in found if k not in known]
    # every domain, even where a shard has no file for it: an empty partition is a
    # recorded "nothing here", and the domain-level stages wait for all of a domain's shards
    run_requests = [
        dg.RunRequest(
            run_key=f"{shard.key}|{domain}|{shard.fingerprint(domain)}",
            partition_key=dg.MultiPartitionKey({DOMAIN_DIMENSION: domain, SHARD_DIMENSION: shard.key}),
            tags={"goose/shard_files": str(len(shard.files))},
        )
        for shard in found.values()
        for domain in DOMAINS
    ]
    context.log.info(f"{len(found)} shards in {root}, {len(new_keys)} new")
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[shard_partitions.build_add_request(new_keys)] if new_keys else [],
    )
