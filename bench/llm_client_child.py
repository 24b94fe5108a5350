"""One LLM client against the loopback server; run in a fresh process per point.

Stand-alone on purpose (only the standard library at import): the peer clients run it in
their own venvs, where goose_assets is not installed. Prints one JSON line.

    python bench/llm_client_child.py CLIENT BASE_URL CONCURRENCY PROMPTS_JSON

CLIENT: ours | openai_raw | curator | distilabel_llm. The timed window starts after the
client object is built (imports and set-up excluded) and ends when every answer is back.
`ours` opens its HTTP sessions inside `generate`, so its window includes connection set-up
and the event loop's start; `openai_raw` builds its AsyncOpenAI inside the window too.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

MODEL = "loopback-model"
MAX_TOKENS = 16


def ours(base_url: str, c: int, prompts: list[str]) -> Callable[[], int]:
    from goose_assets.core.llm_types import LLMRequest
    from goose_assets.llm.openai_backend import OpenAIBackend

    backend = OpenAIBackend(base_url, MODEL, "EMPTY", max_in_flight=c, progress_every_s=1e9)
    requests = [
        LLMRequest(ref_id=f"r{i}", kind="student", domain="math", prompt_version="bench",
                   messages=[{"role": "user", "content": p}], inputs={}, n=1, temperature=1.0, max_tokens=MAX_TOKENS)
        for i, p in enumerate(prompts)
    ]

    def go() -> int:
        return sum(r.error is None and bool(r.texts) for r in backend.generate(requests))

    return go


def openai_raw(base_url: str, c: int, prompts: list[str]) -> Callable[[], int]:
    """The baseline: AsyncOpenAI plus a semaphore, nothing else."""
    from openai import AsyncOpenAI

    async def run() -> int:
        client = AsyncOpenAI(base_url=base_url, api_key="EMPTY", max_retries=0)
        sem = asyncio.Semaphore(c)

        async def one(p: str) -> bool:
            async with sem:
                r = await client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": p}], max_tokens=MAX_TOKENS)
                return bool(r.choices[0].message.content)

        ok = await asyncio.gather(*(one(p) for p in prompts))
        await client.close()
        return sum(ok)

    return lambda: asyncio.run(run())


def curator(base_url: str, c: int, prompts: list[str]) -> Callable[[], int]:
    from bespokelabs import curator as bc

    llm = bc.LLM(
        model_name="gpt-4o-mini",  # any known name: curator sizes token budgets from it
        backend="openai",
        generation_params={"max_tokens": MAX_TOKENS},
        backend_params={
            "base_url": base_url, "api_key": "EMPTY", "max_concurrent_requests": c,
            "max_requests_per_minute": 10_000_000, "max_tokens_per_minute": 10_000_000_000,
            "max_retries": 0, "require_all_responses": False,
        },
    )

    def go() -> int:
        out = llm(prompts)
        ds = out.dataset if hasattr(out, "dataset") else out
        return sum(bool(r) for r in ds["response"])

    return go


def distilabel_llm(base_url: str, c: int, prompts: list[str]) -> Callable[[], int]:
    """distilabel's OpenAILLM.generate over batches of C inputs (it has no semaphore of its
    own: one generate() call sends its whole batch at once)."""
    from distilabel.models.llms import OpenAILLM

    llm = OpenAILLM(model=MODEL, base_url=base_url, api_key="EMPTY", max_retries=0)
    llm.load()
    inputs = [[{"role": "user", "content": p}] for p in prompts]

    def go() -> int:
        ok = 0
        for i in range(0, len(inputs), c):
            for out in llm.generate(inputs=inputs[i : i + c], num_generations=1, max_new_tokens=MAX_TOKENS):
                ok += bool(out["generations"] and out["generations"][0])
        return ok

    return go


CLIENTS: dict[str, Callable[[str, int, list[str]], Callable[[], int]]] = {
    "ours": ours, "openai_raw": openai_raw, "curator": curator, "distilabel_llm": distilabel_llm,
}


def main() -> None:
    client, base_url, c, prompts_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    with open(prompts_path, encoding="utf-8") as fh:
        prompts: list[str] = json.load(fh)
    go = CLIENTS[client](base_url, c, prompts)
    cpu0, t0 = time.process_time(), time.perf_counter()
    ok = go()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    result: dict[str, Any] = {
        "client": client, "concurrency": c, "requests": len(prompts), "ok": ok, "wall_s": round(wall, 3),
        "req_per_s": round(len(prompts) / wall, 1), "client_cpu_ms_per_req": round(cpu / len(prompts) * 1000, 2),
        "pid": os.getpid(),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
