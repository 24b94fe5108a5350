"""Surface features of an option in its slot: what a reader can judge without reasoning.

Option selection (core.synthesis.selection) asks a discriminator to tell the answer from its
candidate distractors with these, so they cover every cue a reasoning-free solver could
use: length, character classes, overlap with the text around [MASK], how an option fits
the words just before and after [MASK] (edge fit) and how fluent it reads, both under a
word n-gram model of the partition, and semantic similarity to the context, in an LSA
space of the partition and in the sentence encoder's word-piece space (piece_space).

The n-gram model, the LSA space and the word-piece weights are fitted on the partition's
masked contexts, so no answer is ever part of what they learned (an answer seen in
training would read as more fluent than any distractor).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from goose_assets.core.filtering.baselines import mask_window
from goose_assets.core.records import MASK, MaskedItem
from goose_assets.core.synthesis.leakage import trigram_jaccard
from goose_assets.core.synthesis.ngram import BOS, NgramModel, tokenize
from goose_assets.core.synthesis.piece_space import PieceSpace
from goose_assets.core.synthesis.selection import (
    DISTRACTORS_SHOWN,
    PoolItem,
    SelectionResult,
    Solver,
    select_options,
)
from goose_assets.core.synthesis.terms import NUMBER
from goose_assets.core.text import copied_share, read_trigrams, words

WINDOW_WORDS = 64
STATIC_FEATURES: tuple[str, ...] = (
    "log_chars", "words", "lines", "mean_word_len", "distinct_word_share",
    "digit_share", "alpha_share", "upper_share", "punct_share", "space_share",
    "operator_share", "backslash_share", "bracket_share", "ends_with_period", "starts_upper",
    "chars", "operators", "backslashes", "brackets",
    "window_overlap", "window_overlap_count", "number_overlap", "numbers",
    "fluency", "fluency_min", "edge_left", "edge_right", "semantic_similarity", "context_copy",
    "piece_similarity",
)
# the reasoning-free solvers option selection keeps from picking the answer: the longest
# and the shortest option, the one sharing most words with the text around [MASK], the
# one closest to it in meaning (in the partition's LSA space, and in the sentence
# encoder's word-piece space), the most central one and the one repeating most of what
# the student reads (core.filtering.baselines has their twins)
SOLVERS: tuple[Solver, ...] = (
    Solver("longest", STATIC_FEATURES.index("log_chars"), 1.0),
    Solver("shortest", STATIC_FEATURES.index("log_chars"), -1.0),
    Solver("lexical_overlap", STATIC_FEATURES.index("window_overlap"), 1.0),
    Solver("semantic_similarity", STATIC_FEATURES.index("semantic_similarity"), 1.0),
    Solver("most_central", None, 1.0),
    Solver("context_copy", STATIC_FEATURES.index("context_copy"), 1.0),
    Solver("embedding", STATIC_FEATURES.index("piece_similarity"), 1.0),
)
_OPERATORS = re.compile(r"[-+*/=<>%^&|!~]")
_PUNCT = re.compile(r"[^\w\s]")


def _long_words(text_words: list[str]) -> list[str]:
    return [w for w in text_words if len(w) >= 2]


@dataclass(slots=True)
class SemanticSpace:
    """TF-IDF (sublinear) reduced by truncated SVD: latent semantic analysis, fitted on
    the partition's contexts. Cheap enough to embed every candidate of every item."""

    vectorizer: Any
    svd: Any | None

    @classmethod
    def fit(cls, texts: Sequence[list[str]], dims: int = 64) -> SemanticSpace | None:
        """`texts`: each text's words (`core.text.words`), which every other feature reads."""
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        # the vectorizer's own tokens (`\b\w\w+\b` of the lowercased text) are these words
        # of two characters or more: the same vocabulary and matrices, without reading
        # every option a second time (1,280 science items' options: 1.15 s against 2.01 s)
        vectorizer = TfidfVectorizer(sublinear_tf=True, max_features=50_000, dtype=np.float32, analyzer=_long_words)
        try:
            matrix = vectorizer.fit_transform(texts)
        except ValueError:  # no words at all
            return None
        dims = min(dims, matrix.shape[0] - 1, matrix.shape[1] - 1)
        svd = TruncatedSVD(dims, random_state=0).fit(matrix) if dims >= 2 else None
        return cls(vectorizer, svd)

    def embed(self, texts: Sequence[list[str]]) -> np.ndarray:
        matrix = self.vectorizer.transform(texts)
        dense = self.svd.transform(matrix) if self.svd is not None else matrix.toarray()
        norms = np.linalg.norm(dense, axis=1, keepdims=True)
        return dense / np.where(norms > 0, norms, 1.0)


