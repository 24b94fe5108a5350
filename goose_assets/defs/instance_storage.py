"""The local Dagster instance's storage: Dagster's SQLite storage, with pool slots that hold.

Every warehouse writer is in the `duckdb_write` pool (limit 1, `dagster.yaml`). On SQLite,
Dagster claims a slot with a SELECT of a free slot row and then an UPDATE that does not
re-check it (`FOR UPDATE SKIP LOCKED` is a no-op there), so runs that claim at the same
instant can all get the one slot: measured, 7 of 10 trials of 4 simultaneous claims gave
the slot to 2 or 3 of them. Here each claim and release of a pool slot holds an exclusive
file lock next to the event log, so claims are one at a time across every process and
thread on the machine, and a limit of 1 means one writer: the others queue.

PostgreSQL instances (`deploy/celery/dagster.yaml`) lock the row and need none of this.
"""

from __future__ import annotations

import os
from typing import Any

from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.runs import SqliteRunStorage
from dagster._core.storage.schedules import SqliteScheduleStorage
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)

from goose_assets.publish.atomic_io import FileLock

SLOT_LOCK_FILE = "pool_slots.lock"


class QueuedSqliteEventLogStorage(SqliteEventLogStorage):
    """SQLite event log storage whose pool-slot claims and releases are serialized."""

    def __init__(self, base_dir: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(base_dir, *args, **kwargs)
        os.makedirs(base_dir, exist_ok=True)
        self._slot_lock = FileLock(os.path.join(base_dir, SLOT_LOCK_FILE))

    def claim_concurrency_slot(self, *args: Any, **kwargs: Any) -> Any:
        with self._slot_lock.held():
            return super().claim_concurrency_slot(*args, **kwargs)

    def free_concurrency_slot_for_step(self, *args: Any, **kwargs: Any) -> Any:
        with self._slot_lock.held():
            return super().free_concurrency_slot_for_step(*args, **kwargs)

    def free_concurrency_slots_for_run(self, *args: Any, **kwargs: Any) -> Any:
        with self._slot_lock.held():
            return super().free_concurrency_slots_for_run(*args, **kwargs)

    def initialize_concurrency_limit_to_default(self, *args: Any, **kwargs: Any) -> Any:
        with self._slot_lock.held():
            return super().initialize_concurrency_limit_to_default(*args, **kwargs)

    def set_concurrency_slots(self, *args: Any, **kwargs: Any) -> Any:
        with self._slot_lock.held():
            return super().set_concurrency_slots(*args, **kwargs)


class GooseSqliteStorage(DagsterSqliteStorage):
    """`DagsterSqliteStorage` (same files, same layout under `base_dir`) with the queued
    event log storage. Named in `dagster.yaml` as custom storage."""

    def __init__(self, base_dir: str, inst_data: Any = None) -> None:
        # DagsterSqliteStorage.__init__ with one storage swapped: its event log is not
        # replaceable after construction without opening the SQLite files twice
        self.base_dir = base_dir
        self._run_storage = SqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = QueuedSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = SqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> GooseSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)
