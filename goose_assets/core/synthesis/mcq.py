"""Assemble a 9-option fill-in-the-middle multiple-choice task from a masked item.

Which distractors a task shows is decided by option selection (core.synthesis.selection); where the
answer goes is decided per partition (`balanced_answer_positions`): a seeded, shuffled
cycle of the letters in task-id order, so that every letter's count differs by at most
one. The distractors fill the other slots in an order seeded by the task id, so the same
item always gives the same task.
"""

from __future__ import annotations

import hashlib
import random
import string
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence

from goose_assets.core.prompts import INSTRUCTIONS, TOPICS
from goose_assets.core.records import MaskedItem, McqTask, QuarantineRow, stable_id
from goose_assets.core.synthesis.leakage import leak_reasons_for_options, option_key

LETTERS = string.ascii_uppercase


def _rng(key: str) -> random.Random:
    return random.Random(int(hashlib.sha256(key.encode()).hexdigest()[:16], 16))


def task_id_for(item_id: str, n_options: int = 9) -> str:
    return stable_id("task", item_id, str(n_options))


def balanced_answer_positions(task_ids: Sequence[str], n_options: int, seed: str) -> dict[str, int]:
    """The answer's index for each task: in task-id order, block after block of
    `n_options` tasks, each block a seeded shuffle of every position. Every position is
    used equally often, to within one, and no position can be guessed from the order."""
    positions: dict[str, int] = {}
    for block, start in enumerate(range(0, len(task_ids), n_options)):
        cycle = list(range(n_options))
        _rng(f"{seed}:{block}").shuffle(cycle)
        for task_id, position in zip(sorted(task_ids)[start : start + n_options], cycle, strict=False):
            positions[task_id] = position
    return positions


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


def assemble_task(item: MaskedItem, chosen: Sequence[int], answer_index: int, n_options: int = 9) -> McqTask | None:
    """The task showing the item's distractors `chosen` (indices into `item.distractors`)
    with the answer at `answer_index`; None when fewer than `n_options - 1` distinct ones
    are given."""
    task_id = task_id_for(item.item_id, n_options)
    seen = {option_key(item.answer)}
    picked: list[tuple[str, str]] = []
    for i in chosen:
        key = option_key(item.distractors[i])
        if key and key not in seen:
            seen.add(key)
            picked.append((item.distractors[i], item.distractor_kinds[i] if i < len(item.distractor_kinds) else ""))
    if len(picked) < n_options - 1:
        return None
    picked = picked[: n_options - 1]
    _rng(task_id).shuffle(picked)
    picked.insert(answer_index, (item.answer, "answer"))
    return McqTask(
        task_id=task_id,
        item_id=item.item_id,
        doc_id=item.doc_id,
        domain=item.domain,
        shape=item.shape,
        question=render_question(item.domain, item.shape, item.question, item.context_masked),
        options=[text for text, _ in picked],
        answer_letter=LETTERS[answer_index],
        answer_index=answer_index,
        context_masked=item.context_masked,
        option_kinds=[kind for _, kind in picked],
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


def tasks_from_items(
    items: Iterable[MaskedItem], chosen_by_item: Mapping[str, Sequence[int]], positions: Mapping[str, int], domain: str,
    solvable: Collection[str] | None = None,
) -> Iterator[McqTask | QuarantineRow]:
    """Each item as a task with the options selection chose for it and its balanced answer
    position, its leak reasons set, and flagged where selection found it surface-solvable
    (`solvable`: item ids); an item selection skipped (too few distractors) is quarantined."""
    solvable = solvable or set()
    for item in items:
        chosen = chosen_by_item.get(item.item_id)
        task = None if chosen is None else assemble_task(item, chosen, positions[task_id_for(item.item_id)])
        if task is None:
            yield QuarantineRow("assembly", domain, item.item_id, "too_few_options", f"{len(item.distractors)} distractors")
            continue
        task.leak_reasons = leak_reasons_for_options(task.question, task.options, task.answer_index)
        task.surface_solvable = item.item_id in solvable
        yield task
