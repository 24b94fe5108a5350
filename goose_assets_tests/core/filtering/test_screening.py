"""Duplicate and benchmark screening (`pipeline/filtering/screening.py`), table-driven: where in a task or
its source a benchmark item is found, and how duplicates are counted."""

from __future__ import annotations

from typing import Any

import pytest

from goose_assets.core.filtering.decontam import BenchmarkIndex
from goose_assets.core.filtering.screening import (
    OverlapCheck,
    kept_overlap,
    screen,
    source_text,
)
from goose_assets.core.synthesis.mcq import render_question

# benchmark items written for these tests
PROBLEM = ("A cyclist rides 18 km north, then 24 km east, and finally returns straight to the start. "
           "How long is the whole round trip in kilometres?")
SHORT = "Which header enables strict transport security?"
SOLUTION_STEP = ("the straight way back is the hypotenuse of a right triangle with legs eighteen and "
                 "twenty four so it measures thirty kilometres")
INDEX = BenchmarkIndex.from_records([
    {"id": "b:1", "benchmark": "Rides", "question": PROBLEM, "answer": "72"},
    {"id": "b:2", "benchmark": "Headers", "question": SHORT, "choices": ["A: Strict-Transport-Security"]},
    {"id": "b:3", "benchmark": "Steps", "question": "Explain the return leg.", "answer": SOLUTION_STEP},
])
CLEAN_Q = "A walker covers 5 km in one hour and rests for ten minutes. How far does she get in three hours?"
CLEAN_S = "She walks for 2 h 30 min in all.\n[MASK]\nSo she covers 12.5 km."
OPTIONS = ["She rests three times.", "She rests twice.", "She never rests."]


def task(question: str = CLEAN_Q, context: str = CLEAN_S, options: list[str] = OPTIONS) -> dict[str, Any]:
    return {"task_id": "t1", "doc_id": "d1", "question": render_question("math", "qa", question, context),
            "context_masked": context, "options": options}


# name: (task, source question, source body, benchmark expected)
CASES: dict[str, tuple[dict[str, Any], str, str, str | None]] = {
    "clean": (task(), CLEAN_Q, CLEAN_S, None),
    "the task's problem statement only": (task(question=PROBLEM), CLEAN_Q, CLEAN_S, "Rides"),
    "a short question held whole": (task(question=f"Answer this: {SHORT}"), "", CLEAN_S, "Headers"),
    "the masked context": (task(context=f"{SOLUTION_STEP}\n[MASK]"), CLEAN_Q, CLEAN_S, "Steps"),
    "an option": (task(options=[*OPTIONS[:2], f"Because {SOLUTION_STEP}."]), CLEAN_Q, CLEAN_S, "Steps"),
    "the source's question only": (task(), PROBLEM, CLEAN_S, "Rides"),
    "the source's solution only": (task(), CLEAN_Q, f"{SOLUTION_STEP}.", "Steps"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_contamination_is_found_wherever_the_item_is(name: str) -> None:
    t, source_question, source_body, expected = CASES[name]
    sources = {"d1": source_text(source_question, source_body)}
    result = screen("math", [t], [("d1", "math", source_body)], sources, INDEX)
    assert result.contaminated == ({"t1": expected} if expected else {})
    assert result.benchmarks == ["Headers", "Rides", "Steps"]
    # the check's re-screen finds the same from the kept rows alone
    row = {"task_id": "t1", "question": t["question"], "options": t["options"],
           "source_question": source_question, "source_body": source_body}
    check = kept_overlap(INDEX, [[row]], OverlapCheck())
    assert check.kept_contaminated == result.contaminated and check.passed == (expected is None)


def test_without_an_index_nothing_is_contaminated() -> None:
    t, *_ = CASES["the task's problem statement only"]
    assert screen("math", [t], [("d1", "math", "x")], {"d1": PROBLEM}, None).contaminated == {}


def test_the_check_fails_on_a_benchmark_that_failed_to_load() -> None:
    check = kept_overlap(INDEX, [[]], OverlapCheck(load_errors={"broken": "broken.jsonl: line 2: not JSON"}))
    assert not check.passed and check.to_metadata()["benchmarks_failed_to_load"] == {"broken": "broken.jsonl: line 2: not JSON"}


def _doc(words: str) -> str:
    return (words + " ") * 12


def test_duplicate_share_counts_each_duplicate_task_once() -> None:
    # d2 repeats d1 and t2 repeats t1's text: t2 is one duplicate task, not two; d4
    # repeats d3, so its task t4 is a duplicate too. 2 of 4 tasks are duplicates.
    docs = [("d1", "math", _doc("alpha beta gamma delta")), ("d2", "math", _doc("alpha beta gamma delta")),
            ("d3", "math", _doc("one two three four five")), ("d4", "math", _doc("one two three four five"))]
    tasks = [
        {"task_id": "t1", "doc_id": "d1", "question": "same question text here [MASK]", "options": ["a", "b"]},
        {"task_id": "t2", "doc_id": "d2", "question": "same question text here [MASK]", "options": ["a", "b"]},
        {"task_id": "t3", "doc_id": "d3", "question": "a third and different question [MASK]", "options": ["c", "d"]},
        {"task_id": "t4", "doc_id": "d4", "question": "the fourth question is different again [MASK]", "options": ["e", "f"]},
    ]
    result = screen("math", tasks, docs, {d: t for d, _, t in docs}, None)
    assert result.duplicate_docs == {"d2": "d1", "d4": "d3"}
    assert result.duplicate_tasks == {"t2": "t1"}
    assert result.duplicate_share(len(tasks)) == 0.5
    assert result.duplicate_metadata()["tasks_with_a_duplicate_source_or_text"] == 2
