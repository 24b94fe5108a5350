"""Adversarial option selection: from each item's candidate pool, keep the distractors a
discriminator finds hardest to tell from the answer (adversarial filtering, as in
SWAG and HellaSwag: Zellers et al. 2018, 2019).

Every backend goes through it. A generator offers more candidates than a task shows (≥ 24
offline, ≥ 16 from an LLM); selection keeps 8:

1. A start without a model: per item, greedily add the candidate that leaves the answer
   least of an odd one out among the options chosen so far (its z-scores over the option
   set on every feature, centrality included, as close to zero as possible). For a
   partition too small to fit a model, this is the selection.
2. Rounds: fit a discriminator (gradient boosting: the cues interact, e.g. overlap x
   length) on the partition's tasks, cross-fitted so that no item is scored by a model
   trained on it; in each item, swap the selected distractors it finds least
   answer-like for the unused candidates it finds most answer-like; stop when the
   out-of-fold AUROC stops falling, or at the round cap. The best selection seen is kept.

Features are the option's own (core.synthesis.option_features) plus its centrality among the
current options, each also as a z-score and a rank within the item's option set: an
answer may be unremarkable in absolute terms and still be the one that differs.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from threadpoolctl import threadpool_limits

DISTRACTORS_SHOWN = 8
MAX_ROUNDS = 8
FOLDS = 2
# below this many items a fitted discriminator is noise: the model-free start is kept
MIN_ITEMS_FOR_MODEL = 40
# a round must lower the AUROC by at least this much to count as progress; selection stops
# after PATIENCE rounds without progress and keeps the best selection it measured
MIN_IMPROVEMENT = 0.003
PATIENCE = 2


@dataclass(slots=True)
class PoolItem:
    """One item's options as selection sees them: row 0 is the answer, rows 1.. the
    candidates, in the generator's order."""

    item_id: str
    features: np.ndarray  # (1 + n_candidates, n_features)
    similarity: np.ndarray  # (1 + n_candidates, 1 + n_candidates) pairwise similarity

    @property
    def n_candidates(self) -> int:
        return self.features.shape[0] - 1


class Discriminator(Protocol):
    def fit(self, x: np.ndarray, y: np.ndarray) -> Any: ...

    def predict_proba(self, x: np.ndarray) -> np.ndarray: ...


def default_discriminator(seed: int = 0) -> Discriminator:
    from sklearn.ensemble import HistGradientBoostingClassifier

    # 40 trees of 7 leaves at rate 0.2: what 80 trees of 15 leaves at 0.1 leave behind
    # scores the same under that larger model (AUROC .743 against .745 in math, .658
    # against .656 in science, 2,000-2,400 items), at half the CPU: every round fits
    # twice and scores every candidate of every item
    return HistGradientBoostingClassifier(
        max_iter=40, learning_rate=0.2, max_leaf_nodes=7, min_samples_leaf=20, l2_regularization=1.0,
        early_stopping=False, random_state=seed,
    )


@dataclass(slots=True)
class SelectionResult:
    """Per item, the chosen candidates (indices into its candidate list, in no particular
    order), and what selection did, for the partition's metadata."""

    chosen: list[list[int]]
    auroc_before: float | None
    auroc_after: float | None
    auroc_by_round: list[float] = field(default_factory=list)
    rounds: int = 0
    replaced: int = 0  # options that differ from the generator's first 8, over all items
    pool_mean: float = 0.0
    pool_min: int = 0
    model: str = "none"
    cpu_s: float = 0.0  # what features and rounds cost, set by the caller that timed them
    folds: list[dict[str, Any]] = field(default_factory=list)  # per fit: trained and scored item ids

    def to_row(self) -> dict[str, Any]:
        """The partition's `option_selection` row (without its domain and item count): what
        is the same on every re-run (CPU seconds go to the metadata only)."""
        meta = self.to_metadata()
        return {**{k: meta[k] for k in ("auroc_before", "auroc_after", "rounds", "options_replaced", "pool_mean",
                                         "pool_min", "discriminator")},
                "auroc_by_round": json.dumps(meta["auroc_by_round"])}

    def to_metadata(self) -> dict[str, Any]:
        return {
            "auroc_before": None if self.auroc_before is None else round(self.auroc_before, 4),
            "auroc_after": None if self.auroc_after is None else round(self.auroc_after, 4),
            "auroc_by_round": [round(a, 4) for a in self.auroc_by_round],
            "rounds": self.rounds,
            "options_replaced": self.replaced,
            "pool_mean": round(self.pool_mean, 2),
            "pool_min": self.pool_min,
            "discriminator": self.model,
            "cpu_s": round(self.cpu_s, 3),
        }


