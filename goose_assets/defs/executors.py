"""The step executor, chosen by GOOSE_EXECUTOR so that scaling out is configuration.

- unset or `multiprocess`: Dagster's default, one subprocess per step on this machine.
- `in_process`: every step in the run's own process (debugging).
- `celery`: each step becomes a Celery task on the Redis broker GOOSE_CELERY_BROKER (results
  on GOOSE_CELERY_BACKEND, default the broker), run by `dagster-celery worker start`
  processes that may sit on other machines (deploy/celery, docs/scaling.md).
- `k8s`: one Kubernetes Job per step (dagster-k8s, not part of the `scale` extra), configured
  by the YAML file GOOSE_K8S_EXECUTOR_CONFIG (deploy/k8s/executor.yaml: GPU steps on GPU
  nodes). Untested here: no cluster; only its config is validated.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import dagster as dg
import yaml


def executor_from_env() -> dg.ExecutorDefinition | None:
    """None leaves Dagster's default (multiprocess) in place."""
    name = os.environ.get("GOOSE_EXECUTOR", "").strip().lower()
    if name in ("", "multiprocess"):
        return None
    if name == "in_process":
        return dg.in_process_executor
    if name == "celery":
        return celery_executor()
    if name == "k8s":
        return k8s_executor()
    raise ValueError(f"GOOSE_EXECUTOR={name!r}: use multiprocess, in_process, celery or k8s")


def _from_extra(module: str, name: str, missing: str) -> Any:
    """`name` from `module`, a package of an optional extra imported only when chosen;
    `missing` says how to install it."""
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as exc:
        raise ImportError(missing) from exc


def celery_executor() -> dg.ExecutorDefinition:
    base = _from_extra("dagster_celery", "celery_executor", "GOOSE_EXECUTOR=celery needs dagster-celery: pip install -e '.[scale]'")
    # the URLs are read from the environment when a run starts, never stored in the
    # run's config; the workers read the same variables through deploy/celery/celery.yaml
    broker = os.environ.get("GOOSE_CELERY_BROKER", "")
    if not broker:
        raise ValueError("GOOSE_EXECUTOR=celery needs GOOSE_CELERY_BROKER, e.g. redis://redis:6379/0")
    backend_var = "GOOSE_CELERY_BACKEND" if os.environ.get("GOOSE_CELERY_BACKEND") else "GOOSE_CELERY_BROKER"
    return base.configured(
        {"broker": {"env": "GOOSE_CELERY_BROKER"}, "backend": {"env": backend_var}},
        name="goose_celery_executor",
    )


def k8s_executor() -> dg.ExecutorDefinition:
    k8s_job_executor = _from_extra("dagster_k8s", "k8s_job_executor", "GOOSE_EXECUTOR=k8s needs dagster-k8s: pip install dagster-k8s==0.29.27")
    path = os.environ.get("GOOSE_K8S_EXECUTOR_CONFIG", "")
    if not path:
        return k8s_job_executor
    with open(path, encoding="utf8") as f:
        config = yaml.safe_load(f) or {}
    return k8s_job_executor.configured(config, name="goose_k8s_executor")


# every asset that writes the warehouse runs in this concurrency pool (limit 1 in
# dagster.yaml): DuckDB allows one writing process per file
WRITE_POOL = "duckdb_write"
# rows per batch where a stage streams a partition (bounded memory per step)
STREAM_BATCH = 2000
