"""Option selection: adversarial filtering of each item's candidate pool."""

from __future__ import annotations

import random

import numpy as np
import pytest

from goose_assets.core.synthesis.ngram import NgramModel
from goose_assets.core.synthesis.option_features import (
    SOLVERS,
    FeatureModels,
    ItemOptions,
    option_similarity,
    pool_items,
)
from goose_assets.core.synthesis.selection import (
    SOLVABLE_SHARE,
    PoolItem,
    crossfit_scores,
    predictability,
    select_options,
    set_aside,
    solver_hits,
)

_WORDS = "signal value table record method answer number system layer field source output input".split()


def _sentence(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n_words)).capitalize() + "."


def _planted_partition(n_items: int, seed: int = 0) -> list[ItemOptions]:
    """Every answer is longer than the generator's first eight candidates; the pool
    behind them holds candidates as long as the answer, or longer."""
    rng = random.Random(seed)
    items = []
    for i in range(n_items):
        answer = _sentence(rng, rng.randint(15, 22))
        short = [_sentence(rng, rng.randint(5, 8)) for _ in range(8)]
        long = [_sentence(rng, rng.randint(15, 22)) for _ in range(12)]
        context = f"{_sentence(rng, 20)} [MASK] {_sentence(rng, 20)}"
        items.append(ItemOptions(f"item_{i}", "", context, [answer, *short, *long]))
    return items


def test_selection_removes_a_planted_length_artifact() -> None:
    items = _planted_partition(160)
    models = FeatureModels.fit((it.question, it.context_masked) for it in items)
    pool = pool_items(models, items)
    longest = next(s for s in SOLVERS if s.name == "longest")
    naive = [list(range(1, 9)) for _ in pool]
    assert solver_hits(pool, naive, longest) == 1.0  # the artifact: the answer is always the longest

    result = select_options(pool, solvers=SOLVERS)

    assert result.auroc_before is not None and result.auroc_before > 0.95
    assert result.auroc_after is not None and result.auroc_after < result.auroc_before - 0.2
    chosen = [[c + 1 for c in s] for s in result.chosen]
    assert solver_hits(pool, chosen, longest) < 0.35
    assert result.replaced > 0 and all(len(set(s)) == 8 for s in result.chosen)
    assert result.rounds >= 1 and result.auroc_by_round


class _RecordingModel:
    """A discriminator that remembers what it was trained on, and scores a row it has seen
    (by its features) as a perfect answer: a leak from training to scoring would show."""

    fits: list[set[bytes]] = []

    def fit(self, x: np.ndarray, y: np.ndarray) -> _RecordingModel:
        self.seen = {row.tobytes(): float(label) for row, label in zip(x, y, strict=True)}
        _RecordingModel.fits.append(set(self.seen))
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = np.array([self.seen.get(row.tobytes(), 0.5) for row in x])
        return np.column_stack([1 - p, p])


def _random_pool(n_items: int, seed: int = 0) -> list[PoolItem]:
    rng = np.random.default_rng(seed)
    return [PoolItem(f"item_{i}", rng.normal(size=(20, 6)).astype(np.float32), np.eye(20, dtype=np.float32)) for i in range(n_items)]


def test_crossfitting_never_scores_an_item_with_a_model_trained_on_it() -> None:
    pool = _random_pool(60)
    selected = [list(range(1, 9)) for _ in pool]
    _RecordingModel.fits = []
    members, outsiders, auroc, fits = crossfit_scores(pool, selected, 3, _RecordingModel, folds=2)
    assert len(fits) == 2
    scored = [i for fit in fits for i in fit["scored"]]
    assert sorted(scored) == sorted(it.item_id for it in pool)  # every item scored once
    for fit in fits:
        assert not set(fit["trained_on"]) & set(fit["scored"])
    # a model that memorizes its training rows would score them perfectly; out of fold it
    # has seen none of them, so it answers 0.5 everywhere
    assert all(np.allclose(m, 0.5) for m in members) and all(np.allclose(o, 0.5) for o in outsiders)
    assert auroc == pytest.approx(0.5)


