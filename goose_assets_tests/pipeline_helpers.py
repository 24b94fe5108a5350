"""Run real Dagster materializations of the whole pipeline into a given GOOSE_HOME."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from goose_assets.core.records import DOMAINS
from goose_assets.definitions import MIX_ASSETS, UPSTREAM_ASSETS
from goose_assets.defs.resources import CorpusResource, LLMResource, WarehouseResource


def materialize_all(
    home: Path,
    corpus: CorpusResource | None = None,
    llm: LLMResource | None = None,
    domains: tuple[str, ...] = DOMAINS,
    use_embeddings: bool = False,
    instance: dg.DagsterInstance | None = None,
    extra_config: dict[str, Any] | None = None,
) -> list[dg.ExecuteInProcessResult]:
    resources = {
        "warehouse": WarehouseResource(home=str(home)),
        "corpus": corpus or CorpusResource(),
        "llm": llm or LLMResource(),
    }
    ops: dict[str, Any] = {"task_difficulty": {"config": {"use_embeddings": use_embeddings}}}
    ops.update(extra_config or {})
    results = []
    # the mix needs every domain's filtered tasks (AllPartitionMapping), as a backfill orders it
    for stage in (UPSTREAM_ASSETS, MIX_ASSETS):
        for domain in domains:
            result = dg.materialize(
                [*UPSTREAM_ASSETS, *MIX_ASSETS], selection=stage, partition_key=domain, resources=resources,
                instance=instance, run_config={"ops": {k: v for k, v in ops.items() if k in {a.key.path[-1] for a in stage}}},
            )
            assert result.success, f"materialization of {domain} failed"
            results.append(result)
    return results
