"""The README's commands as a user runs them: `goose run` (what `make run` calls) in a
subprocess on the bundled sample, and `goose estimate` against the loopback
OpenAI-compatible server, whose call counter says what a following run really asked for."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from goose_assets.core.forked import can_fork
from goose_assets.core.records import DOMAINS
from goose_assets.definitions import ASSETS_BY_NAME, UPSTREAM_ASSETS
from goose_assets.defs.resources import CorpusResource, LLMResource, WarehouseResource
from goose_assets.storage.duckdb_warehouse import Warehouse
from goose_assets_tests.llm_server import LoopbackLLMServer, ServerConfig

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
ROLLOUTS = 4
LEAN_SECTION = "masked_items (synthesis), lean format (configured)"
PAPER_SECTION = "masked_items (synthesis), paper format"

task_difficulty, raw_documents, extracted_passages, masked_items, mcq_tasks = (ASSETS_BY_NAME['task_difficulty'], ASSETS_BY_NAME['raw_documents'], ASSETS_BY_NAME['extracted_passages'], ASSETS_BY_NAME['masked_items'], ASSETS_BY_NAME['mcq_tasks'])


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOSE_", "DAGSTER_"))}
    env.update(GOOSE_HOME=str(home), PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), **extra)
    return env


def _goose(home: Path, *args: str, timeout: float = 900, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "goose_assets.cli", *args], env=_env(home, **env), cwd=str(home.parent),
                          capture_output=True, text=True, timeout=timeout)


def test_goose_run_on_the_sample_prints_the_summary_and_writes_the_exports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    done = _goose(home, "run", "--log-level", "WARNING")  # what `make run` runs, defaults and all
    assert done.returncode == 0, done.stderr[-4000:]
    out = done.stdout
    assert "Golden Goose pipeline: per-domain summary" in out
    assert re.search(r"domain\s+documents\s+passages\s+items\s+tasks\s+screened\s+kept\s+in mix\s+quarantined", out)
    # every domain's row says what the warehouse holds
    wh = Warehouse(home / "warehouse.duckdb")
    for domain in DOMAINS:
        (row,) = [line.split() for line in out.splitlines() if line.split()[:1] == [domain]]
        kept = wh.query("SELECT count(*) AS n FROM filtered_tasks WHERE domain = ? AND kept", [domain])[0]["n"]
        expected = [wh.count(t, domain) for t in ("raw_documents", "extracted_passages", "masked_items", "mcq_tasks", "filtered_tasks")]
        assert [int(c) for c in row[1:]] == [*expected, kept, wh.count("training_mix", domain), wh.count("quarantine", domain)]
        assert kept > 0
    exports = home / "exports" / "default"
    assert f"exports:    {exports}" in out
    assert (exports / "goosereason.jsonl").stat().st_size > 0
    for part in ("verl", "openrlhf", "hf_dataset", "README.md"):
        assert (exports / part).exists(), part
    assert len((exports / "goosereason.jsonl").read_text().splitlines()) == wh.count("training_mix")
    # real Dagster runs in the instance `make ui` opens
    assert (home / "dagster" / "dagster.yaml").exists()
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))  # the instance storage's base_dir
    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    try:
        runs = instance.get_runs()
        # per domain: the steps up to masked_items, then from mcq_tasks on (FRESH_PROCESS_STEPS); then the mix
        assert len(runs) == 3 * len(DOMAINS) and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        # each run in its own process (core/forked.py, on Linux), so no run inherits another's heap
        pids = [{e.dagster_event.pid for e in instance.all_logs(r.run_id) if e.dagster_event and e.dagster_event.pid}
                for r in runs]
        assert all(len(p) == 1 for p in pids) and (len(set.union(*pids)) == len(runs) or not can_fork()), pids
    finally:
        instance.dispose()


def _estimated_calls(stdout: str, section: str) -> int:
    """The TOTAL row's `calls` column of one section of `goose estimate`'s report."""
    lines = stdout.split(section, 1)[1].splitlines()
    (total,) = [line.split() for line in lines if line.startswith("TOTAL")][:1]
    return int(total[3])  # TOTAL requests cached calls ...


def _materialize(home: Path, llm: LLMResource, selection: list[Any]) -> None:
    resources = {"warehouse": WarehouseResource(home=str(home)), "corpus": CorpusResource(), "llm": llm}
    for domain in DOMAINS:
        result = dg.materialize(UPSTREAM_ASSETS, selection=selection, partition_key=domain, resources=resources)
        assert result.success


def test_goose_estimate_counts_the_calls_a_following_run_makes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with LoopbackLLMServer(ServerConfig()) as server:
        env = {"GOOSE_LLM_BACKEND": "openai", "GOOSE_LLM_BASE_URL": server.base_url, "GOOSE_LLM_MODEL": "loopback-model"}
        llm = LLMResource(backend="openai", base_url=server.base_url, model="loopback-model", rollouts=ROLLOUTS)
        # passages first: estimate reads them (a web page's extraction is itself a call)
        _materialize(home, llm, [raw_documents, extracted_passages])
        assert Warehouse(home / "warehouse.duckdb").count("llm_cache") == server.stats()["received"]
        server.reset()

        estimate = _goose(home, "estimate", "--rollouts", str(ROLLOUTS), timeout=300, **env)
        assert estimate.returncode == 0, estimate.stderr[-4000:]
        assert server.stats()["received"] == 0, "the estimate is a dry run"
        synthesis = _estimated_calls(estimate.stdout, "masked_items (synthesis)")
        assert synthesis == Warehouse(home / "warehouse.duckdb").count("extracted_passages") > 0
        # both output formats, the configured one (an LLM backend's default: lean) first
        assert estimate.stdout.index(LEAN_SECTION) < estimate.stdout.index(PAPER_SECTION)
        assert _estimated_calls(estimate.stdout, PAPER_SECTION) == synthesis
        assert "synthesis output formats side by side" in estimate.stdout
        assert re.search(r"lean / paper: completion tokens x0\.\d\d", estimate.stdout)
        _materialize(home, llm, [masked_items, mcq_tasks])
        assert server.stats()["received"] == synthesis

        server.reset()
        estimate = _goose(home, "estimate", "--rollouts", str(ROLLOUTS), timeout=300, **env)
        assert estimate.returncode == 0, estimate.stderr[-4000:]
        assert _estimated_calls(estimate.stdout, "masked_items (synthesis)") == 0, "every synthesis call is cached now"
        assert _estimated_calls(estimate.stdout, PAPER_SECTION) == synthesis, "the other format is not cached"
        rollouts = _estimated_calls(estimate.stdout, "task_difficulty (student rollouts)")
        assert rollouts == Warehouse(home / "warehouse.duckdb").count("mcq_tasks") > 0
        _materialize(home, llm, [task_difficulty])
        assert server.stats()["received"] == rollouts


@dg.asset(partitions_def=dg.StaticPartitionsDefinition(list(DOMAINS)))
def killed_on_math(context) -> None:  # noqa: ANN001 - Dagster rejects the string annotation `from __future__` makes
    if context.partition_key == "math":
        os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.skipif(not can_fork(), reason="runs are forked on Linux only; in-process, the SIGKILL would end pytest")
def test_a_partition_run_whose_process_is_killed_fails_that_domain_and_the_run_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the kernel's OOM killer would end a run: SIGKILL inside the step. `goose run`
    names the partition and the signal, skips the rest of that domain, goes on with the
    next, and marks the dead run failed in the instance (it cannot report its own end)."""
    import argparse

    from goose_assets import cli

    def materialize(stage: list[Any], key: str, instance: dg.DagsterInstance, args: Any, attempt: str) -> list[str]:
        result = dg.materialize([killed_on_math], partition_key=key, instance=instance, tags={cli.ATTEMPT_TAG: attempt},
                                raise_on_error=False)
        return [] if result.success else [f"{key} failed"]

    # the real launcher with the real fork; only the run itself is this test's asset
    monkeypatch.setattr(cli, "_materialize_run", materialize)
    instance = dg.DagsterInstance.local_temp(str(tmp_path))
    try:
        plan = [([], "math", "math"), ([], "math", "math"), ([], "code", "code")]
        args = argparse.Namespace(no_embeddings=True)
        failures, lines = cli._run_partitions(plan, instance, args)
        assert failures == ["math"]
        assert lines == ["goose run: math: the child process ended without a result: killed by SIGKILL "
                         "(the kernel's OOM killer sends SIGKILL)"]
        runs = {r.tags[cli.ATTEMPT_TAG]: r for r in instance.get_runs()}
        assert len(runs) == 2  # math's second run was skipped
        status = sorted((r.tags.get("dagster/partition"), r.status) for r in runs.values())
        assert status == [("code", dg.DagsterRunStatus.SUCCESS), ("math", dg.DagsterRunStatus.FAILURE)]
    finally:
        instance.dispose()