def test_an_option_is_scored_on_the_very_row_it_is_trained_on() -> None:
    # the fits build the current options' rows alone, and the scoring builds every
    # candidate's rows again, a block at a time, beside the unused candidates: a member's
    # row must come out the same both ways, or the model would score rows it never learned
    pool = _random_pool(60, seed=4)
    selected = [list(range(1, 9)) for _ in pool]
    trained: set[bytes] = set()
    scored: list[bytes] = []

    class Recorder:
        def fit(self, x: np.ndarray, y: np.ndarray) -> Recorder:
            trained.update(row.tobytes() for row in x)
            return self

        def predict_proba(self, x: np.ndarray) -> np.ndarray:
            scored.extend(row.tobytes() for row in x)
            return np.full((len(x), 2), 0.5)

    crossfit_scores(pool, selected, 0, Recorder, folds=2)
    assert len(trained) == sum(1 + len(s) for s in selected)  # every current option, by the other fold's model
    assert trained <= set(scored)
    assert len(scored) == len(set(scored)) == sum(it.features.shape[0] for it in pool)  # every candidate once


def test_an_items_features_do_not_depend_on_the_items_measured_with_it() -> None:
    # features are measured FEATURE_BATCH items at a time, however the partition is read
    items = _planted_partition(50, seed=5)
    models = FeatureModels.fit((it.question, it.context_masked) for it in items)
    together = pool_items(models, items)
    # fitted again: the word-piece cache fills in another order
    refit = FeatureModels.fit((it.question, it.context_masked) for it in items)
    apart = [p for lo in range(0, len(items), 7) for p in pool_items(refit, items[lo : lo + 7])]
    for a, b in zip(together, apart, strict=True):
        np.testing.assert_array_equal(a.features, b.features)
        np.testing.assert_array_equal(a.similarity, b.similarity)


def test_select_options_records_its_folds_and_keeps_them_apart() -> None:
    result = select_options(_random_pool(80, seed=1), max_rounds=2)
    assert result.folds
    for fit in result.folds:
        assert not set(fit["trained_on"]) & set(fit["scored"])


def test_a_small_partition_is_selected_without_a_model() -> None:
    items = _planted_partition(12, seed=3)
    models = FeatureModels.fit((it.question, it.context_masked) for it in items)
    result = select_options(pool_items(models, items), solvers=SOLVERS)
    assert result.auroc_before is None and result.model.startswith("model-free")
    assert all(len(set(s)) == 8 for s in result.chosen)
    # even without a model, the start avoids the planted artifact: the answer is rarely the longest
    pool = pool_items(models, items)
    longest = next(s for s in SOLVERS if s.name == "longest")
    assert solver_hits(pool, [[c + 1 for c in s] for s in result.chosen], longest) < 0.5


def test_option_similarity_matches_the_most_central_solver() -> None:
    from goose_assets.core.synthesis.leakage import trigram_set
    from goose_assets.core.text import jaccard

    options = ["The cat sat on the mat.", "the CAT sat on a mat", "x = 1", "ab", "Completely different words"]
    expected = np.array([[jaccard(trigram_set(a), trigram_set(b)) for b in options] for a in options])
    assert np.allclose(option_similarity(options), expected)


def test_ngram_model_is_normalized_and_prefers_fluent_text() -> None:
    rng = random.Random(0)
    docs = [[" ".join(rng.choice(_WORDS) for _ in range(12)) + " ." for _ in range(3)] for _ in range(40)]
    docs += [["the value of the signal is the output of the layer ."] for _ in range(5)]
    lm = NgramModel.fit(docs)
    vocab = np.arange(lm.size)
    for history in (("the", "value"), ("zzz", "qqq")):
        u, v = lm.ids(history[0]), lm.ids(history[1])
        total = np.exp(lm.logprobs(np.full(lm.size, u[0]), np.full(lm.size, v[0]), vocab)).sum()
        assert total == pytest.approx(1.0, abs=1e-6)
    fluent = lm.sequence_logprobs([lm.ids("the value of the signal is the output")])[0].mean()
    shuffled = lm.sequence_logprobs([lm.ids("output the is of signal value the the")])[0].mean()
    assert fluent > shuffled


