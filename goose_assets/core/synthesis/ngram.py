"""A word n-gram language model of a domain, vectorized with numpy.

Option selection and its audit read two things from it: *fluency* (the mean token
log-probability of an option) and *edge fit* (how well an option's first tokens follow
the text before [MASK] and its last tokens lead into the text after it). Both need many
thousands of look-ups per partition, so n-grams are int64 keys in sorted arrays and every
look-up is one `searchsorted` over all queries at once.

Smoothing is interpolated absolute discounting (Ney et al. 1994) down to an add-half
unigram, so unseen words and n-grams get a finite, comparable log-probability.
Newlines are tokens: code lines and solution steps are units of structure.

Counts are document frequencies, and bigrams and trigrams found in a single document are
dropped: the model knows the domain's recurring phrasing, not any one document's text.
Otherwise a distractor mined from a document of the partition would read as fluent as
memorized text, and the answer (masked out of its own document) would not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat

import numpy as np

_TOKEN = re.compile(r"\n|\w+|[^\w\s]")
BOS = 1  # id 0 is the unknown word, 1 the start of a sequence
DISCOUNT = 0.75


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


@dataclass(slots=True)
class _Level:
    """Counts of one order: n-gram keys and counts, and per history its total and type count."""

    keys: np.ndarray
    counts: np.ndarray
    history_keys: np.ndarray
    history_totals: np.ndarray
    history_types: np.ndarray

    @classmethod
    def of(cls, keys: np.ndarray, base: int) -> _Level:
        uniq, counts = np.unique(keys, return_counts=True)
        hist, first = np.unique(uniq // base, return_index=True)
        totals = np.add.reduceat(counts, first) if len(first) else np.zeros(0, np.int64)
        types = np.diff(np.append(first, len(uniq)))
        return cls(uniq, counts, hist, totals, types)

    def count(self, keys: np.ndarray) -> np.ndarray:
        return _lookup(self.keys, self.counts, keys)

    def history(self, hist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _lookup(self.history_keys, self.history_totals, hist), _lookup(self.history_keys, self.history_types, hist)


def _grams(seqs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each word of the sequences with its two predecessors (BOS before a start)."""
    padded = np.concatenate([np.concatenate(([BOS, BOS], s)) for s in seqs])
    starts = np.cumsum([0] + [len(s) + 2 for s in seqs[:-1]])
    valid = np.ones(len(padded), dtype=bool)
    valid[starts] = valid[starts + 1] = False  # the padding is history, never a predicted word
    return padded[valid], np.roll(padded, 1)[valid], np.roll(padded, 2)[valid]


def _frequent(per_doc_keys: list[np.ndarray], min_df: int) -> np.ndarray:
    """Every key found in at least `min_df` documents, once per document it is in."""
    keys = np.concatenate(per_doc_keys)
    uniq, df = np.unique(keys, return_counts=True)
    return keys[np.isin(keys, uniq[df >= min_df])]