@dataclass(slots=True)
class FeatureModels:
    """What the features are measured with, fitted once per partition."""

    lm: NgramModel
    space: SemanticSpace | None
    pieces: PieceSpace | None

    @classmethod
    def fit(cls, contexts: Iterable[tuple[str, str]]) -> FeatureModels:
        """`contexts`: (question, context_masked) per item. The model never sees an answer:
        each context is split at [MASK] into separate sequences."""
        documents: list[list[str]] = []
        windows: list[str] = []
        for question, context in contexts:
            documents.append([question, *context.split(MASK)] if question else context.split(MASK))
            windows.append(context.replace(MASK, " "))
        return cls(NgramModel.fit(documents), SemanticSpace.fit([words(w) for w in windows]) if windows else None,
                   PieceSpace.fit(windows) if windows else None)


def _share(count: int, total: int) -> float:
    return count / total if total else 0.0


# per character, the classes `_surface` counts, in its order
_CLASSES: tuple[Callable[[str], bool], ...] = (
    str.isdigit, str.isalpha, str.isupper, lambda c: _PUNCT.match(c) is not None, str.isspace,
    lambda c: _OPERATORS.match(c) is not None, lambda c: c == "\\", lambda c: c in "()[]{}",
)


# the classes of every code point seen so far, as bits (`_CLASSES` order); -1: not yet seen
_CLASS_BITS = np.full(0x110000, -1, dtype=np.int16)
# texts are classified this many characters at a time: memory stays a few MB a chunk
_CHUNK_CHARS = 1 << 20


def _class_counts(texts: Sequence[str]) -> np.ndarray:
    """(len(texts), len(_CLASSES)): how many of each text's characters are in each class.
    Each distinct character is classified once per process (`_CLASS_BITS`)."""
    totals = np.zeros((len(texts), len(_CLASSES)), dtype=np.int64)
    lo = 0
    while lo < len(texts):
        hi, size = lo, 0
        while hi < len(texts) and (hi == lo or size + len(texts[hi]) <= _CHUNK_CHARS):
            size += len(texts[hi])
            hi += 1
        totals[lo:hi] = _chunk_class_counts(texts[lo:hi])
        lo = hi
    return totals


def _chunk_class_counts(texts: Sequence[str]) -> np.ndarray:
    sizes = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    codes = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    bits = _CLASS_BITS[codes]
    if (bits < 0).any():
        for c in np.unique(codes[bits < 0]).tolist():
            _CLASS_BITS[c] = sum(1 << k for k, test in enumerate(_CLASSES) if test(chr(c)))
        bits = _CLASS_BITS[codes]
    totals = np.zeros((len(texts), len(_CLASSES)), dtype=np.int64)
    nonempty = sizes > 0
    if nonempty.any():
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))[nonempty]
        for k in range(len(_CLASSES)):
            totals[nonempty, k] = np.add.reduceat((bits >> k) & 1, starts, dtype=np.int64)
    return totals


def _surface(text: str, option_words: list[str], counts: np.ndarray) -> list[float]:
    """`text`: the option stripped; `counts`: its `_class_counts`."""
    n = max(1, len(text))
    toks = text.split()
    digit, alpha, upper, punct, space, operator, backslash, bracket = counts.tolist()
    return [
        math.log1p(len(text)),
        float(len(toks)),
        float(text.count("\n") + 1),
        (len(text) - space) / len(toks) if toks else 0.0,
        _share(len(set(option_words)), len(option_words)),
        digit / n,
        alpha / n,
        upper / n,
        punct / n,
        space / n,
        operator / n,
        backslash / n,
        bracket / n,
        float(text.endswith(".")),
        float(text[:1].isupper()),
        # the counts too, not only the log length and the shares: a set's linear and log
        # scales part where its lengths are skewed, and the answer, the length the
        # candidates were drawn around, sits at the centre of one and below the other
        float(len(text)),
        float(operator),
        float(backslash),
        float(bracket),
    ]