def test_ngram_model_forgets_phrases_of_a_single_document() -> None:
    """A phrase of one document only (a mined span's source) is not memorized: it scores as
    it would had the model never seen that document."""
    common = [["the answer is in the table ."] for _ in range(5)]
    single = [["zebra quantum lattice forms a spiral ."]]
    with_it = NgramModel.fit(common + single)
    phrase = with_it.ids("zebra quantum lattice forms a spiral")
    lp = with_it.sequence_logprobs([phrase])[0]
    # after its first word, each word falls back to its unigram probability: no bigram or
    # trigram of that document was kept
    unigram = with_it.logprobs(np.zeros(len(phrase), np.int64), np.zeros(len(phrase), np.int64), phrase)
    assert np.allclose(lp[1:], unigram[1:])
    kept = with_it.sequence_logprobs([with_it.ids("the answer is in the table")])[0]
    assert kept[1:].mean() > unigram[1:].mean() + 1.0  # a phrase of five documents is known


def test_character_class_counts_match_counting_each_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """The batched counts behind the character-class features equal a per-text count, for
    any script, a lone surrogate, an empty text, and texts split across chunks."""
    from goose_assets.core.synthesis import option_features

    texts = ["", "x = y + 1", "Ｆｕｌｌ width ½ ٣", "é\u0301 _ \\ {[()]}", "a lone \ud800 surrogate", "ÄÖÜ äöü ß", "\t\n  "]
    texts += [_sentence(random.Random(i), 12) for i in range(30)]

    def reference(text: str) -> list[int]:
        return [sum(map(str.isdigit, text)), sum(map(str.isalpha, text)), sum(map(str.isupper, text)),
                len(option_features._PUNCT.findall(text)), sum(map(str.isspace, text)),
                len(option_features._OPERATORS.findall(text)), text.count("\\"), sum(text.count(b) for b in "()[]{}")]

    expected = np.array([reference(t) for t in texts])
    assert (option_features._class_counts(texts) == expected).all()
    monkeypatch.setattr(option_features, "_CHUNK_CHARS", 40)
    assert (option_features._class_counts(texts) == expected).all()
    assert option_features._class_counts([]).shape == (0, len(expected[0]))


def test_context_copy_is_the_share_of_an_option_the_context_already_holds() -> None:
    """`context_copy` reads how much of an option repeats the text a student reads: a step
    moved from elsewhere in the passage repeats most of itself, fresh text none. Words
    either side of [MASK] never join into a trigram (that text does not exist)."""
    from goose_assets.core.synthesis.option_features import STATIC_FEATURES, option_features

    context = "The pump removes eight litres every minute from the tank. [MASK] So the tank is empty after fifteen minutes."
    options = [
        "After five minutes forty litres are gone.",  # the answer: fresh text
        "The pump removes nine litres every minute from the tank.",  # a moved step, one edit
        "the tank so it goes",  # "the tank so" exists only across [MASK]: no copy
    ]
    item = ItemOptions("copy", "How long does it take?", context, options)
    models = FeatureModels.fit([(item.question, item.context_masked)])
    copied = option_features(models, [item])[0][:, STATIC_FEATURES.index("context_copy")]
    assert copied[0] == 0.0
    assert copied[1] == pytest.approx(5 / 8)  # 8 word trigrams, 3 touch the edited word
    assert copied[2] == 0.0


