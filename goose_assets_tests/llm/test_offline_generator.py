"""The offline generator: span choice, masking, distractors and task assembly."""

from __future__ import annotations

import ast
import json
import random
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goose_assets.core.records import MASK, Document, MaskedItem, McqTask, Passage
from goose_assets.core.synthesis import masking, mcq
from goose_assets.core.synthesis.code_check import CodeSlot
from goose_assets.core.synthesis.distractors import answer_edits
from goose_assets.core.synthesis.mining import SpanMiner
from goose_assets.core.synthesis.option_features import option_similarity
from goose_assets.core.synthesis.parse import (
    ParseError,
    parse_object,
    repair_json,
    validate_generation,
    word_bag,
)
from goose_assets.core.synthesis.passages import passage_from_document
from goose_assets.core.synthesis.spans import choose_span, code_units
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


_STEPS = (
    "Let the side be $s$, so the base is ${a}s$.",
    "The total is ${a}s + s = {b}s$, and ${b}s = {c}$ gives $s = {d}$.",
    "Then the base is ${a} \\cdot {d} = {e}$ metres.",
    "Since the rate is ${a}$ km per hour, in ${d}$ hours the train covers ${e}$ km.",
    "Subtracting ${a}$ from both sides leaves $x = {c} - {a}$, so $x = {f}$.",
    "The average of the {b} scores is ${c} / {b}$, which is about ${d}$.",
    "Multiplying the width ${a}$ by the length ${e}$ gives an area of ${g}$ square units.",
    "Each box holds ${d}$ apples, so ${b}$ boxes hold ${b} \\cdot {d} = {h}$ apples.",
    "The perimeter is $2({a} + {e}) = {i}$, so the fence needs ${i}$ metres of wire.",
)


def _neighbours(n: int) -> list[Passage]:
    """Solutions of the same kind as SOLUTION: steps in varied words, with their own numbers."""
    out = []
    for i in range(n):
        a, d = 3 + i, 4 + i % 5
        values = {"a": a, "b": a + 1, "c": (a + 1) * d, "d": d, "e": a * d, "f": (a + 1) * d - a, "g": a * a * d,
                  "h": (a + 1) * d, "i": 2 * (a + a * d)}
        steps = [_STEPS[(i + k) % len(_STEPS)].format(**values) for k in range(5)]
        body = "\n".join(steps) + f"\nFinal answer: $\\boxed{{{values['e']}}}$"
        out.append(Passage(f"psg_n{i}", f"doc_n{i}", "math", "qa", "How big is it?", body, 0, len(body), "passthrough", 40))
    return out


def test_offline_backend_output_validates_with_a_pool_of_candidates() -> None:
    backend = OfflineBackend()
    passages = [_passage("qa", SOLUTION), *_neighbours(30)]
    backend.prepare("math", [(p.passage_id, p.shape, p.body) for p in passages])
    p = passages[0]
    req = masking.synthesis_request(p)
    (resp,) = backend.generate([req])
    item = masking.item_from_response(p, req, resp, backend.name, backend.model)
    assert isinstance(item, MaskedItem), item
    assert item.context_masked.replace(MASK, item.answer) == p.body
    # a pool for option selection to choose 8 from (on real corpora 39-47 per item outside code: BENCHMARKS.md §8)
    assert len(item.distractors) >= 16
    # mined, or the passage's own steps edited into the slot: no answer edit fills this pool
    assert all(k.startswith(("mined", "moved", "restated")) for k in item.distractor_kinds)
    assert any(k.startswith("mined") for k in item.distractor_kinds)
    keys = {normalize_option(d) for d in item.distractors}
    assert len(keys) == len(item.distractors) and normalize_option(item.answer) not in keys


def test_mined_spans_are_adapted_to_the_context() -> None:
    """The context's numbers replace the mined span's (above 3, of a similar magnitude),
    and the neighbours' own text is never taken from the source itself."""
    passages = [_passage("qa", SOLUTION), *_neighbours(12)]
    miner = SpanMiner([(p.passage_id, p.shape, p.body) for p in passages])
    start, end = choose_span("qa", SOLUTION)
    mined = miner.mine("psg_1", SOLUTION, "qa", SOLUTION[start:end], (start, end), random.Random(0), want=10)
    assert mined
    context_numbers = {"5", "30", "6", "50", "10"}
    adapted = [t for k, t in mined if k == "mined:adapted"]
    assert adapted and any(set(re.findall(r"\d+", t)) & context_numbers for t in adapted)
    for _, text in mined:
        assert text.strip() not in SOLUTION


