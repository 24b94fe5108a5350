"""The keep/drop decision for every task, with one reason per dropped task.

Reasons are checked in a fixed order so that each task gets the most fundamental one:
a leaking task is reported as a leak even if it is also trivial.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from goose_assets.core.filtering.difficulty import BASELINE_STUDENT

DROP_ORDER = ("leak", "duplicate_source", "duplicate_task", "contaminated", "surface_solvable", "trivial", "solved_all",
              "unsolved_all")


@dataclass(slots=True)
class FilterPolicy:
    drop_trivial: bool = True
    drop_all_correct: bool = True
    drop_all_wrong: bool = False


@dataclass(slots=True)
class Decision:
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def kept(self) -> int:
        return sum(1 for r in self.rows if r["kept"])


def decide(
    domain: str,
    tasks: Sequence[Mapping[str, Any]],
    difficulty_by_task: Mapping[str, Mapping[str, Any]],
    duplicate_docs: Mapping[str, str],
    duplicate_tasks: Mapping[str, str],
    contaminated: Mapping[str, str],
    policy: FilterPolicy,
) -> Decision:
    """`duplicate_docs`/`duplicate_tasks` map a dropped id to the id it duplicates;
    `contaminated` maps a task id to the benchmark it overlaps."""
    out = Decision()
    for t in tasks:
        tid = t["task_id"]
        reason, detail = None, ""
        leaks = list(t.get("leak_reasons") or [])
        d = difficulty_by_task.get(tid, {})
        if leaks:
            reason, detail = f"leak:{leaks[0]}", ",".join(sorted(set(leaks)))
        elif t["doc_id"] in duplicate_docs:
            reason, detail = "duplicate_source", duplicate_docs[t["doc_id"]]
        elif tid in duplicate_tasks:
            reason, detail = "duplicate_task", duplicate_tasks[tid]
        elif tid in contaminated:
            reason, detail = "contaminated", contaminated[tid]
        elif t.get("surface_solvable"):
            # option selection's AFLite step: surface models pick its answer out whatever it shows
            reason, detail = "surface_solvable", "answer picked out by cross-fitted surface models"
        elif policy.drop_trivial and d.get("trivial"):
            reason, detail = "trivial", f"{d.get('baselines_correct')}/{d.get('n_baselines')} baselines"
        elif policy.drop_all_correct and d.get("student") != BASELINE_STUDENT and d.get("n_rollouts") and d.get("n_correct") == d.get("n_rollouts"):
            reason, detail = "solved_all", f"{d['n_correct']}/{d['n_rollouts']}"
        elif policy.drop_all_wrong and d.get("n_rollouts") and d.get("n_correct") == 0:
            reason, detail = "unsolved_all", f"0/{d['n_rollouts']}"
        out.rows.append({"task_id": tid, "domain": domain, "kept": reason is None, "drop_reason": reason, "detail": detail})
    return out
