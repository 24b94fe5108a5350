"""Student difficulty: rollouts per task, pass rates and the paper's 16/16 rule."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from goose_assets.core.llm_types import LLMRequest, LLMResponse
from goose_assets.core.prompts import student_messages
from goose_assets.core.synthesis.mcq import student_prompt
from goose_assets.reward import extract_choice

# the student of the offline backend: the ensemble of triviality baselines
BASELINE_STUDENT = "baseline-ensemble"


@dataclass(slots=True)
class Rollouts:
    n: int
    n_correct: int

    @property
    def pass_rate(self) -> float:
        return self.n_correct / self.n if self.n else 0.0

    @property
    def effective(self) -> bool:
        """The paper's 'effective' example: some rollouts right and some wrong."""
        return 0 < self.n_correct < self.n


def student_request(task: dict, n: int, temperature: float = 1.0, max_tokens: int = 2048) -> LLMRequest:
    version, messages = student_messages(student_prompt(task["question"], list(task["options"])))
    return LLMRequest(
        ref_id=task["task_id"], kind="student", domain=task["domain"], prompt_version=version,
        messages=messages, inputs={"options": list(task["options"])}, json_schema=None,
        temperature=temperature, max_tokens=max_tokens, n=n,
    )


def score_rollouts(response: LLMResponse, answer_letter: str, n_options: int) -> Rollouts:
    picks = [extract_choice(t, n_options) for t in response.texts]
    return Rollouts(n=len(picks), n_correct=sum(p == answer_letter for p in picks))


def effective_share(rollouts: Sequence[Rollouts]) -> float:
    return sum(r.effective for r in rollouts) / len(rollouts) if rollouts else 0.0


def rollouts_from_votes(votes: Sequence[Any]) -> dict[str, Rollouts]:
    """Without an LLM student, the baselines are the student: n votes, n_correct right."""
    return {v.task_id: Rollouts(n=v.n_votes, n_correct=v.n_correct_votes) for v in votes}


def difficulty_rows(
    votes: Sequence[Any], rollouts: Mapping[str, Rollouts], domain: str, student: str
) -> list[dict[str, Any]]:
    """One `task_difficulty` row per task: its rollouts and its baseline votes."""
    rows = []
    for v in votes:
        r = rollouts[v.task_id]
        rows.append({
            "task_id": v.task_id, "domain": domain, "student": student, "n_rollouts": r.n,
            "n_correct": r.n_correct, "pass_rate": r.pass_rate, "baseline_votes": json.dumps(v.picks, sort_keys=True),
            "baselines_correct": v.n_correct_votes, "n_baselines": v.n_votes, "trivial": v.trivial,
        })
    return rows
