"""The offline generator: span choice, masking, distractors and task assembly."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goose_assets.core import masking, mcq
from goose_assets.core.distractors import SpanPool, mutations, offline_distractors
from goose_assets.core.passages import passage_from_document
from goose_assets.core.records import MASK, Document, MaskedItem, Passage
from goose_assets.core.spans import choose_span, code_units
from goose_assets.core.synthesis import ParseError, parse_object, repair_json, validate_generation
from goose_assets.core.text import normalize_option
from goose_assets.llm.offline import OfflineBackend

SOLUTION = (
    "Let the width be $w$, so the length is $2w$.\n"
    "The perimeter is $2(w + 2w) = 6w$, and $6w = 30$ gives $w = 5$.\n"
    "Then the length is $2 \\cdot 5 = 10$ cm.\n"
    "The area is $10 \\cdot 5 = 50$ square centimetres.\n"
    "Final answer: $\\boxed{50}$"
)
CODE = (
    'def gcd(a: int, b: int) -> int:\n    """Greatest common divisor.\n\n    >>> gcd(4, 6)\n    2\n    """\n'
    "    a, b = abs(a), abs(b)\n    while b != 0:\n        remainder = a % b\n        a = b\n        b = remainder\n    return a\n"
)


def _passage(shape: str, body: str, domain: str = "math") -> Passage:
    return Passage("psg_1", "doc_1", domain, shape, "What is it?", body, 0, len(body), "passthrough", 50)


def test_code_units_skip_docstrings_comments_and_doctests() -> None:
    lines = [CODE[u.start : u.end] for u in code_units(CODE)]
    assert lines[0] == "def gcd(a: int, b: int) -> int:"
    assert not any(">>>" in ln or "Greatest" in ln for ln in lines)
    assert "return a" in lines


def test_span_is_contiguous_key_steps_inside_the_body() -> None:
    start, end = choose_span("qa", SOLUTION)
    answer = SOLUTION[start:end]
    assert answer and "=" in answer
    assert SOLUTION[:start] + answer + SOLUTION[end:] == SOLUTION
    cstart, cend = choose_span("code", CODE)
    assert '"""' not in CODE[cstart:cend] and CODE[cstart:cend].count("\n") >= 1


def test_offline_backend_output_validates_with_ten_or_more_distractors() -> None:
    backend = OfflineBackend()
    passages = [_passage("qa", SOLUTION), _passage("code", CODE, "code")]
    backend.prepare("math", [(p.passage_id, p.shape, p.body) for p in passages])
    for p in passages:
        req = masking.synthesis_request(p)
        (resp,) = backend.generate([req])
        item = masking.item_from_response(p, req, resp, backend.name, backend.model)
        assert isinstance(item, MaskedItem), item
        assert item.context_masked.replace(MASK, item.answer) == p.body
        assert len(item.distractors) >= 10
        keys = {normalize_option(d) for d in item.distractors}
        assert len(keys) == len(item.distractors) and normalize_option(item.answer) not in keys


def test_offline_backend_is_deterministic() -> None:
    p = _passage("qa", SOLUTION)
    outs = []
    for _ in range(2):
        backend = OfflineBackend()
        backend.prepare("math", [(p.passage_id, p.shape, p.body)])
        outs.append(backend.generate([masking.synthesis_request(p)])[0].texts)
    assert outs[0] == outs[1]


def test_code_distractors_are_not_all_single_edits() -> None:
    rng = random.Random(0)
    answer = "    while b != 0:\n        remainder = a % b\n        a = b\n        b = remainder"
    kinds = [k for k, _ in mutations(answer, "code", rng, want=12)]
    assert len(kinds) >= 8
    assert sum("+" in k for k in kinds) >= 3, kinds  # stacked mutations, not one operator each


