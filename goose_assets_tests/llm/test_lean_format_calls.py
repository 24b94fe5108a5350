"""The lean synthesis output format where the llm layer meets it (issue 19): the answers of
both formats satisfy their JSON schemas as the backends check them (llm.calls.checks), and
the format is part of the LLM cache key (llm.base.cache_key)."""

from __future__ import annotations

import json

import pytest

from goose_assets.core.records import Passage
from goose_assets.core.synthesis import masking
from goose_assets.core.synthesis.parse import parse_object
from goose_assets.core.synthesis.synthesis_format import (
    LEAN,
    LEAN_KEYS,
    PAPER,
    answer_object,
    lean_schema,
    validate_answer,
)
from goose_assets.llm.base import cache_key
from goose_assets.llm.calls.checks import check_structure, schema_problem
from goose_assets_tests.llm.helpers import BODIES
from goose_assets_tests.llm.helpers import format_choice as _choice


@pytest.mark.parametrize("shape", ["qa", "code", "passage"])
def test_both_formats_have_a_json_schema_their_answers_satisfy(shape: str) -> None:
    body, start, end, distractors = _choice(shape)
    p = Passage("p1", "d1", "math", shape, BODIES[shape][0], body, 0, len(body), "passthrough", 50)
    for fmt in (PAPER, LEAN):
        req = masking.synthesis_request(p, synthesis_format=fmt)
        schema = req.json_schema
        assert schema is not None and schema["additionalProperties"] is False
        assert sorted(schema["required"]) == sorted(schema["properties"])  # strict mode: every key required
        assert schema["properties"]["distractors"]["minItems"] == masking.MIN_DISTRACTORS
        for units in (True, False):
            text = json.dumps(answer_object(fmt, shape, body, start, end, distractors, units=units))
            assert check_structure(req, text).reason is None, (fmt, units)
            obj, _ = parse_object(text)
            assert obj is not None and validate_answer(obj, shape, body, fmt).span_start == start
    lean = lean_schema(shape, 16)
    ok = answer_object(LEAN, shape, body, start, end, distractors)
    assert schema_problem(ok, lean) is None
    assert "unexpected keys" in (schema_problem({**ok, "masked_passage": "x"}, lean) or "")
    assert "lacks" in (schema_problem({k: v for k, v in ok.items() if k != LEAN_KEYS[shape].removed}, lean) or "")
    assert "fewer than 16" in (schema_problem({**ok, "distractors": distractors[:3]}, lean) or "")
    if LEAN_KEYS[shape].first:
        assert "not one of" in (schema_problem({**ok, LEAN_KEYS[shape].first: "3"}, lean) or "")
    else:
        assert "not string" in (schema_problem({**ok, "removed_content": None}, lean) or "")


def test_the_format_is_part_of_the_cache_key() -> None:
    body = BODIES["qa"][1]
    p = Passage("p1", "d1", "math", "qa", BODIES["qa"][0], body, 0, len(body), "passthrough", 50)
    paper, lean = (masking.synthesis_request(p, synthesis_format=f) for f in (PAPER, LEAN))
    assert cache_key("openai", "m", paper) != cache_key("openai", "m", lean)
    # even with the same prompt and schema, another format is another call
    relabelled = masking.synthesis_request(p, synthesis_format=PAPER)
    relabelled.inputs["format"] = LEAN
    assert cache_key("openai", "m", relabelled) != cache_key("openai", "m", paper)
    # the paper format's key is what it was before the format existed: old caches stay valid
    legacy = masking.synthesis_request(p, synthesis_format=PAPER)
    del legacy.inputs["format"]
    assert cache_key("openai", "m", legacy) == cache_key("openai", "m", paper)
    assert cache_key("openai", "m", lean) == cache_key("openai", "m", masking.synthesis_request(p, synthesis_format=LEAN))
