"""Client saturation of the openai backend against the loopback server (issue 8).

The server runs as a subprocess (its own core) with a fixed latency per request, so the
ceiling is C / latency requests per second. Two workloads:
- `student`: short prompts, n=1, no output validation (what peers measured);
- `synthesis`: full synthesis prompts whose answers go through parse + schema + the
  generation validator in the client, as in a real run.

Each point runs `rounds * C` requests (25 latency rounds by default), so every point lasts
about the same time at the ceiling.

Usage: python bench/bench_llm_client.py [--latency 0.2] [--rounds 25] [--concurrency 8 32 128]
Prints one JSON line per point and a markdown table at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from goose_assets.llm.openai_backend import OpenAIBackend  # noqa: E402
from goose_assets_tests.llm.helpers import mixed_requests, student_request  # noqa: E402
from goose_assets_tests.llm_server import ServerConfig, spawn_server_process  # noqa: E402


def run_point(base_url: str, workload: str, concurrency: int, count: int, http_client: str) -> dict:
    requests = [student_request(i, n=1) for i in range(count)] if workload == "student" else mixed_requests(count)
    backend = OpenAIBackend(base_url, "loopback-model", "EMPTY", max_in_flight=concurrency,
                            http_client=http_client, progress_every_s=1e9)
    cpu0, start = time.process_time(), time.perf_counter()
    responses = backend.generate(requests)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    errors = sum(r.error is not None for r in responses)
    return {"workload": workload, "http_client": http_client, "concurrency": concurrency, "requests": count,
            "errors": errors, "wall_s": round(wall, 3), "req_per_s": round(count / wall, 1),
            "client_cpu_ms_per_req": round(cpu / count * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--workloads", nargs="+", default=["student", "synthesis"])
    # auto: our direct aiohttp transport; aiohttp / httpx: the openai SDK on that transport
    parser.add_argument("--http-clients", nargs="+", default=["auto", "aiohttp", "httpx"])
    args = parser.parse_args()
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    rows = []
    with spawn_server_process(ServerConfig(latency_s=args.latency)) as server:
        for workload in args.workloads:
            for http_client in args.http_clients:
                for c in args.concurrency:
                    row = run_point(server.base_url, workload, c, args.rounds * c, http_client)
                    row["ceiling"] = round(c / args.latency, 1)
                    row["of_ceiling"] = round(row["req_per_s"] / row["ceiling"], 3)
                    print(json.dumps(row), flush=True)
                    rows.append(row)
    print("\n| workload | http client | C | req/s | ceiling | % of ceiling | client CPU ms/req | errors |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['workload']} | {r['http_client']} | {r['concurrency']} | {r['req_per_s']} | {r['ceiling']} | "
              f"{r['of_ceiling']:.0%} | {r['client_cpu_ms_per_req']} | {r['errors']} |")


if __name__ == "__main__":
    main()
