"""The step executor, chosen by GOOSE_EXECUTOR so that scaling out is configuration.

- unset or `multiprocess`: Dagster's default, one subprocess per step on this machine.
- `in_process`: every step in the run's own process (debugging).
- `celery`: each step becomes a Celery task on the Redis broker GOOSE_CELERY_BROKER (results
  on GOOSE_CELERY_BACKEND, default the broker), run by `dagster-celery worker start`
  processes that may sit on other machines (deploy/celery, docs/scaling.md).
"""

from __future__ import annotations

import os

import dagster as dg


def executor_from_env() -> dg.ExecutorDefinition | None:
    """None leaves Dagster's default (multiprocess) in place."""
    name = os.environ.get("GOOSE_EXECUTOR", "").strip().lower()
    if name in ("", "multiprocess"):
        return None
    if name == "in_process":
        return dg.in_process_executor
    if name == "celery":
        return celery_executor()
    raise ValueError(f"GOOSE_EXECUTOR={name!r}: use multiprocess, in_process or celery")


def celery_executor() -> dg.ExecutorDefinition:
    try:
        from dagster_celery import celery_executor as base
    except ImportError as exc:
        raise ImportError("GOOSE_EXECUTOR=celery needs dagster-celery: pip install -e '.[scale]'") from exc
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