def _fold(item_id: str, round_no: int, folds: int, seed: int) -> int:
    digest = hashlib.blake2b(f"{seed}:{round_no}:{item_id}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % folds


def option_rows(item: PoolItem, members: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
    """Feature rows of the options `members` (row indices, answer included) as a set, and
    of `extra` rows measured against that set: raw features and centrality, each with
    its z-score and rank within the set."""
    rows = members if extra is None else np.concatenate((members, extra))
    sim = item.similarity[np.ix_(rows, members)]
    n = len(members)
    # centrality: mean similarity to the set's other members
    own = np.isin(rows, members)
    centrality = (sim.sum(axis=1) - own * 1.0) / np.maximum(n - own, 1)
    raw = np.hstack((item.features[rows], centrality[:, None]))
    ref = raw[:n]
    mean, std = ref.mean(axis=0), ref.std(axis=0)
    z = (raw - mean) / np.where(std > 1e-9, std, 1.0)
    # rank within the set, scaled to [0, 1]; an outsider's is where it would fall
    less = (raw[:, None, :] > ref[None, :, :]).sum(axis=1) + 0.5 * ((raw[:, None, :] == ref[None, :, :]).sum(axis=1) - own[:, None])
    rank = less / max(1, n - 1)
    return np.hstack((raw, z, rank))


def model_free_start(item: PoolItem, k: int) -> list[int]:
    """Greedy, without a model: seeded with the candidate nearest the answer on every
    feature, then each step adds the candidate that leaves the answer least of an odd one
    out: the smallest sum of its squared z-scores over the set, centrality included."""
    n = item.n_candidates
    if n <= k:
        return list(range(1, n + 1))
    f = item.features
    sim = item.similarity
    scale = f[1:].std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    nearest = int(np.argmin((((f[1:] - f[0]) / scale) ** 2).sum(axis=1))) + 1
    chosen = [nearest]
    remaining = np.array([c for c in range(1, n + 1) if c != nearest])
    while len(chosen) < k:
        members = np.array([0, *chosen])
        m = len(members)
        cands = remaining
        s1 = f[members].sum(axis=0) + f[cands]
        s2 = (f[members] ** 2).sum(axis=0) + f[cands] ** 2
        mean = s1 / (m + 1)
        std = np.sqrt(np.maximum(s2 / (m + 1) - mean**2, 0.0))
        z = np.where(std > 1e-9, (f[0] - mean) / np.where(std > 1e-9, std, 1.0), 0.0)
        # centrality of every option of each hypothetical set {members, c}
        base = sim[np.ix_(members, members)].sum(axis=1) - 1.0
        member_cent = (base[:, None] + sim[np.ix_(members, cands)]) / m
        cand_cent = sim[np.ix_(cands, members)].sum(axis=1) / m
        cent = np.vstack((member_cent, cand_cent[None, :]))
        cent_std = cent.std(axis=0)
        z_cent = np.where(cent_std > 1e-9, (cent[0] - cent.mean(axis=0)) / np.where(cent_std > 1e-9, cent_std, 1.0), 0.0)
        cost = (z**2).sum(axis=1) + z_cent**2
        pick = int(np.argmin(cost))
        chosen.append(int(cands[pick]))
        remaining = np.delete(remaining, pick)
    return chosen


def _auroc(y: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, scores))


def crossfit_scores(
    items: Sequence[PoolItem],
    selected: Sequence[Sequence[int]],
    round_no: int,
    make_model: Callable[[], Discriminator],
    folds: int = FOLDS,
    seed: int = 0,
) -> tuple[list[np.ndarray], list[np.ndarray], float, list[dict[str, Any]]]:
    """Fit on the items outside each fold, score those inside it. Returns per item the
    scores of its current options (answer first) and of its unused candidates, the
    out-of-fold AUROC of answer vs distractors, and per fit which items it trained on and
    which it scored (never the same)."""
    member_rows, outsider_rows, blocks, outsider_blocks = [], [], [], []
    for item, chosen in zip(items, selected, strict=True):
        members = np.array([0, *chosen])
        unused = np.array([c for c in range(1, item.n_candidates + 1) if c not in set(chosen)], dtype=int)
        rows = option_rows(item, members, unused)
        blocks.append(rows[: len(members)])
        outsider_blocks.append(rows[len(members) :])
        member_rows.append(members)
        outsider_rows.append(unused)
    assignment = np.array([_fold(it.item_id, round_no, folds, seed) for it in items])
    member_scores: list[np.ndarray] = [np.zeros(0)] * len(items)
    outsider_scores: list[np.ndarray] = [np.zeros(0)] * len(items)
    fits = []
    for f in range(folds):
        train = np.flatnonzero(assignment != f)
        test = np.flatnonzero(assignment == f)
        if len(train) == 0 or len(test) == 0:
            continue
        x = np.vstack([blocks[i] for i in train])
        y = np.concatenate([np.eye(1, len(blocks[i]), 0, dtype=np.int8)[0] for i in train])
        model = make_model()
        # one thread: the fits are small, and OpenMP threads on a busy machine spin-wait
        # for seconds (measured: 40 s instead of 1 s per fit at load 5 on 2 cores)
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore")
            model.fit(x, y)
        fits.append({"fold": f, "trained_on": [items[i].item_id for i in train], "scored": [items[i].item_id for i in test]})
        stacked = np.vstack([np.vstack((blocks[i], outsider_blocks[i])) for i in test])
        with threadpool_limits(1):
            proba = model.predict_proba(stacked)[:, 1]
        pos = 0
        for i in test:
            m, o = len(blocks[i]), len(outsider_blocks[i])
            member_scores[i] = proba[pos : pos + m]
            outsider_scores[i] = proba[pos + m : pos + m + o]
            pos += m + o
    y_all = np.concatenate([np.eye(1, len(s), 0)[0] for s in member_scores])
    s_all = np.concatenate(member_scores)
    auroc = _auroc(y_all, s_all) if 0 < y_all.sum() < len(y_all) else 0.5
    return member_scores, outsider_scores, auroc, fits


def select_options(
    items: Sequence[PoolItem],
    k: int = DISTRACTORS_SHOWN,
    max_rounds: int = MAX_ROUNDS,
    folds: int = FOLDS,
    seed: int = 0,
    make_model: Callable[[], Discriminator] | None = None,
    min_items: int = MIN_ITEMS_FOR_MODEL,
    log: Callable[[str], None] | None = None,
    solvers: Sequence[Solver] = (),
) -> SelectionResult:
    """Choose `k` distractors per item (items with fewer candidates keep them all).
    `solvers` are reasoning-free solvers that pick the option with the extreme value of
    one feature: after each round's swaps, where one of them picks the answer, an unused
    candidate it would pick instead is swapped in (`repair_solvers`)."""
    naive = [list(range(1, min(k, it.n_candidates) + 1)) for it in items]
    pools = [it.n_candidates for it in items]
    result = SelectionResult(
        chosen=[[c - 1 for c in s] for s in naive], auroc_before=None, auroc_after=None,
        pool_mean=float(np.mean(pools)) if pools else 0.0, pool_min=min(pools) if pools else 0,
    )
    if not items:
        return result
    if len(items) < min_items:
        current = [model_free_start(it, k) for it in items]
        rates = repair_rates(items, current, solvers)
        current = [repair_solvers(it, c, np.zeros(it.n_candidates + 1), solvers, rates, seed) for it, c in zip(items, current, strict=True)]
        result.chosen = [[c - 1 for c in s] for s in current]
        result.replaced = _replaced(naive, current)
        result.model = "model-free (too few items to fit a discriminator)"
        return result
    make = make_model or (lambda: default_discriminator(seed))
    result.model = "gradient boosting, cross-fitted"
    current = [list(s) for s in naive]
    best_auroc, best, stale = np.inf, current, 0
    for round_no in range(0, max_rounds + 1):
        member_scores, outsider_scores, auroc, fits = crossfit_scores(items, current, round_no, make, folds, seed)
        result.folds.extend(fits)
        if round_no == 0:
            result.auroc_before = auroc
        else:
            result.auroc_by_round.append(auroc)
        result.rounds = round_no
        if log is not None:
            log(f"option selection round {round_no}: AUROC {auroc:.3f}")
        if auroc < best_auroc - MIN_IMPROVEMENT:
            best_auroc, best, stale = auroc, [list(s) for s in current], 0
        else:
            stale += 1
            if stale >= PATIENCE:
                break
        swapped, scores = [], []
        for it, chosen, ms, os_ in zip(items, current, member_scores, outsider_scores, strict=True):
            unused = _unused(it, chosen)
            row_scores = np.zeros(it.n_candidates + 1)
            row_scores[[0, *chosen]] = ms
            row_scores[unused] = os_
            swapped.append(_swap(chosen, ms[1:], unused, os_, max_swaps=4 if round_no < 2 else 2))
            scores.append(row_scores)
        rates = repair_rates(items, swapped, solvers)
        current = [repair_solvers(it, c, sc, solvers, rates, seed) for it, c, sc in zip(items, swapped, scores, strict=True)]
    result.auroc_after = best_auroc
    result.chosen = [[c - 1 for c in s] for s in best]
    result.replaced = _replaced(naive, best)
    return result


@dataclass(frozen=True, slots=True)
class Solver:
    """A reasoning-free solver: picks the option with the largest `sign * feature`;
    `column` None means centrality among the options (the most-central solver)."""

    name: str
    column: int | None
    sign: float = 1.0


def _solver_values(item: PoolItem, solver: Solver, members: np.ndarray, rows: np.ndarray) -> np.ndarray:
    if solver.column is not None:
        return solver.sign * item.features[rows, solver.column]
    own = np.isin(rows, members)
    sim = item.similarity[np.ix_(rows, members)]
    return solver.sign * (sim.sum(axis=1) - own) / np.maximum(len(members) - own, 1)


def solver_hits(items: Sequence[PoolItem], selected: Sequence[Sequence[int]], solver: Solver) -> float:
    """The share of items whose answer the solver picks."""
    hits = 0
    for item, chosen in zip(items, selected, strict=True):
        members = np.array([0, *chosen])
        hits += int(np.argmax(_solver_values(item, solver, members, members)) == 0)
    return hits / max(1, len(items))


def repair_rates(items: Sequence[PoolItem], selected: Sequence[Sequence[int]], solvers: Sequence[Solver]) -> dict[str, float]:
    """Per solver, the share of its hits to repair so that it is right about as often as
    chance: repairing every hit would leave the answer never the longest (or the most
    central...) option, a cue of its own."""
    rates = {}
    for solver in solvers:
        hits = solver_hits(items, selected, solver)
        chance = float(np.mean([1.0 / (len(s) + 1) for s in selected])) if selected else 0.0
        rates[solver.name] = float(np.clip(1.0 - chance / hits, 0.0, 1.0)) if hits > 0 else 0.0
    return rates


def repair_solvers(
    item: PoolItem, chosen: Sequence[int], row_scores: np.ndarray, solvers: Sequence[Solver],
    rates: dict[str, float] | None = None, seed: int = 0,
) -> list[int]:
    """Where a solver picks the answer (and a draw under its `rates` says to repair), swap
    the least answer-like chosen distractor (by `row_scores`) for the most answer-like
    unused candidate that the solver would pick over the answer. Solvers are visited in a
    fixed order, so a later one may undo an earlier one's repair only when no candidate
    satisfies both."""
    chosen = list(chosen)
    for solver in solvers:
        if rates is not None and _draw(item.item_id, solver.name, seed) >= rates.get(solver.name, 1.0):
            continue
        members = np.array([0, *chosen])
        values = _solver_values(item, solver, members, members)
        if int(np.argmax(values)) != 0:
            continue
        unused = np.array(_unused(item, chosen), dtype=int)
        if not len(unused):
            continue
        beating = unused[_solver_values(item, solver, members, unused) > values[0] + 1e-9]
        if not len(beating):
            continue
        incoming = int(beating[np.argmax(row_scores[beating])])
        outgoing = int(np.argmin(row_scores[chosen]))
        chosen[outgoing] = incoming
    return chosen


def _draw(item_id: str, name: str, seed: int) -> float:
    digest = hashlib.blake2b(f"{seed}:{name}:{item_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _unused(item: PoolItem, chosen: Sequence[int]) -> list[int]:
    taken = set(chosen)
    return [c for c in range(1, item.n_candidates + 1) if c not in taken]


def _swap(chosen: list[int], chosen_scores: np.ndarray, unused: list[int], unused_scores: np.ndarray, max_swaps: int) -> list[int]:
    """The least answer-like chosen distractors out, the most answer-like unused ones in."""
    if not unused:
        return list(chosen)
    out = list(chosen)
    weakest = np.argsort(chosen_scores, kind="stable")
    strongest = np.argsort(-unused_scores, kind="stable")
    for w, s in zip(weakest[:max_swaps], strongest[:max_swaps], strict=False):
        if unused_scores[s] > chosen_scores[w]:
            out[w] = unused[s]
    return out


def _replaced(naive: Sequence[Sequence[int]], chosen: Sequence[Sequence[int]]) -> int:
    return sum(len(set(c) - set(n)) for n, c in zip(naive, chosen, strict=True))
