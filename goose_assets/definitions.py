"""The code location's single entry point."""

import warnings

import dagster as dg

from goose_assets.defs.filtering import filtered_tasks, task_difficulty
from goose_assets.defs.gallery import quality_report, task_gallery
from goose_assets.defs.sources import raw_documents
from goose_assets.defs.synthesis import extracted_passages, masked_items, mcq_tasks
from goose_assets.defs.training import training_mix
from goose_assets.executors import executor_from_env
from goose_assets.partitions import domain_partitions
from goose_assets.resources import default_resources

# partitioned asset checks are a 1.13 preview feature; the warning says nothing actionable
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
warnings.filterwarnings("ignore", category=dg.BetaWarning)

# assets that read only their own domain partition
UPSTREAM_ASSETS = [raw_documents, extracted_passages, masked_items, mcq_tasks, task_difficulty, filtered_tasks, task_gallery, quality_report]
# assets that read every domain partition: they run once all domains are filtered
MIX_ASSETS = [training_mix]
ALL_ASSETS = [*UPSTREAM_ASSETS, *MIX_ASSETS]

goose_pipeline_job = dg.define_asset_job(
    "goose_pipeline",
    selection=dg.AssetSelection.assets(*ALL_ASSETS),
    partitions_def=domain_partitions,
    description="Every stage for one domain partition; backfill it over all four domains.",
)

defs = dg.Definitions(
    assets=ALL_ASSETS,
    jobs=[goose_pipeline_job],
    resources=default_resources(),
    # GOOSE_EXECUTOR=celery sends steps to Celery workers (docs/scaling.md); default multiprocess
    executor=executor_from_env(),
)
