"""The code location loads, validates, and its asset graph reads as the method does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from goose_assets.definitions import defs

REPO = Path(__file__).resolve().parents[1]

EXPECTED_GRAPH = {
    "raw_documents": ("sources", []),
    "extracted_passages": ("synthesis", ["raw_documents"]),
    "masked_items": ("synthesis", ["extracted_passages"]),
    "mcq_tasks": ("synthesis", ["masked_items"]),
    "task_difficulty": ("filtering", ["mcq_tasks"]),
    "filtered_tasks": ("filtering", ["task_difficulty"]),
    "training_mix": ("training_mix", ["filtered_tasks"]),
    "task_gallery": ("reports", ["filtered_tasks"]),
    "quality_report": ("reports", ["filtered_tasks"]),
}


def test_asset_graph_snapshot() -> None:
    graph = defs.resolve_asset_graph()
    seen = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        seen[key.to_user_string()] = (node.group_name, sorted(k.to_user_string() for k in node.parent_keys))
        assert node.description and len(node.description) > 80, f"{key} needs a description for auditors"
        assert node.code_version, f"{key} has no code_version"
        assert node.kinds, f"{key} has no kinds"
        assert node.partitions_def is not None and set(node.partitions_def.get_partition_keys()) == {"math", "code", "science", "cyber"}
    assert seen == {k: (g, sorted(p)) for k, (g, p) in EXPECTED_GRAPH.items()}


def test_check_names_are_attached_per_partition() -> None:
    graph = defs.resolve_asset_graph()
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert ("mcq_tasks", "answer_leakage") in checks
    assert ("task_difficulty", "triviality_baselines") in checks
    assert ("filtered_tasks", "benchmark_overlap") in checks
    assert ("training_mix", "export_expectations") in checks


def test_code_version_tracks_logic() -> None:
    from goose_assets.core import mcq, spans
    from goose_assets.defs.common import code_version

    assert code_version(mcq) != code_version(spans)
    assert code_version(mcq) == code_version(mcq)


def test_dagster_definitions_validate_cli(tmp_path: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "goose_assets.definitions"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_job_covers_every_asset() -> None:
    job = defs.resolve_job_def("goose_pipeline")
    assert isinstance(job.partitions_def, dg.StaticPartitionsDefinition)
    assert len(job.asset_layer.executable_asset_keys) == len(EXPECTED_GRAPH)
