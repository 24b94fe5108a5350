"""Both shapes of the code location, pinned: a change to the asset graph shows up in review.

`build_definitions` makes the graph for either setting in this process, so the sharded
graph (GOOSE_SHARDS_DIR set) is snapshotted beside the default one. Code versions are left
out: they change with every edit of the logic, by design (defs/code_versions.py).
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import pytest

from goose_assets.definitions import build_definitions


def _partitions(partitions_def: dg.PartitionsDefinition | None) -> str:
    if partitions_def is None:
        return "unpartitioned"
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        return " x ".join(f"{d.name}:{_partitions(d.partitions_def)}" for d in partitions_def.partitions_defs)
    if isinstance(partitions_def, dg.DynamicPartitionsDefinition):
        return f"dynamic({partitions_def.name})"
    return f"static({','.join(partitions_def.get_partition_keys())})"


def graph_facts(defs: dg.Definitions) -> dict[str, Any]:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "partitions": _partitions(node.partitions_def),
            "kinds": sorted(node.kinds),
            "pool": node.pools and sorted(node.pools),
            "automation": type(node.automation_condition).__name__ if node.automation_condition else None,
        }
    checks = sorted(
        f"{k.asset_key.to_user_string()}:{k.name}" + (" (blocking)" if graph.get_check_spec(k).blocking else "")
        for k in graph.asset_check_keys
    )
    jobs = {}
    for job in defs.resolve_all_job_defs():
        if job.name.startswith("__"):
            continue
        jobs[job.name] = {
            "assets": sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys),
            "partitions": _partitions(job.partitions_def),
        }
    sensors = sorted(s.name for s in defs.sensors or [])
    return {"assets": assets, "checks": checks, "jobs": jobs, "sensors": sensors}


@pytest.mark.parametrize("sharded", [False, True], ids=["by_domain", "sharded"])
def test_asset_graph(sharded: bool, snapshot) -> None:  # noqa: ANN001 - syrupy's fixture
    assert graph_facts(build_definitions(sharded)) == snapshot
