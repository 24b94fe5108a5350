"""The static word-piece space that stands in for the sentence encoder in option selection:
the real all-MiniLM-L6-v2 input embeddings, read offline from the installed wheel."""

from __future__ import annotations

import random

import numpy as np

from goose_assets.core.synthesis.option_features import (
    SOLVERS,
    FeatureModels,
    ItemOptions,
    pool_items,
)
from goose_assets.core.synthesis.piece_space import PieceSpace
from goose_assets.core.synthesis.selection import select_options, solver_hits
from goose_assets.core.text import words

_CONTEXTS = [
    "We differentiate the polynomial term by term and then set the derivative to zero.",
    "The firewall drops inbound packets on every port that the policy does not open.",
    "Enzymes lower the activation energy of the reaction without being consumed.",
]


def test_options_on_the_window_topic_sit_nearest_it() -> None:
    space = PieceSpace.fit(_CONTEXTS)
    window, on_topic, off_topic, empty = space.embed([
        words("take the derivative of the polynomial function"),
        words("differentiate each term of the polynomial and solve for the critical point"),
        words("the firewall rule blocks inbound traffic on port 22"),
        [],
    ])
    assert np.allclose(np.linalg.norm([window, on_topic, off_topic], axis=1), 1.0, atol=1e-5)
    assert not empty.any()  # a text without words has no direction, not a NaN one
    assert on_topic @ window > off_topic @ window + 0.1


def test_words_learned_in_a_later_batch_embed_as_in_a_fresh_space() -> None:
    first = [words("the derivative of the polynomial"), words("port scans and packets")]
    later = [words("enzymes catalyse reactions in the cell"), words("the polynomial has a root")]
    grown = PieceSpace.fit(_CONTEXTS)
    grown.embed(first)
    fresh = PieceSpace.fit(_CONTEXTS)
    assert np.allclose(grown.embed(later), fresh.embed(later), atol=1e-6)


_TOPICS = {
    "calculus": "derivative integral polynomial slope tangent limit function curve".split(),
    "network": "firewall packet port router protocol traffic socket gateway".split(),
    "biology": "enzyme protein cell membrane reaction substrate molecule gene".split(),
    "finance": "interest loan payment balance rate principal deposit account".split(),
}
_FILLER = "we then see that this shows how each of the steps leads to it".split()


def _topical(rng: random.Random, topic: str, n_words: int) -> str:
    pool = _TOPICS[topic] + _FILLER
    return " ".join(rng.choice(pool) for _ in range(n_words)).capitalize() + "."


def test_selection_removes_a_planted_embedding_artifact() -> None:
    """Every answer is on its context's topic and the generator's first eight candidates
    are not; the pool behind them holds candidates on the topic too."""
    rng = random.Random(0)
    items = []
    for i in range(160):
        topic = rng.choice(sorted(_TOPICS))
        others = [t for t in sorted(_TOPICS) if t != topic]
        context = f"{_topical(rng, topic, 20)} [MASK] {_topical(rng, topic, 20)}"
        answer = _topical(rng, topic, 14)
        off = [_topical(rng, rng.choice(others), 14) for _ in range(8)]
        on = [_topical(rng, topic, 14) for _ in range(12)]
        items.append(ItemOptions(f"item_{i}", "", context, [answer, *off, *on]))
    models = FeatureModels.fit((it.question, it.context_masked) for it in items)
    pool = pool_items(models, items)
    embedding = next(s for s in SOLVERS if s.name == "embedding")
    naive = [list(range(1, 9)) for _ in pool]
    assert solver_hits(pool, naive, embedding) > 0.9  # the artifact

    result = select_options(pool, solvers=SOLVERS)

    assert solver_hits(pool, [[c + 1 for c in s] for s in result.chosen], embedding) < 0.3