def test_selection_handles_pools_of_every_size_in_one_partition() -> None:
    """Items are scored in padded blocks: pools smaller than the options shown keep every
    candidate, larger ones get `k` distinct candidates of their own, and padding rows are
    never chosen."""
    rng = np.random.default_rng(3)
    sizes = [4, 7, 8, 9, 15, 30, 60] * 10
    pool = []
    for i, n in enumerate(sizes):
        features = rng.normal(size=(n + 1, 6)).astype(np.float32)
        features[0, 0] += 1.5  # a planted cue in column 0
        sim = rng.uniform(size=(n + 1, n + 1)).astype(np.float32)
        sim = (sim + sim.T) / 2
        np.fill_diagonal(sim, 1.0)
        pool.append(PoolItem(f"item_{i}", features, sim))
    from goose_assets.core.synthesis.selection import Solver

    cue = Solver("column_0", 0, 1.0)
    for min_items in (40, 1000):  # with a fitted model, and model-free
        result = select_options(pool, solvers=(cue,), min_items=min_items)
        for n, chosen in zip(sizes, result.chosen, strict=True):
            assert len(set(chosen)) == len(chosen) == min(n, 8)
            assert all(0 <= c < n for c in chosen)
            if n <= 8:
                assert sorted(chosen) == list(range(n))
        # where the pool has candidates to spare, the planted cue picks the answer less
        # often after selection than among the generator's first 8
        big = [i for i, n in enumerate(sizes) if n > 8]
        before = solver_hits([pool[i] for i in big], [list(range(1, 9)) for _ in big], cue)
        after = solver_hits([pool[i] for i in big], [[c + 1 for c in result.chosen[i]] for i in big], cue)
        assert after < before - 0.15, (before, after)


def test_a_tie_is_no_hit_and_the_copy_solver_is_repaired() -> None:
    """Options are shown shuffled, so a solver breaking a tie by position is right by
    chance: an answer tied with a distractor is no hit. Where the answer alone repeats the
    context, selection swaps in candidates that repeat it as much."""
    copy = next(s for s in SOLVERS if s.name == "context_copy")
    rng = random.Random(4)
    items = []
    for i in range(120):
        lead, tail = _sentence(rng, 12), _sentence(rng, 12)
        context = f"{lead} [MASK] {tail}"
        fresh = [_sentence(rng, 9) for _ in range(12)]
        # candidates that repeat the context's opening words, as the answer does
        echoes = [" ".join(lead.split()[:6]) + " " + _sentence(rng, 3) for _ in range(6)]
        answer = " ".join(lead.split()[:6]) + " " + _sentence(rng, 3)
        items.append(ItemOptions(f"item_{i}", "", context, [answer, *fresh, *echoes]))
    models = FeatureModels.fit((it.question, it.context_masked) for it in items)
    pool = pool_items(models, items)
    naive = [list(range(1, 9)) for _ in pool]  # fresh text only: the answer alone copies
    assert solver_hits(pool, naive, copy) > 0.9
    tied = [[*range(1, 8), 13] for _ in pool]  # one echo shown beside the answer
    assert solver_hits(pool, tied, copy) < 0.6

    result = select_options(pool, solvers=SOLVERS)
    chosen = [[c + 1 for c in s] for s in result.chosen]
    assert solver_hits(pool, chosen, copy) < 0.3


def _half_unfixable_partition(n_items: int, seed: int = 0) -> tuple[list[ItemOptions], set[str]]:
    """Half the items as `_planted_partition` makes them (candidates as long as the answer
    wait in the pool); in the other half every candidate is short, so no selection can stop
    the answer from being the longest option."""
    rng = random.Random(seed)
    items, unfixable = _planted_partition(n_items, seed), set()
    for it in items[::2]:
        it.options = [it.options[0], *(_sentence(rng, rng.randint(5, 8)) for _ in range(20))]
        unfixable.add(it.item_id)
    return items, unfixable


def test_items_no_selection_can_fix_are_set_aside_as_surface_solvable() -> None:
    items, unfixable = _half_unfixable_partition(200)
    models = FeatureModels.fit((it.question, it.context_masked) for it in items)
    result = select_options(pool_items(models, items), solvers=SOLVERS)

    flagged = set(result.solvable)
    assert len(flagged & unfixable) >= 0.9 * len(unfixable)
    assert len(flagged - unfixable) <= 0.1 * (len(items) - len(unfixable))
    assert all(share >= SOLVABLE_SHARE for share in result.solvable.values())
    assert result.to_metadata()["surface_solvable"] == len(flagged) == result.to_row()["surface_solvable"]
    for fit in result.folds:  # the predictability fits are cross-fitted too
        assert not set(fit["trained_on"]) & set(fit["scored"])


