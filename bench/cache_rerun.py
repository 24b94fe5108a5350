"""§4 Cache re-run: materialize `masked_items` with the openai backend against the loopback
server, then again; then with one prompt template's version changed.

Expected: the second run sends zero requests (every answer comes from `llm_cache`), and
after the `synthesize_code` template changes only the code-shaped passages are re-requested.
The template change is a monkeypatch inside the child process (a bumped version and one
extra line in the body); the real template files are never edited.

Request counts come from the server's own counters, not from the client. Each run also
records where its time went (`breakdown`: Dagster outside the step, DuckDB connection
open/close, the cache look-up with any LLM calls, answer validation, the rest of the step)
and a digest of the rows it wrote, so a re-run's rows can be checked equal to the first's.

    python -m bench.cache_rerun [--docs-per-domain 50] [--latency 0.2] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.common import DATA, DOMAINS, md_table, run_json_child, write_result
from bench.corpus import build as build_corpus

EDITED_TEMPLATE = "synthesize_code"
# the ratio goal's size: the full plan's 250 docs per domain. Below it, the fixed cost per
# partition (Dagster run set-up, DuckDB open/close: ~0.75 s) dominates a cached re-run, so
# a small run cannot show the goal (issue 20: 0.21 at 50 docs per domain)
GOAL_DOCS_PER_DOMAIN = 250


class Breakdown:
    """Exclusive wall time per label, single-threaded: entering a label pauses the one it is
    nested in, so the labels never double count (a cache look-up's connection is DuckDB
    time, not look-up time)."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self._stack: list[list[Any]] = []

    def enter(self, label: str) -> None:
        now = time.perf_counter()
        if self._stack:
            self.seconds[self._stack[-1][0]] += now - self._stack[-1][1]
        self._stack.append([label, now])
        self.calls[label] += 1

    def exit(self) -> None:
        now = time.perf_counter()
        label, started = self._stack.pop()
        self.seconds[label] += now - started
        if self._stack:
            self._stack[-1][1] = now

    def wrap(self, fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.enter(label)
            try:
                return fn(*args, **kwargs)
            finally:
                self.exit()
        return timed

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()


def _instrument(bd: Breakdown) -> None:
    """Measurement only, in the child process: time the masked_items step's parts."""
    import goose_assets.defs.synthesis.assets as synthesis_defs
    from goose_assets.core.synthesis import masking
    from goose_assets.storage.duckdb_warehouse import Warehouse

    synthesis_defs.generate = bd.wrap(synthesis_defs.generate, "cache look-up + LLM calls")  # type: ignore[assignment]
    masking.item_from_response = bd.wrap(masking.item_from_response, "validation (item_from_response)")  # type: ignore[assignment]
    connect = Warehouse.connect

    @contextlib.contextmanager
    def timed_connect(self: Warehouse) -> Iterator[Any]:
        manager = connect(self)
        bd.enter("DuckDB open/close")
        try:
            con = manager.__enter__()
        finally:
            bd.exit()
        try:
            yield con
        except BaseException as exc:
            if not manager.__exit__(type(exc), exc, exc.__traceback__):
                raise
        else:
            bd.enter("DuckDB open/close")
            try:
                manager.__exit__(None, None, None)
            finally:
                bd.exit()

    Warehouse.connect = timed_connect  # type: ignore[method-assign,assignment]


def _rows_digest(wh: Any) -> str:
    """The rows a masked_items run leaves: items and synthesis quarantine (no timestamps)."""
    h = hashlib.sha256()
    for sql in ("SELECT * FROM masked_items ORDER BY item_id",
                "SELECT stage, domain, ref_id, reason, detail, raw, shard FROM quarantine WHERE stage = 'synthesis' "
                "ORDER BY domain, ref_id"):
        h.update(json.dumps(wh.query(sql), default=str, sort_keys=True).encode())
    return h.hexdigest()[:16]


def _materialize(assets: list[Any], selection: list[Any], resources: dict[str, Any], instance: Any,
                 totals: dict[str, int] | None = None) -> float:
    """Materialize `selection` for every domain; add the assets' llm_calls/cache_hits metadata to `totals`."""
    import dagster as dg

    start = time.perf_counter()
    for domain in DOMAINS:
        result = dg.materialize(assets, selection=selection, partition_key=domain, resources=resources,
                                instance=instance, raise_on_error=True)
        assert result.success
        for event in result.get_asset_materialization_events():
            meta = event.materialization.metadata
            for key in ("llm_calls", "cache_hits"):
                if totals is not None and key in meta:
                    totals[key] = totals.get(key, 0) + int(meta[key].value)
    return time.perf_counter() - start


def _step_seconds(instance: Any) -> float:
    """Sum of masked_items step durations of the latest 4 runs (the asset body alone)."""
    runs = instance.get_runs(limit=len(DOMAINS))
    total = 0.0
    for run in runs:
        for s in instance.get_run_step_stats(run.run_id):
            if s.step_key == "masked_items":
                total += (s.end_time or 0) - (s.start_time or 0)
    return total


def child(args: argparse.Namespace) -> None:
    import logging
    import warnings

    import dagster as dg

    warnings.filterwarnings("ignore")
    logging.getLogger("dagster").setLevel(logging.ERROR)
    import goose_assets.core.prompts as prompts
    from goose_assets.definitions import ASSETS_BY_NAME
    from goose_assets.defs.resources import CorpusResource, LLMResource, WarehouseResource
    raw_documents, extracted_passages, masked_items = (ASSETS_BY_NAME['raw_documents'], ASSETS_BY_NAME['extracted_passages'], ASSETS_BY_NAME['masked_items'])
    from goose_assets.storage.duckdb_warehouse import Warehouse
    from goose_assets_tests.llm_server import ServerConfig, spawn_server_process

    home = Path(args.home)
    shutil.rmtree(home, ignore_errors=True)
    corpus = CorpusResource(corpus_dir=args.corpus, max_docs_per_domain=args.docs_per_domain)
    assets = [raw_documents, extracted_passages, masked_items]
    instance = dg.DagsterInstance.ephemeral()
    out: dict[str, Any] = {}
    with spawn_server_process(ServerConfig(latency_s=args.latency, max_concurrency=args.concurrency)) as server:
        resources = {
            "warehouse": WarehouseResource(home=str(home)), "corpus": corpus,
            "llm": LLMResource(backend="openai", base_url=server.base_url, model="loopback-model",
                               max_in_flight=args.concurrency),
        }
        _materialize(assets, [raw_documents, extracted_passages], resources, instance)  # set-up, untimed
        wh = Warehouse(home / "warehouse.duckdb")
        shapes = {r["shape"]: int(r["n"]) for r in wh.query("SELECT shape, count(*) AS n FROM extracted_passages GROUP BY 1")}
        out["passages"] = sum(shapes.values())
        out["passages_by_shape"] = shapes

        bd = Breakdown()
        _instrument(bd)

        def timed_run(label: str) -> None:
            before = server.stats()["received"]
            totals: dict[str, int] = {}
            bd.reset()
            wall = _materialize(assets, [masked_items], resources, instance, totals)
            step = _step_seconds(instance)
            parts = {k: round(v, 3) for k, v in bd.seconds.most_common()}
            breakdown = {"dagster outside the step (4 runs)": round(wall - step, 3), **parts,
                         "rest of the step (read passages, requests, rows, write)": round(step - sum(bd.seconds.values()), 3)}
            # items_requested: passages not answered from the cache (the asset's llm_calls);
            # requests: HTTP calls the server saw, re-asks and retries included
            out[label] = {"wall_s": round(wall, 3), "step_s": round(step, 3),
                          "items_requested": totals.get("llm_calls", 0), "cache_hits": totals.get("cache_hits", 0),
                          "requests": server.stats()["received"] - before,
                          "items": wh.count("masked_items"), "cache_rows": wh.count("llm_cache"),
                          "quarantined": int(wh.query("SELECT count(*) AS n FROM quarantine WHERE stage = 'synthesis'")[0]["n"]),
                          "rows_digest": _rows_digest(wh), "breakdown": breakdown,
                          "duckdb_connections": bd.calls["DuckDB open/close"] // 2}

        timed_run("first")
        timed_run("second")
        original = prompts.template

        def edited(name: str) -> Any:
            tpl = original(name)
            # the code template of whichever synthesis output format the run uses (issue 19:
            # lean, `synthesize_code_lean`, is the openai backend's default)
            if name not in (EDITED_TEMPLATE, f"{EDITED_TEMPLATE}_lean"):
                return tpl
            return prompts.Template(tpl.name, tpl.version + "+bench-edit", tpl.body + "\nBe concise.")

        # transport failures are never cached, so they are re-requested too; count those not
        # code-shaped (a final bad answer is cached: replayed, not re-asked)
        out["uncached_failures_not_code"] = int(wh.query(
            "SELECT count(*) AS n FROM quarantine q JOIN extracted_passages p ON p.passage_id = q.ref_id "
            "WHERE q.stage = 'synthesis' AND p.shape <> 'code' AND q.reason = 'transport'")[0]["n"])
        # code-shaped passages with equal prompts share one cache key: one request each
        out["code_request_keys"] = _code_request_keys(wh)
        prompts.template = edited  # type: ignore[assignment]
        timed_run("after_template_edit")
        prompts.template = original  # type: ignore[assignment]
        timed_run("reverted")
    out["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out))


def _code_request_keys(wh: Any) -> int:
    import dataclasses

    from goose_assets.core.records import Passage
    from goose_assets.core.synthesis.masking import synthesis_request
    from goose_assets.llm.base import cache_key

    columns = [f.name for f in dataclasses.fields(Passage)]
    rows = wh.query("SELECT " + ", ".join(columns) + " FROM extracted_passages WHERE shape = 'code'")
    return len({cache_key("openai", "loopback-model", synthesis_request(Passage(**r))) for r in rows})


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs-per-domain", type=int, default=250)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--corpus", default="")
    ap.add_argument("--corpus-size", type=int, default=1000,
                    help="the generated corpus to read (docs in all); --docs-per-domain of each domain are used")
    ap.add_argument("--home", default=str(DATA / "home-cache-rerun"))
    ap.add_argument("--extra-latency", type=float, default=0.0,
                    help="also run once at this server latency (an extra, labelled configuration; not the goal's)")
    ap.add_argument("--child", action="store_true")
    args = ap.parse_args(argv)
    if not args.corpus:
        args.corpus = str(build_corpus(args.corpus_size))
    if args.child:
        child(args)
        return {}
    cmd = ["-m", "bench.cache_rerun", "--child", "--docs-per-domain", str(args.docs_per_domain), "--latency",
           str(args.latency), "--concurrency", str(args.concurrency), "--corpus", args.corpus, "--home", args.home]
    runs = [run_json_child(cmd, timeout=1800) for _ in range(args.repeats)]
    extra = None
    if args.extra_latency:
        at = cmd.index("--latency") + 1
        e = run_json_child([*cmd[:at], str(args.extra_latency), *cmd[at + 1:]], timeout=3600)
        extra = {"latency_s": args.extra_latency, "concurrency": args.concurrency, "repeats": 1,
                 "ratio_second_over_first": round(e["second"]["wall_s"] / e["first"]["wall_s"], 4),
                 "first": e["first"], "second": e["second"], "load_avg": e.get("load_avg"),
                 "second_rows_equal_first": e["second"]["rows_digest"] == e["first"]["rows_digest"]}
    ratios = [r["second"]["wall_s"] / r["first"]["wall_s"] for r in runs]
    med = statistics.median_low(ratios)
    run = runs[ratios.index(med)]
    code_keys = run.get("code_request_keys", run["passages_by_shape"].get("code", 0))
    expected_rerequests = code_keys + run.get("uncached_failures_not_code", 0)
    result = {
        "latency_s": args.latency, "concurrency": args.concurrency, "docs_per_domain": args.docs_per_domain,
        "repeats": args.repeats, "ratio_second_over_first": round(med, 4), "ratios": [round(x, 4) for x in ratios],
        "goal_ratio": 0.1, "goal_docs_per_domain": GOAL_DOCS_PER_DOMAIN, "expected_rerequests_after_edit": expected_rerequests,
        "edited_template": EDITED_TEMPLATE, **run,
        "llm_floor_s": round(run["passages"] * args.latency / args.concurrency, 3),
        "second_rows_equal_first": all(r["second"]["rows_digest"] == r["first"]["rows_digest"] for r in runs),
        "reverted_rows_equal_first": all(r["reverted"]["rows_digest"] == r["first"]["rows_digest"] for r in runs),
        "load_avg_per_repeat": [r.get("load_avg") for r in runs],
        **({"extra_config": extra} if extra else {}),
    }
    write_result("cache_rerun", result, argv)
    print(table(result))
    return result


def settings_note(result: dict[str, Any]) -> str:
    """Size and the settings that differ from `make run` (issue 17 point 4, issue 20)."""
    return (f"Size: {result['docs_per_domain']:,} docs per domain ({result['passages']:,} passages), "
            f"{result['repeats']} repeat(s). Settings that differ from `make run`: the **openai backend against the "
            f"loopback server** ({result['latency_s']} s per answer, C={result['concurrency']}) instead of the offline "
            "generator, and only `raw_documents` → `masked_items` are materialized (the embedding baseline, in "
            "`task_difficulty`, does not run).")


def table(result: dict[str, Any]) -> str:
    rows = []
    first_digest = result["first"].get("rows_digest")
    for label in ("first", "second", "after_template_edit", "reverted"):
        r = result[label]
        same = "" if not first_digest or label == "first" else ("yes" if r.get("rows_digest") == first_digest else "no")
        rows.append([label, r.get("items_requested"), r.get("cache_hits"), r["requests"], r["items"], r.get("quarantined"),
                     r["wall_s"], r["step_s"],
                     round(r["wall_s"] / result["first"]["wall_s"], 3), same])
    out = settings_note(result) + "\n\n" + md_table(["run", "items requested (not from cache)", "cache hits", "HTTP requests (server count)", "items",
                    "quarantined", "wall s (4 partitions)", "masked_items step s", "÷ first", "rows = first's"], rows)
    if all("breakdown" in result[k] for k in ("first", "second")):
        labels = list(dict.fromkeys([*result["second"]["breakdown"], *result["first"]["breakdown"]]))
        parts = [[label, *(result[k]["breakdown"].get(label, 0.0) for k in ("first", "second"))] for label in labels]
        parts.append(["**wall**", result["first"]["wall_s"], result["second"]["wall_s"]])
        out += ("\n\nWhere the time goes (s, the run above; exclusive, 4 partitions):\n\n"
                + md_table(["part", "first", "second"], parts))
    if "ratios" in result:
        loads = ", ".join(str(x[0]) for x in result.get("load_avg_per_repeat") or [] if x)
        out += (f"\n\nRatio 2nd ÷ 1st per repeat: {', '.join(map(str, result['ratios']))} (median "
                f"{result['ratio_second_over_first']}); 1-min load at the end of each repeat: {loads or 'not recorded'}.")
    extra = result.get("extra_config")
    if extra:
        rows = [[f"{label} (latency {extra['latency_s']} s, C={extra['concurrency']}, 1 run)", extra[label]["items_requested"],
                 extra[label]["requests"], extra[label]["wall_s"], round(extra[label]["wall_s"] / extra["first"]["wall_s"], 3)]
                for label in ("first", "second")]
        out += ("\n\nExtra configuration, **not the goal's set-up** (a slower server, closer to real generation "
                "times; same documents and C):\n\n"
                + md_table(["run", "items requested", "HTTP requests", "wall s", "÷ first"], rows))
    return out


if __name__ == "__main__":
    main()
