"""The keep/drop decision (`pipeline/filtering/decide.py`), table-driven: one reason per dropped
task, the most fundamental first, and the paper's rule of dropping what the student
solves in every rollout (16 of 16)."""

from __future__ import annotations

from typing import Any

import pytest

from goose_assets.core.filtering.decide import DROP_ORDER, FilterPolicy, decide

OFFLINE = {"student": "baseline-ensemble", "n_rollouts": 6, "baselines_correct": 2, "n_baselines": 6, "trivial": False}


def llm(n_correct: int, n: int = 16, trivial: bool = False) -> dict[str, Any]:
    return {"student": "openai:m", "n_rollouts": n, "n_correct": n_correct, "baselines_correct": 1,
            "n_baselines": 6, "trivial": trivial}


# name: (leak reasons, difficulty row, duplicate source?, duplicate task?, contaminated?, policy, (kept, reason, detail))
CASES: dict[str, tuple[list[str], dict[str, Any] | None, bool, bool, bool, FilterPolicy, tuple[bool, str | None, str]]] = {
    "clean offline task": ([], {**OFFLINE, "n_correct": 2}, False, False, False, FilterPolicy(), (True, None, "")),
    "a leak beats everything": (["near_duplicate_options", "answer_in_context", "answer_in_context"], {**OFFLINE, "trivial": True},
                                True, True, True, FilterPolicy(), (False, "leak:near_duplicate_options", "answer_in_context,near_duplicate_options")),
    "duplicate source before duplicate task": ([], llm(16), True, True, True, FilterPolicy(), (False, "duplicate_source", "doc_kept")),
    "duplicate task before contamination": ([], llm(16), False, True, True, FilterPolicy(), (False, "duplicate_task", "task_kept")),
    "contamination before triviality": ([], llm(16, trivial=True), False, False, True, FilterPolicy(), (False, "contaminated", "MATH test")),
    "triviality before solved 16/16": ([], llm(16, trivial=True), False, False, False, FilterPolicy(), (False, "trivial", "1/6 baselines")),
    "solved in all 16 rollouts": ([], llm(16), False, False, False, FilterPolicy(), (False, "solved_all", "16/16")),
    "solved in 15 of 16 is kept": ([], llm(15), False, False, False, FilterPolicy(), (True, None, "")),
    "the baseline ensemble is no student": ([], {**OFFLINE, "n_correct": 6}, False, False, False, FilterPolicy(), (True, None, "")),
    "16/16 kept when the rule is off": ([], llm(16), False, False, False, FilterPolicy(drop_all_correct=False), (True, None, "")),
    "0/16 kept by default": ([], llm(0), False, False, False, FilterPolicy(), (True, None, "")),
    "0/16 dropped when asked": ([], llm(0), False, False, False, FilterPolicy(drop_all_wrong=True), (False, "unsolved_all", "0/16")),
    "trivial kept when the rule is off": ([], llm(3, trivial=True), False, False, False, FilterPolicy(drop_trivial=False), (True, None, "")),
    "no difficulty row": ([], None, False, False, False, FilterPolicy(), (True, None, "")),
}


def test_a_surface_solvable_task_is_dropped_without_a_difficulty_row() -> None:
    # task_difficulty skips it (no rollouts, no gate vote); filtering still gives its reason
    task = {"task_id": "t1", "doc_id": "d1", "leak_reasons": [], "surface_solvable": True}
    (row,) = decide("math", [task], {}, {}, {}, {}, FilterPolicy()).rows
    assert (row["kept"], row["drop_reason"]) == (False, "surface_solvable")


@pytest.mark.parametrize("name", list(CASES))
def test_decide(name: str) -> None:
    leaks, difficulty, dup_source, dup_task, contaminated, policy, (kept, reason, detail) = CASES[name]
    task = {"task_id": "t1", "doc_id": "d1", "leak_reasons": leaks}
    decision = decide(
        "math", [task], {"t1": difficulty} if difficulty else {},
        {"d1": "doc_kept"} if dup_source else {}, {"t1": "task_kept"} if dup_task else {},
        {"t1": "MATH test"} if contaminated else {}, policy,
    )
    (row,) = decision.rows
    assert (row["kept"], row["drop_reason"], row["detail"]) == (kept, reason, detail)
    assert decision.kept == int(kept)


def test_reasons_come_in_drop_order() -> None:
    # a task that fails every rule; lifting one rule at a time walks DROP_ORDER
    rules = {
        "leak": lambda t, d, s: t.update(leak_reasons=["answer_in_context"]),
        "duplicate_source": lambda t, d, s: s["docs"].update(d1="d0"),
        "duplicate_task": lambda t, d, s: s["tasks"].update(t1="t0"),
        "contaminated": lambda t, d, s: s["contaminated"].update(t1="B"),
        "surface_solvable": lambda t, d, s: t.update(surface_solvable=True),
        "trivial": lambda t, d, s: d.update(trivial=True),
        "solved_all": lambda t, d, s: d.update(n_correct=16),
        "unsolved_all": lambda t, d, s: d.update(n_correct=0),
    }
    assert tuple(rules) == DROP_ORDER
    seen = []
    for lifted in range(len(DROP_ORDER)):
        task: dict[str, Any] = {"task_id": "t1", "doc_id": "d1", "leak_reasons": []}
        difficulty = llm(5)
        screens: dict[str, dict[str, str]] = {"docs": {}, "tasks": {}, "contaminated": {}}
        for name in DROP_ORDER[lifted:]:
            if name != "unsolved_all" or lifted == len(DROP_ORDER) - 1:  # 16/16 and 0/16 exclude each other
                rules[name](task, difficulty, screens)
        (row,) = decide("math", [task], {"t1": difficulty}, screens["docs"], screens["tasks"], screens["contaminated"],
                        FilterPolicy(drop_all_wrong=True)).rows
        seen.append(row["drop_reason"].split(":")[0])
    assert tuple(seen) == DROP_ORDER
