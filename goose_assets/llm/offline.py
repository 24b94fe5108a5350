"""The default backend: a deterministic, rule-based generator with no model.

It answers the same synthesis request an LLM would, in the paper's JSON format, so its
output goes through the same parser and validator. It is honest about its quality: spans
are picked by reasoning-signal heuristics and distractors are mutations plus mined spans,
which is good enough to run the pipeline end to end on a laptop, not a substitute for a
strong generator model.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence

from goose_assets.core.distractors import SpanPool, offline_distractors
from goose_assets.core.prompts import OUTPUT_KEYS, family
from goose_assets.core.records import MASK
from goose_assets.core.spans import choose_span
from goose_assets.llm.base import LLMRequest, LLMResponse, ProgressFn, ResponseCache

OFFLINE_MODEL = "rule-based-v1"


def _rng(key: str) -> random.Random:
    return random.Random(int(hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16], 16))


class OfflineBackend:
    name = "offline"
    model = OFFLINE_MODEL
    uses_cache = False  # recomputing is cheaper than a cache look-up

    def __init__(self, min_distractors: int = 12) -> None:
        self.min_distractors = min_distractors
        self.pools: dict[str, SpanPool] = {}

    def prepare(self, domain: str, corpus: Sequence[tuple[str, str, str]]) -> None:
        pool = SpanPool()
        for key, shape, body in corpus:
            pool.add_text(key, shape, body, _rng("pool" + key))
        self.pools[domain] = pool

    def generate(
        self,
        requests: Sequence[LLMRequest],
        cache: ResponseCache | None = None,
        progress: ProgressFn | None = None,
    ) -> list[LLMResponse]:
        out = []
        for i, req in enumerate(requests, 1):
            out.append(self._answer(req))
            if progress is not None and (i % 500 == 0 or i == len(requests)):
                progress(i, len(requests))
        return out

    def _answer(self, req: LLMRequest) -> LLMResponse:
        if req.kind != "synthesize":
            return LLMResponse(req.ref_id, [], error=f"offline backend cannot answer {req.kind!r} requests")
        shape, body = str(req.inputs["shape"]), str(req.inputs["body"])
        span = choose_span(shape, body)
        if span is None:
            return LLMResponse(req.ref_id, [], error="no_span: no run of key steps to mask")
        start, end = span
        answer = body[start:end]
        rng = _rng(req.ref_id)
        pool = self.pools.get(req.domain) or SpanPool()
        distractors = offline_distractors(answer, body, shape, pool, rng, want=self.min_distractors)
        masked_key, answer_key, distractor_key = OUTPUT_KEYS[family(shape)]
        payload = {
            masked_key: body[:start] + MASK + body[end:],
            answer_key: answer,
            distractor_key: [text for _, text in distractors],
            "distractor_kinds": [kind for kind, _ in distractors],
        }
        return LLMResponse(req.ref_id, ["<answer>" + json.dumps(payload, ensure_ascii=False) + "</answer>"])