def test_code_distractors_parse_in_place_of_the_answer() -> None:
    """Every code candidate, edit or mined, parses wherever the answer parses, and none has
    the answer's syntax tree (it would behave identically)."""
    files = [CODE] + [
        f"def f{i}(x{i}: int, y: int) -> int:\n    \"\"\"Step {i}.\"\"\"\n    total = x{i} * {i + 2}\n"
        f"    while y > {i}:\n        total = total + y % {i + 3}\n        y = y // 2\n    return total\n"
        for i in range(20)
    ]
    start, end = choose_span("code", CODE)
    slot = CodeSlot.of(CODE, start, end)
    answer = CODE[start:end]
    miner = SpanMiner([(f"k{i}", "code", body) for i, body in enumerate(files)])
    candidates = miner.mine("k0", CODE, "code", answer, (start, end), random.Random(0), want=12, slot=slot)
    candidates += answer_edits(answer, "code", CODE[:start] + CODE[end:], random.Random(0), 12, slot)
    assert len(candidates) >= 6 and {k.split(":")[0] for k, _ in candidates} == {"mined", "edit"}
    for _, text in candidates:
        ast.parse(CODE[:start] + text + CODE[end:])
        assert ast.dump(ast.parse(CODE[:start] + text + CODE[end:])) != ast.dump(ast.parse(CODE))


CODE_FILE = (
    "def summarize(values: list[float], scale: float) -> dict[str, float]:\n"
    "    total = sum(values)\n"
    "    count = len(values)\n"
    "    mean = total / count\n"
    "    spread = max(values) - min(values)\n"
    "    scaled_mean = mean * scale\n"
    "    scaled_spread = spread * scale\n"
    "    ratio = scaled_spread / (scaled_mean + 1)\n"
    "    low = min(values) * scale\n"
    "    high = max(values) * scale\n"
    "    middle = (low + high) / 2\n"
    "    width = high - low\n"
    "    return {'mean': scaled_mean, 'spread': scaled_spread, 'ratio': ratio}\n"
)


def test_moved_code_runs_are_the_files_own_lines_edited_and_parse_in_place() -> None:
    """Code's moved steps: runs of the file's own lines from outside the span, as many as
    the answer has, each with one edit; every one parses in place of the answer with a
    different syntax tree, and none repeats the file's text."""
    from goose_assets.core.synthesis.distractors import EditContext
    from goose_assets.core.synthesis.mining import moved_runs

    start, end = choose_span("code", CODE_FILE)
    answer = CODE_FILE[start:end]
    slot = CodeSlot.of(CODE_FILE, start, end)
    ctx = EditContext("code", CODE_FILE[:start] + "\n" + CODE_FILE[end:], answer)
    moved = moved_runs(CODE_FILE, (start, end), answer, slot, ctx, random.Random(0), 8)
    assert moved, "no run moved"
    lines = {ln.strip() for ln in CODE_FILE.splitlines()}
    for kind, text in moved:
        assert kind.startswith("moved:")
        assert text.count("\n") == answer.count("\n")  # as many lines as the answer
        assert any(ln.strip() not in lines for ln in text.splitlines())  # edited: no copy
        program = CODE_FILE[:start] + text + CODE_FILE[end:]
        assert ast.dump(ast.parse(program)) != ast.dump(ast.parse(CODE_FILE))
    assert moved_runs(CODE_FILE, (start, end), answer, slot, ctx, random.Random(0), 0) == []


def test_code_slot_rejects_broken_and_equivalent_code() -> None:
    start, end = choose_span("code", CODE)
    slot = CodeSlot.of(CODE, start, end)
    answer = CODE[start:end]
    assert not slot.accepts(answer)  # the answer itself behaves identically
    assert not slot.accepts(answer + "  # same code, another comment")
    assert not slot.accepts("while (")  # does not parse
    assert slot.accepts(answer.replace("!=", "=="))


