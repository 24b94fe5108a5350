"""Why a domain has no task: the first stage that ran dry, with its reason counts (issue 16)."""

from __future__ import annotations

import pytest

from goose_assets.core.funnel import (
    DomainFunnel,
    empty_cause,
    format_reasons,
    mix_gap,
    one_line,
    pending,
)
from goose_assets.core.ingest.readers import SourcePlan, SourceSpec

NO_SOURCE = SourcePlan("math", (), "/data/corpus", ("/data/corpus/math.jsonl", "rows labelled 'math' in /data/corpus/web_raw.jsonl"))
WEB_ONLY = SourcePlan("math", (SourceSpec(kind="jsonl", path="/data/corpus/web_raw.jsonl", route_by_domain_field=True),),
                      "/data/corpus", ("/data/corpus/math.jsonl",))


@pytest.mark.parametrize(
    ("funnel", "plan", "cause"),
    [
        (DomainFunnel("math"), NO_SOURCE, "no source in /data/corpus"),
        (DomainFunnel("math"), WEB_ONLY, "no math rows in /data/corpus/web_raw.jsonl"),
        (DomainFunnel("math"), None, "no documents were ingested"),
        (DomainFunnel("math", quarantined={"ingest": {"broken_json": 3, "empty_text": 1}}), NO_SOURCE,
         "all 4 source rows were quarantined at ingest (broken_json: 3, empty_text: 1)"),
        (DomainFunnel("cyber", documents=30, quarantined={"extract": {"off_topic": 20, "too_short": 10}}), None,
         "30 documents, but no passage was extracted (off_topic: 20, too_short: 10)"),
        (DomainFunnel("cyber", documents=6, passages=6, quarantined={"synthesis": {"schema_violation": 6}}), None,
         "6 passages, but every item was quarantined at synthesis (schema_violation: 6)"),
        (DomainFunnel("cyber", documents=6, passages=6, items=6, quarantined={"assembly": {"too_few_options": 6}}), None,
         "6 items, but every task was quarantined at assembly (too_few_options: 6)"),
        (DomainFunnel("cyber", documents=6, passages=6, items=6, tasks=6), None,
         "6 tasks, not screened yet (filtered_tasks holds none of them)"),
        (DomainFunnel("cyber", documents=12, passages=12, items=12, tasks=12, screened=12,
                      dropped={"contaminated": 9, "duplicate_task": 3}), None,
         "12 tasks, but screening dropped every one (contaminated: 9, duplicate_task: 3)"),
    ],
)
def test_the_cause_names_the_first_empty_stage_and_its_reasons(
    funnel: DomainFunnel, plan: SourcePlan | None, cause: str
) -> None:
    assert empty_cause(funnel, plan) == cause


def test_a_domain_with_kept_tasks_has_no_upstream_cause() -> None:
    assert empty_cause(DomainFunnel("cyber", documents=1, passages=1, items=1, tasks=1, screened=1, kept=1)) is None


def test_mix_gap_tells_left_out_from_waiting_for_its_partition() -> None:
    kept = DomainFunnel("code", documents=5, passages=5, items=5, tasks=5, screened=5, kept=5)
    assert mix_gap(kept, quota=0, left_out_by="weight 0") == "5 kept tasks, none selected by the mix (weight 0)"
    # a quota and no rows yet: the domain's own mix partition has not run, which is no gap
    assert pending(kept, quota=5) and mix_gap(kept, quota=5) is None
    mixed = DomainFunnel("code", kept=5, in_mix=5)
    assert mix_gap(mixed, quota=5) is None and not pending(mixed, quota=5)
    assert mix_gap(DomainFunnel("math"), quota=0, plan=NO_SOURCE) == "no source in /data/corpus"


def test_one_line_groups_domains_with_the_same_cause_in_domain_order() -> None:
    causes = {"cyber": "6 passages, but ...", "science": "no source in /d", "math": "no source in /d", "code": "no source in /d"}
    assert one_line(causes, ["math", "code", "science", "cyber"]) == (
        "math, code, science: no source in /d; cyber: 6 passages, but ..."
    )
    assert one_line({}, ["math"]) == ""


def test_format_reasons_is_bounded_and_most_frequent_first() -> None:
    counts = {"a": 1, "b": 5, "c": 3, "d": 2, "e": 1, "": 4}
    assert format_reasons(counts) == "b: 5, unspecified: 4, c: 3, d: 2, +2 more reasons"
