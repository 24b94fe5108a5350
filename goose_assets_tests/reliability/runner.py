"""Materialize a slice of the pipeline for one domain, in this process or in a child
process that a test can `kill -9` (`python -m goose_assets_tests.reliability.runner`)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg

from goose_assets.definitions import ALL_ASSETS
from goose_assets.defs.resources import CorpusResource, LLMResource, WarehouseResource

SYNTHESIS = ("raw_documents", "extracted_passages", "masked_items", "mcq_tasks")
REPO_ROOT = Path(__file__).resolve().parents[2]


def openai_llm(base_url: str, max_in_flight: int = 4, timeout_s: float = 30.0, api_key: str = "") -> LLMResource:
    return LLMResource(backend="openai", base_url=base_url, model="loopback-model",
                       max_in_flight=max_in_flight, timeout_s=timeout_s, api_key=api_key)


def materialize(home: Path, corpus_dir: Path, domain: str, llm: LLMResource,
                assets: tuple[str, ...] = SYNTHESIS, raise_on_error: bool = True,
                instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    """One Dagster run of `assets` for `domain`, in this process."""
    resources = {
        "warehouse": WarehouseResource(home=str(home)),
        "corpus": CorpusResource(corpus_dir=str(corpus_dir)),
        "llm": llm,
    }
    selection = [a for a in ALL_ASSETS if a.key.path[-1] in assets]
    return dg.materialize(ALL_ASSETS, selection=selection, partition_key=domain, resources=resources,
                          instance=instance, raise_on_error=raise_on_error)


def asset_metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    """The materialization metadata of `asset`, as plain values."""
    for event in result.get_asset_materialization_events():
        if event.asset_key.path[-1] == asset:
            return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}
    raise KeyError(f"no materialization of {asset}")


def spawn(home: Path, corpus_dir: Path, domain: str, base_url: str, max_in_flight: int,
          timeout_s: float = 30.0) -> subprocess.Popen[str]:
    """The same run in a child process (its own session, so a kill hits nothing else)."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    args = [sys.executable, "-m", "goose_assets_tests.reliability.runner", "--home", str(home),
            "--corpus", str(corpus_dir), "--domain", domain, "--base-url", base_url,
            "--max-in-flight", str(max_in_flight), "--timeout-s", str(timeout_s)]
    return subprocess.Popen(args, env=env, cwd=str(REPO_ROOT), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--domain", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--max-in-flight", type=int, default=4)
    parser.add_argument("--timeout-s", type=float, default=30.0)
    args = parser.parse_args(argv)
    result = materialize(Path(args.home), Path(args.corpus), args.domain,
                         openai_llm(args.base_url, args.max_in_flight, args.timeout_s))
    meta = asset_metadata(result, "masked_items")
    print(json.dumps({k: meta[k] for k in ("rows_in", "rows_out", "llm_calls", "cache_hits")}), flush=True)


if __name__ == "__main__":
    main()
