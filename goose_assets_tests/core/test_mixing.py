"""Training-mix sampling: shares, determinism, split stability, strata, shortfalls."""

from __future__ import annotations

import json
import random
from collections import Counter
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from goose_assets.core.mixing import (
    SHARE_TOLERANCE_POINTS,
    MixConfig,
    allocate_largest_remainder,
    assembled_report,
    build_domain_mix,
    build_mix,
    difficulty_bucket,
    is_validation,
    plan_quotas,
    sample_mix,
)
from goose_assets.core.records import DOMAINS
from goose_assets_tests.core.synthetic_tasks import make_task, make_tasks

POOL = make_tasks({"math": 1500, "code": 1200, "science": 900, "cyber": 700})
EVEN_POOL = make_tasks(dict.fromkeys(["math", "code", "science", "cyber"], 1200))


def _shares(tasks: list[dict]) -> dict[str, float]:
    counts = Counter(task["domain"] for task in tasks)
    return {domain: count / len(tasks) for domain, count in counts.items()}


# ---------------------------------------------------------------- shares


@pytest.mark.parametrize(
    "weights",
    [
        {"math": 0.4, "code": 0.3, "science": 0.2, "cyber": 0.1},
        {"math": 1, "code": 1, "science": 1, "cyber": 1},
        {"math": 5, "code": 0, "science": 3, "cyber": 2},
        {"math": 0.01, "code": 0.33, "science": 0.33, "cyber": 0.33},
    ],
)
@pytest.mark.parametrize("target_size", [1000, 1777])
def test_realized_shares_within_two_points(weights: dict[str, float], target_size: int) -> None:
    result = build_mix(POOL, MixConfig(weights=weights, target_size=target_size))
    total_weight = sum(weights.values())
    realized = _shares(result.tasks)
    assert len(result.tasks) == target_size
    for domain, weight in weights.items():
        requested = weight / total_weight
        assert abs(realized.get(domain, 0.0) - requested) * 100 <= SHARE_TOLERANCE_POINTS
    assert result.report["weights_met"] and result.report["size_met"]
    assert result.report["warnings"] == []


@settings(max_examples=15, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=20), min_size=4, max_size=4).filter(any),
    st.integers(min_value=1000, max_value=1200),
)
def test_hamilton_shares_are_within_one_row(raw_weights: list[int], target_size: int) -> None:
    domains = ["math", "code", "science", "cyber"]
    weights = dict(zip(domains, raw_weights, strict=True))
    result = build_mix(EVEN_POOL, MixConfig(weights=weights, target_size=target_size))
    counts = Counter(task["domain"] for task in result.tasks)
    for domain, weight in weights.items():
        exact = Fraction(target_size * weight, sum(raw_weights))
        assert abs(counts[domain] - exact) < 1  # largest remainder: never a full row off


def test_report_compares_requested_and_realized() -> None:
    config = MixConfig(weights={"math": 3, "code": 1}, target_size=1000)
    report = build_mix(POOL, config).report
    assert report["domains"]["math"]["requested_share"] == 0.75
    assert report["domains"]["math"]["selected"] == 750
    assert report["domains"]["code"]["realized_share"] == 0.25
    assert report["dropped"]["unweighted_domain"] == {"cyber": 700, "science": 900}
    json.dumps(report)  # Dagster metadata needs plain JSON


# ---------------------------------------------------------------- the default: no weights

# issue 16's corpus: with equal weights the smallest domain (science, 2) capped every
# other, and the mix held 8 of 24 kept tasks
UNEVEN = {"math": 4, "code": 13, "science": 2, "cyber": 5}


def test_the_default_mix_takes_every_kept_task_in_natural_proportions() -> None:
    pool = make_tasks(UNEVEN)
    result = build_mix(pool, MixConfig())
    assert Counter(t["domain"] for t in result.tasks) == UNEVEN
    report = result.report
    assert not report["weighted"] and report["left_out"] == 0 and report["warnings"] == []
    assert report["selection"] == "every kept task, in natural proportions: 24 of 24 kept tasks"
    assert report["domains"]["code"]["requested_share"] == round(13 / 24, 6)
    assert report["weights_met"]


