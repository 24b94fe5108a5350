"""Adversarial option selection: from each item's candidate pool, keep the distractors a
discriminator finds hardest to tell from the answer (adversarial filtering, as in
SWAG and HellaSwag: Zellers et al. 2018, 2019).

Every backend goes through it. A generator offers more candidates than a task shows (≥ 24
offline, ≥ 16 from an LLM); selection keeps 8:

1. A partition too small to fit a model: per item, greedily add the candidate that leaves
   the answer least of an odd one out among the options chosen so far (its z-scores over
   the option set on every feature, centrality included, as close to zero as possible).
2. Otherwise rounds, from the generator's first 8: fit a discriminator (gradient
   boosting: the cues interact, e.g. overlap x length) on the partition's tasks,
   cross-fitted so that no item is scored by a model trained on it; in each item, swap
   the selected distractors it finds least answer-like for the unused candidates it finds
   most answer-like; stop when the out-of-fold AUROC stops falling, or at the round cap.
   The best selection seen is kept.

Either way, where a reasoning-free solver (longest, most central...) picks the answer, a
candidate it would pick instead is swapped in, just often enough to bring it to about chance.
Items are scored in padded blocks of similar pool size, a few array operations a round.

3. Then the items selection could not fix are set aside, as AFLite does (Le Bras et al.
   2020, "Adversarial Filters of Dataset Biases"): each item's predictability is the share
   of fresh cross-fits (two fold partitions, each with the gradient-boosting and a linear
   discriminator) that rank its answer above every distractor it shows. An item at
   SOLVABLE_SHARE or above is one a surface reader solves whatever options it is shown:
   its task is flagged `surface_solvable`, and filtering drops it rather than teach its
   cue. As in AFLite, this repeats on the items left, a few times at most (`set_aside`).

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
# AFLite's threshold (Le Bras et al. 2020: tau = 0.75): an item whose answer three of four
# fresh cross-fits pick out is surface-solvable. Measured on the whole shared corpora
# (BENCHMARKS.md §8) it sets aside 13-26% of a domain's items
SOLVABLE_SHARE = 0.75
PREDICTABILITY_PARTITIONS = 2
# AFLite iterates: with the most predictable items gone, models fitted on the rest find
# the next ones. It stops when an iteration sets aside under 1% of what it measured
AFLITE_ITERATIONS = 3
MIN_SET_ASIDE = 0.01
# fold assignments of the predictability fits: rounds no selection run reaches
_PREDICTABILITY_ROUND = 1_000


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


def linear_discriminator() -> Discriminator:
    """The second surface reader of the predictability fits: a cue that adds up linearly
    (the gate's own classifier is linear) is one gradient boosting's few shallow trees may
    spread thin."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # Newton-Cholesky: few features, many rows, so three Newton steps on a 93 x 93 system
    # converge; liblinear took 16x the CPU for the same ranking (rank correlation 1.000000
    # on math's AFLite fits; it also penalized the intercept, so scores differ by 1e-4)
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced",
                                                              solver="newton-cholesky"))


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
    # item id -> its predictability (AFLite's), for the items at the threshold or above
    solvable: dict[str, float] = field(default_factory=dict)
    solvable_by_iteration: list[int] = field(default_factory=list)
    cpu_s: float = 0.0  # what features and rounds cost, set by the caller that timed them
    folds: list[dict[str, Any]] = field(default_factory=list)  # per fit: trained and scored item ids

    def to_row(self) -> dict[str, Any]:
        """The partition's `option_selection` row (without its domain and item count): what
        is the same on every re-run (CPU seconds go to the metadata only)."""
        meta = self.to_metadata()
        return {**{k: meta[k] for k in ("auroc_before", "auroc_after", "rounds", "options_replaced", "pool_mean",
                                         "pool_min", "discriminator", "surface_solvable")},
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
            "surface_solvable": len(self.solvable),
            "surface_solvable_by_iteration": self.solvable_by_iteration,
            "cpu_s": round(self.cpu_s, 3),
        }


