"""The code location's single entry point.

Unsharded (the default), one job runs every stage for a domain partition. With
GOOSE_SHARDS_DIR set (partitions.py), the per-item stages form `goose_shards` (domain x
shard, fed by `source_shards_sensor`) and the domain-level stages form `goose_domains`,
which the `shard_fan_in` automation sensor starts once a domain's shards are all done.
"""

import warnings

import dagster as dg

from goose_assets.defs.filtering import filtered_tasks, task_difficulty
from goose_assets.defs.gallery import quality_report, task_gallery
from goose_assets.defs.shard_sensor import SHARD_JOB, source_shards_sensor
from goose_assets.defs.sources import raw_documents
from goose_assets.defs.synthesis import extracted_passages, masked_items, mcq_tasks
from goose_assets.defs.training import training_mix
from goose_assets.executors import executor_from_env
from goose_assets.partitions import SHARDED, domain_partitions, domain_shard_partitions
from goose_assets.resources import default_resources

# partitioned asset checks are a 1.13 preview feature; the warning says nothing actionable
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
warnings.filterwarnings("ignore", category=dg.BetaWarning)

# per-item stages: each reads only its own partition (a domain, or a domain's shard)
SHARDED_STAGES = [raw_documents, extracted_passages, masked_items, mcq_tasks, task_difficulty]
# domain-level stages that read only their own domain (all of its shards)
DOMAIN_STAGES = [filtered_tasks, task_gallery, quality_report]
UPSTREAM_ASSETS = [*SHARDED_STAGES, *DOMAIN_STAGES]
# assets that read every domain partition: they run once all domains are filtered
MIX_ASSETS = [training_mix]
ALL_ASSETS = [*UPSTREAM_ASSETS, *MIX_ASSETS]

if SHARDED:
    jobs = [
        dg.define_asset_job(
            SHARD_JOB, selection=dg.AssetSelection.assets(*SHARDED_STAGES), partitions_def=domain_shard_partitions,
            description="The per-item stages for one (domain, shard); the sensor starts one run per new shard file.",
        ),
        dg.define_asset_job(
            "goose_domains", selection=dg.AssetSelection.assets(*DOMAIN_STAGES, *MIX_ASSETS),
            partitions_def=domain_partitions,
            description="Screening, reports and the mix for one domain, over all of its shards.",
        ),
    ]
    sensors: list[dg.SensorDefinition] = [
        source_shards_sensor,
        dg.AutomationConditionSensorDefinition(
            "shard_fan_in", target=dg.AssetSelection.assets(*DOMAIN_STAGES, *MIX_ASSETS),
            default_status=dg.DefaultSensorStatus.RUNNING,
            description="Runs a domain's screening, reports and mix once all its shards are materialized.",
        ),
    ]
else:
    jobs = [
        dg.define_asset_job(
            "goose_pipeline", selection=dg.AssetSelection.assets(*ALL_ASSETS), partitions_def=domain_partitions,
            description="Every stage for one domain partition; backfill it over all four domains.",
        )
    ]
    sensors = []

defs = dg.Definitions(
    assets=ALL_ASSETS,
    jobs=jobs,
    sensors=sensors,
    resources=default_resources(),
    # GOOSE_EXECUTOR=celery sends steps to Celery workers (docs/scaling.md); default multiprocess
    executor=executor_from_env(),
)