def test_equal_weights_set_by_the_user_still_sample_at_those_weights() -> None:
    result = build_mix(make_tasks(UNEVEN), MixConfig(weights=dict.fromkeys(DOMAINS, 1.0)))
    assert Counter(t["domain"] for t in result.tasks) == dict.fromkeys(DOMAINS, 2)
    assert result.report["weighted"] and result.report["left_out"] == 16
    assert result.report["selection"].startswith("weighted sample (code 1, cyber 1, math 1, science 1)")
    assert result.report["selection"].endswith("8 of 24 kept tasks, 16 left out")


def test_a_target_size_without_weights_keeps_natural_proportions() -> None:
    pool = make_tasks({"math": 400, "code": 1300, "science": 200, "cyber": 500})
    result = build_mix(pool, MixConfig(target_size=240))
    assert Counter(t["domain"] for t in result.tasks) == {"math": 40, "code": 130, "science": 20, "cyber": 50}
    assert result.report["left_out"] == 2400 - 240 and result.report["weights_met"]
    assert result.report["selection"].startswith("a sample of 240 in natural proportions")


def test_drop_zero_pass_is_counted_as_left_out_in_the_default_mix() -> None:
    tasks = [make_task(i, "math", 0.0 if i < 3 else 0.5) for i in range(10)]
    result = build_mix(tasks, MixConfig(drop_zero_pass=True))
    assert len(result.tasks) == 7 and result.report["left_out"] == 3
    assert result.report["dropped"]["zero_pass"] == {"math": 3}


def test_nothing_to_mix_is_an_empty_mix_not_an_error() -> None:
    for config in (MixConfig(), MixConfig(weights={"math": 1.0}), MixConfig(target_size=10)):
        result = build_mix([], config)
        assert result.tasks == [] and result.report["n_selected"] == 0, config
        assert plan_quotas(config, {}) == {d: 0 for d in config.shares({})}
    report = build_mix([], MixConfig()).report
    assert set(report["domains"]) == set(DOMAINS) and report["left_out"] == 0
    json.dumps(report)


def test_domain_partitions_assemble_the_default_mix() -> None:
    pool = make_tasks(UNEVEN)
    available = Counter(task["domain"] for task in pool)
    assembled = [t for d in DOMAINS for t in build_domain_mix(pool, MixConfig(), d, available).tasks]
    assert sorted(t["task_id"] for t in assembled) == sorted(t["task_id"] for t in build_mix(pool, MixConfig()).tasks)
    report = assembled_report(assembled, MixConfig(), available)
    assert report["left_out"] == 0 and not report["weighted"] and report["n_selected"] == 24
    # a partition that runs before the other domains have tasks: an empty, valid report
    empty = assembled_report([], MixConfig(), {})
    assert empty["n_selected"] == 0 and empty["selection"].endswith("0 of 0 kept tasks")


def test_target_none_is_the_largest_mix_at_the_weights() -> None:
    config = MixConfig(weights={"math": 1, "code": 1, "science": 1, "cyber": 1})
    result = build_mix(POOL, config)
    # cyber (700) limits a 25% share to a 2800-row mix
    assert len(result.tasks) == 2800
    assert Counter(t["domain"] for t in result.tasks) == dict.fromkeys(
        ["math", "code", "science", "cyber"], 700
    )


@pytest.mark.parametrize(
    "config",
    [
        MixConfig(weights={"math": 3, "code": 1, "cyber": 1}, target_size=1500),
        MixConfig(weights={"math": 1, "cyber": 1}, target_size=2000),
        MixConfig(weights={"math": 1, "cyber": 1}, target_size=2000, on_shortfall="shrink"),
        MixConfig(),
    ],
)
def test_plan_quotas_from_counts_match_build_mix(config: MixConfig) -> None:
    # a domain-partitioned sampler gets build_mix's quotas from per-domain counts alone
    available = Counter(task["domain"] for task in POOL)
    realized = Counter(task["domain"] for task in build_mix(POOL, config).tasks)
    assert plan_quotas(config, available) == {d: realized[d] for d in config.shares(available)}


# ---------------------------------------------------------------- shortfall


def test_shortfall_redistribute_keeps_size_and_reports() -> None:
    config = MixConfig(weights={"math": 1, "cyber": 1}, target_size=2000)
    result = build_mix(POOL, config)
    counts = Counter(task["domain"] for task in result.tasks)
    assert len(result.tasks) == 2000
    assert counts == {"cyber": 700, "math": 1300}
    cyber = result.report["domains"]["cyber"]
    assert cyber["shortfall"] == 300 and cyber["requested_count"] == 1000
    assert not result.report["weights_met"]
    assert any("cyber" in warning for warning in result.report["warnings"])


