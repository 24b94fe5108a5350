"""Partitions: one per task domain, or, for large corpora, one per (domain, source shard).

Two layouts of the same assets. Unsharded (the default), every asset is partitioned by
domain. Sharded (GOOSE_SHARDS_DIR set), the per-item stages (ingest through difficulty) are
partitioned by domain x shard, where each shard is a dynamic partition that
`source_shards_sensor` adds when a source file lands in that folder; the domain-level
stages (screening, gallery, report, mix) stay per domain and read all of a domain's
shards. `PartitionLayout` holds that choice, so a test can build either graph in one
process (`definitions.build_definitions`); the asset code is the same in both: it asks
`scope_of` for its partition.
"""

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from goose_assets.core.records import DOMAINS

SHARDS_DIR_ENV = "GOOSE_SHARDS_DIR"
SHARD_DIMENSION = "shard"
DOMAIN_DIMENSION = "domain"

domain_partitions = dg.StaticPartitionsDefinition(list(DOMAINS))
shard_partitions = dg.DynamicPartitionsDefinition(name="source_shards")
domain_shard_partitions = dg.MultiPartitionsDefinition(
    {DOMAIN_DIMENSION: domain_partitions, SHARD_DIMENSION: shard_partitions}
)


def shards_dir() -> Path | None:
    value = os.environ.get(SHARDS_DIR_ENV, "").strip()
    return Path(value).resolve() if value else None


def sharded_from_env() -> bool:
    """Whether this process's code location is sharded: GOOSE_SHARDS_DIR is set."""
    return shards_dir() is not None


@dataclass(frozen=True, slots=True)
class PartitionLayout:
    """How the stages are partitioned: by domain, or the per-item stages by domain x shard."""

    sharded: bool

    @property
    def items(self) -> dg.PartitionsDefinition:
        """What the per-item stages are partitioned by."""
        return domain_shard_partitions if self.sharded else domain_partitions

    def fan_in(self, upstream: str) -> dg.AssetDep:
        """A domain-level asset's dependency on a per-item stage: with shards, every shard
        of the domain (a backfill waits for all of them), without, the same domain."""
        if not self.sharded:
            return dg.AssetDep(upstream)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.BetaWarning)  # beta since 1.6; we pin dagster
            mapping = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name=DOMAIN_DIMENSION)
        return dg.AssetDep(upstream, partition_mapping=mapping)

    def fan_in_automation(self) -> dg.AutomationCondition | None:
        """With shards, a domain-level stage runs by itself once its domain's shards are all
        materialized and none is in progress (the `shard_fan_in` sensor evaluates this)."""
        return dg.AutomationCondition.eager() if self.sharded else None


@dataclass(frozen=True, slots=True)
class PartitionScope:
    """The rows one materialization owns: a whole domain, or one shard of it."""

    domain: str
    shard: str | None = None

    @property
    def label(self) -> str:
        return f"{self.domain}/{self.shard}" if self.shard is not None else self.domain


def scope_of(partition_key: str) -> PartitionScope:
    if isinstance(partition_key, dg.MultiPartitionKey):
        keys = partition_key.keys_by_dimension
        return PartitionScope(keys[DOMAIN_DIMENSION], keys[SHARD_DIMENSION])
    if "|" in partition_key:  # a multi-partition key as a plain string: dimensions in name order
        domain, shard = partition_key.split("|", 1)
        return PartitionScope(domain, shard)
    return PartitionScope(partition_key)


def item_key(domain: str, shard: str) -> str:
    """The string form of a (domain, shard) partition key, the inverse of `scope_of`."""
    return str(dg.MultiPartitionKey({DOMAIN_DIMENSION: domain, SHARD_DIMENSION: shard}))
