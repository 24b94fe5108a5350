"""Student difficulty: rollouts per task, pass rates and the paper's 16/16 rule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from goose_assets.core.mcq import student_prompt
from goose_assets.core.prompts import student_messages
from goose_assets.llm.base import LLMRequest, LLMResponse


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
    from goose_assets.reward import extract_choice

    picks = [extract_choice(t, n_options) for t in response.texts]
    return Rollouts(n=len(picks), n_correct=sum(p == answer_letter for p in picks))


def effective_share(rollouts: Sequence[Rollouts]) -> float:
    return sum(r.effective for r in rollouts) / len(rollouts) if rollouts else 0.0