def _sample_generation_digest() -> str:
    """sha256 of the offline generator's replies for every passage of the bundled sample."""
    import hashlib
    from pathlib import Path

    import goose_assets

    digest = hashlib.sha256()
    for domain in ("math", "code", "science", "cyber"):
        rows = [json.loads(line) for line in (Path(goose_assets.__file__).parent / "sample_corpus" / f"{domain}.jsonl").read_text().splitlines()]
        shape = {"math": "qa", "code": "code"}.get(domain, "passage")
        passages = [
            Passage(f"psg_{i}", f"doc_{i}", domain, shape, "", row["text"], 0, len(row["text"]), "passthrough", 50)
            for i, row in enumerate(rows)
        ]
        backend = OfflineBackend()
        backend.prepare(domain, [(p.passage_id, p.shape, p.body) for p in passages])
        for resp in backend.generate([masking.synthesis_request(p) for p in passages]):
            digest.update(json.dumps([resp.texts, resp.error]).encode())
    return digest.hexdigest()


def test_offline_backend_is_deterministic_across_processes() -> None:
    """Same replies under two hash seeds: set order follows PYTHONHASHSEED, and a run
    sharded over processes (or DuckLake writers) must agree with the embedded run."""
    import os
    import subprocess
    import sys

    code = f"from {__name__} import _sample_generation_digest as d; print(d())"
    digests = {
        subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed},
                       capture_output=True, text=True, check=True).stdout.strip()
        for seed in ("1", "2")
    }
    assert len(digests) == 1 and _sample_generation_digest() in digests


def test_answer_edits_are_whole_token_and_never_shuffles() -> None:
    """Edits change whole tokens in place: the edited text has the answer's word count
    within a token or two (an operator or `not` added), never the answer's words reordered."""
    rng = random.Random(0)
    start, end = choose_span("qa", SOLUTION)
    answer = SOLUTION[start:end]
    edits = answer_edits(answer, "qa", SOLUTION[:start] + SOLUTION[end:], rng, 12)
    assert len(edits) >= 4
    for kind, text in edits:
        assert kind.startswith("edit:")
        assert word_bag(text) != word_bag(answer)
        assert abs(len(text.split()) - len(answer.split())) <= 2, (kind, text)


@pytest.mark.parametrize("shape, body", [("qa", SOLUTION), ("code", CODE), ("code", CODE_FILE)], ids=["math", "code", "code-file"])
def test_the_answer_is_no_nearer_its_edits_than_they_are_to_each_other(shape: str, body: str) -> None:
    """Edits are leaves of a hidden hub, so the answer is one leaf among them, not their
    centroid. Before the hub was moved as far from the answer as a leaf is from the hub,
    the code file's answer sat nearer its edits than they did to each other for 15 of 20
    seeds (mean similarity +0.045 above theirs)."""
    start, end = choose_span(shape, body)
    answer = body[start:end]
    slot = CodeSlot.of(body, start, end) if shape == "code" else None
    gaps = []
    for seed in range(20):
        edits = [text for _, text in answer_edits(answer, shape, body[:start] + body[end:], random.Random(seed), 8, slot)]
        if len(edits) < 3:
            continue
        similarity, n = option_similarity([answer, *edits]), len(edits)
        to_answer = similarity[0, 1:].mean()
        to_each_other = (similarity[1:, 1:].sum() - n) / (n * (n - 1))
        gaps.append(to_answer - to_each_other)
    assert len(gaps) >= 15
    assert sum(g > 0 for g in gaps) <= len(gaps) / 2 and sum(gaps) / len(gaps) <= 0.0, gaps


def test_validation_drops_word_order_permutations() -> None:
    body = "Alpha beta gamma. Delta epsilon zeta. Eta theta iota."
    shuffled = ["zeta epsilon Delta.", "epsilon Delta zeta."]
    honest = [f"Wrong option number {i}." for i in range(9)]
    obj = {"masked_passage": "Alpha beta gamma. [MASK] Eta theta iota.", "removed_content": "Delta epsilon zeta.",
           "distractors": shuffled + honest + ["Option number wrong 3."]}
    span = validate_generation(obj, "passage", body)
    assert not set(shuffled) & set(span.distractors)
    assert "Option number wrong 3." not in span.distractors  # a reordering of another distractor
    bags = [word_bag(d) for d in [span.answer, *span.distractors]]
    assert len(bags) == len(set(bags))


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


