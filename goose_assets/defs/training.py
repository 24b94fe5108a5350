"""Stage 4 (training_mix): the weighted, stratified sample and its trainer-ready exports."""


import os

import dagster as dg
import pandas as pd

from goose_assets.core import expectations, export, mixing
from goose_assets.defs import mix_inputs
from goose_assets.defs.checks import EXPORT_EXPECTATIONS, spec
from goose_assets.defs.common import WRITE_POOL, code_version, table_preview
from goose_assets.partitions import domain_partitions, fan_in_automation
from goose_assets.resources import LLMResource, WarehouseResource

from .filtering import filtered_tasks


class TrainingMixConfig(dg.Config):
    name: str = "default"
    weights: dict[str, float] = {"math": 1.0, "code": 1.0, "science": 1.0, "cyber": 1.0}
    target_size: int = 0
    """0: the largest mix the kept tasks support at exactly the requested weights."""
    difficulty_edges: list[float] = [0.0, 0.25, 0.5, 0.75, 1.0]
    val_fraction: float = 0.05
    seed: int = 0
    on_shortfall: str = "redistribute"
    """A domain short of its quota: 'redistribute' its rows to the others, or 'shrink' the mix."""
    drop_zero_pass: bool = False
    hub_repo_id: str = ""
    """Push the DatasetDict to this Hub repo (needs GOOSE_HF_TOKEN); untestable offline."""

    def mix_config(self) -> mixing.MixConfig:
        return mixing.MixConfig(
            name=self.name, weights=self.weights, target_size=self.target_size or None,
            difficulty_edges=tuple(self.difficulty_edges), val_fraction=self.val_fraction,
            drop_zero_pass=self.drop_zero_pass,
            seed=self.seed, on_shortfall=self.on_shortfall,  # type: ignore[arg-type]
        )


@dg.asset(
    partitions_def=domain_partitions,
    group_name="training_mix",
    kinds={"duckdb", "parquet", "huggingface"},
    pool=WRITE_POOL,
    # each domain's quota depends on every domain's kept count: a backfill waits for all
    # filtered_tasks partitions, and the UI flags the mix stale when any of them changes
    deps=[dg.AssetDep(filtered_tasks, partition_mapping=dg.AllPartitionMapping())],
    automation_condition=fan_in_automation(),
    code_version=code_version(mixing, export),
    check_specs=[spec(EXPORT_EXPECTATIONS, "training_mix", "Great Expectations suite on the exported training table.")],
)
def training_mix(
    context: dg.AssetExecutionContext, config: TrainingMixConfig, warehouse: WarehouseResource, llm: LLMResource
) -> dg.MaterializeResult:
    """The training mix: per-domain weights and target size, a difficulty-stratified
    sample, a train/validation split by a stable hash of the task id, and exports under
    `GOOSE_HOME/exports/<mix>/` (GooseReason jsonl, verl parquet, OpenRLHF jsonl, a Hugging
    Face DatasetDict and a dataset card). Each partition samples its own domain with the
    quota the weights give it against every domain's kept count, so the partitions
    assemble exactly the mix a single global draw would; the exports hold the mix
    assembled from every partition, with realized against requested shares."""
    domain = context.partition_key
    wh = warehouse.warehouse()
    mix_config = config.mix_config()
    available = mix_inputs.eligible_counts(wh, mix_config)
    domain_mix = mixing.build_domain_mix(mix_inputs.kept_tasks(wh, domain), mix_config, domain, available)
    rows = [
        {"task_id": t["task_id"], "domain": domain, "mix_name": mix_config.name, "split": t["split"],
         "difficulty_bucket": t["difficulty_bucket"], "position": i}
        for i, t in enumerate(domain_mix.tasks)
    ]
    partition_report = domain_mix.report
    del domain_mix  # this domain's kept tasks with their text: not needed past here
    written = wh.replace_partition("training_mix", domain, rows)
    # the exports hold the mix assembled from every partition materialized so far
    assembled = mix_inputs.mixed_tasks(wh, mix_config.name)
    report = mixing.assembled_report(assembled, mix_config, available)
    info = mix_inputs.card_info(wh, mix_config.name, report, llm, config.hub_repo_id)
    manifest = export.write_exports(assembled, warehouse.home_path() / "exports", info)
    mix_size, preview = len(assembled), table_preview(assembled[:3], ["question", "options", "answer_letter"], width=600)
    # the assembled mix is the largest thing here (every domain's tasks with their text):
    # gone before the export is read back, so the two never share memory
    del assembled
    if config.hub_repo_id:
        token = os.environ.get("GOOSE_HF_TOKEN", "")
        if not token:
            raise dg.Failure("hub_repo_id is set but GOOSE_HF_TOKEN is not: cannot push to the Hub")
        export.push_hf_dataset_to_hub(manifest.export_dir, config.hub_repo_id, token)
    # in chunks: pandas parses a whole-file read_json through a transient ~10x the file
    # (2.2 GB for a 205 MB export at 100K documents); chunks of 5,000 lines stay small
    chunks = pd.read_json(manifest.export_dir / export.GOOSEREASON_FILE, lines=True, dtype=False, chunksize=5000)
    exported = pd.concat(chunks, ignore_index=True)
    passed, expectation_meta = expectations.validate_training_table(exported)
    del exported
    return dg.MaterializeResult(
        metadata={
            "rows_out": written,
            "mix_size": mix_size,
            "partition_mix": partition_report,
            "requested_vs_realized": report["domains"],
            "max_share_error_points": report["max_share_error_points"],
            "split": report["split"],
            "warnings": report["warnings"],
            "export_dir": dg.MetadataValue.path(str(manifest.export_dir)),
            "export_rows": manifest.rows,
            "goosereason_jsonl": dg.MetadataValue.path(str(manifest.export_dir / export.GOOSEREASON_FILE)),
            "preview": preview,
            "dagster/row_count": written,
        },
        check_results=[dg.AssetCheckResult(check_name=EXPORT_EXPECTATIONS, passed=passed, metadata=expectation_meta)],
    )
