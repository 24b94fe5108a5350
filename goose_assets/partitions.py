"""Partitions: one static partition per task domain."""

import dagster as dg

from goose_assets.core.records import DOMAINS

domain_partitions = dg.StaticPartitionsDefinition(list(DOMAINS))
