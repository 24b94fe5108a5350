"""Asset check names and specs, one place. Every check reports per partition of its asset:
a domain, or with sharded sources a (domain, shard) pair."""

from __future__ import annotations

import warnings

import dagster as dg

from goose_assets.partitions import domain_partitions, item_partitions

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


def spec(name: str, asset: str, description: str, blocking: bool = False, per_item: bool = False) -> dg.AssetCheckSpec:
    """`per_item`: the asset is a per-item stage, partitioned like `item_partitions`."""
    with warnings.catch_warnings():
        # per-partition check results are a 1.13 preview feature; we rely on it on purpose
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.AssetCheckSpec(
            name, asset=asset, description=description, blocking=blocking,
            partitions_def=item_partitions if per_item else domain_partitions,
        )