def test_mined_distractors_never_come_from_the_source() -> None:
    pool = SpanPool()
    rng = random.Random(1)
    for i in range(30):
        pool.add_text(f"k{i}", "passage", f"Sentence number {i} talks about topic {i}. It adds detail {i * 7}. Then it ends with {i}.", rng)
    out = offline_distractors("A sentence that is long enough to mine.", "source text", "passage", pool, rng, want=12)
    assert len(out) >= 10 and any(k == "mined" for k, _ in out)


def test_validation_rejects_broken_generations() -> None:
    body = "Alpha beta gamma. Delta epsilon zeta. Eta theta iota."
    good = {"masked_passage": "Alpha beta gamma. [MASK] Eta theta iota.", "removed_content": "Delta epsilon zeta.",
            "distractors": [f"Wrong option number {i}." for i in range(10)]}
    assert validate_generation(good, "passage", body).answer == "Delta epsilon zeta."
    cases = {
        "answer_not_in_source": {**good, "removed_content": "Invented text."},
        "mask_count": {**good, "masked_passage": "no mask here"},
        "mask_does_not_rebuild_source": {**good, "masked_passage": "Alpha beta. [MASK] Eta theta iota."},
        "too_few_distractors": {**good, "distractors": ["Delta epsilon zeta."] * 10},
        "schema_violation": {"masked_passage": "x"},
    }
    for reason, obj in cases.items():
        try:
            validate_generation(obj, "passage", body)
        except ParseError as exc:
            assert exc.reason == reason
        else:
            raise AssertionError(f"{reason} not detected")


def test_json_repair_and_empty_answer() -> None:
    obj, repaired = parse_object('<answer>{"a": "x", "b": ["y", "z"</answer>')
    assert repaired and obj == {"a": "x", "b": ["y", "z"]}
    assert parse_object("<answer></answer>") == (None, False)
    assert json.loads(repair_json('{"a": [1, 2,')) == {"a": [1, 2]}
    with pytest.raises(ParseError) as raised:
        parse_object("I refuse to answer in JSON.")
    assert raised.value.reason == "invalid_json"


def test_tasks_have_nine_distinct_options_and_uniform_letters() -> None:
    letters: Counter[str] = Counter()
    for i in range(450):
        item = MaskedItem(f"item_{i}", "d", "p", "math", "qa", "Q?", f"ctx {MASK}", f"answer {i} text",
                          [f"wrong {i} option {j}" + "x" * j for j in range(12)], ["mined"] * 12, 0, 1, "offline", "m", "v")
        task = mcq.assemble_task(item)
        assert task is not None and len(task.options) == 9
        assert len({normalize_option(o) for o in task.options}) == 9
        assert task.options[task.answer_index] == item.answer
        assert mcq.schema_problems([task]) == []
        letters[task.answer_letter] += 1
    assert set(letters) == set("ABCDEFGHI") and min(letters.values()) >= 25


def test_too_few_distractors_gives_no_task() -> None:
    item = MaskedItem("i", "d", "p", "math", "qa", "", MASK, "a", ["b", "c"], ["mined"] * 2, 0, 1, "offline", "m", "v")
    assert mcq.assemble_task(item) is None


def test_qa_document_splits_into_question_and_solution() -> None:
    doc = Document("doc_x", "math", "x", "s", "MIT", "t", "Problem:\nWhat is 2+2?\n\nSolution:\n" + SOLUTION, "", "qa", "", "", "h", "f")
    p = passage_from_document(doc)
    assert isinstance(p, Passage) and p.question == "What is 2+2?" and p.body == SOLUTION
    assert doc.text[p.body_start : p.body_end] == SOLUTION


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80), min_size=2, max_size=12),
       st.sampled_from(["qa", "code", "passage"]))
def test_masking_then_answer_rebuilds_source_exactly(lines: list[str], shape: str) -> None:
    body = "\n".join(lines)
    span = choose_span(shape, body)
    if span is None:
        return
    start, end = span
    masked = body[:start] + MASK + body[end:]
    assert masked.replace(MASK, body[start:end], 1) == body
    assert 0 <= start < end <= len(body)