def test_predictability_never_scores_an_item_with_a_model_trained_on_it() -> None:
    pool = _random_pool(60, seed=2)
    selected = [list(range(1, 9)) for _ in pool]
    shares, fits = predictability(pool, selected, (_RecordingModel, _RecordingModel), partitions=2, folds=2)
    assert len(fits) == 8  # 2 partitions x 2 models x 2 folds
    for fit in fits:
        assert not set(fit["trained_on"]) & set(fit["scored"])
    # out of fold the recording model has seen none of an item's rows: 0.5 for every
    # option, a tie, which never counts as picking the answer out
    assert shares.shape == (60,) and not shares.any()


def test_without_a_threshold_nothing_is_set_aside() -> None:
    items, _ = _half_unfixable_partition(120, seed=4)
    models = FeatureModels.fit((it.question, it.context_masked) for it in items)
    result = select_options(pool_items(models, items), solvers=SOLVERS, solvable_share=None)
    assert result.solvable == {} and result.to_metadata()["surface_solvable"] == 0


def test_aflite_stops_when_an_iteration_sets_aside_almost_nothing() -> None:
    pool = _random_pool(60, seed=5)
    selected = [list(range(1, 9)) for _ in pool]
    # out of fold the recording model ties every option: nothing is set aside, so the
    # first iteration is the last (2 partitions x 2 models x 2 folds)
    aside = set_aside(pool, selected, (_RecordingModel, _RecordingModel))
    assert aside.solvable == {} and aside.per_iteration == [0] and len(aside.fits) == 8


class _AnswerFirstModel:
    """Scores the answer row (its first feature planted at 9) above everything."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> _AnswerFirstModel:
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = (x[:, 0] > 8).astype(float)
        return np.column_stack([1 - p, p])


def test_aflite_iterates_on_what_is_left() -> None:
    pool = _random_pool(120, seed=6)
    for it in pool[:50]:  # a third of the items give their answer away
        it.features[0, 0] = 9.0
    selected = [list(range(1, 9)) for _ in pool]
    aside = set_aside(pool, selected, (_AnswerFirstModel,))
    assert set(aside.solvable) == {it.item_id for it in pool[:50]} and set(aside.solvable.values()) == {1.0}
    # the second iteration, on the 70 items left, finds nothing more and ends the loop
    assert aside.per_iteration == [50, 0] and len(aside.fits) == 2 * 2 * 2
    assert {i for fit in aside.fits[4:] for i in fit["scored"]} == {it.item_id for it in pool[50:]}


def test_option_features_count_what_the_shares_divide() -> None:
    """Beside the log length and the character-class shares, the plain counts: a set's
    linear and log scales part where its lengths are skewed (the gate's linear classifier
    reads both), and a share alone hides how many there are."""
    from goose_assets.core.synthesis.option_features import STATIC_FEATURES, option_features

    option = r"  x = (a + b) \cdot {c}  "
    item = ItemOptions("counts", "", "Let a and b be given. [MASK] Hence x.", [option, "short"])
    features = option_features(FeatureModels.fit([(item.question, item.context_masked)]), [item])[0]
    column = {name: features[0, STATIC_FEATURES.index(name)] for name in STATIC_FEATURES}
    text = option.strip()
    assert column["chars"] == len(text) and column["log_chars"] == pytest.approx(np.log1p(len(text)))
    assert column["brackets"] == 4 and column["backslashes"] == 1
    assert column["operators"] == 2  # "=" and "+"
    for count, share in (("brackets", "bracket_share"), ("backslashes", "backslash_share"), ("operators", "operator_share")):
        assert column[share] == pytest.approx(column[count] / len(text))