def test_shortfall_shrink_keeps_shares_and_reports() -> None:
    config = MixConfig(weights={"math": 1, "cyber": 1}, target_size=2000, on_shortfall="shrink")
    result = build_mix(POOL, config)
    assert Counter(task["domain"] for task in result.tasks) == {"cyber": 700, "math": 700}
    assert result.report["weights_met"] and not result.report["size_met"]
    assert any("1400 tasks, 2000 requested" in w for w in result.report["warnings"])


def test_more_requested_than_exists_takes_everything() -> None:
    small = make_tasks({"math": 30, "code": 20})
    result = build_mix(small, MixConfig(weights={"math": 1, "code": 1}, target_size=500))
    assert len(result.tasks) == 50
    assert not result.report["size_met"]


def test_an_empty_weighted_domain_does_not_empty_an_equal_weight_mix() -> None:
    pool = make_tasks({"math": 100, "code": 100})
    result = build_mix(pool, MixConfig(weights=dict.fromkeys(DOMAINS, 1.0)))
    assert len(result.tasks) == 200
    assert result.report["domains"]["science"]["available"] == 0
    assert any("science" in warning for warning in result.report["warnings"])


# ---------------------------------------------------------------- determinism


def test_same_input_in_any_order_gives_the_same_mix() -> None:
    config = MixConfig(weights={"math": 2, "code": 1, "science": 1}, target_size=1200, seed=3)
    shuffled = POOL[:]
    random.Random(99).shuffle(shuffled)
    first, second = build_mix(POOL, config), build_mix(shuffled, config)
    assert [t["task_id"] for t in first.tasks] == [t["task_id"] for t in second.tasks]
    assert first.report == second.report


def test_seed_changes_the_selection_not_the_counts() -> None:
    base = MixConfig(weights={"math": 1, "code": 1}, target_size=1000, seed=1)
    other = base.model_copy(update={"seed": 2})
    ids_1 = {t["task_id"] for t in sample_mix(POOL, base)}
    ids_2 = {t["task_id"] for t in sample_mix(POOL, other)}
    assert ids_1 != ids_2
    assert len(ids_1) == len(ids_2) == 1000


def test_output_interleaves_domains_and_copies_tasks() -> None:
    tasks = sample_mix(POOL, MixConfig(target_size=400))
    assert len({t["domain"] for t in tasks[:20]}) > 1  # a hash shuffle, not domain blocks
    assert all("split" in t and "difficulty_bucket" in t for t in tasks)
    assert all("split" not in t for t in POOL)  # inputs untouched


# ---------------------------------------------------------------- split


def test_split_is_a_stable_hash_of_task_id() -> None:
    mix_a = build_mix(POOL, MixConfig(target_size=1000, seed=1, val_fraction=0.1)).tasks
    mix_b = build_mix(
        POOL, MixConfig(weights={"math": 1}, target_size=1000, seed=9, val_fraction=0.1)
    ).tasks
    split_a = {t["task_id"]: t["split"] for t in mix_a}
    split_b = {t["task_id"]: t["split"] for t in mix_b}
    shared = split_a.keys() & split_b.keys()
    assert shared and all(split_a[i] == split_b[i] for i in shared)
    assert all(
        t["split"] == ("validation" if is_validation(t["task_id"], 0.1) else "train") for t in mix_a
    )


def test_split_fraction_and_report() -> None:
    result = build_mix(POOL, MixConfig(target_size=2400, val_fraction=0.1))
    validation = result.report["split"]["validation"]
    assert abs(validation / 2400 - 0.1) < 0.03  # binomial sd is 0.006 at n = 2400
    assert result.report["split"]["train"] + validation == 2400
    assert sum(c["validation"] for c in result.report["split"]["by_domain"].values()) == validation


def test_larger_val_fraction_only_moves_tasks_into_validation() -> None:
    ids = [t["task_id"] for t in POOL]
    small = {i for i in ids if is_validation(i, 0.05)}
    large = {i for i in ids if is_validation(i, 0.2)}
    assert small < large
    assert not any(is_validation(i, 0.0) for i in ids)


# ---------------------------------------------------------------- strata