def test_tasks_have_nine_distinct_options_and_balanced_letters() -> None:
    items = [
        MaskedItem(f"item_{i}", "d", "p", "math", "qa", "Q?", f"ctx {MASK}", f"answer {i} text",
                   [f"wrong {i} option {j}" + "x" * j for j in range(12)], ["mined"] * 12, 0, 1, "offline", "m", "v")
        for i in range(455)
    ]
    positions = mcq.balanced_answer_positions([mcq.task_id_for(it.item_id) for it in items], 9, "math")
    letters: Counter[str] = Counter()
    for item in items:
        task = mcq.assemble_task(item, list(range(3, 11)), positions[mcq.task_id_for(item.item_id)])
        assert task is not None and len(task.options) == 9
        assert len({normalize_option(o) for o in task.options}) == 9
        assert task.options[task.answer_index] == item.answer
        assert task.option_kinds[task.answer_index] == "answer"
        assert mcq.schema_problems([task]) == []
        letters[task.answer_letter] += 1
    # balanced by construction: every letter's count within one of every other's
    assert set(letters) == set("ABCDEFGHI") and max(letters.values()) - min(letters.values()) <= 1


def test_surface_solvable_items_become_flagged_tasks() -> None:
    items = [
        MaskedItem(f"item_{i}", "d", "p", "math", "qa", "Q?", f"ctx {MASK}", f"answer {i} text",
                   [f"wrong {i} option {j}" + "x" * j for j in range(12)], ["mined"] * 12, 0, 1, "offline", "m", "v")
        for i in range(90)
    ]
    solvable = {it.item_id for i, it in enumerate(items) if i % 10 == 0}
    chosen = {it.item_id: list(range(8)) for it in items}
    positions = mcq.balanced_answer_positions([mcq.task_id_for(i) for i in chosen], 9, "math")
    out = list(mcq.tasks_from_items(items, chosen, positions, "math", solvable))
    assert all(isinstance(t, McqTask) for t in out) and len(out) == 90  # every item is a task
    assert {t.item_id for t in out if isinstance(t, McqTask) and t.surface_solvable} == solvable
    assert all(t.to_row()["surface_solvable"] == (t.item_id in solvable) for t in out if isinstance(t, McqTask))


def test_answer_positions_are_seeded_per_partition() -> None:
    ids = [f"task_{i}" for i in range(90)]
    a, b = mcq.balanced_answer_positions(ids, 9, "math"), mcq.balanced_answer_positions(ids, 9, "code")
    assert a == mcq.balanced_answer_positions(ids, 9, "math") and a != b
    assert Counter(a.values()) == Counter({k: 10 for k in range(9)})


def test_too_few_distractors_gives_no_task() -> None:
    item = MaskedItem("i", "d", "p", "math", "qa", "", MASK, "a", ["b", "c"], ["mined"] * 2, 0, 1, "offline", "m", "v")
    assert mcq.assemble_task(item, [0, 1], 0) is None


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


def test_restated_steps_carry_the_answers_own_words_into_the_slot() -> None:
    """A coherent solution repeats its own words step after step, so among options that
    differ only in the slot, the answer is the one sharing most with the others unless
    some distractor's slot is in the span's words too: another step of the answer, edited."""
    from goose_assets.core.filtering.baselines import pick_most_central
    from goose_assets.core.synthesis.distractors import (
        EditContext,
        restated_steps,
        splice_slot,
        spliced_candidates,
    )

    answer = (
        "Completing the square in $x$, we add $(4/2)^2=4$ to both sides. "
        "Completing the square in $y$, we add $(6/2)^2=9$ to both sides. "
        "We are left with the equation $(x+2)^2+(y-3)^2=1$."
    )
    context = "Moving terms to the left, we have $x^2+4x+y^2-6y=-12$. [MASK] Thus the circle has center $(-2,3)$."
    slot = splice_slot(answer, "qa")
    assert slot is not None and answer[slot.start : slot.end].startswith("Completing the square in $y$")
    mined = [("mined:slot", text) for text in (
        "The parabola passes through the point $(1,-75)$, so $-75 = 25a$ and the leading coefficient is $-3$.",
        "Dividing both sides of the equation by $2$, we are left with $x+y+z=7$ as the final sum.",
        "The distance from the focus to the line is $|3x + 7y - 7|/\\sqrt{58}$ by the formula.",
        "Applying $f$ to both sides of $f^{-1}(x) = f(2x)$ gives $x = f(f(2x))$ for every input.",
    )]
    foreign = [answer, *(text for _, text in spliced_candidates(answer, slot, mined))]
    assert pick_most_central(foreign) == 0  # the cue
    restated = restated_steps(answer, "qa", slot, EditContext("qa", context, answer), random.Random(0))
    others = [answer[:slot.start].strip(), answer[slot.end:].strip()]
    assert restated
    for kind, text in restated:
        assert kind.startswith("restated:") and text not in others and text != answer[slot.start : slot.end]
        # one whole-token edit of another step: its words, a token or two apart
        assert any(abs(len(text.split()) - len(o.split())) <= 2 and len(set(text.split()) & set(o.split())) >= len(o.split()) - 3
                   for o in others), text
    options = [answer, *(text for _, text in spliced_candidates(answer, slot, mined + restated))]
    assert len(options) > len(foreign) and pick_most_central(options) != 0


