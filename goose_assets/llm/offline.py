"""The default backend: a deterministic, rule-based generator with no model.

It answers the same synthesis request an LLM would, in the request's JSON format (the
paper's, or the lean one: core.synthesis.synthesis_format), so its output goes through the
same parser, validator and option selection. It is honest about its quality: spans are
picked by reasoning-signal heuristics, and the candidate distractors are real spans mined
from the nearest documents and adapted to the context (core.synthesis.mining) plus
well-formed, meaning-changing edits of the answer (core.synthesis.distractors). That is
good enough to run the pipeline end to end on a laptop, not a substitute for a strong
generator model.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Sequence

from goose_assets.core.llm_types import LLMRequest, LLMResponse
from goose_assets.core.progress import ProgressFn
from goose_assets.core.synthesis.code_check import code_slot
from goose_assets.core.synthesis.distractors import (
    EditContext,
    answer_edits,
    moved_units,
    restated_steps,
    slot_pieces,
    splice_slot,
    spliced_candidates,
)
from goose_assets.core.synthesis.masking import MIN_DISTRACTORS
from goose_assets.core.synthesis.mining import Adapter, SpanMiner, moved_runs
from goose_assets.core.synthesis.spans import Unit, choose_span
from goose_assets.core.synthesis.synthesis_format import answer_object, request_format
from goose_assets.llm.base import ResponseCache

OFFLINE_MODEL = "rule-based-v8"
# candidates offered per item (>= 24 where the material allows, some lost to validation):
# option selection keeps the 8 that a discriminator finds hardest to tell from the answer
# (DESIGN §5). Where the answer has two or more units, the pool leads with the answer
# with one unit replaced (spliced_candidates): by up to SPLICED_WANTED units mined for
# its slot, by a unit of each whole mined span, and by up to MOVED_WANTED of the
# passage's own steps moved into the slot and edited (moved_units: on its topic as no
# mined step is; a one-step answer gets those as whole candidates), and by each of the
# answer's other steps, edited (restated_steps: in the span's own words, as the answer's
# slot is); whole mined spans, at
# least a dozen, make up the rest. Code takes whole spans only, with up to MOVED_WANTED
# runs of the file's own lines moved into the span and edited (mining.moved_runs).
CANDIDATES_WANTED = 28
MIN_MINED = 12
SPLICED_WANTED = 24
MOVED_WANTED = 8
# below this many candidates (a small corpus), edits of the answer make up the pool: the
# synthesis contract every backend's reply meets. Filling to 9 only measured better in
# code, where mining finds fewest (most-central 0.19 -> 0.14: an answer among its own
# edits is their centroid), but breaks that contract (BENCHMARKS.md §8)
MIN_POOL = MIN_DISTRACTORS
# Edits of the answer are off by default: measured on held-out documents of every domain
# (BENCHMARKS.md, "Task quality"), a pool with them gives tasks that a surface classifier
# solves more often, as the answer is the least perturbed member of the cluster its edits
# form, and the most central option with one or two of them shown. Set `edits_wanted` to
# offer them always; they make up the pool where mining comes up short.
EDITS_WANTED = 0


def _rng(key: str) -> random.Random:
    return random.Random(int(hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16], 16))


class OfflineBackend:
    name = "offline"
    model = OFFLINE_MODEL
    uses_cache = False  # recomputing is cheaper than a cache look-up

    def __init__(self, candidates_wanted: int = CANDIDATES_WANTED, edits_wanted: int = EDITS_WANTED) -> None:
        self.candidates_wanted, self.edits_wanted = candidates_wanted, edits_wanted
        self.miners: dict[str, SpanMiner] = {}

    def prepare(self, domain: str, corpus: Iterable[tuple[str, str, str]]) -> None:
        """Index the domain's passages (key, shape, body) for mining neighbours' spans."""
        self.miners[domain] = SpanMiner(corpus)

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
        span = choose_span(shape, body, str(req.inputs.get("question", "")))
        if span is None:
            return LLMResponse(req.ref_id, [], error="no_span: no run of key steps to mask")
        start, end = span
        answer = body[start:end]
        rng = _rng(req.ref_id)
        slot = code_slot(body, start, end) if shape == "code" else None
        context = str(req.inputs.get("question", "")) + "\n" + body[:start] + "\n" + body[end:]
        miner = self.miners.get(req.domain) or SpanMiner([])
        distractors = answer_edits(answer, shape, context, rng, self.edits_wanted, slot) if self.edits_wanted else []
        adapter = Adapter.for_span(shape, body, answer, span)
        slot_unit = splice_slot(answer, shape)
        replacements = [] if slot_unit is None else miner.slot_units(
            req.ref_id, body, shape, answer, span, slot_unit, rng, SPLICED_WANTED, adapter)
        mined_wanted = max(MIN_MINED, self.candidates_wanted - len(distractors) - len(replacements))
        mined = miner.mine(req.ref_id, body, shape, answer, span, rng, mined_wanted, slot, adapter)
        if slot_unit is not None:
            # whole mined spans are about their own documents, which an embedding solver
            # sees; spliced into the answer, a mined step keeps the answer's topic and edges
            # (measured: BENCHMARKS.md §8)
            replacements += slot_pieces(shape, slot_unit, mined)
            slot_text = answer[slot_unit.start : slot_unit.end]
            edit_context = EditContext(shape, context, answer)
            replacements += moved_units(shape, body, span, slot_text, edit_context, rng, MOVED_WANTED)
            replacements += restated_steps(answer, shape, slot_unit, edit_context, rng)
            distractors += spliced_candidates(answer, slot_unit, replacements)
        elif slot is not None:
            # code keeps whole spans, and the file's own lines, moved and edited, are the
            # ones on its topic and in its idiom
            distractors += moved_runs(body, span, answer, slot, EditContext(shape, context, answer), rng, MOVED_WANTED, adapter)
        elif shape != "code":
            # a one-unit answer has no rest to share, and whole mined spans alone leave it the
            # one option on the passage's topic (measured in math: the embedding solver picked
            # it 73% of the time); the passage's other steps, moved and edited, are on it too
            whole = Unit(0, len(answer), 0.0)
            moved = moved_units(shape, body, span, answer, EditContext(shape, context, answer), rng, MOVED_WANTED)
            distractors += spliced_candidates(answer, whole, moved)
        distractors += mined
        if len(distractors) < MIN_POOL:
            # a small corpus mines little (the bundled sample has 6-8 documents a domain):
            # edits of the answer make up the pool, so every item still gets its task
            seen = {text for _, text in distractors}
            edits = answer_edits(answer, shape, context, rng, MIN_POOL - len(distractors) + 4, slot)
            distractors += [(kind, text) for kind, text in edits if text not in seen]
        # the request's output format (paper: the masked echo too; lean: the span, by unit
        # numbers where it has them), the same choices either way
        payload = answer_object(request_format(req.inputs), shape, body, start, end, [text for _, text in distractors])
        payload["distractor_kinds"] = [kind for kind, _ in distractors]
        return LLMResponse(req.ref_id, ["<answer>" + json.dumps(payload, ensure_ascii=False) + "</answer>"])
