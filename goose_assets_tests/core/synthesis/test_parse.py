"""core.synthesis.parse: the batched near-duplicate test keeps the plain algorithm's answers, and a
cached answer's validation record (`validation_record`) replays exactly what a full
validation gives."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from goose_assets.core.synthesis import leakage
from goose_assets.core.synthesis.leakage import (
    NEAR_DUPLICATE_JACCARD,
    option_key,
    trigram_jaccard,
    trigram_set,
)
from goose_assets.core.synthesis.parse import (
    LENGTH_RATIO_BAND,
    usable_distractors,
)
from goose_assets.core.text import jaccard


def _reference(answer: str, distractors: list[str]) -> list[str]:
    """usable_distractors as it was written first: every pair through a full Jaccard, and
    no reordering of the words of an option kept before."""
    seen = {option_key(answer)}
    bags = {tuple(sorted(re.findall(r"\w+|[^\w\s]", answer.lower())))}
    kept_grams = [trigram_set(answer)]
    lo, hi = LENGTH_RATIO_BAND
    alen = max(1, len(answer.strip()))
    out: list[str] = []
    for d in distractors:
        d = d.strip("\n")
        key = option_key(d)
        if not key or key in seen:
            continue
        if not lo <= len(d.strip()) / alen <= hi:
            continue
        bag = tuple(sorted(re.findall(r"\w+|[^\w\s]", d.lower())))
        if bag in bags:
            continue
        grams = trigram_set(d)
        if any(jaccard(grams, g) >= NEAR_DUPLICATE_JACCARD for g in kept_grams):
            continue
        seen.add(key)
        bags.add(bag)
        kept_grams.append(grams)
        out.append(d)
    return out


def _mutate(text: str, rng: random.Random, rate: float) -> str:
    chars = list(text)
    for i in range(len(chars)):
        if rng.random() < rate:
            chars[i] = rng.choice("abcdefghij xyz.,\n")
    return "".join(chars)


def test_trigram_jaccard_equals_the_pairwise_set_jaccard(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = ["", "  ", "a", "A", "ab", "abc", "abcd", "  A  b\tC d ", "a b c d", "Ｆｕｌｌ width",
             "full width", "x = y + 1\n", "x = y + 2", "é\u0301e", "ée", "😀😀😀x", "a lone \ud800 surrogate"]
    expected = np.array([[jaccard(trigram_set(a), trigram_set(b)) for b in texts] for a in texts])
    assert (trigram_jaccard(texts) == expected).all()
    # many texts or long ones take the sparse product: the same values
    monkeypatch.setattr(leakage, "_DENSE_CELLS", 0)
    assert (trigram_jaccard(texts) == expected).all()


def test_batched_near_duplicates_match_the_pairwise_reference() -> None:
    rng = random.Random(7)
    words = "the of a to in is that for it as with was on be by this are which an or from".split()
    cases = 0
    for _ in range(400):
        answer = " ".join(rng.choice(words) for _ in range(rng.randint(1, 40)))
        options = []
        for _ in range(rng.randint(0, 16)):
            kind = rng.random()
            if kind < 0.4:  # near copies at every similarity, across the 0.9 line
                options.append(_mutate(answer, rng, rng.choice([0.0, 0.01, 0.02, 0.04, 0.06, 0.1, 0.2])))
            elif kind < 0.6 and options:
                options.append(_mutate(rng.choice(options), rng, rng.choice([0.0, 0.02, 0.05])))
            elif kind < 0.8:
                shuffled = answer.split()
                rng.shuffle(shuffled)
                options.append(" ".join(shuffled))
            else:
                options.append(" ".join(rng.choice(words) for _ in range(rng.randint(0, 50))))
        assert usable_distractors(answer, options) == _reference(answer, options)
        cases += 1
    assert cases == 400


def test_a_reply_with_thousands_of_candidates_reads_only_the_first_ones() -> None:
    """Every pair of candidates is compared at once, so a runaway reply (an injected "list
    5,000 options") must not grow that matrix: the first MAX_CANDIDATES are read."""
    from goose_assets.core.synthesis.parse import MAX_CANDIDATES

    answer = "the total is 12 apples and 7 pears"
    candidates = [f"option {k}: the count is {k * 7919 % 100003} of them" for k in range(5000)]
    usable = usable_distractors(answer, candidates)
    assert usable == _reference(answer, candidates[:MAX_CANDIDATES])
    assert 0 < len(usable) <= MAX_CANDIDATES