def test_spliced_candidates_replace_one_interior_step_and_keep_the_answer_a_leaf() -> None:
    """Every spliced option is the answer with the same one unit replaced: the span's edges
    stay the answer's own, and no option (the answer included) shares more with the rest."""
    from goose_assets.core.filtering.baselines import _centrality, pick_most_central
    from goose_assets.core.synthesis.distractors import slot_pieces, splice_slot, spliced_candidates

    answer = (
        "The enzyme binds its substrate at the active site. "
        "This lowers the activation energy of the reaction considerably. "
        "The product is then released and the enzyme is free again."
    )
    replacements = [
        ("mined:slot:adapted", "Chlorophyll absorbs mostly red and blue light in the leaves."),
        ("mined:slot:adapted", "The spindle pulls the sister chromatids towards opposite poles."),
        ("mined:slot", "Water moves by osmosis across membranes that let small molecules pass."),
        ("mined:slot", "The rate of heat flow depends on the temperature gradient."),
    ]
    slot = splice_slot(answer, "passage")
    assert slot is not None and answer[slot.start : slot.end].startswith("This lowers")
    spliced = spliced_candidates(answer, slot, replacements)
    assert len(spliced) == 4
    head, tail = "The enzyme binds its substrate at the active site. ", " The product is then released and the enzyme is free again."
    for (kind, text), (mined_kind, unit) in zip(spliced, replacements, strict=True):
        assert kind == mined_kind + ":spliced"
        assert text == head + unit + tail
    options = [answer, *(t for _, t in spliced)]
    # the answer is no hub: some spliced option shares at least as much with the others
    centralities = _centrality(options)
    assert max(centralities[1:]) >= centralities[0] and pick_most_central(options) != 0
    # code keeps whole mined spans; a one-unit answer has no rest to share
    assert splice_slot("x = 1\ny = x + 1\nreturn y\n", "code") is None
    assert splice_slot("One step only.", "passage") is None
    # a whole mined span gives its unit closest in length to the slot, within a factor of two
    runs = [
        ("mined", "Cells divide. The spindle pulls the sister chromatids towards opposite poles. It ends."),
        ("mined", "Short. Tiny."),
    ]
    assert slot_pieces("passage", slot, runs) == [("mined", "The spindle pulls the sister chromatids towards opposite poles.")]
    # a replacement that only nudges the answer would be a near-copy of it, a leak
    assert spliced_candidates(answer, slot, [("mined:slot", "This lowers the activation energy of the reactions considerably.")]) == []


