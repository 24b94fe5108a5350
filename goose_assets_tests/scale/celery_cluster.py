"""Celery workers and Dagster runs as real processes, configured like deploy/celery:
a Dagster instance in PostgreSQL, Redis as broker and result backend, DuckLake as the
warehouse. Each worker uses the solo pool, so a step runs inside the worker process itself
and one worker is one slot."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from goose_assets.core.records import DOMAINS
from goose_assets.defs.executors import WRITE_POOL
from goose_assets_tests.scale.backfill import REPO_ROOT
from goose_assets_tests.scale.materialize_child import STAGES

DEPLOY = REPO_ROOT / "deploy" / "celery"
BIN = Path(sys.executable).parent


def dagster_home(root: Path) -> Path:
    home = root / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    return home


def set_pool_limit(env: Mapping[str, str], limit: int = 16) -> None:
    """Set the warehouse pool's limit explicitly, once, before any run. Left to the
    instance's default_limit, concurrent runs race to create the pool's row and lose with
    a UniqueViolation on PostgreSQL (dagster-io/dagster#33552, seen here at 1.13.27)."""
    subprocess.run(
        [str(BIN / "dagster"), "instance", "concurrency", "set", WRITE_POOL, str(limit)],
        cwd=REPO_ROOT, env={**os.environ, **env}, check=True, capture_output=True, text=True, timeout=300,
    )


@contextmanager
def celery_workers(names: list[str], env: Mapping[str, str], log_dir: Path) -> Iterator[dict[str, Path]]:
    """Start `dagster-celery worker start` per name and wait until each reports ready."""
    logs = {name: log_dir / f"{name}.log" for name in names}
    procs = []
    try:
        for name in names:
            procs.append(subprocess.Popen(
                [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
                 "-y", str(DEPLOY / "celery.yaml"), "-n", name, "-l", "INFO", "--", "--pool=solo"],
                # the CLI execs `celery` by name: the venv's bin must be on PATH
                cwd=REPO_ROOT, env={**os.environ, **env, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
                stdout=logs[name].open("w"), stderr=subprocess.STDOUT,
                start_new_session=True,  # the CLI spawns `celery worker`: stop the whole group
            ))
        deadline = time.monotonic() + 180
        for name, proc in zip(names, procs, strict=True):
            while " ready." not in logs[name].read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker {name} did not start:\n{logs[name].read_text(errors='replace')[-3000:]}")
                time.sleep(0.5)
        yield logs
    finally:
        for proc in procs:
            _stop_group(proc)


def materialize_domains(env: Mapping[str, str], timeout_s: float = 1800) -> list[subprocess.CompletedProcess[str]]:
    """`dagster asset materialize` for every domain at once, stage by stage (the stage
    order of materialize_child, for the same reason): 4 concurrent runs whose steps go to
    the Celery queue."""
    done: list[subprocess.CompletedProcess[str]] = []
    for assets in STAGES.values():
        done += materialize_partitions(env, list(DOMAINS), assets, timeout_s)
    return done


def materialize_partitions(
    env: Mapping[str, str], partition_keys: list[str], assets: tuple[str, ...], timeout_s: float = 1800
) -> list[subprocess.CompletedProcess[str]]:
    """One `dagster asset materialize` per partition key, all at once."""
    args = ["--select", ",".join(assets)]
    if "task_difficulty" in assets:
        args += ["--config-json", json.dumps({"ops": {"task_difficulty": {"config": {"use_embeddings": False}}}})]
    procs = [
        subprocess.Popen(
            [str(BIN / "dagster"), "asset", "materialize", "-m", "goose_assets.definitions", "--partition", key, *args],
            cwd=REPO_ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for key in partition_keys
    ]
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout_s)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # celery's warm shutdown
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