@dataclass(slots=True)
class ItemOptions:
    """One item's slot and its options (answer first)."""

    item_id: str
    question: str
    context_masked: str
    options: list[str]

    @classmethod
    def of(cls, item: MaskedItem) -> ItemOptions:
        return cls(item.item_id, item.question, item.context_masked, [item.answer, *item.distractors])


def option_features(models: FeatureModels, items: Sequence[ItemOptions]) -> list[np.ndarray]:
    """Per item, (len(options), len(STATIC_FEATURES)): its options' features in its slot.
    Items come in batches so that the n-gram and semantic look-ups run once per batch."""
    windows = [mask_window(it.context_masked, WINDOW_WORDS) for it in items]
    fluency = _fit_scores(models.lm, windows, items)
    stripped = [[option.strip() for option in it.options] for it in items]
    option_words = [[words(text) for text in texts] for texts in stripped]
    # the words either side of [MASK] (no word spans the join: `words` splits on spaces)
    window_words = [words(f"{before} {after}") for before, after in windows]
    semantic = _window_similarity(models.space, window_words, option_words)
    pieces = _window_similarity(models.pieces, window_words, option_words)
    counts = _class_counts([text for texts in stripped for text in texts])
    digit = _CLASSES.index(str.isdigit)
    out, pos = [], 0
    for it, texts, item_words, window_list, fit, sem, piece in zip(
        items, stripped, option_words, window_words, fluency, semantic, pieces, strict=True
    ):
        window = set(window_list)
        context_numbers = set(NUMBER.findall(it.question + " " + it.context_masked))
        # how much of an option repeats what the student reads: the answer rarely does (a
        # repeated sentence of it is a leak), a step moved from elsewhere in the passage
        # does in part, and in math the answer reuses the problem's phrasing more than a
        # mined step does; either way a solver could read it
        read = read_trigrams(it.question, it.context_masked)
        rows, copied = [], []
        for text, text_words in zip(texts, item_words, strict=True):
            distinct = set(text_words)
            shared = len(distinct & window)
            # most options hold no digit: the number pattern is the slowest scan here
            numbers = NUMBER.findall(text) if counts[pos, digit] else []
            rows.append(_surface(text, text_words, counts[pos]) + [
                _share(shared, len(distinct)),
                math.log1p(shared),
                _share(sum(n in context_numbers for n in numbers), len(numbers)),
                float(len(numbers)),
            ])
            copied.append(copied_share(text_words, read))
            pos += 1
        out.append(np.hstack([np.asarray(rows, dtype=np.float64), fit, sem[:, None], np.asarray(copied)[:, None],
                              piece[:, None]]))
    return out


def _window_similarity(
    space: SemanticSpace | PieceSpace | None, window_words: Sequence[list[str]], option_words: Sequence[Sequence[list[str]]]
) -> list[np.ndarray]:
    """Per item, each option's cosine similarity to the text around [MASK] in `space` (the
    LSA space, or the sentence encoder's word-piece space); zeros without one."""
    if space is None:
        return [np.zeros(len(item)) for item in option_words]
    texts = [t for window, item in zip(window_words, option_words, strict=True) for t in (window, *item)]
    return _window_cosines(space.embed(texts), [len(item) for item in option_words])


def _window_cosines(vectors: np.ndarray, sizes: Sequence[int]) -> list[np.ndarray]:
    """Per item, its options' cosines to its window: `vectors` holds, item after item, the
    window's unit vector and then its `sizes[i]` options'."""
    out, pos = [], 0
    for size in sizes:
        block = vectors[pos : pos + 1 + size]
        out.append(block[1:] @ block[0])
        pos += 1 + size
    return out