def test_slot_units_read_like_the_slot_and_stay_on_its_topic() -> None:
    """Units for the slot are of the slot's kind (a statement, not a question or a label),
    of its length, ranked by how many of their words the text around them uses; never a
    copy of the passage's own text, never a near-paraphrase of the slot."""
    from goose_assets.core.synthesis.distractors import splice_slot
    from goose_assets.core.synthesis.mining import SpanMiner

    body = (
        "Enzymes are proteins that speed up reactions in cells. "
        "The enzyme binds its substrate at the active site. "
        "This lowers the activation energy of the reaction considerably. "
        "The product is then released and the enzyme is free again. "
        "Temperature and pH change how fast enzymes work."
    )
    neighbours = [
        ("n1", "passage", "Why do enzymes lower the activation energy of a reaction? "
                          "Example 2: the protein enzyme catalase splits hydrogen peroxide in cells. "
                          "The substrate fits the active site of the enzyme like a key fits a lock."),
        ("n2", "passage", "Rivers carry sediment to the sea over many thousands of years. "
                          "The delta grows where the river slows down and drops its load of sand."),
        ("n3", "passage", "Inhibitors block the active site so that the substrate cannot bind there anymore. "
                          "This lowers the activation energy of the reaction by a great deal. "
                          "Enzymes are proteins that speed up reactions in cells."),
    ]
    miner = SpanMiner([("self", "passage", body), *neighbours])
    start = body.index("The enzyme binds")
    end = body.index(" Temperature")
    answer = body[start:end]
    slot = splice_slot(answer, "passage")
    assert slot is not None
    units = miner.slot_units("self", body, "passage", answer, (start, end), slot, random.Random(0), 10)
    texts = [t for _, t in units]
    assert texts, "no unit mined"
    assert not any(t.rstrip().endswith("?") for t in texts)  # the slot is a statement
    assert not any(t.startswith("Example") for t in texts)  # a label never stands in for a sentence
    assert not any(t.strip() in body for t in texts)  # the passage's own sentence would be a copy
    assert not any("activation energy" in t for t in texts)  # nearly what the slot says: it may be right
    # on the slot's topic first: the enzyme sentence before the river delta
    assert "active site" in texts[0] or "substrate" in texts[0]



def test_moved_units_are_the_passages_own_steps_each_made_wrong() -> None:
    """Units moved into the slot come from the passage outside the span, read like the slot
    (a statement for a statement, of a similar length), and carry one whole-token edit: no
    option repeats a step the student reads in the context, and none is the slot itself."""
    from goose_assets.core.synthesis.distractors import (
        EditContext,
        moved_units,
        splice_slot,
        spliced_candidates,
    )
    from goose_assets.core.synthesis.spans import unit_bounds

    body = (
        "A tank holds 120 litres of water when it is full. "
        "Why does the level fall faster at first? "
        "A pump removes 8 litres every minute from the bottom of the tank. "
        "After 5 minutes the pump has removed 40 litres of the water. "
        "So 80 litres are left in the tank at that moment. "
        "The level then falls by the same amount each minute until it is empty. "
        "It takes 15 minutes in all to drain the 120 litres completely."
    )
    start = body.index("A pump removes")
    end = body.index(" The level then")
    answer = body[start:end]
    slot = splice_slot(answer, "passage")
    assert slot is not None
    slot_text = answer[slot.start : slot.end]
    context = body[:start] + "\n" + body[end:]
    ctx = EditContext("passage", context, answer)
    moved = moved_units("passage", body, (start, end), slot_text, ctx, random.Random(0), 8)
    assert moved, "no unit moved"
    outside = [body[s:e] for s, e in unit_bounds("passage", body) if e <= start or s >= end]
    for kind, text in moved:
        assert kind.startswith("moved:") and kind.split(":")[1] in ("number", "operator", "antonym", "identifier", "off_by_one")
        assert text not in outside and text.strip() != slot_text.strip()  # edited: no copy, not the slot
        assert not text.rstrip().endswith("?")  # the question is no statement
        # one edit of one of the passage's own units, whole tokens only
        source = max(outside, key=lambda u: len(set(u.split()) & set(text.split())))
        assert len(set(source.split()) ^ set(text.split())) <= 4, (source, text)
        assert sorted(source.split()) != sorted(text.split())  # no word-order permutation
    spliced = spliced_candidates(answer, slot, moved)
    assert spliced and all(kind.endswith(":spliced") for kind, _ in spliced)
    assert all(text.startswith(answer[: slot.start]) and text.endswith(answer[slot.end :]) for _, text in spliced)
    assert moved_units("passage", body, (start, end), slot_text, ctx, random.Random(0), 0) == []


