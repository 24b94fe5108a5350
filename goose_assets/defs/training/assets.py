"""Stage 4 (training_mix): the weighted, stratified sample and its trainer-ready exports."""

import ctypes
import os
from typing import Any, NamedTuple

import dagster as dg
import pyarrow as pa

from goose_assets.core import funnel, mixing
from goose_assets.core.records import DOMAINS
from goose_assets.defs import metadata
from goose_assets.defs.code_versions import code_version
from goose_assets.defs.executors import WRITE_POOL
from goose_assets.defs.partitions import PartitionLayout, domain_partitions, sharded_from_env
from goose_assets.defs.resources import CorpusResource, LLMResource, WarehouseResource
from goose_assets.defs.training import checks
from goose_assets.publish import expectations, export
from goose_assets.publish.dataset_card import CardInfo
from goose_assets.storage import queries
from goose_assets.storage.duckdb_warehouse import Warehouse


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


def mix_gaps(
    wh: Warehouse, config: mixing.MixConfig, available: dict[str, int], corpus: CorpusResource
) -> tuple[dict[str, str], list[str]]:
    """(domain -> why it has no task in the mix `config.name`, for every such domain;
    the domains whose tasks only wait for their own mix partition to run)."""
    quotas = mixing.plan_quotas(config, available)
    gaps: dict[str, str] = {}
    waiting: list[str] = []
    for domain, domain_funnel in funnel.funnels_from_counts(queries.funnel_counts(wh, config.name)).items():
        quota = quotas.get(domain, 0)
        if funnel.pending(domain_funnel, quota):
            waiting.append(domain)
            continue
        plan = None
        if not domain_funnel.documents:
            try:
                plan = corpus.domain_plan(domain, sharded_from_env())
            except ValueError:  # a broken sources_json: raw_documents has already said so
                plan = None
        gap = funnel.mix_gap(domain_funnel, quota, plan, mixing.left_out_by(config, domain))
        if gap:
            gaps[domain] = gap
    return gaps, waiting


def card_info(wh: Warehouse, report: dict, llm: LLMResource, config: TrainingMixConfig, gaps: dict[str, str]) -> CardInfo:
    """What the dataset card needs beyond the tasks: generator, prompts and filter counts."""
    generators = queries.generators(wh)
    return CardInfo(
        mix_name=config.name,
        mix_report=report,
        backend=",".join(sorted({g["backend"] for g in generators})) or llm.backend,
        model=",".join(sorted({g["model"] for g in generators})) or llm.model,
        student_model=llm.student_model or llm.model or "baseline-ensemble",
        prompt_versions=sorted({g["prompt_version"] for g in generators}),
        filter_drops=queries.screening_outcomes(wh),
        hub_repo_id=config.hub_repo_id,
        empty_domains=gaps,
        lineage_sql=queries.LINEAGE_SQL,
    )


def _give_back_freed_memory() -> None:
    """Hand freed memory back to the OS: Arrow's allocator keeps what the export's tables
    used, and glibc keeps the heap that millions of freed task strings fragmented (measured
    at 100K documents: ~400 MB per partition run, which the next run in the same process,
    e.g. `goose run`, would otherwise start from)."""
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def _push_to_hub(repo_id: str, export_dir: os.PathLike[str]) -> None:
    if not repo_id:
        return
    token = os.environ.get("GOOSE_HF_TOKEN", "")
    if not token:
        raise dg.Failure("hub_repo_id is set but GOOSE_HF_TOKEN is not: cannot push to the Hub")
    export.push_hf_dataset_to_hub(export_dir, repo_id, token)  # type: ignore[arg-type]


class _MixExport(NamedTuple):
    report: dict[str, Any]
    gaps: dict[str, str]
    waiting: list[str]
    manifest: export.ExportManifest
    mix_size: int
    preview: str
    passed: bool
    expectation_meta: dict[str, Any]


def _export_mix(
    wh: Warehouse, warehouse: WarehouseResource, mix_config: mixing.MixConfig, available: dict[str, int],
    card_facts: tuple[LLMResource, TrainingMixConfig, CorpusResource],
) -> _MixExport:
    """Export the mix assembled from every partition materialized so far, then push and
    validate it: all under the export lock, read included. Partitions running at once
    (Celery workers) would otherwise interleave files, and the one that read the mix first
    but wrote last would leave an older mix behind."""
    llm, config, corpus = card_facts
    exports_root = warehouse.home_path() / "exports"
    with export.export_lock(exports_root, mix_config.name):
        # one polars frame over DuckDB's Arrow buffers (no Python object per task)
        assembled = queries.mixed_tasks(wh, mix_config.name)
        report = mixing.assembled_report(assembled.select("domain", "split").to_dicts(), mix_config, available, queries.kept_counts(wh))
        gaps, waiting = mix_gaps(wh, mix_config, available, corpus)
        manifest = export.write_exports(assembled, exports_root, card_info(wh, report, llm, config, gaps))
        mix_size, preview = assembled.height, metadata.table_preview(assembled.head(3).to_dicts(), ["question", "options", "answer_letter"], width=600)
        del assembled  # gone before the export is read back, so the two never share memory
        _give_back_freed_memory()
        _push_to_hub(config.hub_repo_id, manifest.export_dir)
        passed, expectation_meta = expectations.validate_export(manifest.export_dir / export.GOOSEREASON_FILE)
    return _MixExport(report, gaps, waiting, manifest, mix_size, preview, passed, expectation_meta)


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
    domain, wh, mix_config = context.partition_key, warehouse.warehouse(), config.mix_config()
    available = queries.eligible_counts(wh, mix_config.drop_zero_pass)
    domain_mix = mixing.build_domain_mix(queries.kept_tasks(wh, domain), mix_config, domain, available)
    written = wh.replace_partition("training_mix", domain, mixing.mix_rows(domain_mix.tasks, domain, mix_config.name))
    partition_report = domain_mix.report
    del domain_mix  # this domain's kept tasks with their text: not needed past here
    out = _export_mix(wh, warehouse, mix_config, available, card_facts=(llm, config, corpus))
    warnings = funnel.mix_warnings(out.report["warnings"], out.gaps, out.mix_size, out.waiting, DOMAINS)
    for warning in warnings:  # the log names this partition's own problem; every domain's is in the metadata
        if warning.startswith((f"{domain}:", "the export is empty")):
            context.log.warning(warning)
    _give_back_freed_memory()
    return dg.MaterializeResult(
        metadata=metadata.training_mix_metadata(written, out.mix_size, out.report, partition_report, warnings, out.gaps,
                                                out.waiting, out.manifest, out.preview, export.GOOSEREASON_FILE),
        check_results=[checks.export_expectations_result(out.passed, out.expectation_meta)],
    )


def training_assets(layout: PartitionLayout) -> list[dg.AssetsDefinition]:
    return [
        dg.asset(
            partitions_def=domain_partitions, group_name="training_mix", kinds={"duckdb", "parquet", "huggingface"},
            pool=WRITE_POOL,
            # each domain's quota depends on every domain's kept count: a backfill waits for all
            # filtered_tasks partitions, and the UI flags the mix stale when any of them changes
            deps=[dg.AssetDep("filtered_tasks", partition_mapping=dg.AllPartitionMapping())],
            automation_condition=layout.fan_in_automation(), code_version=code_version(training_mix),
            check_specs=checks.export_specs(domain_partitions),
        )(training_mix)
    ]
