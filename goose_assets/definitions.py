"""The code location's single entry point: `build_definitions`, called once.

Unsharded (the default), one job runs every stage for a domain partition. With
GOOSE_SHARDS_DIR set (defs/partitions.py), the per-item stages form `goose_shards`
(domain x shard, fed by `source_shards_sensor`) and the domain-level stages form
`goose_domains`, which the `shard_fan_in` automation sensor starts once a domain's shards
are all done. Either graph can be built in any process: `build_definitions(sharded=...)`.
"""

import warnings
from dataclasses import dataclass

import dagster as dg

from goose_assets.defs.executors import executor_from_env
from goose_assets.defs.filtering.assets import filtering_assets
from goose_assets.defs.partitions import (
    PartitionLayout,
    domain_partitions,
    domain_shard_partitions,
    sharded_from_env,
)
from goose_assets.defs.reports.assets import reports_assets
from goose_assets.defs.resources import default_resources
from goose_assets.defs.sources.assets import sources_assets
from goose_assets.defs.sources.sensors import SHARD_JOB, source_shards_sensor
from goose_assets.defs.synthesis.assets import synthesis_assets
from goose_assets.defs.training.assets import training_assets

# partitioned asset checks are a 1.13 preview feature; the warning says nothing actionable
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
warnings.filterwarnings("ignore", category=dg.BetaWarning)

# per-item stages: each reads only its own partition (a domain, or a domain's shard)
SHARDED_STAGE_NAMES = ("raw_documents", "extracted_passages", "masked_items", "mcq_tasks", "task_difficulty")
# domain-level stages that read only their own domain (all of its shards)
DOMAIN_STAGE_NAMES = ("filtered_tasks", "task_gallery", "quality_report")
# assets that read every domain partition: they run once all domains are filtered
MIX_ASSET_NAMES = ("training_mix",)
# steps that `goose run` starts in a fresh process, as a partition run of their own: the
# later of two heavy steps in one process kept most of the earlier one's heap (BENCHMARKS,
# "Performance problems", item 12: at 100K documents science's partition run peaked at
# 4.8 GB in one process, its masked_items run alone at 4.4 GB; math's 2.0 → 1.8 GB)
FRESH_PROCESS_STEPS = ("mcq_tasks",)


def split_for_memory(stage: list[dg.AssetsDefinition]) -> list[list[dg.AssetsDefinition]]:
    """`stage` cut before each of FRESH_PROCESS_STEPS it holds: the runs to launch in turn."""
    runs: list[list[dg.AssetsDefinition]] = [[]]
    for asset in stage:
        if asset.key.path[-1] in FRESH_PROCESS_STEPS and runs[-1]:
            runs.append([])
        runs[-1].append(asset)
    return runs


@dataclass(frozen=True)
class Stages:
    """The assets of one layout, grouped by how they run."""

    by_name: dict[str, dg.AssetsDefinition]

    def named(self, names: tuple[str, ...]) -> list[dg.AssetsDefinition]:
        return [self.by_name[n] for n in names]

    @property
    def sharded(self) -> list[dg.AssetsDefinition]:
        return self.named(SHARDED_STAGE_NAMES)

    @property
    def domain(self) -> list[dg.AssetsDefinition]:
        return self.named(DOMAIN_STAGE_NAMES)

    @property
    def mix(self) -> list[dg.AssetsDefinition]:
        return self.named(MIX_ASSET_NAMES)

    @property
    def upstream(self) -> list[dg.AssetsDefinition]:
        return [*self.sharded, *self.domain]

    @property
    def all(self) -> list[dg.AssetsDefinition]:
        return [*self.upstream, *self.mix]


def build_stages(layout: PartitionLayout) -> Stages:
    assets = [*sources_assets(layout), *synthesis_assets(layout), *filtering_assets(layout),
              *reports_assets(layout), *training_assets(layout)]
    return Stages({a.key.path[-1]: a for a in assets})


def _jobs_and_sensors(stages: Stages, layout: PartitionLayout) -> tuple[list, list]:
    if not layout.sharded:
        return [dg.define_asset_job(
            "goose_pipeline", selection=dg.AssetSelection.assets(*stages.all), partitions_def=domain_partitions,
            description="Every stage for one domain partition; backfill it over all four domains.",
        )], []
    jobs = [
        dg.define_asset_job(
            SHARD_JOB, selection=dg.AssetSelection.assets(*stages.sharded), partitions_def=domain_shard_partitions,
            description="The per-item stages for one (domain, shard); the sensor starts one run per new shard file.",
        ),
        dg.define_asset_job(
            "goose_domains", selection=dg.AssetSelection.assets(*stages.domain, *stages.mix),
            partitions_def=domain_partitions,
            description="Screening, reports and the mix for one domain, over all of its shards.",
        ),
    ]
    sensors = [
        source_shards_sensor,
        dg.AutomationConditionSensorDefinition(
            "shard_fan_in", target=dg.AssetSelection.assets(*stages.domain, *stages.mix),
            default_status=dg.DefaultSensorStatus.RUNNING,
            description="Runs a domain's screening, reports and mix once all its shards are materialized.",
        ),
    ]
    return jobs, sensors


def _build(sharded: bool) -> tuple[Stages, dg.Definitions]:
    layout = PartitionLayout(sharded)
    stages = build_stages(layout)
    jobs, sensors = _jobs_and_sensors(stages, layout)
    return stages, dg.Definitions(
        assets=stages.all,
        jobs=jobs,
        sensors=sensors,
        resources=default_resources(),
        # GOOSE_EXECUTOR=celery sends steps to Celery workers (docs/scaling.md); default multiprocess
        executor=executor_from_env(),
    )


def build_definitions(sharded: bool) -> dg.Definitions:
    """The code location for one layout: sharded (GOOSE_SHARDS_DIR set) or by domain."""
    return _build(sharded)[1]


SHARDED = sharded_from_env()
# this code location's assets (the objects in `defs`), for `dg.materialize` callers
STAGES, defs = _build(SHARDED)
ALL_ASSETS = STAGES.all
UPSTREAM_ASSETS = STAGES.upstream
SHARDED_STAGES = STAGES.sharded
DOMAIN_STAGES = STAGES.domain
MIX_ASSETS = STAGES.mix
ASSETS_BY_NAME = STAGES.by_name