# four long steps: no run of two fits a span (500 characters at most), so the span is one step
ONE_STEP_SOLUTION = "\n".join([
    "First we write the total cost of the order as the sum of the fixed delivery fee and the price of every box, "
    "which gives the equation $12 + 7b = 96$ for the number of boxes $b$ that the customer can afford with the budget "
    "that was given to them by the school for the end of term party this year.",
    "Subtracting the fixed delivery fee of 12 dollars from both sides of that equation leaves $7b = 84$, and dividing "
    "both sides by the price of one box, 7 dollars, gives $b = 12$ boxes in the order that was placed by the customer "
    "on the morning of the party, well before the shop closed for the day.",
    "Each of those boxes holds 6 bottles of juice, so the order contains $12 \\cdot 6 = 72$ bottles in total, which is "
    "the number the question asks for once the delivery fee has been paid out of the budget of 96 dollars that the "
    "school set aside for drinks at the party.",
    "We can check this by putting it back into the cost equation: the boxes cost $7 \\cdot 12 = 84$ dollars and the fee "
    "adds 12 dollars more, so the customer pays exactly 96 dollars, which matches the budget that the school gave "
    "for the drinks, with nothing left over at the end.",
    "Final answer: $\\boxed{72}$",
])


def test_a_one_step_answer_gets_the_passages_other_steps_moved_and_edited() -> None:
    """A one-step answer has no rest to splice into, and whole mined spans alone leave it the
    one option on the passage's topic: its pool also holds the passage's other steps, each
    with one edit, so none repeats a step the student reads."""
    from goose_assets.core.synthesis.distractors import splice_slot
    from goose_assets.core.synthesis.spans import unit_bounds

    start, end = choose_span("qa", ONE_STEP_SOLUTION)
    answer = ONE_STEP_SOLUTION[start:end]
    assert splice_slot(answer, "qa") is None  # the fixture really is a one-step answer
    backend = OfflineBackend()
    passages = [_passage("qa", ONE_STEP_SOLUTION), *_neighbours(30)]
    backend.prepare("math", [(p.passage_id, p.shape, p.body) for p in passages])
    (resp,) = backend.generate([masking.synthesis_request(passages[0])])
    payload = json.loads(resp.texts[0].removeprefix("<answer>").removesuffix("</answer>"))
    moved = [d for d, k in zip(payload["distractors"], payload["distractor_kinds"], strict=True) if k.startswith("moved:")]
    assert len(moved) >= 2, payload["distractor_kinds"]
    steps = [ONE_STEP_SOLUTION[s:e] for s, e in unit_bounds("qa", ONE_STEP_SOLUTION)]
    for text in moved:
        assert text not in steps and normalize_option(text) != normalize_option(answer)
        # one of the other steps with one edit: nearly all its words are that step's
        source = max(steps, key=lambda u: len(set(u.split()) & set(text.split())))
        assert source != answer and len(set(source.split()) ^ set(text.split())) <= 4, (source, text)


def test_adapted_numbers_keep_labels_and_scales() -> None:
    """A mined span takes the context's numbers where it counts or measures, never where a
    number names a thing or sets a scale: `group 35` or `13^-151.16` reads as nonsense."""
    from goose_assets.core.synthesis.mining import Adapter

    context = "A sample of 180 g holds 42 moles; the flask is 250 mL and the reading is 61.5."
    adapter = Adapter("passage", context, "It weighs 180 g.", context)
    span = "The metals of group 13 have a mass of 27 g, about 1.66 x 10^-24 g per atom (Figure 7, 1998)."
    adapted = adapter.adapt(span, random.Random(0))
    for kept in ("group 13", "10^-24", "Figure 7", "1998"):
        assert kept in adapted, adapted
    assert "27 g" not in adapted  # a measured amount takes one of the context's own


def test_span_skips_a_step_that_restates_the_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    """A step that repeats the problem is no new reasoning, and its answer would be the
    option copying what the student reads: the span moves to the steps that derive."""
    from goose_assets.core.synthesis import spans

    question = "A shop sells 12 apples at 3 dollars each and 8 pears at 2 dollars each, so what does it earn if 5 apples are returned?"
    body = (
        "We want the earnings.\n"
        "A shop sells 12 apples at 3 dollars each and 8 pears at 2 dollars each, so 5 apples are returned.\n"
        "Then 12 - 5 = 7 apples are kept.\n"
        "The pears give 8 * 2 = 16 dollars.\n"
        "The answer is 37 dollars.\n"
    )
    start, end = choose_span("qa", body, question)
    assert body[start:end] == "Then 12 - 5 = 7 apples are kept.\nThe pears give 8 * 2 = 16 dollars."
    monkeypatch.setattr(spans, "NOVELTY_WEIGHT", 0.0)  # without the discount the restatement is chosen
    start, end = choose_span("qa", body, question)
    assert body[start:end].startswith("A shop sells 12 apples")
