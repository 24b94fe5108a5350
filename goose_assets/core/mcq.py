"""Assemble a 9-option fill-in-the-middle multiple-choice task from a masked item.

The shuffle seed comes from the task id, so answer letters are uniform across tasks and the
same item always gives the same task. Distractors are picked so that the answer's length
rank among the options is itself uniform: the longest/shortest-option baselines then sit at
chance instead of learning "the answer is the median-length option".
"""

from __future__ import annotations

import hashlib
import random
import string

from goose_assets.core.leakage import option_key
from goose_assets.core.prompts import INSTRUCTIONS, TOPICS
from goose_assets.core.records import MaskedItem, McqTask, stable_id

LETTERS = string.ascii_uppercase


def _rng(key: str) -> random.Random:
    return random.Random(int(hashlib.sha256(key.encode()).hexdigest()[:16], 16))


def pick_distractors(answer: str, distractors: list[str], k: int, rng: random.Random) -> list[str]:
    """k distinct distractors placing the answer at a random length rank."""
    # distractors arrive validated (core.synthesis.usable_distractors: distinct, no
    # near-duplicates); this only guards against a repeated string
    seen = {option_key(answer)}
    unique = []
    for d in distractors:
        key = option_key(d)
        if key and key not in seen:
            seen.add(key)
            unique.append(d)
    if len(unique) <= k:
        return unique
    alen = len(answer)
    shorter = sorted((d for d in unique if len(d) < alen), key=lambda d: alen - len(d))
    longer = sorted((d for d in unique if len(d) >= alen), key=lambda d: len(d) - alen)
    # the answer's length rank is drawn uniformly among the ranks the material allows,
    # so "pick the longest/shortest" is right by chance, no more and no less
    lowest, highest = max(0, k - len(longer)), min(k, len(shorter))
    take_shorter = rng.randint(lowest, highest)
    return shorter[:take_shorter] + longer[: k - take_shorter]


def render_question(domain: str, shape: str, question: str, context_masked: str) -> str:
    """The instruction plus the masked context, as the paper's student prompt (no options)."""
    if shape in ("qa", "code"):
        instruction = INSTRUCTIONS["code" if shape == "code" else ("math" if domain == "math" else "science")]
        label = "Question" if shape == "qa" else "Problem"
        return f"{instruction}\n\n{label}:\n{question}\n\nSolution:\n{context_masked}"
    instruction = INSTRUCTIONS["passage"].replace("{topic}", TOPICS.get(domain, domain))
    return f"{instruction}\n\nPassage:\n{context_masked}"


def render_options(options: list[str]) -> str:
    return "Options:\n" + "\n".join(f"({LETTERS[i]}) {o}" for i, o in enumerate(options))


def assemble_task(item: MaskedItem, n_options: int = 9) -> McqTask | None:
    """None when the item has too few distinct distractors for `n_options`."""
    task_id = stable_id("task", item.item_id, str(n_options))
    rng = _rng(task_id)
    chosen = pick_distractors(item.answer, item.distractors, n_options - 1, rng)
    if len(chosen) < n_options - 1:
        return None
    options = [item.answer, *chosen]
    rng.shuffle(options)
    answer_index = options.index(item.answer)
    return McqTask(
        task_id=task_id,
        item_id=item.item_id,
        doc_id=item.doc_id,
        domain=item.domain,
        shape=item.shape,
        question=render_question(item.domain, item.shape, item.question, item.context_masked),
        options=options,
        answer_letter=LETTERS[answer_index],
        answer_index=answer_index,
        context_masked=item.context_masked,
    )


def student_prompt(task_question: str, options: list[str]) -> str:
    return f"{task_question}\n\n{render_options(options)}"


def schema_problems(tasks: list[McqTask]) -> list[str]:
    """Contract violations of assembled tasks; empty when every task is well formed."""
    problems = []
    for t in tasks:
        keys = [option_key(o) for o in t.options]
        if len(set(keys)) != len(keys):
            problems.append(f"{t.task_id}: options not distinct")
        if not 0 <= t.answer_index < len(t.options) or LETTERS[t.answer_index] != t.answer_letter:
            problems.append(f"{t.task_id}: answer letter/index mismatch")
        if t.context_masked.count("[MASK]") != 1:
            problems.append(f"{t.task_id}: context must hold exactly one [MASK]")
    return problems
