"""Why a domain has no task: the per-domain funnel from source rows to the training mix.

A partial corpus (only cyber.jsonl), an empty source, a generator whose every answer fails
validation or a screen that drops every task all end the same way: a domain contributes
no task. `empty_cause` names the first stage where the domain ran dry and the counts per
drop or quarantine reason there, so the training mix's metadata, the dataset card and
`goose run` can say *why* instead of showing an empty table (or a stack trace).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from goose_assets.core.ingest.readers import SourcePlan

__all__ = ["QUARANTINE_STAGES", "DomainFunnel", "empty_cause", "format_reasons", "mix_gap", "one_line", "pending"]

# the stages that quarantine rows, in pipeline order, with the table each one feeds
QUARANTINE_STAGES: tuple[str, ...] = ("ingest", "extract", "synthesis", "assembly")


def format_reasons(counts: Mapping[str, int], limit: int = 4) -> str:
    """`"broken_json: 6, too_short: 2"`: the most frequent reasons first, then `+N more`."""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{reason or 'unspecified'}: {n}" for reason, n in ranked[:limit])
    rest = len(ranked) - limit
    return text + (f", +{rest} more reasons" if rest > 0 else "")


@dataclass(frozen=True, slots=True)
class DomainFunnel:
    """Row counts of one domain at every stage, with the reasons rows left it."""

    domain: str
    documents: int = 0
    passages: int = 0
    items: int = 0
    tasks: int = 0
    screened: int = 0
    kept: int = 0
    in_mix: int = 0
    # stage -> reason -> rows quarantined there (stages of QUARANTINE_STAGES)
    quarantined: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    # screening drop reason -> tasks dropped
    dropped: Mapping[str, int] = field(default_factory=dict)

    def quarantined_at(self, stage: str) -> int:
        return sum(self.quarantined.get(stage, {}).values())

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined_at(stage) for stage in self.quarantined)


def funnels_from_counts(counts: Mapping[str, Mapping[str, Any]]) -> dict[str, DomainFunnel]:
    """Every domain's funnel from its per-stage counts (`storage.queries.funnel_counts`)."""
    return {domain: DomainFunnel(domain, **fields) for domain, fields in counts.items()}


def _stage_note(funnel: DomainFunnel, stage: str) -> str:
    reasons = funnel.quarantined.get(stage, {})
    return f" ({format_reasons(reasons)})" if reasons else ""


def empty_cause(funnel: DomainFunnel, plan: SourcePlan | None = None) -> str | None:
    """Why `funnel.domain` has no kept task, naming the stage and its reason counts;
    None when it has one. `plan` (the domain's sources, when known) tells an absent
    source apart from a source without rows for the domain."""
    f = funnel
    if f.kept:
        return None
    if not f.documents:
        if f.quarantined_at("ingest"):
            return (
                f"all {f.quarantined_at('ingest')} source rows were quarantined at ingest"
                f"{_stage_note(f, 'ingest')}"
            )
        if plan is None:
            return "no documents were ingested"
        if not plan.has_source:
            return plan.no_source_cause()
        return f"no {f.domain} rows in {' or '.join(spec.path for spec in plan.specs)}"
    if not f.passages:
        return f"{f.documents} documents, but no passage was extracted{_stage_note(f, 'extract')}"
    if not f.items:
        return (
            f"{f.passages} passages, but every item was quarantined at synthesis"
            f"{_stage_note(f, 'synthesis')}"
        )
    if not f.tasks:
        return (
            f"{f.items} items, but every task was quarantined at assembly"
            f"{_stage_note(f, 'assembly')}"
        )
    if not f.screened:
        return f"{f.tasks} tasks, not screened yet (filtered_tasks holds none of them)"
    reasons = f" ({format_reasons(f.dropped)})" if f.dropped else ""
    return f"{f.tasks} tasks, but screening dropped every one{reasons}"


def mix_gap(funnel: DomainFunnel, quota: int, plan: SourcePlan | None = None, left_out_by: str = "") -> str | None:
    """Why `funnel.domain` has no task in the mix, or None when it has some or is only
    waiting for its own mix partition (`pending`): the upstream cause when it kept none
    (`empty_cause`), else, with a quota of 0, what the mix left it out by (`left_out_by`,
    e.g. "weight 0")."""
    if funnel.in_mix or pending(funnel, quota):
        return None
    cause = empty_cause(funnel, plan)
    if cause is not None:
        return cause
    return f"{funnel.kept} kept tasks, none selected by the mix" + (f" ({left_out_by})" if left_out_by else "")


def pending(funnel: DomainFunnel, quota: int) -> bool:
    """The domain has a quota in the mix but no row yet: its mix partition has not run."""
    return bool(funnel.kept and quota and not funnel.in_mix)


def one_line(causes: Mapping[str, str], order: Sequence[str]) -> str:
    """Per-domain causes as one line, domains with the same cause named together:
    `math, code, science: no source in /data; cyber: 6 passages, but ...`."""
    grouped: dict[str, list[str]] = {}
    for domain in [*order, *sorted(set(causes) - set(order))]:
        if domain in causes:
            grouped.setdefault(causes[domain], []).append(domain)
    return "; ".join(f"{', '.join(domains)}: {cause}" for cause, domains in grouped.items())


def mix_warnings(
    mix_warnings: Sequence[str], gaps: Mapping[str, str], mix_size: int, waiting: Sequence[str], order: Sequence[str]
) -> list[str]:
    """The mix's warnings (a short domain), one per domain without a task in the mix, and,
    first, an empty export when no domain has a task and none waits for its partition."""
    warnings = [*mix_warnings, *(f"{d}: no task in the mix: {cause}" for d, cause in gaps.items())]
    if not mix_size and not waiting:
        warnings.insert(0, f"the export is empty: no task in any domain ({one_line(gaps, order)})")
    return warnings