def _fit_scores(lm: NgramModel, windows: Sequence[tuple[str, str]], items: Sequence[ItemOptions]) -> list[np.ndarray]:
    """Per item and option: mean and minimum log-probability of its interior tokens
    (fluency), of its first two tokens after the text before [MASK], and of the first two
    tokens after [MASK] after the option (edge fit). One n-gram look-up and one pass of
    array arithmetic for the whole batch."""
    flat: list[str] = []
    option_lengths, right_lengths, heads = [], [], []
    for (before, after), it in zip(windows, items, strict=True):
        left = lm.token_ids(tokenize(before)[-2:])
        head = np.full(2, BOS, dtype=np.int64)
        head[2 - len(left) :] = left
        right = tokenize(after)[:2]
        for option in it.options:
            tokens = tokenize(option)
            flat += tokens
            flat += right
            option_lengths.append(len(tokens))
            right_lengths.append(len(right))
            heads.append(head)
    n = np.asarray(option_lengths, dtype=np.int64)
    spans = n + np.asarray(right_lengths, dtype=np.int64)
    scores = lm.flat_logprobs(lm.token_ids(flat), spans, np.asarray(heads).reshape(-1, 2))
    # per token: its option and its place in the option's sequence
    owner = np.repeat(np.arange(len(n)), spans)
    place = np.arange(len(owner)) - np.repeat(np.cumsum(spans) - spans, spans)
    size = n[owner]
    head = place < np.minimum(2, size)
    body = np.where(size > 2, (place >= 2) & (place < size), place < size)
    tail = place >= size

    def mean(where: np.ndarray) -> np.ndarray:
        total = np.bincount(owner, weights=np.where(where, scores, 0.0), minlength=len(n))
        return total / np.maximum(np.bincount(owner, weights=where, minlength=len(n)), 1)

    lowest = np.full(len(n), np.inf)
    np.minimum.at(lowest, owner[body], scores[body])
    flat_scores = np.column_stack((mean(body), np.where(np.isfinite(lowest), lowest, 0.0), mean(head), mean(tail)))
    out, pos = [], 0
    for it in items:
        out.append(flat_scores[pos : pos + len(it.options)])
        pos += len(it.options)
    return out


def option_similarity(options: Sequence[str]) -> np.ndarray:
    """Pairwise char-3-gram Jaccard of the options: what the most-central solver reads."""
    return trigram_jaccard(options)


def pool_items(models: FeatureModels, items: Sequence[ItemOptions]) -> list[PoolItem]:
    """The items as option selection reads them: row 0 the answer, rows 1.. the candidates."""
    return [
        PoolItem(it.item_id, feats.astype(np.float32), option_similarity(it.options).astype(np.float32))
        for it, feats in zip(items, option_features(models, items), strict=True)
    ]


# items whose features are measured together (`option_features`): enough that the look-ups
# run as a few array passes, few enough that the batch's per-token arrays stay small. The
# reads stream 2,000 items a batch; measured a whole read batch at a time, science's items
# at 10K documents peaked 1,376 MB above the fitted models, 128 at a time 113 MB, in 20.0 s
# of CPU against 24.7 s (math: 14.5 s against 16.9 s); every feature is the same
FEATURE_BATCH = 128


def choose_options(
    models: FeatureModels, batches: Iterable[Sequence[ItemOptions]], log: Callable[[str], None] | None = None
) -> tuple[dict[str, list[int]], SelectionResult]:
    """Option selection over a partition, as `mcq_tasks` runs it: the features of each
    FEATURE_BATCH items (only the feature blocks are kept), then the cross-fitted rounds
    with the reasoning-free solvers. Items with too few candidates to show are left out."""
    pool: list[PoolItem] = []
    for batch in batches:
        offered = [it for it in batch if len(it.options) > DISTRACTORS_SHOWN]
        for lo in range(0, len(offered), FEATURE_BATCH):
            pool.extend(pool_items(models, offered[lo : lo + FEATURE_BATCH]))
    result = select_options(pool, seed=0, log=log, solvers=SOLVERS)
    return {item.item_id: chosen for item, chosen in zip(pool, result.chosen, strict=True)}, result
