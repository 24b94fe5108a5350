"""Surface features of an option in its slot: what a reader can judge without reasoning.

Option selection (core.selection) asks a discriminator to tell the answer from its
candidate distractors with these, so they cover every cue a reasoning-free solver could
use: length, character classes, overlap with the text around [MASK], how an option fits
the words just before and after [MASK] (edge fit) and how fluent it reads, both under a
word n-gram model of the partition, and semantic similarity to the context.

The n-gram model and the semantic space are fitted on the partition's masked contexts, so
no answer is ever part of what they learned (an answer seen in training would read as
more fluent than any distractor).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from goose_assets.core.baselines import mask_window
from goose_assets.core.leakage import trigram_set
from goose_assets.core.ngram import NgramModel, tokenize
from goose_assets.core.records import MASK
from goose_assets.core.selection import PoolItem
from goose_assets.core.terms import NUMBER
from goose_assets.core.text import jaccard, words

WINDOW_WORDS = 64
STATIC_FEATURES: tuple[str, ...] = (
    "log_chars", "words", "lines", "mean_word_len", "distinct_word_share",
    "digit_share", "alpha_share", "upper_share", "punct_share", "space_share",
    "operator_share", "backslash_share", "bracket_share", "ends_with_period", "starts_upper",
    "window_overlap", "window_overlap_count", "number_overlap", "numbers",
    "fluency", "fluency_min", "edge_left", "edge_right", "semantic_similarity",
)
_OPERATORS = re.compile(r"[-+*/=<>%^&|!~]")
_PUNCT = re.compile(r"[^\w\s]")


@dataclass(slots=True)
class SemanticSpace:
    """TF-IDF (sublinear) reduced by truncated SVD: latent semantic analysis, fitted on
    the partition's contexts. Cheap enough to embed every candidate of every item."""

    vectorizer: Any
    svd: Any | None

    @classmethod
    def fit(cls, texts: Sequence[str], dims: int = 64) -> SemanticSpace | None:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(sublinear_tf=True, max_features=50_000, dtype=np.float32)
        try:
            matrix = vectorizer.fit_transform(texts)
        except ValueError:  # no words at all
            return None
        dims = min(dims, matrix.shape[0] - 1, matrix.shape[1] - 1)
        svd = TruncatedSVD(dims, random_state=0).fit(matrix) if dims >= 2 else None
        return cls(vectorizer, svd)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        matrix = self.vectorizer.transform(texts)
        dense = self.svd.transform(matrix) if self.svd is not None else matrix.toarray()
        norms = np.linalg.norm(dense, axis=1, keepdims=True)
        return dense / np.where(norms > 0, norms, 1.0)


@dataclass(slots=True)
class FeatureModels:
    """What the features are measured with, fitted once per partition."""

    lm: NgramModel
    space: SemanticSpace | None

    @classmethod
    def fit(cls, contexts: Iterable[tuple[str, str]]) -> FeatureModels:
        """`contexts`: (question, context_masked) per item. The model never sees an answer:
        each context is split at [MASK] into separate sequences."""
        pieces: list[str] = []
        windows: list[str] = []
        for question, context in contexts:
            if question:
                pieces.append(question)
            pieces.extend(context.split(MASK))
            windows.append(context.replace(MASK, " "))
        return cls(NgramModel.fit(pieces), SemanticSpace.fit(windows) if windows else None)


def _share(count: int, total: int) -> float:
    return count / total if total else 0.0


def _surface(option: str) -> list[float]:
    text = option.strip()
    n = max(1, len(text))
    toks = text.split()
    lowered = words(text)
    return [
        math.log1p(len(text)),
        float(len(toks)),
        float(text.count("\n") + 1),
        sum(map(len, toks)) / len(toks) if toks else 0.0,
        _share(len(set(lowered)), len(lowered)),
        sum(map(str.isdigit, text)) / n,
        sum(map(str.isalpha, text)) / n,
        sum(map(str.isupper, text)) / n,
        len(_PUNCT.findall(text)) / n,
        sum(map(str.isspace, text)) / n,
        len(_OPERATORS.findall(text)) / n,
        text.count("\\") / n,
        sum(text.count(b) for b in "()[]{}") / n,
        float(text.endswith(".")),
        float(text[:1].isupper()),
    ]


def option_features(models: FeatureModels, question: str, context_masked: str, options: Sequence[str]) -> np.ndarray:
    """(len(options), len(STATIC_FEATURES)) for the options of one item, in the item's slot."""
    before, after = mask_window(context_masked, WINDOW_WORDS)
    window = set(words(before)) | set(words(after))
    context_numbers = set(NUMBER.findall(question + " " + context_masked))
    rows = []
    for option in options:
        option_words = set(words(option))
        shared = len(option_words & window)
        numbers = NUMBER.findall(option)
        rows.append(_surface(option) + [
            _share(shared, len(option_words)),
            math.log1p(shared),
            _share(sum(n in context_numbers for n in numbers), len(numbers)),
            float(len(numbers)),
        ])
    fluency = _fit_scores(models.lm, before, after, options)
    semantic = np.zeros(len(options))
    if models.space is not None:
        vectors = models.space.embed([f"{before} {after}", *options])
        semantic = vectors[1:] @ vectors[0]
    return np.hstack([np.asarray(rows, dtype=np.float64), fluency, semantic[:, None]])


def _fit_scores(lm: NgramModel, before: str, after: str, options: Sequence[str]) -> np.ndarray:
    """Per option: mean and minimum log-probability of its interior tokens (fluency), and of
    its first two tokens after the text before [MASK] and of the first two tokens after
    [MASK] after the option (edge fit)."""
    left = lm.ids(" ".join(tokenize(before)[-2:]))
    right = lm.ids(" ".join(tokenize(after)[:2]))
    sequences = []
    lengths = []
    for option in options:
        ids = lm.ids(option)
        lengths.append(len(ids))
        sequences.append(np.concatenate((ids, right)))
    scores = lm.sequence_logprobs(sequences, [left] * len(sequences))
    out = np.zeros((len(options), 4))
    for i, (lp, n) in enumerate(zip(scores, lengths, strict=True)):
        head, interior, tail = lp[: min(2, n)], lp[2:n], lp[n:]
        body = interior if len(interior) else lp[:n]
        out[i] = (
            float(body.mean()) if len(body) else 0.0,
            float(body.min()) if len(body) else 0.0,
            float(head.mean()) if len(head) else 0.0,
            float(tail.mean()) if len(tail) else 0.0,
        )
    return out


def option_similarity(options: Sequence[str]) -> np.ndarray:
    """Pairwise char-3-gram Jaccard of the options (what the most-central solver reads)."""
    grams = [trigram_set(o) for o in options]
    n = len(grams)
    sims = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            sims[i, j] = sims[j, i] = jaccard(grams[i], grams[j])
    return sims


def pool_item(
    models: FeatureModels, item_id: str, question: str, context_masked: str, answer: str, candidates: Sequence[str]
) -> PoolItem:
    """An item's answer (row 0) and candidates as option selection reads them."""
    options = [answer, *candidates]
    return PoolItem(item_id, option_features(models, question, context_masked, options).astype(np.float32),
                    option_similarity(options).astype(np.float32))
