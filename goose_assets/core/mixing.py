"""The training mix: a deterministic, weighted, difficulty-stratified sample with a split.

``build_mix(tasks, config)`` returns the sampled tasks and a JSON-ready report;
``sample_mix`` returns the tasks alone.

How a mix is drawn:

1. **Eligibility.** With weights, tasks of domains with weight 0 (or no weight) are left
   out; with ``drop_zero_pass``, so are tasks no student rollout solved (pass rate 0:
   often unsolvable or mislabelled). Both are counted in the report.
2. **Domain quotas** by largest-remainder (Hamilton) allocation of ``target_size`` over
   the shares, computed with exact fractions so the result never depends on float
   rounding. With no weights (the default) the shares are the domains' own eligible
   counts, the corpus's *natural proportions*, and ``target_size=None`` takes every
   eligible task: a small domain never caps the others. With weights,
   ``target_size=None`` asks for the largest mix the available tasks support at exactly
   the requested weights. The report says which (``weighted``) and how many eligible
   tasks the mix left out (``left_out``).
3. **Shortfall** (a domain has fewer eligible tasks than its quota) follows
   ``on_shortfall``:
   - ``"redistribute"`` (default): the short domain gives all it has and the missing rows
     are re-allocated to the other domains by their weights, so the mix keeps its size
     but the short domain's share falls below the request;
   - ``"shrink"``: the whole mix shrinks until every domain can meet its share, so the
     shares hold and the size falls.
   Either way the report says so, per domain (``shortfall``) and overall (``warnings``,
   ``weights_met``): nothing is redistributed silently.
4. **Difficulty strata.** Within a domain, tasks are bucketed by student pass rate
   (``n_correct / n``) on ``difficulty_edges``, plus an ``unknown`` bucket for tasks
   without rollouts. The domain quota is split over buckets proportionally to their
   sizes (or uniformly, ``bucket_allocation="uniform"``), and every non-empty bucket
   gets at least one task whenever the quota allows.
5. **Selection.** Inside a bucket, tasks are ranked by ``sha256(seed, task_id)`` and the
   first ones are taken. The draw depends only on the set of task ids and the seed,
   never on input order, and a larger mix with the same seed is a superset per bucket.
6. **Split.** A task is in ``validation`` when ``sha256("goose-split-v1", task_id)``,
   read as a fraction of 2**64, is below ``val_fraction``. The seed is deliberately not
   part of it: a task lands on the same side in every mix and every seed, so no
   validation task is ever trained on by another mix of the same corpus (and a larger
   ``val_fraction`` only moves tasks from train to validation, never back).

The output order is the selection hash order (a deterministic shuffle that interleaves
domains), and each output task is a shallow copy of its input plus ``split`` and
``difficulty_bucket``.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from goose_assets.core.records import DOMAINS

__all__ = [
    "REQUIRED_TASK_KEYS",
    "SHARE_TOLERANCE_POINTS",
    "SPLITS",
    "MixConfig",
    "MixResult",
    "allocate_largest_remainder",
    "build_mix",
    "difficulty_bucket",
    "is_validation",
    "plan_quotas",
    "sample_mix",
    "selection_summary",
    "validate_mix_name",
]

SPLITS: tuple[str, str] = ("train", "validation")
REQUIRED_TASK_KEYS: tuple[str, ...] = (
    "task_id",
    "domain",
    "question",
    "options",
    "answer_letter",
    "answer_index",
    "doc_id",
    "license",
    "source",
)
UNKNOWN_BUCKET = "unknown"
SPLIT_SALT = "goose-split-v1"
# a mix name becomes a directory name: letters, digits, "_" and "-" only, so no quote,
# ";", "/", ".." or leading "-" can reach a path or a shell
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_SHARE_DECIMALS = 6
# the acceptance bound on |realized - requested| share, in percentage points
SHARE_TOLERANCE_POINTS = 2.0


def validate_mix_name(name: object) -> str:
    """``name`` when it is a safe slug, else ValueError (it becomes a directory name)."""
    if not isinstance(name, str) or not _SLUG.fullmatch(name):
        raise ValueError(
            f"mix name {name!r} must match {_SLUG.pattern} (it becomes a directory name)"
        )
    return name


class MixConfig(BaseModel):
    """Run config of one training mix (validated; unknown keys are rejected)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        default="default",
        description="Mix name, also the export directory name: [A-Za-z0-9][A-Za-z0-9_-]{0,63}.",
    )
    weights: dict[str, float] | None = Field(
        default=None,
        description="Relative weight per domain (normalized); >= 0, at least one > 0. "
        "None (the default): no weighting, every domain in its natural proportion.",
    )
    target_size: int | None = Field(
        default=None,
        ge=1,
        description="Rows in the mix (train + validation). None: without weights, every "
        "eligible task; with weights, the largest mix the available tasks support at "
        "exactly the requested weights.",
    )
    difficulty_edges: tuple[float, ...] = Field(
        default=(0.0, 0.25, 0.5, 0.75, 1.0),
        description="Bucket edges on student pass rate, from 0.0 to 1.0, increasing. "
        "Buckets are [e0, e1), [e1, e2), ..., [e_{k-1}, 1.0].",
    )
    bucket_allocation: Literal["proportional", "uniform"] = Field(
        default="proportional",
        description="Split a domain's quota over difficulty buckets by bucket size, or evenly.",
    )
    val_fraction: float = Field(
        default=0.05, ge=0.0, le=0.5, description="Share of tasks hashed into validation."
    )
    seed: int = Field(default=0, description="Selects which tasks fill each bucket.")
    drop_zero_pass: bool = Field(
        default=False, description="Leave out tasks that no student rollout solved."
    )
    on_shortfall: Literal["redistribute", "shrink"] = Field(
        default="redistribute",
        description="When a domain lacks tasks: keep the size and re-allocate its missing "
        "rows to other domains, or shrink the mix so every share holds.",
    )

    @field_validator("name")
    @classmethod
    def _name_is_slug(cls, name: str) -> str:
        return validate_mix_name(name)

    @field_validator("weights")
    @classmethod
    def _weights_are_usable(cls, weights: dict[str, float] | None) -> dict[str, float] | None:
        if weights is None:
            return None
        for domain, weight in weights.items():
            if not _SLUG.fullmatch(domain):
                raise ValueError(f"domain name {domain!r} is not a slug")
            if not math.isfinite(weight) or weight < 0:
                raise ValueError(f"weight of {domain!r} must be finite and >= 0, got {weight}")
        if not any(weight > 0 for weight in weights.values()):
            raise ValueError("at least one domain weight must be > 0")
        return weights

    @field_validator("difficulty_edges")
    @classmethod
    def _edges_cover_unit_interval(cls, edges: tuple[float, ...]) -> tuple[float, ...]:
        if len(edges) < 2 or edges[0] != 0.0 or edges[-1] != 1.0:
            raise ValueError("difficulty_edges must start at 0.0 and end at 1.0")
        if any(low >= high for low, high in zip(edges, edges[1:], strict=False)):
            raise ValueError("difficulty_edges must be strictly increasing")
        return edges

    @property
    def weighted(self) -> bool:
        """Whether the user set weights (else the mix keeps natural proportions)."""
        return self.weights is not None

    def shares(self, available: Mapping[str, int] | None = None) -> dict[str, Fraction]:
        """Requested share per domain, as exact fractions summing to 1 (or all 0).

        With weights: every positive-weight domain. Without: every known domain and every
        domain in ``available`` (eligible tasks per domain), each at its share of the
        eligible total; all shares are 0 when nothing is eligible.
        """
        if self.weights is not None:
            positive = {d: Fraction(w) for d, w in sorted(self.weights.items()) if w > 0}
            total = sum(positive.values())
            return {domain: weight / total for domain, weight in positive.items()}
        counts = dict(available or {})
        domains = sorted(set(DOMAINS) | set(counts))
        total = sum(counts.values())
        return {d: Fraction(counts.get(d, 0), total) if total else Fraction(0) for d in domains}


