"""One run of the openai backend against a loopback server that injects every fault kind,
then a re-run against the same cache (issues 4 and 9: faults injected vs outcomes).

Usage: python bench/bench_llm_faults.py [--requests 300] [--rate 0.03]
Prints a markdown table and the raw counters as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from goose_assets.llm.openai_backend import OpenAIBackend  # noqa: E402
from goose_assets_tests.llm.helpers import MemoryCache, injected_request, mixed_requests  # noqa: E402
from goose_assets_tests.llm_server import FAULTS, LoopbackLLMServer, ServerConfig  # noqa: E402

# how the client names what the server injected, and what it does about it
CLIENT_NAME = {"connection_reset": "connection_error", "read_timeout": "timeout", "truncated_json": "repaired_json",
               "truncated_json_early": "schema_violation", "unconstrained_prose": "invalid_json",
               "obey_injection": "mask_count"}
REMEDY = {"http_500": "retried (backoff)", "http_429": "retried after Retry-After",
          "connection_reset": "retried on a fresh connection", "read_timeout": "timed out, retried",
          "truncated_json": "repaired in place", "truncated_json_early": "re-asked",
          "schema_violation": "re-asked", "answer_not_in_source": "re-asked",
          "unconstrained_prose": "re-asked", "obey_injection": "re-asked, then quarantined"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rate", type=float, default=0.03, help="injection rate per fault kind")
    parser.add_argument("--latency", type=float, default=0.01)
    args = parser.parse_args()
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    rates = {f: args.rate for f in FAULTS if f != "obey_injection"}
    config = ServerConfig(latency_s=args.latency, fault_rates=rates, obey_injections=True, seed=5,
                          retry_after_s=0.05, hang_s=3.0)
    requests = mixed_requests(args.requests - 10) + [injected_request(i) for i in range(10)]
    cache = MemoryCache()
    with LoopbackLLMServer(config) as server:
        first = OpenAIBackend(server.base_url, "loopback-model", "EMPTY", max_in_flight=32, timeout_s=1.0,
                              backoff_base_s=0.02, progress_every_s=1e9)
        responses = first.generate(requests, cache)
        injected = Counter(server.stats()["faults"])
        calls_first = server.stats()["received"]
        second = OpenAIBackend(server.base_url, "loopback-model", "EMPTY", progress_every_s=1e9)
        rerun = second.generate(requests, cache)
        calls_second = server.stats()["received"] - calls_first
    observed = first.stats.faults
    print(f"requests: {len(requests)}; calls made: {calls_first} (retries {first.stats.retries}, re-asks "
          f"{first.stats.reasks}); answered {first.stats.answered}, quarantined {first.stats.quarantined} "
          f"{dict(first.stats.errors)}")
    print(f"re-run: {sum(r.cached for r in rerun)} cache hits, {calls_second} new calls\n")
    print("| fault injected | times | client saw | outcome |")
    print("|---|---|---|---|")
    for fault in FAULTS:
        if fault == "obey_injection":
            continue
        seen = observed.get(CLIENT_NAME.get(fault, fault), 0)
        print(f"| {fault} | {injected.get(fault, 0)} | {CLIENT_NAME.get(fault, fault)}: {seen} | {REMEDY[fault]} |")
    bad = Counter((r.error or "ok").split(":")[0] for r in responses[-10:])
    print(f"| obey_injection (10 documents) | {injected.get('obey_injection', 0)} | {dict(bad)} | "
          "quarantined after re-asks |")
    print("\n" + json.dumps({"client": first.stats.as_dict(), "server_faults": dict(injected)}, sort_keys=True))


if __name__ == "__main__":
    main()
