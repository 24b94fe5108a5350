"""The checks of the filtering stage: triviality, duplicates and benchmark overlap."""

from __future__ import annotations

from typing import Any

import dagster as dg

from goose_assets.core.filtering.screening import OverlapCheck, Screen
from goose_assets.defs.checks import (
    BENCHMARK_OVERLAP,
    DUPLICATES,
    MAX_DUPLICATE_SHARE,
    TRIVIALITY,
    check_spec,
)


def triviality_specs(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetCheckSpec]:
    return [check_spec(TRIVIALITY, "task_difficulty", "Surface-cue baselines stay within chance + 10 points; classifier AUROC <= 0.60.", partitions_def)]


def screening_specs(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetCheckSpec]:
    return [
        check_spec(DUPLICATES, "filtered_tasks", "Exact and near-duplicate (MinHash, J >= 0.8) sources and tasks, across domains.", partitions_def),
        check_spec(BENCHMARK_OVERLAP, "filtered_tasks", "Re-screens the kept tasks (question, options, source) against the benchmark index; fails on any overlap or on a benchmark that failed to load.", partitions_def),
    ]


def triviality_result(stats: Any, gate: dict[str, Any]) -> dg.AssetCheckResult:
    """`stats`: the domain's baseline statistics (None: no task)."""
    return dg.AssetCheckResult(
        check_name=TRIVIALITY,
        passed=bool(stats is None or stats.gate_passed),
        metadata={**gate, "failures": (stats.failures if stats else [])},
        # under ~40 tasks an accuracy is too noisy to fail a run on: warn instead
        severity=dg.AssetCheckSeverity.ERROR if stats and stats.reliable else dg.AssetCheckSeverity.WARN,
    )


def screening_results(screen: Screen, n_tasks: int, overlap: OverlapCheck) -> list[dg.AssetCheckResult]:
    return [
        dg.AssetCheckResult(
            check_name=DUPLICATES,
            passed=screen.duplicate_share(n_tasks) <= MAX_DUPLICATE_SHARE,
            metadata=screen.duplicate_metadata(),
            severity=dg.AssetCheckSeverity.WARN,
            description=f"Duplicates are dropped; warns when over {MAX_DUPLICATE_SHARE:.0%} of tasks are duplicates.",
        ),
        dg.AssetCheckResult(
            check_name=BENCHMARK_OVERLAP,
            passed=overlap.passed,
            metadata={**overlap.to_metadata(), "hits_per_benchmark": dict(screen.benchmark_hits)},
        ),
    ]
