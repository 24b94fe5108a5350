"""The check of the training stage: the Great Expectations suite on the exported table."""

from __future__ import annotations

from typing import Any

import dagster as dg

from goose_assets.defs.checks import EXPORT_EXPECTATIONS, check_spec


def export_specs(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetCheckSpec]:
    return [check_spec(EXPORT_EXPECTATIONS, "training_mix", "Great Expectations suite on the exported training table.", partitions_def)]


def export_expectations_result(passed: bool, summary: dict[str, Any]) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(check_name=EXPORT_EXPECTATIONS, passed=passed, metadata=summary)