def _lookup(sorted_keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    if len(sorted_keys) == 0:
        return np.zeros(len(queries), dtype=np.float64)
    idx = np.searchsorted(sorted_keys, queries)
    idx = np.minimum(idx, len(sorted_keys) - 1)
    found = sorted_keys[idx] == queries
    return np.where(found, values[idx], 0).astype(np.float64)


class NgramModel:
    """A trigram model: `fit` on texts, then `logprobs` of token-id sequences."""

    def __init__(self, vocab: dict[str, int], unigrams: np.ndarray, bigrams: _Level, trigrams: _Level) -> None:
        self.vocab = vocab
        self.size = len(vocab) + 2
        self._unigram_logp = np.log((unigrams + 0.5) / (unigrams.sum() + 0.5 * len(unigrams)))
        self.bigrams, self.trigrams = bigrams, trigrams

    @classmethod
    def fit(cls, documents: Iterable[Sequence[str]], min_df: int = 3) -> NgramModel:
        """`documents`: per document, its texts (separate sequences: no n-gram spans two)."""
        vocab: dict[str, int] = {}
        per_doc: list[list[np.ndarray]] = []
        for texts in documents:
            seqs = []
            for text in texts:
                ids = [vocab.setdefault(tok, len(vocab) + 2) for tok in tokenize(text)]
                if ids:
                    seqs.append(np.asarray(ids, dtype=np.int64))
            if seqs:
                per_doc.append(seqs)
        size = len(vocab) + 2
        if not per_doc:
            empty = _Level.of(np.zeros(0, np.int64), size)
            return cls(vocab, np.zeros(size), empty, empty)
        uni, bi, tri = [], [], []
        for seqs in per_doc:
            w, v, u = _grams(seqs)
            uni.append(np.unique(w))
            bi.append(np.unique(v * size + w))
            tri.append(np.unique((u * size + v) * size + w))
        unigrams = np.bincount(np.concatenate(uni), minlength=size).astype(np.float64)
        return cls(vocab, unigrams, _Level.of(_frequent(bi, min_df), size), _Level.of(_frequent(tri, min_df), size))

    def ids(self, text: str) -> np.ndarray:
        return self.token_ids(tokenize(text))

    def token_ids(self, tokens: Sequence[str]) -> np.ndarray:
        # map over vocab.get with a default: one C-level loop, not a Python one per token
        return np.fromiter(map(self.vocab.get, tokens, repeat(0)), dtype=np.int64, count=len(tokens))

    def logprobs(self, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        """log P(w | u v) for aligned arrays of history and word ids."""
        size, d = self.size, DISCOUNT
        p = np.exp(self._unigram_logp[w])
        c2 = self.bigrams.count(v * size + w)
        t2, n2 = self.bigrams.history(v)
        with np.errstate(divide="ignore", invalid="ignore"):
            p2 = np.where(t2 > 0, (np.maximum(c2 - d, 0) + d * n2 * p) / np.maximum(t2, 1), p)
            c3 = self.trigrams.count((u * size + v) * size + w)
            t3, n3 = self.trigrams.history(u * size + v)
            p3 = np.where(t3 > 0, (np.maximum(c3 - d, 0) + d * n3 * p2) / np.maximum(t3, 1), p2)
        return np.log(p3)

    def sequence_logprobs(self, sequences: Sequence[np.ndarray], histories: Sequence[np.ndarray] | None = None) -> list[np.ndarray]:
        """Per sequence, the log-probability of each of its tokens given the two before it;
        the first tokens are conditioned on `histories` (their last two ids) or on BOS."""
        if not sequences:
            return []
        lens = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        heads = np.full((len(sequences), 2), BOS, dtype=np.int64)
        for row, h in zip(heads, histories or (), strict=False):
            if len(h):
                tail = np.asarray(h[-2:], dtype=np.int64)
                row[2 - len(tail) :] = tail
        scores = self.flat_logprobs(np.concatenate(sequences).astype(np.int64), lens, heads)
        return np.split(scores, np.cumsum(lens)[:-1])

    def flat_logprobs(self, ids: np.ndarray, lengths: np.ndarray, heads: np.ndarray) -> np.ndarray:
        """`sequence_logprobs` of sequences laid end to end (`ids`, split by `lengths`),
        each conditioned on its row of `heads` (two ids, BOS where there is no history)."""
        if not len(ids):
            return np.zeros(0)
        # each sequence behind its two history ids, in one stream
        spans = lengths + 2
        starts = np.cumsum(spans) - spans
        stream = np.empty(int(spans.sum()), dtype=np.int64)
        token = np.ones(len(stream), dtype=bool)
        token[starts] = token[starts + 1] = False
        stream[starts], stream[starts + 1] = heads[:, 0], heads[:, 1]
        stream[token] = ids
        at = np.flatnonzero(token)
        return self.logprobs(stream[at - 2], stream[at - 1], stream[at])