def _fold(item_id: str, round_no: int, folds: int, seed: int) -> int:
    digest = hashlib.blake2b(f"{seed}:{round_no}:{item_id}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % folds


# items are measured this many at a time, padded to one shape: one numpy pass scores a
# block, where a loop over items paid numpy's per-call overhead some 15 times an item
_BLOCK_ITEMS = 256


@dataclass(slots=True)
class _Block:
    """Items of similar pool size, padded to one shape, and their current selection."""

    index: np.ndarray  # (B,) positions in the partition's item list
    features: np.ndarray  # (B, P, F): rows past an item's size are zero
    similarity: np.ndarray  # (B, P, P)
    size: np.ndarray  # (B,) 1 + n_candidates
    chosen: np.ndarray  # (B, k): candidate rows; column j counts where j < n_chosen
    n_chosen: np.ndarray  # (B,)

    def members(self) -> tuple[np.ndarray, np.ndarray]:
        """(B, 1 + k) rows of the current options, answer first, and which of them count."""
        rows = np.concatenate((np.zeros((len(self.index), 1), dtype=np.int64), self.chosen), axis=1)
        valid = np.arange(rows.shape[1])[None, :] <= self.n_chosen[:, None]
        return np.where(valid, rows, 0), valid

    def held(self, scores: np.ndarray) -> np.ndarray:
        """(B, k) the chosen candidates' `scores` (B, P), +inf past each item's selection."""
        counted = np.arange(self.chosen.shape[1])[None, :] < self.n_chosen[:, None]
        return np.where(counted, np.take_along_axis(scores, self.chosen, axis=1), np.inf)

    def unused(self) -> tuple[np.ndarray, np.ndarray]:
        """(B, U) candidate rows outside the selection, ascending, and which of them count."""
        p = self.features.shape[1]
        free = (np.arange(p)[None, :] >= 1) & (np.arange(p)[None, :] < self.size[:, None])
        members, valid = self.members()
        np.put_along_axis(free, np.where(valid, members, 0), False, axis=1)
        width = int(free.sum(axis=1).max()) if len(free) else 0
        order = np.argsort(~free, axis=1, kind="stable")[:, :width]
        return order, np.take_along_axis(free, order, axis=1)


def _blocks(items: Sequence[PoolItem], selected: Sequence[Sequence[int]], k: int) -> list[_Block]:
    order = np.argsort([it.features.shape[0] for it in items], kind="stable")
    blocks = []
    for lo in range(0, len(order), _BLOCK_ITEMS):
        index = order[lo : lo + _BLOCK_ITEMS]
        size = np.array([items[i].features.shape[0] for i in index])
        b, p, f = len(index), int(size.max()), items[index[0]].features.shape[1]
        features = np.zeros((b, p, f), dtype=np.float32)
        similarity = np.zeros((b, p, p), dtype=np.float32)
        chosen = np.zeros((b, k), dtype=np.int64)
        n_chosen = np.zeros(b, dtype=np.int64)
        for j, i in enumerate(index):
            n = size[j]
            features[j, :n] = items[i].features
            similarity[j, :n, :n] = items[i].similarity
            n_chosen[j] = len(selected[i])
            chosen[j, : n_chosen[j]] = selected[i]
        blocks.append(_Block(index, features, similarity, size, chosen, n_chosen))
    return blocks


def _selection(blocks: Sequence[_Block], n_items: int) -> list[list[int]]:
    out: list[list[int]] = [[] for _ in range(n_items)]
    for blk in blocks:
        for j, i in enumerate(blk.index):
            out[i] = blk.chosen[j, : blk.n_chosen[j]].tolist()
    return out


def _centrality(blk: _Block, rows: np.ndarray, members: np.ndarray, valid: np.ndarray, own: np.ndarray) -> np.ndarray:
    """(B, L): mean similarity of each of `rows` to the valid members, itself left out."""
    sim = np.take_along_axis(np.take_along_axis(blk.similarity, rows[:, :, None], axis=1), members[:, None, :], axis=2)
    total = np.where(valid[:, None, :], sim, 0.0).sum(axis=2)
    n = valid.sum(axis=1)[:, None]
    return (total - own * 1.0) / np.maximum(n - own, 1)


def _option_rows(blk: _Block, outsiders: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Feature rows of each item's current options as a set, and (`outsiders`) of its
    unused candidates measured against that set: raw features and centrality, each with
    its z-score and rank within the set. Returns (B, L, 3 (F + 1)) rows, their candidate
    row indices (B, L: members first, answer at 0), which count, and which of the members
    count (B, 1 + k). A member's row is the same with or without the outsiders."""
    members, member_valid = blk.members()
    if outsiders:
        unused, unused_valid = blk.unused()
        rows = np.concatenate((members, unused), axis=1)
        valid = np.concatenate((member_valid, unused_valid), axis=1)
    else:
        rows, valid = members, member_valid
    own = np.zeros(rows.shape, dtype=bool)
    own[:, : members.shape[1]] = member_valid
    centrality = _centrality(blk, rows, members, member_valid, own)
    raw = np.concatenate((np.take_along_axis(blk.features, rows[:, :, None], axis=1), centrality[:, :, None]), axis=2)
    ref = raw[:, : members.shape[1]]
    weight = member_valid[:, :, None]
    n = np.maximum(member_valid.sum(axis=1), 1)[:, None, None]
    mean = np.where(weight, ref, 0.0).sum(axis=1, keepdims=True) / n
    std = np.sqrt(np.where(weight, (ref - mean) ** 2, 0.0).sum(axis=1, keepdims=True) / n)
    z = (raw - mean) / np.where(std > 1e-9, std, 1.0)
    # rank within the set, scaled to [0, 1]; an outsider's is where it would fall
    counted = member_valid[:, None, :, None]
    above = ((raw[:, :, None, :] > ref[:, None, :, :]) & counted).sum(axis=2)
    tied = ((raw[:, :, None, :] == ref[:, None, :, :]) & counted).sum(axis=2)
    rank = (above + 0.5 * (tied - own[:, :, None])) / np.maximum(n - 1, 1)
    return np.concatenate((raw, z, rank), axis=2), rows, valid, member_valid


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


def _score_blocks(
    blocks: Sequence[_Block], ids: Sequence[str], round_no: int, make_model: Callable[[], Discriminator], folds: int, seed: int,
) -> tuple[list[np.ndarray], float, list[dict[str, Any]]]:
    """Fit on the items outside each fold, score those inside it. Returns per block (B, P)
    each candidate row's score against the current set (a member's as a member, an unused
    candidate's as an outsider; -inf past an item's size), the out-of-fold AUROC of answer
    vs distractors, and per fit which items it trained on and which it scored (never the
    same).

    The fits read only the current options' rows, and the rows to score are built one block
    at a time: every candidate of every item at once, four fifths of them outsiders at 93
    float64 features a row, grew with the partition (a 10,884-item pool peaked 1,036 MB
    above it, now 401 MB: BENCHMARKS.md, "Performance problems", item 9)."""
    assignment = np.array([_fold(i, round_no, folds, seed) for i in ids])
    models, fits = _fold_models(blocks, ids, assignment, make_model, folds)
    scores: list[np.ndarray] = []
    judged_answer, judged_proba = [], []
    with warnings.catch_warnings(), threadpool_limits(1):  # one thread, as the fits
        warnings.simplefilter("ignore")
        for blk in blocks:
            x, rows, valid, member_valid = _option_rows(blk)
            b, slot = np.nonzero(valid)
            fold = assignment[blk.index[b]]
            proba = np.full(len(b), 0.5)
            scored = np.zeros(len(b), dtype=bool)
            for f, model in models.items():
                test = fold == f
                if test.any():
                    # column-major: a tree reads a few features of every row, and a row-major
                    # block cost a cache miss per node (the same scores; math's whole selection
                    # at 10K documents took 14.6-16.5 s of CPU against 19.7-22.6 s row-major)
                    proba[test] = model.predict_proba(np.asfortranarray(x[b[test], slot[test]]))[:, 1]
                    scored |= test
            block_scores = np.full(blk.features.shape[:2], -np.inf)
            block_scores[b, rows[b, slot]] = proba
            scores.append(block_scores)
            judged = (slot < member_valid.shape[1]) & scored
            judged_answer.append(slot[judged] == 0)
            judged_proba.append(proba[judged])
    y_all = np.concatenate(judged_answer).astype(np.int8)
    auroc = _auroc(y_all, np.concatenate(judged_proba)) if 0 < y_all.sum() < len(y_all) else 0.5
    return scores, auroc, fits


def _fold_models(
    blocks: Sequence[_Block], ids: Sequence[str], assignment: np.ndarray, make_model: Callable[[], Discriminator], folds: int,
) -> tuple[dict[int, Discriminator], list[dict[str, Any]]]:
    """Per fold with items on both sides, the discriminator fitted on the current options
    of the items outside it (answer 1, distractors 0), and per fit the items it trained on
    and those it is to score."""
    parts = []
    for blk in blocks:
        x, _, _, member_valid = _option_rows(blk, outsiders=False)
        b, slot = np.nonzero(member_valid)
        parts.append((x[b, slot], blk.index[b], slot))
    x, item, slot = (np.concatenate(col) for col in zip(*parts, strict=True))
    del parts
    # training rows in item order, each item's options first: the order the fits have
    # always seen
    order = np.lexsort((slot, item))
    item_fold = assignment[item[order]]
    answer = (slot[order] == 0).astype(np.int8)
    models: dict[int, Discriminator] = {}
    fits = []
    for f in range(folds):
        train_items, test_items = np.flatnonzero(assignment != f), np.flatnonzero(assignment == f)
        if len(train_items) == 0 or len(test_items) == 0:
            continue
        outside = item_fold != f
        model = make_model()
        # one thread: the fits are small, and OpenMP threads on a busy machine spin-wait
        # for seconds (measured: 40 s instead of 1 s per fit at load 5 on 2 cores)
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore")
            model.fit(x[order[outside]], answer[outside])
        models[f] = model
        fits.append({"fold": f, "trained_on": [ids[i] for i in train_items], "scored": [ids[i] for i in test_items]})
    return models, fits


def crossfit_scores(
    items: Sequence[PoolItem],
    selected: Sequence[Sequence[int]],
    round_no: int,
    make_model: Callable[[], Discriminator],
    folds: int = FOLDS,
    seed: int = 0,
) -> tuple[list[np.ndarray], list[np.ndarray], float, list[dict[str, Any]]]:
    """`_score_blocks` per item: the scores of its current options (answer first) and of
    its unused candidates (ascending), the out-of-fold AUROC, and the fits."""
    k = max((len(s) for s in selected), default=0)
    blocks = _blocks(items, selected, k)
    scores, auroc, fits = _score_blocks(blocks, [it.item_id for it in items], round_no, make_model, folds, seed)
    member_scores: list[np.ndarray] = [np.zeros(0)] * len(items)
    outsider_scores: list[np.ndarray] = [np.zeros(0)] * len(items)
    for blk, sc in zip(blocks, scores, strict=True):
        members, member_valid = blk.members()
        unused, unused_valid = blk.unused()
        for j, i in enumerate(blk.index):
            member_scores[i] = sc[j, members[j][member_valid[j]]]
            outsider_scores[i] = sc[j, unused[j][unused_valid[j]]]
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
    solvable_share: float | None = SOLVABLE_SHARE,
) -> SelectionResult:
    """Choose `k` distractors per item (items with fewer candidates keep them all).
    `solvers` are reasoning-free solvers that pick the option with the extreme value of
    one feature: after each round's swaps, where one of them picks the answer, an unused
    candidate it would pick instead is swapped in (`_repair`). With a model, items at
    `solvable_share` predictability or above are in `solvable` (None: not measured)."""
    naive = [list(range(1, min(k, it.n_candidates) + 1)) for it in items]
    pools = [it.n_candidates for it in items]
    result = SelectionResult(
        chosen=[[c - 1 for c in s] for s in naive], auroc_before=None, auroc_after=None,
        pool_mean=float(np.mean(pools)) if pools else 0.0, pool_min=min(pools) if pools else 0,
    )
    if not items:
        return result
    ids = [it.item_id for it in items]
    if len(items) < min_items:
        blocks = _blocks(items, [model_free_start(it, k) for it in items], k)
        rates = _repair_rates(blocks, solvers)
        for blk in blocks:
            _repair(blk, np.zeros(blk.features.shape[:2]), solvers, rates, _draws(blk, ids, solvers, seed))
        best = _selection(blocks, len(items))
        result.chosen = [[c - 1 for c in s] for s in best]
        result.replaced = _replaced(naive, best)
        result.model = "model-free (too few items to fit a discriminator)"
        return result
    make = make_model or (lambda: default_discriminator(seed))
    result.model = "gradient boosting, cross-fitted"
    blocks = _blocks(items, naive, k)
    draws = [_draws(blk, ids, solvers, seed) for blk in blocks]
    best_auroc, best, stale = np.inf, naive, 0
    for round_no in range(0, max_rounds + 1):
        scores, auroc, fits = _score_blocks(blocks, ids, round_no, make, folds, seed)
        result.folds.extend(fits)
        if round_no == 0:
            result.auroc_before = auroc
        else:
            result.auroc_by_round.append(auroc)
        result.rounds = round_no
        if log is not None:
            log(f"option selection round {round_no}: AUROC {auroc:.3f}")
        if auroc < best_auroc - MIN_IMPROVEMENT:
            best_auroc, best, stale = auroc, _selection(blocks, len(items)), 0
        else:
            stale += 1
            if stale >= PATIENCE:
                break
        for blk, sc in zip(blocks, scores, strict=True):
            _swap(blk, sc, max_swaps=4 if round_no < 2 else 2)
        rates = _repair_rates(blocks, solvers)
        for blk, sc, dr in zip(blocks, scores, draws, strict=True):
            _repair(blk, sc, solvers, rates, dr)
    result.auroc_after = best_auroc
    result.chosen = [[c - 1 for c in s] for s in best]
    result.replaced = _replaced(naive, best)
    if solvable_share is not None:
        aside = set_aside(items, best, (make, linear_discriminator), solvable_share, folds, seed, min_items)
        result.folds.extend(aside.fits)
        result.solvable, result.solvable_by_iteration = aside.solvable, aside.per_iteration
        if log is not None:
            log(f"option selection: {len(result.solvable)} of {len(items)} items surface-solvable (answer picked "
                f"out by >= {solvable_share:.0%} of fresh cross-fits; per AFLite iteration {aside.per_iteration})")
    return result


@dataclass(slots=True)
class SetAside:
    """What AFLite's loop set aside: item id -> predictability, how many items each
    iteration set aside, and every cross-fit it ran."""

    solvable: dict[str, float] = field(default_factory=dict)
    per_iteration: list[int] = field(default_factory=list)
    fits: list[dict[str, Any]] = field(default_factory=list)


def set_aside(
    items: Sequence[PoolItem],
    selected: Sequence[Sequence[int]],
    make_models: Sequence[Callable[[], Discriminator]],
    share: float = SOLVABLE_SHARE,
    folds: int = FOLDS,
    seed: int = 0,
    min_items: int = MIN_ITEMS_FOR_MODEL,
) -> SetAside:
    """AFLite's loop: the items at `share` predictability or above, measured again on what
    is left (models fitted without the items already set aside see the cues those hid)
    until an iteration sets aside under MIN_SET_ASIDE of its items, at most
    AFLITE_ITERATIONS times."""
    out = SetAside()
    # only the options shown are scored: the unused candidates, four in five of the rows,
    # would be scored for nothing
    items = [PoolItem(it.item_id, it.features[rows], it.similarity[np.ix_(rows, rows)])
             for it, rows in ((it, [0, *s]) for it, s in zip(items, selected, strict=True))]
    selected = [list(range(1, len(s) + 1)) for s in selected]
    remaining = list(range(len(items)))
    for iteration in range(AFLITE_ITERATIONS):
        if len(remaining) < min_items:
            break
        shares, fits = predictability([items[i] for i in remaining], [selected[i] for i in remaining], make_models,
                                      folds=folds, seed=seed, first_round=_PREDICTABILITY_ROUND + 10 * iteration)
        out.fits.extend(fits)
        flagged = shares >= share
        out.solvable.update({items[i].item_id: float(s) for i, s, f in zip(remaining, shares, flagged, strict=True) if f})
        out.per_iteration.append(int(flagged.sum()))
        remaining = [i for i, f in zip(remaining, flagged, strict=True) if not f]
        if flagged.sum() < MIN_SET_ASIDE * len(flagged):
            break
    return out


def predictability(
    items: Sequence[PoolItem],
    selected: Sequence[Sequence[int]],
    make_models: Sequence[Callable[[], Discriminator]],
    partitions: int = PREDICTABILITY_PARTITIONS,
    folds: int = FOLDS,
    seed: int = 0,
    first_round: int = _PREDICTABILITY_ROUND,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Per item, the share of cross-fits (each of `partitions` fold assignments, with each
    model) whose out-of-fold scores put its answer strictly above every option it shows
    (`selected`: candidate rows, 1-based), and the fits (no item scored by a model trained
    on it)."""
    hits = np.zeros(len(items))
    fits: list[dict[str, Any]] = []
    n = 0
    for r in range(partitions):
        for make in make_models:
            members, _, _, part = crossfit_scores(items, selected, first_round + r, make, folds, seed)
            hits += [len(s) > 1 and bool(s[0] > s[1:].max()) for s in members]
            fits.extend(part)
            n += 1
    return hits / max(1, n), fits


@dataclass(frozen=True, slots=True)
class Solver:
    """A reasoning-free solver: picks the option with the largest `sign * feature`;
    `column` None means centrality among the options (the most-central solver)."""

    name: str
    column: int | None
    sign: float = 1.0


def _solver_values(blk: _Block, solver: Solver, rows: np.ndarray, own: np.ndarray) -> np.ndarray:
    """(B, L): the solver's value of each of `rows` against the current options (`own`:
    which rows are among them)."""
    if solver.column is not None:
        return solver.sign * np.take_along_axis(blk.features[:, :, solver.column], rows, axis=1).astype(np.float64)
    members, member_valid = blk.members()
    return solver.sign * _centrality(blk, rows, members, member_valid, own)


def _member_values(blk: _Block, solver: Solver) -> np.ndarray:
    """(B, 1 + k) the solver's value of each current option, answer first; -inf past each
    item's selection."""
    members, member_valid = blk.members()
    return np.where(member_valid, _solver_values(blk, solver, members, member_valid), -np.inf)


def _answer_on_top(values: np.ndarray) -> np.ndarray:
    """(B,) whether the answer (column 0) beats every other option. A tie is no hit: the
    options are shown shuffled, so a solver breaking it by position is right by chance
    (a copy share of 0 for every option is common)."""
    return values[:, 0] > values[:, 1:].max(axis=1, initial=-np.inf)


def _block_hits(blk: _Block, solver: Solver) -> np.ndarray:
    """(B,) whether the solver picks each item's answer."""
    return _answer_on_top(_member_values(blk, solver))


def solver_hits(items: Sequence[PoolItem], selected: Sequence[Sequence[int]], solver: Solver) -> float:
    """The share of items whose answer the solver picks."""
    k = max((len(s) for s in selected), default=0)
    hits = sum(int(_block_hits(blk, solver).sum()) for blk in _blocks(items, selected, k))
    return hits / max(1, len(items))


def _repair_rates(blocks: Sequence[_Block], solvers: Sequence[Solver]) -> dict[str, float]:
    """Per solver, the share of its hits to repair so that it is right about as often as
    chance: repairing every hit would leave the answer never the longest (or the most
    central...) option, a cue of its own."""
    n_items = sum(len(blk.index) for blk in blocks)
    chance = float(np.mean(np.concatenate([1.0 / (blk.n_chosen + 1) for blk in blocks]))) if n_items else 0.0
    rates = {}
    for solver in solvers:
        hits = sum(int(_block_hits(blk, solver).sum()) for blk in blocks) / max(1, n_items)
        rates[solver.name] = float(np.clip(1.0 - chance / hits, 0.0, 1.0)) if hits > 0 else 0.0
    return rates


def _repair(blk: _Block, scores: np.ndarray, solvers: Sequence[Solver], rates: dict[str, float], draws: dict[str, np.ndarray]) -> None:
    """Where a solver picks the answer (and a draw under its `rates` says to repair), swap
    the least answer-like chosen distractor (by `scores`) for the most answer-like unused
    candidate that the solver would pick over the answer. Solvers are visited in a fixed
    order, so a later one may undo an earlier one's repair only when no candidate
    satisfies both."""
    every = np.arange(len(blk.index))
    for solver in solvers:
        values = _member_values(blk, solver)
        due = _answer_on_top(values) & (draws[solver.name] < rates.get(solver.name, 1.0))
        unused, unused_valid = blk.unused()
        if not due.any() or unused.shape[1] == 0:
            continue
        outsider = _solver_values(blk, solver, unused, np.zeros(unused.shape, dtype=bool))
        beating = unused_valid & (outsider > values[:, :1] + 1e-9) & due[:, None]
        todo = every[beating.any(axis=1)]
        if not len(todo):
            continue
        pull = np.where(beating, np.take_along_axis(scores, unused, axis=1), -np.inf)[todo]
        incoming = unused[todo, np.argmax(pull, axis=1)]
        blk.chosen[todo, np.argmin(blk.held(scores)[todo], axis=1)] = incoming


def _draws(blk: _Block, ids: Sequence[str], solvers: Sequence[Solver], seed: int) -> dict[str, np.ndarray]:
    return {s.name: np.array([_draw(ids[i], s.name, seed) for i in blk.index]) for s in solvers}


def _draw(item_id: str, name: str, seed: int) -> float:
    digest = hashlib.blake2b(f"{seed}:{name}:{item_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _swap(blk: _Block, scores: np.ndarray, max_swaps: int) -> None:
    """The least answer-like chosen distractors out, the most answer-like unused ones in."""
    unused, unused_valid = blk.unused()
    if unused.shape[1] == 0:
        return
    held = blk.held(scores)
    offered = np.where(unused_valid, np.take_along_axis(scores, unused, axis=1), -np.inf)
    weakest = np.argsort(held, axis=1, kind="stable")
    strongest = np.argsort(-offered, axis=1, kind="stable")
    every = np.arange(len(blk.index))
    for t in range(min(max_swaps, weakest.shape[1], strongest.shape[1])):
        w, s = weakest[:, t], strongest[:, t]
        better = offered[every, s] > held[every, w]
        blk.chosen[every[better], w[better]] = unused[every[better], s[better]]


def _replaced(naive: Sequence[Sequence[int]], chosen: Sequence[Sequence[int]]) -> int:
    return sum(len(set(c) - set(n)) for n, c in zip(naive, chosen, strict=True))
