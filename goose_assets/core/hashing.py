"""Stable, numpy-vectorized hashing of word sequences (shared by dedup and decontam).

Python's built-in `hash()` is salted per process, so it would make dedup and
decontamination results differ between runs. Words are hashed with blake2b instead and
the result is cached per word, so the per-word Python cost is one dict lookup. n-gram
hashes are then computed for a whole word array at once with wrapping uint64 arithmetic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

# Cleared when full: the hash is content-derived, so clearing only costs recomputation.
_WORD_HASH_CACHE: dict[str, int] = {}
_WORD_HASH_CACHE_LIMIT = 2_000_000

# Odd 64-bit multiplier for the polynomial combination of word hashes (order-sensitive).
_POLY = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)

EMPTY_U64 = np.empty(0, dtype=np.uint64)


def stable_word_hash(word: str) -> int:
    """A 63-bit hash of one word that is the same in every process."""
    digest = hashlib.blake2b(word.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def word_hashes(tokens: Sequence[str]) -> np.ndarray:
    """Stable hashes of `tokens` as a uint64 array (one entry per token, order kept)."""
    cache = _WORD_HASH_CACHE
    missing = set(tokens).difference(cache)  # C-level: no Python loop over all tokens
    if missing:
        if len(cache) + len(missing) > _WORD_HASH_CACHE_LIMIT:
            cache.clear()
            missing = set(tokens)
        cache.update((t, stable_word_hash(t)) for t in missing)
    # 63-bit values fit int64, whose conversion is faster than uint64's
    try:
        values = np.fromiter(map(cache.__getitem__, tokens), dtype=np.int64, count=len(tokens))
    except KeyError:  # another thread cleared the cache in between: slow path
        values = np.fromiter(
            (stable_word_hash(t) for t in tokens), dtype=np.int64, count=len(tokens)
        )
    return values.view(np.uint64)


def mix64(h: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer, in place: spreads entropy over all 64 bits."""
    h ^= h >> _S30
    h *= _MIX1
    h ^= h >> _S27
    h *= _MIX2
    h ^= h >> _S31
    return h


def ngram_hashes(word_hash_array: np.ndarray, n: int) -> np.ndarray:
    """Hashes of every contiguous n-gram of a word-hash array (len - n + 1 values).

    Returns an empty array when there are fewer than n words.
    """
    count = len(word_hash_array) - n + 1
    if count <= 0:
        return EMPTY_U64
    h = word_hash_array[:count].copy()
    for i in range(1, n):
        h *= _POLY
        h += word_hash_array[i : i + count]
    return mix64(h)


def ngram_hashes_at(word_hash_array: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """`ngram_hashes(word_hash_array, n)[starts]` without hashing the other positions
    (each start needs `start + n <= len(word_hash_array)`)."""
    h = word_hash_array[starts].copy()
    for i in range(1, n):
        h *= _POLY
        h += word_hash_array[starts + i]
    return mix64(h)