@dataclass(frozen=True, slots=True)
class MixResult:
    """The sampled tasks (output order) and the JSON-ready report."""

    tasks: list[dict[str, Any]]
    report: dict[str, Any]


# ---------------------------------------------------------------------------- allocation


def _hamilton(total: int, weights: Mapping[str, Fraction]) -> dict[str, int]:
    """Largest-remainder split of ``total``; ties go to the larger weight, then the key."""
    weight_sum = sum(weights.values())
    if total <= 0 or weight_sum <= 0:
        return dict.fromkeys(weights, 0)
    exact = {key: total * weight / weight_sum for key, weight in weights.items()}
    counts = {key: math.floor(value) for key, value in exact.items()}
    leftover = total - sum(counts.values())
    by_remainder = sorted(exact, key=lambda k: (-(exact[k] - counts[k]), -weights[k], k))
    for key in by_remainder[:leftover]:
        counts[key] += 1
    return counts


def allocate_largest_remainder(
    total: int,
    weights: Mapping[str, Fraction | float | int],
    capacities: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Split ``total`` over keys by weight (Hamilton method), never above a key's capacity.

    A key whose share exceeds its capacity is filled to capacity and what is left is
    re-split over the other keys by their weights, until every share fits. The result
    sums to ``min(total, total capacity of the positive-weight keys)``. Deterministic:
    exact fractions, ties broken by weight then key.
    """
    counts = {key: 0 for key in weights}
    open_weights = {key: Fraction(w) for key, w in weights.items() if w > 0}
    remaining = total
    while remaining > 0 and open_weights:
        trial = _hamilton(remaining, open_weights)
        over = [k for k in open_weights if capacities is not None and trial[k] > capacities[k]]
        if not over:
            counts.update(trial)
            break
        for key in over:
            capacity = capacities[key] if capacities is not None else 0
            counts[key] = capacity
            remaining -= capacity
            del open_weights[key]
    return counts


# ------------------------------------------------------------------------------ hashing


def _unit_hash(*parts: str) -> int:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big")


def is_validation(task_id: str, val_fraction: float) -> bool:
    """Whether ``task_id`` is in the validation split (seed-independent, stable forever)."""
    return _unit_hash(SPLIT_SALT, task_id) < val_fraction * 2**64


def _selection_rank(seed: int, task_id: str) -> tuple[int, str]:
    # task_id breaks the (astronomically unlikely) hash tie so the order is total
    return (_unit_hash("goose-mix-v1", str(seed), task_id), task_id)


# --------------------------------------------------------------------------- difficulty


def _bucket_labels(edges: Sequence[float]) -> list[str]:
    last = len(edges) - 2
    return [
        f"[{low:.2f},{high:.2f}{']' if index == last else ')'}"
        for index, (low, high) in enumerate(zip(edges, edges[1:], strict=False))
    ]


def _pass_rate(task: Mapping[str, Any]) -> float | None:
    rate = task.get("pass_rate")
    if rate is None or (isinstance(rate, float) and math.isnan(rate)):
        return None
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
        raise ValueError(f"task {task.get('task_id')!r}: pass_rate {rate!r} is not in [0, 1]")
    return float(rate)


def _bucket_index(pass_rate: float, edges: Sequence[float]) -> int:
    # bisect on the inner edges: [e0, e1) -> 0, ..., and 1.0 falls in the closed last bucket
    return bisect.bisect_right(edges, pass_rate, 1, len(edges) - 1) - 1


def difficulty_bucket(pass_rate: float | None, edges: Sequence[float]) -> str:
    """The bucket label of a pass rate: "[0.25,0.50)", the closed last one, or "unknown"."""
    if pass_rate is None:
        return UNKNOWN_BUCKET
    return _bucket_labels(edges)[_bucket_index(pass_rate, edges)]


def _bucket_quotas(
    quota: int, bucket_sizes: Mapping[str, int], allocation: Literal["proportional", "uniform"]
) -> dict[str, int]:
    """Split a domain quota over its buckets, at least one per non-empty bucket if possible."""
    weights = {
        label: Fraction(size if allocation == "proportional" else 1)
        for label, size in bucket_sizes.items()
        if size > 0
    }
    counts = allocate_largest_remainder(quota, weights, bucket_sizes)
    # a small bucket can round to zero; take one from the bucket with the most to spare
    for label in sorted(weights, key=lambda k: (bucket_sizes[k], k)):
        if counts[label] == 0:
            donor = max(counts, key=lambda k: (counts[k], k))
            if counts[donor] <= 1:
                break
            counts[donor] -= 1
            counts[label] = 1
    return {label: counts.get(label, 0) for label in bucket_sizes}


# ------------------------------------------------------------------------------ sampling


def _validate_tasks(tasks: Sequence[Mapping[str, Any]]) -> None:
    seen: set[str] = set()
    for task in tasks:
        missing = [key for key in REQUIRED_TASK_KEYS if key not in task]
        if missing:
            raise ValueError(f"task {task.get('task_id')!r} lacks keys {missing}")
        task_id = task["task_id"]
        if task_id in seen:
            # two rows with one id means an upstream stage duplicated work: fail loudly
            raise ValueError(f"duplicate task_id {task_id!r}")
        seen.add(task_id)


def _effective_target(
    config: MixConfig, shares: Mapping[str, Fraction], available: Mapping[str, int]
) -> int:
    """The number of rows to allocate over the domains.

    Without weights the shares are the eligible counts themselves: the target is every
    eligible task, or ``target_size`` when that is smaller. With weights, ``shrink`` caps
    the request at what every share can support (zero when a weighted domain has no
    tasks at all); ``redistribute`` keeps an explicit ``target_size``, and with none it
    takes the largest mix the *stocked* domains support at their shares, so one empty
    domain reports a shortfall instead of emptying the whole mix.
    """
    if not config.weighted:
        total = sum(available.values())
        return min(config.target_size or total, total)
    supported_by_all = min(math.floor(available[d] / share) for d, share in shares.items())
    if config.on_shortfall == "shrink":
        return min(config.target_size or supported_by_all, supported_by_all)
    if config.target_size is not None:
        return config.target_size
    stocked = [math.floor(available[d] / s) for d, s in shares.items() if available[d] > 0]
    return min(stocked, default=0)


def plan_quotas(config: MixConfig, available: Mapping[str, int]) -> dict[str, int]:
    """Rows per weighted domain that ``build_mix`` draws, from each domain's eligible count.

    Counts are enough, so a sampler partitioned by domain can compute its own quota from
    every domain's count (after the ``drop_zero_pass`` filter, if set) and get exactly
    ``build_mix``'s shares, target and shortfall handling, in any partition order.
    Domains missing from ``available`` count as empty.
    """
    shares = config.shares(available)
    stock = {domain: available.get(domain, 0) for domain in shares}
    target = _effective_target(config, shares, stock)
    return allocate_largest_remainder(target, shares, stock)


def _domain_report(
    shares: Mapping[str, Fraction],
    requested: Mapping[str, int],
    available: Mapping[str, int],
    selected: Mapping[str, int],
) -> dict[str, dict[str, Any]]:
    total = sum(selected.values())
    report: dict[str, dict[str, Any]] = {}
    for domain, share in shares.items():
        realized = selected[domain] / total if total else 0.0
        report[domain] = {
            "requested_share": round(float(share), _SHARE_DECIMALS),
            "realized_share": round(realized, _SHARE_DECIMALS),
            "share_error_points": round(100 * (realized - float(share)), 3),
            "requested_count": requested[domain],
            "available": available[domain],
            "selected": selected[domain],
            "shortfall": max(0, requested[domain] - available[domain]),
        }
    return report


def _mix_warnings(
    domains: Mapping[str, Mapping[str, Any]], config: MixConfig, n_selected: int
) -> list[str]:
    """Human-readable lines for every way the mix differs from the request."""
    action = (
        "its missing rows went to the other domains"
        if config.on_shortfall == "redistribute"
        else "the mix shrank to keep every share"
    )
    warnings = [
        f"{domain}: requested {row['requested_count']} tasks, only {row['available']} "
        f"eligible ({action})"
        for domain, row in domains.items()
        if row["shortfall"]
    ]
    if config.target_size is not None and n_selected < config.target_size:
        warnings.append(f"mix has {n_selected} tasks, {config.target_size} requested")
    for domain, row in domains.items():
        if abs(row["share_error_points"]) > SHARE_TOLERANCE_POINTS:
            warnings.append(
                f"{domain}: realized share {row['realized_share']:.3f} vs requested "
                f"{row['requested_share']:.3f}"
            )
    return warnings


def selection_summary(config: MixConfig, n_kept: int, n_selected: int) -> str:
    """One line saying how the mix chose its tasks and how many kept tasks it left out."""
    left_out = n_kept - n_selected
    tail = f"{n_selected} of {n_kept} kept tasks" + (f", {left_out} left out" if left_out else "")
    if config.weights is not None:
        weights = ", ".join(f"{d} {w:g}" for d, w in sorted(config.weights.items()))
        size = f", target {config.target_size}" if config.target_size else ""
        return f"weighted sample ({weights}{size}): {tail}"
    if config.target_size is not None:
        return f"a sample of {config.target_size} in natural proportions: {tail}"
    return f"every kept task, in natural proportions: {tail}"


def build_mix(tasks: Sequence[Mapping[str, Any]], config: MixConfig) -> MixResult:
    """Draw the training mix described by ``config`` from ``tasks``.

    ``tasks`` are mappings with at least ``REQUIRED_TASK_KEYS`` and optionally
    ``pass_rate`` (float in [0, 1] or None; missing means unknown). Raises ValueError on a
    missing key, a duplicate ``task_id`` or a pass rate outside [0, 1]. The result
    depends only on the set of tasks and the config, not on their order.
    """
    _validate_tasks(tasks)
    weighted_shares = config.shares() if config.weighted else None
    by_domain: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    unweighted: Counter[str] = Counter()
    zero_pass: Counter[str] = Counter()
    for task in tasks:
        domain = task["domain"]
        if weighted_shares is not None and domain not in weighted_shares:
            unweighted[domain] += 1
        elif config.drop_zero_pass and _pass_rate(task) == 0.0:
            zero_pass[domain] += 1
        else:
            by_domain[domain].append(task)

    if weighted_shares is None:
        shares = config.shares({d: len(members) for d, members in by_domain.items()})
    else:
        shares = weighted_shares
    available = {domain: len(by_domain[domain]) for domain in shares}
    target = _effective_target(config, shares, available)
    # what the user asked for, before any shortfall handling: the report compares with it
    requested = _hamilton(config.target_size or target, shares)
    quotas = plan_quotas(config, available)

    # one hash per eligible task, shared by the bucket draws and the output order
    ranks = {
        task["task_id"]: _selection_rank(config.seed, task["task_id"])
        for members in by_domain.values()
        for task in members
    }
    chosen: list[dict[str, Any]] = []
    buckets_report: dict[str, dict[str, dict[str, int]]] = {}
    for domain in shares:
        picked, buckets_report[domain] = _sample_domain(
            by_domain[domain], quotas[domain], config, ranks
        )
        chosen.extend(picked)

    chosen.sort(key=lambda task: ranks[task["task_id"]])
    selected = Counter(task["domain"] for task in chosen)
    domains = _domain_report(shares, requested, available, {d: selected[d] for d in shares})
    report = {
        "mix": config.name,
        "config": config.model_dump(mode="json"),
        "n_input": len(tasks),
        "n_eligible": sum(available.values()),
        "n_selected": len(chosen),
        "weighted": config.weighted,
        "left_out": len(tasks) - len(chosen),
        "selection": selection_summary(config, len(tasks), len(chosen)),
        "target_size": config.target_size,
        "effective_target_size": target,
        "on_shortfall": config.on_shortfall,
        "dropped": {
            "unweighted_domain": dict(sorted(unweighted.items())),
            "zero_pass": dict(sorted(zero_pass.items())),
        },
        "domains": domains,
        "max_share_error_points": max(
            (abs(row["share_error_points"]) for row in domains.values()), default=0.0
        ),
        "weights_met": all(
            abs(row["share_error_points"]) <= SHARE_TOLERANCE_POINTS for row in domains.values()
        ),
        "size_met": config.target_size is None or len(chosen) == config.target_size,
        "buckets": buckets_report,
        "split": _split_report(chosen),
        "warnings": _mix_warnings(domains, config, len(chosen)),
    }
    return MixResult(tasks=chosen, report=report)


def _strata(
    tasks: Sequence[Mapping[str, Any]], edges: Sequence[float]
) -> dict[str, list[Mapping[str, Any]]]:
    """Tasks per difficulty bucket label, every bucket present (possibly empty)."""
    labels = _bucket_labels(edges)
    strata: dict[str, list[Mapping[str, Any]]] = {label: [] for label in labels}
    strata[UNKNOWN_BUCKET] = []
    for task in tasks:
        rate = _pass_rate(task)
        label = UNKNOWN_BUCKET if rate is None else labels[_bucket_index(rate, edges)]
        strata[label].append(task)
    return strata


def _sample_domain(
    tasks: Sequence[Mapping[str, Any]],
    quota: int,
    config: MixConfig,
    ranks: Mapping[str, tuple[int, str]],
) -> tuple[list[dict[str, Any]], dict[str, dict[str, int]]]:
    """Stratified pick of ``quota`` tasks of one domain, and its per-bucket counts."""
    strata = _strata(tasks, config.difficulty_edges)
    sizes = {label: len(members) for label, members in strata.items()}
    bucket_quotas = _bucket_quotas(quota, sizes, config.bucket_allocation)
    picked: list[dict[str, Any]] = []
    for label, members in strata.items():
        ranked = sorted(members, key=lambda t: ranks[t["task_id"]])
        for task in ranked[: bucket_quotas[label]]:
            picked.append(
                {
                    **task,
                    "difficulty_bucket": label,
                    "split": SPLITS[1]
                    if is_validation(task["task_id"], config.val_fraction)
                    else SPLITS[0],
                }
            )
    report = {
        label: {"available": size, "selected": bucket_quotas[label]}
        for label, size in sizes.items()
        if size
    }
    return picked, report


def _split_report(chosen: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    per_domain: dict[str, Counter[str]] = defaultdict(Counter)
    for task in chosen:
        per_domain[task["domain"]][task["split"]] += 1
    totals = Counter(task["split"] for task in chosen)
    return {
        **{split: totals[split] for split in SPLITS},
        "by_domain": {
            domain: {split: counts[split] for split in SPLITS}
            for domain, counts in sorted(per_domain.items())
        },
    }


def sample_mix(tasks: Sequence[Mapping[str, Any]], config: MixConfig) -> list[dict[str, Any]]:
    """The sampled tasks of ``build_mix`` without the report."""
    return build_mix(tasks, config).tasks


# ------------------------------------------------------------------ per-partition mixes


def build_domain_mix(
    tasks: Sequence[Mapping[str, Any]], config: MixConfig, domain: str, available: Mapping[str, int]
) -> MixResult:
    """One domain's stratified, split sample, with the quota `build_mix` would give it.

    `available` is every weighted domain's eligible count (see `plan_quotas`): counts are
    all a domain partition needs from the others, so each partition of `training_mix`
    computes its share independently and the assembled mix equals `build_mix`'s.
    """
    own = [t for t in tasks if t["domain"] == domain]
    _validate_tasks(own)
    eligible = [t for t in own if not (config.drop_zero_pass and _pass_rate(t) == 0.0)]
    quota = plan_quotas(config, {**available, domain: len(eligible)}).get(domain, 0)
    ranks = {t["task_id"]: _selection_rank(config.seed, t["task_id"]) for t in eligible}
    picked, buckets = _sample_domain(eligible, quota, config, ranks)
    picked.sort(key=lambda task: ranks[task["task_id"]])
    report = {
        "domain": domain,
        "available": len(eligible),
        "zero_pass_dropped": len(own) - len(eligible),
        "quota": quota,
        "selected": len(picked),
        "buckets": buckets,
        "split": _split_report(picked),
    }
    return MixResult(tasks=picked, report=report)


def assembled_report(
    tasks: Sequence[Mapping[str, Any]],
    config: MixConfig,
    available: Mapping[str, int],
    kept: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Requested against realized shares of the mix assembled from every partition.

    ``available`` is every domain's eligible count (see ``plan_quotas``); ``kept`` every
    domain's kept count before the mix's own filters (``available`` when not given), for
    the number of kept tasks the mix left out.
    """
    shares = config.shares(available)
    selected = Counter(task["domain"] for task in tasks)
    n_kept = sum((kept if kept is not None else available).values())
    requested = _hamilton(config.target_size or _effective_target(config, shares, {d: available.get(d, 0) for d in shares}), shares)
    domains = _domain_report(
        shares,
        requested,
        {d: available.get(d, 0) for d in shares},
        {d: selected[d] for d in shares},
    )
    return {
        "mix": config.name,
        "n_selected": len(tasks),
        "weighted": config.weighted,
        "n_kept": n_kept,
        "left_out": n_kept - len(tasks),
        "selection": selection_summary(config, n_kept, len(tasks)),
        "target_size": config.target_size,
        "domains": domains,
        "max_share_error_points": max(
            (abs(r["share_error_points"]) for r in domains.values()), default=0.0
        ),
        "weights_met": all(
            abs(r["share_error_points"]) <= SHARE_TOLERANCE_POINTS for r in domains.values()
        ),
        "split": _split_report(tasks),
        "warnings": [
            f"{d}: requested {r['requested_count']} tasks, only {r['available']} eligible"
            for d, r in domains.items()
            if r["shortfall"]
        ],
    }


def mix_rows(tasks: Sequence[Mapping[str, Any]], domain: str, mix_name: str) -> list[dict[str, Any]]:
    """`training_mix` rows of a domain's sampled tasks, in sampling order."""
    return [
        {"task_id": t["task_id"], "domain": domain, "mix_name": mix_name, "split": t["split"],
         "difficulty_bucket": t["difficulty_bucket"], "position": i}
        for i, t in enumerate(tasks)
    ]


def left_out_by(config: MixConfig, domain: str) -> str:
    """What of the mix's own settings leaves `domain`'s kept tasks out ('' for nothing)."""
    if config.weights is not None and not config.weights.get(domain):
        return "weight 0"
    return "drop_zero_pass: none was ever solved" if config.drop_zero_pass else ""