def test_buckets_are_proportional_and_rare_buckets_represented() -> None:
    rates = [0.1] * 600 + [0.6] * 390 + [0.9] * 8 + [None] * 2
    tasks = [make_task(i, "math", rate) for i, rate in enumerate(rates)]
    result = build_mix(tasks, MixConfig(weights={"math": 1}, target_size=100))
    buckets = result.report["buckets"]["math"]
    assert buckets["[0.00,0.25)"]["selected"] in (59, 60, 61)
    assert buckets["[0.50,0.75)"]["selected"] in (38, 39, 40)
    assert buckets["[0.75,1.00]"]["selected"] >= 1  # 0.8 rows proportionally, at least 1
    assert buckets["unknown"]["selected"] >= 1  # 0.2 rows proportionally, at least 1
    assert sum(b["selected"] for b in buckets.values()) == 100
    realized = Counter(t["difficulty_bucket"] for t in result.tasks)
    assert {label: b["selected"] for label, b in buckets.items()} == realized


def test_uniform_bucket_allocation_balances_difficulty() -> None:
    rates = [0.1] * 600 + [0.6] * 300 + [0.9] * 100
    tasks = [make_task(i, "code", rate) for i, rate in enumerate(rates)]
    config = MixConfig(weights={"code": 1}, target_size=240, bucket_allocation="uniform")
    buckets = build_mix(tasks, config).report["buckets"]["code"]
    assert [b["selected"] for b in buckets.values()] == [80, 80, 80]


def test_difficulty_bucket_edges() -> None:
    edges = (0.0, 0.25, 0.5, 0.75, 1.0)
    assert difficulty_bucket(0.0, edges) == "[0.00,0.25)"
    assert difficulty_bucket(0.25, edges) == "[0.25,0.50)"
    assert difficulty_bucket(1.0, edges) == "[0.75,1.00]"
    assert difficulty_bucket(None, edges) == "unknown"


def test_drop_zero_pass_is_counted() -> None:
    tasks = [make_task(i, "math", 0.0 if i % 4 == 0 else 0.5) for i in range(400)]
    result = build_mix(tasks, MixConfig(weights={"math": 1}, drop_zero_pass=True))
    assert result.report["dropped"]["zero_pass"] == {"math": 100}
    assert len(result.tasks) == 300
    assert all(t["pass_rate"] != 0.0 for t in result.tasks)


# ---------------------------------------------------------------- allocation


def test_allocate_largest_remainder_respects_capacity() -> None:
    assert allocate_largest_remainder(10, {"a": 1, "b": 1, "c": 1}) == {"a": 4, "b": 3, "c": 3}
    capped = allocate_largest_remainder(10, {"a": 1, "b": 1}, {"a": 2, "b": 100})
    assert capped == {"a": 2, "b": 8}
    starved = allocate_largest_remainder(10, {"a": 1, "b": 1}, {"a": 2, "b": 3})
    assert starved == {"a": 2, "b": 3}
    assert allocate_largest_remainder(5, {"a": 0, "b": 2}) == {"a": 0, "b": 5}


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize("name", ['a"b', "a;b", "a/b", "..", "../x", "", "-x", "a.b", "x" * 65])
def test_unsafe_mix_names_are_rejected(name: str) -> None:
    with pytest.raises(ValidationError):
        MixConfig(name=name)


@pytest.mark.parametrize(
    "weights",
    [{"math": -1.0}, {"math": 0.0, "code": 0.0}, {"math": float("nan")}, {"ma th": 1.0}, {}],
)
def test_bad_weights_are_rejected(weights: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        MixConfig(weights=weights)


@pytest.mark.parametrize("edges", [(0.0,), (0.1, 1.0), (0.0, 0.9), (0.0, 0.5, 0.5, 1.0)])
def test_bad_edges_are_rejected(edges: tuple[float, ...]) -> None:
    with pytest.raises(ValidationError):
        MixConfig(difficulty_edges=edges)


def test_unknown_config_keys_and_bad_fractions_are_rejected() -> None:
    with pytest.raises(ValidationError):
        MixConfig(val_fration=0.1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        MixConfig(val_fraction=0.9)
    with pytest.raises(ValidationError):
        MixConfig(target_size=0)


def test_bad_tasks_fail_loudly() -> None:
    task = make_task(1, "math", 0.5)
    with pytest.raises(ValueError, match="duplicate"):
        build_mix([task, dict(task)], MixConfig())
    with pytest.raises(ValueError, match="lacks keys"):
        build_mix([{k: v for k, v in task.items() if k != "license"}], MixConfig())
    with pytest.raises(ValueError, match="pass_rate"):
        build_mix([{**task, "pass_rate": 1.5}], MixConfig())
