"""The checks `mcq_tasks` runs on the tasks it writes: leakage, letter balance, schema."""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

from goose_assets.core.filtering.balance import letter_balance
from goose_assets.core.records import McqTask
from goose_assets.core.synthesis import leakage, mcq
from goose_assets.defs.checks import (
    ANSWER_LEAKAGE,
    LETTER_BALANCE,
    MAX_LEAK_SHARE,
    TASK_SCHEMA,
    check_spec,
)
from goose_assets.defs.partitions import PartitionScope


def mcq_task_specs(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetCheckSpec]:
    return [
        check_spec(ANSWER_LEAKAGE, "mcq_tasks", f"Leaking tasks (answer in context, duplicate options) are flagged and later dropped; fails above {MAX_LEAK_SHARE:.0%}.", partitions_def, blocking=True),
        check_spec(LETTER_BALANCE, "mcq_tasks", "Chi-square test of answer letters against uniform; warns at p < 0.01.", partitions_def),
        check_spec(TASK_SCHEMA, "mcq_tasks", "Every task has 9 distinct options, exactly one correct letter, and a [MASK].", partitions_def),
    ]


@dataclass(slots=True)
class TaskChecks:
    """Per task only what the checks need (id, leak reasons, letter, option count), fed as
    the tasks stream to the warehouse."""

    leaks: list[tuple[str, list[str]]] = field(default_factory=list)
    letters: list[str] = field(default_factory=list)
    n_options: list[int] = field(default_factory=list)
    schema_problems: list[str] = field(default_factory=list)

    def add(self, task: McqTask) -> None:
        self.leaks.append((task.task_id, task.leak_reasons))
        self.letters.append(task.answer_letter)
        self.n_options.append(len(task.options))
        self.schema_problems.extend(mcq.schema_problems([task]))

    @property
    def n_leaking(self) -> int:
        return leakage.summarize_leaks(self.leaks).n_flagged

    def results(self, scope: PartitionScope, rows_in: int) -> list[dg.AssetCheckResult]:
        leaks = leakage.summarize_leaks(self.leaks)
        balance = letter_balance(self.letters, self.n_options)
        n_tasks = len(self.letters)
        return [
            dg.AssetCheckResult(
                check_name=ANSWER_LEAKAGE, passed=leaks.n_flagged <= MAX_LEAK_SHARE * max(1, n_tasks),
                metadata=leaks.to_metadata(),
            ),
            dg.AssetCheckResult(
                check_name=LETTER_BALANCE, passed=not balance.warn, metadata=balance.to_metadata(),
                severity=dg.AssetCheckSeverity.WARN,
            ),
            dg.AssetCheckResult(
                # a shard may hold nothing for this domain; items that all failed assembly are a failure
                check_name=TASK_SCHEMA, passed=not self.schema_problems and (n_tasks > 0 or (scope.shard is not None and not rows_in)),
                metadata={"tasks": n_tasks, "problems": self.schema_problems[:10]},
            ),
        ]
