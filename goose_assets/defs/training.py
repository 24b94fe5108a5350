"""Stage 4 (training_mix): the weighted, stratified sample and its trainer-ready exports."""


import dagster as dg

from goose_assets.core import export, mixing
from goose_assets.defs import mix_inputs
from goose_assets.defs.checks import EXPORT_EXPECTATIONS, spec
from goose_assets.defs.common import WRITE_POOL, code_version, table_preview
from goose_assets.partitions import domain_partitions
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
    hub_repo_id: str = ""
    """Push the DatasetDict to this Hub repo (needs GOOSE_HF_TOKEN); untestable offline."""

    def mix_config(self) -> mixing.MixConfig:
        return mixing.MixConfig(
            name=self.name, weights=self.weights, target_size=self.target_size or None,
            difficulty_edges=tuple(self.difficulty_edges), val_fraction=self.val_fraction,
            seed=self.seed, on_shortfall=self.on_shortfall,  # type: ignore[arg-type]
        )


@dg.asset(
    partitions_def=domain_partitions,
    group_name="training_mix",
    kinds={"duckdb", "parquet", "huggingface"},
    pool=WRITE_POOL,
    deps=[filtered_tasks],
    code_version=code_version(mixing, export),
    check_specs=[spec(EXPORT_EXPECTATIONS, "training_mix", "Great Expectations suite on the exported training table.")],
)
def training_mix(
    context: dg.AssetExecutionContext, config: TrainingMixConfig, warehouse: WarehouseResource, llm: LLMResource
) -> dg.MaterializeResult:
    """The training mix across domains: per-domain weights, a difficulty-stratified sample,
    a train/validation split by a stable hash of the task id, and exports under
    `GOOSE_HOME/exports/<mix>/` (GooseReason jsonl, verl parquet, OpenRLHF jsonl, a Hugging
    Face DatasetDict and a dataset card). Each partition stores its domain's share; the
    exports always hold the mix over every domain filtered so far."""
    domain = context.partition_key
    wh = warehouse.warehouse()
    mix_config = config.mix_config()
    kept = mix_inputs.kept_tasks(wh)
    result = mixing.build_mix(kept, mix_config)
    rows = [
        {"task_id": t["task_id"], "domain": domain, "mix_name": mix_config.name, "split": t["split"],
         "difficulty_bucket": t["difficulty_bucket"], "position": i}
        for i, t in enumerate(result.tasks) if t["domain"] == domain
    ]
    written = wh.replace_partition("training_mix", domain, rows)
    home = warehouse.home_path()
    card_facts = mix_inputs.card_facts(wh, llm.backend)
    paths = export.export_mix(result.tasks, home, mix_config.name, card_facts, result.report)
    check = export.validate_export(paths)
    return dg.MaterializeResult(
        metadata={
            "rows_out": written,
            "mix_size": len(result.tasks),
            "realized_shares": {d: r["realized_share"] for d, r in result.report["domains"].items()},
            "requested_shares": {d: r["requested_share"] for d, r in result.report["domains"].items()},
            "split": result.report["split"],
            "warnings": result.report["warnings"],
            "exports": {k: str(v) for k, v in paths.items()},
            "goosereason_jsonl": dg.MetadataValue.path(str(paths["goosereason"])),
            "preview": table_preview(result.tasks[:3], ["question", "options", "answer_letter"], width=600),
            "dagster/row_count": written,
        },
        check_results=[dg.AssetCheckResult(check_name=EXPORT_EXPECTATIONS, passed=check[0], metadata=check[1])],
    )
