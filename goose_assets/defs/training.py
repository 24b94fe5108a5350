"""Stage 4 (training_mix): the weighted, stratified sample and its trainer-ready exports."""


import os

import dagster as dg

from goose_assets.core import expectations, export, funnel, mixing
from goose_assets.core.records import DOMAINS
from goose_assets.defs import mix_inputs
from goose_assets.defs.checks import EXPORT_EXPECTATIONS, spec
from goose_assets.defs.common import WRITE_POOL, code_version, table_preview
from goose_assets.partitions import SHARDED, domain_partitions, fan_in_automation
from goose_assets.resources import CorpusResource, LLMResource, WarehouseResource

from .filtering import filtered_tasks


class TrainingMixConfig(dg.Config):
    name: str = "default"
    weights: dict[str, float] | None = None
    """Relative weight per domain, e.g. {math: 1, code: 1, science: 1, cyber: 1}. Unset (the
    default): no weighting, every kept task in the corpus's natural proportions."""
    target_size: int = 0
    """0: without weights, every kept task; with weights, the largest mix the kept tasks
    support at exactly the requested weights."""
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
    context: dg.AssetExecutionContext, config: TrainingMixConfig, warehouse: WarehouseResource, llm: LLMResource,
    corpus: CorpusResource,
) -> dg.MaterializeResult:
    """The training mix: by default every kept task in natural proportions (with weights,
    a weighted sample), difficulty-stratified, a train/validation split by a stable hash
    of the task id, and exports under `GOOSE_HOME/exports/<mix>/` (GooseReason jsonl, verl
    parquet, OpenRLHF jsonl, a Hugging Face DatasetDict and a dataset card). Each partition
    samples its own domain with the quota it gets against every domain's kept count, so the
    partitions assemble exactly the mix a single global draw would; the exports hold the
    mix assembled from every partition. A domain with no task writes no rows and the
    metadata names why (no source, all quarantined, all screened out); a mix with no task
    at all writes valid, empty exports."""
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
    report = mixing.assembled_report(assembled, mix_config, available, mix_inputs.kept_counts(wh))
    gaps, waiting = mix_inputs.mix_gaps(wh, mix_config, available, corpus, SHARDED)
    info = mix_inputs.card_info(wh, mix_config.name, report, llm, config.hub_repo_id, empty_domains=gaps)
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
    exported = export.read_goosereason_table(manifest.export_dir / export.GOOSEREASON_FILE)
    passed, expectation_meta = expectations.validate_training_table(exported)
    del exported
    warnings = [*report["warnings"], *(f"{d}: no task in the mix: {cause}" for d, cause in gaps.items())]
    if not mix_size and not waiting:
        warnings.insert(0, f"the export is empty: no task in any domain ({funnel.one_line(gaps, DOMAINS)})")
    # the log names this partition's own problem; every domain's is in the metadata
    for warning in warnings:
        if warning.startswith((f"{domain}:", "the export is empty")):
            context.log.warning(warning)
    return dg.MaterializeResult(
        metadata={
            "rows_out": written,
            "mix_size": mix_size,
            "selection": report["selection"],
            "kept_left_out": report["left_out"],
            "partition_mix": partition_report,
            "requested_vs_realized": report["domains"],
            "max_share_error_points": report["max_share_error_points"],
            "split": report["split"],
            "warnings": warnings,
            "domains_without_tasks": gaps,
            "domains_not_mixed_yet": waiting,
            "export_dir": dg.MetadataValue.path(str(manifest.export_dir)),
            "export_rows": manifest.rows,
            "goosereason_jsonl": dg.MetadataValue.path(str(manifest.export_dir / export.GOOSEREASON_FILE)),
            "preview": preview,
            "dagster/row_count": written,
        },
        check_results=[dg.AssetCheckResult(check_name=EXPORT_EXPECTATIONS, passed=passed, metadata=expectation_meta)],
    )
