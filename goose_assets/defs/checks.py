"""Asset check names, thresholds and specs, one place. Every check reports per partition of
its asset: a domain, or with sharded sources a (domain, shard) pair."""

from __future__ import annotations

import warnings

import dagster as dg

ANSWER_LEAKAGE = "answer_leakage"
LETTER_BALANCE = "answer_letter_balance"
TASK_SCHEMA = "task_schema_and_counts"
TRIVIALITY = "triviality_baselines"
DUPLICATES = "duplicates"
BENCHMARK_OVERLAP = "benchmark_overlap"
EXPORT_EXPECTATIONS = "export_expectations"

# the share of leaking tasks above which the generator is broken, not just noisy
MAX_LEAK_SHARE = 0.25
# more duplicates than this means the corpus itself needs cleaning upstream
MAX_DUPLICATE_SHARE = 0.20


def check_spec(
    name: str, asset: str, description: str, partitions_def: dg.PartitionsDefinition, blocking: bool = False
) -> dg.AssetCheckSpec:
    """A check of `asset`, reported per partition of `partitions_def` (the asset's own)."""
    with warnings.catch_warnings():
        # per-partition check results are a 1.13 preview feature; we rely on it on purpose
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.AssetCheckSpec(
            name, asset=asset, description=description, blocking=blocking, partitions_def=partitions_def,
        )
