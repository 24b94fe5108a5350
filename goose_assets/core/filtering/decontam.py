"""Benchmark decontamination with a 13-gram index (issue 5, check 5).

The index holds hashed word 13-grams of benchmark questions, choices and answers, read from
a folder of jsonl files with the schema {id, benchmark, question, choices?, answer?}.
A text is contaminated by a benchmark item when it shares at least one indexed 13-gram, or
holds the whole of a question that no 13-gram represents (below).

Design choices, each against a measured failure of datatrove's NGramsDecontFilter:
- Tokens are `text.words` (lowercase, punctuation dropped) but **digits are kept**. Mapping
  digits to 0 made code and math full of literals collide with HumanEval ("0 0 0 ... 0").
- **Degenerate n-grams are not indexed**: fewer than `min_distinct` distinct *informative*
  tokens (a letter and at least 3 characters), so runs of numbers, `0 0 0 ...`, and
  single-letter label soup such as Asymptote's `label a a nw label b b ne` never match.
- **Template n-grams are not indexed**: an n-gram found in more than `max_item_df`
  benchmark items is boilerplate shared by the benchmark's prompts, not item content.
- Fields are indexed separately, so an n-gram never spans question and answer.
- **A question no n-gram can represent is matched whole** (the GPT-3 paper's rule for items
  shorter than n): a question shorter than n tokens, or one whose every n-gram is
  degenerate (`If $g(x)=4x^2-7$, what is $g(g(2))$?`), contaminates a text that holds its
  whole normalized token sequence. It needs at least `MIN_WHOLE_TOKENS` tokens, and
  `MIN_WHOLE_INFORMATIVE` distinct informative ones, or one and
  `MIN_WHOLE_TOKENS_UNINFORMATIVE` tokens in all: `Simplify $2^{10}$.` (3 tokens, 1
  informative) or a run of numbers would match by coincidence. Choices and answers are
  never matched whole: `B: 18` and `Encryption` are everywhere.
- n-grams are stored as 64-bit hashes in a sorted numpy array (8 bytes each plus a 4-byte
  item reference); a lookup is one vectorized `searchsorted` per text.
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from goose_assets.core.hashing import EMPTY_U64, ngram_hashes, ngram_hashes_at, word_hashes
from goose_assets.core.text import words

DEFAULT_NGRAM = 13
DEFAULT_MIN_DISTINCT = 5
DEFAULT_MAX_ITEM_DF = 10
MIN_WHOLE_TOKENS = 3
MIN_WHOLE_INFORMATIVE = 2
MIN_WHOLE_TOKENS_UNINFORMATIVE = 5
# the shared-n-gram count of a whole-question match: above any count of n-grams
WHOLE_MATCH = 1 << 30

# prefilter bitmap over the top 22 bits of each n-gram hash: 4 MB, ~6% occupied at 270K keys
_BITMAP_BITS = 22
_BITMAP_SHIFT = np.uint64(64 - _BITMAP_BITS)

_MIN_INFORMATIVE_CHARS = 3

_CHOICE_PREFIX = re.compile(r"^\s*\(?[A-Za-z]\s*[:.)]\s+")
_HAS_LETTER = re.compile(r"[^\W\d_]")

BenchmarkHit = tuple[str, str]  # (benchmark, bench_item_id)


def benchmark_fields(record: Mapping[str, Any]) -> list[str]:
    """The texts of one benchmark record that are indexed: question, each choice, answer."""
    fields = [str(record.get("question") or "")]
    choices = record.get("choices") or []
    if isinstance(choices, str):  # some dumps store the list as its repr
        try:
            choices = ast.literal_eval(choices)
        except (ValueError, SyntaxError):
            choices = [choices]
    if isinstance(choices, Mapping):
        choices = list(choices.values())
    fields.extend(_CHOICE_PREFIX.sub("", str(c)) for c in choices)
    answer = record.get("answer")
    if isinstance(answer, str):
        fields.append(answer)
    return [f for f in fields if f.strip()]


def _is_informative(token: str) -> bool:
    """A token that carries content: has a letter and at least 3 characters.

    Numbers, single letters (math variables) and 2-letter tokens (stop words, Asymptote
    compass labels) are excluded, so `label a a nw label b b ne ...` has 1 distinct
    informative token, not 8.
    """
    return len(token) >= _MIN_INFORMATIVE_CHARS and _HAS_LETTER.search(token) is not None


@dataclass(frozen=True, slots=True)
class _NgramStream:
    """n-grams of many token lists, hashed in one vectorized pass over their concatenation."""

    hashes: np.ndarray  # uint64 hash per n-gram that lies inside one list
    owner: np.ndarray  # index of the list each n-gram came from
    starts: np.ndarray  # position of each n-gram's first token in the concatenation
    word_hashes: np.ndarray  # uint64 hash per token of the concatenation
    tokens: list[str]  # the concatenation
    token_owner: np.ndarray  # index of the list each token came from


def _stream(token_lists: Sequence[Sequence[str]], n: int) -> _NgramStream:
    # concatenating first avoids per-text numpy overhead, which dominates for short texts
    lengths = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(token_lists))
    flat = [tok for tokens in token_lists for tok in tokens]
    wh = word_hashes(flat)
    owner_of_token = np.repeat(np.arange(len(token_lists)), lengths)
    hashes = ngram_hashes(wh, n)
    # a window is valid when its first and last token belong to the same list
    valid = owner_of_token[: len(hashes)] == owner_of_token[n - 1 :]
    starts = np.flatnonzero(valid)
    return _NgramStream(hashes[valid], owner_of_token[starts], starts, wh, flat, owner_of_token)


def _non_degenerate(stream: _NgramStream, n: int, min_distinct: int) -> np.ndarray:
    """Mask of n-grams with at least `min_distinct` distinct informative tokens."""
    if len(stream.hashes) == 0:
        return np.zeros(0, dtype=bool)
    informative = np.fromiter(
        (_is_informative(t) for t in stream.tokens), dtype=bool, count=len(stream.tokens)
    )
    # uninformative tokens become 0, then distinct non-zero values per window are counted
    masked = np.where(informative, stream.word_hashes, np.uint64(0))
    windows = np.sort(sliding_window_view(masked, n)[stream.starts], axis=1)
    distinct = (windows[:, :1] != 0).sum(axis=1) + (
        (windows[:, 1:] != windows[:, :-1]) & (windows[:, 1:] != 0)
    ).sum(axis=1)
    return distinct >= min_distinct


@dataclass(slots=True)
class DecontamResult:
    """Hits of a scan: per document, plus counts per benchmark."""

    hits: dict[str, list[BenchmarkHit]] = field(default_factory=dict)
    docs_per_benchmark: Counter[str] = field(default_factory=Counter)
    items_per_benchmark: Counter[str] = field(default_factory=Counter)
    n_docs: int = 0

    def to_metadata(self, max_examples: int = 5) -> dict[str, Any]:
        examples = [
            {"doc": doc, "benchmark": hits[0][0], "item": hits[0][1]}
            for doc, hits in sorted(self.hits.items())[:max_examples]
        ]
        return {
            "n_docs": self.n_docs,
            "n_contaminated": len(self.hits),
            "docs_per_benchmark": dict(sorted(self.docs_per_benchmark.items())),
            "benchmark_items_hit": dict(sorted(self.items_per_benchmark.items())),
            "examples": examples,
        }


@dataclass(frozen=True, slots=True)
class _WholeIndex:
    """Questions matched whole, per token length: sorted hashes of the whole normalized
    token sequence with their item. A match must start with one of `anchors` (the
    questions' first bigrams), so the per-length hashing runs only where a question could
    start, not at every token of every text."""

    by_length: dict[int, tuple[np.ndarray, np.ndarray]]  # length -> (sorted hashes, item indices)
    anchors: np.ndarray  # sorted unique uint64 bigram hashes

    @classmethod
    def empty(cls) -> _WholeIndex:
        return cls({}, EMPTY_U64)

    @classmethod
    def build(
        cls, questions: Sequence[tuple[int, list[str]]], max_item_df: int
    ) -> tuple[_WholeIndex, int]:
        """From (item, question tokens) pairs; also returns how many template questions (in
        more than `max_item_df` items, e.g. "What is the value of x?") were left out."""
        entries: dict[tuple[int, int], set[int]] = {}
        anchors: set[int] = set()
        for item, tokens in questions:
            wh = word_hashes(tokens)
            key = (len(tokens), int(ngram_hashes(wh, len(tokens))[0]))
            entries.setdefault(key, set()).add(item)
            anchors.add(int(ngram_hashes(wh[:2], 2)[0]))
        grouped: dict[int, list[tuple[int, int]]] = {}
        templates = 0
        for (length, h), owners in entries.items():
            if len(owners) > max_item_df:
                templates += 1
                continue
            grouped.setdefault(length, []).extend((h, item) for item in owners)
        by_length = {}
        for length, pairs in grouped.items():
            pairs.sort()
            by_length[length] = (
                np.fromiter((h for h, _ in pairs), dtype=np.uint64, count=len(pairs)),
                np.fromiter((i for _, i in pairs), dtype=np.int32, count=len(pairs)),
            )
        anchor_array = np.array(sorted(anchors), dtype=np.uint64) if by_length else EMPTY_U64
        return cls(by_length, anchor_array), templates

    def __len__(self) -> int:
        return sum(len(h) for h, _ in self.by_length.values())

    def matches(self, stream: _NgramStream) -> list[tuple[int, int]]:
        """(token list, item) for every question found whole inside one token list."""
        wh, owner = stream.word_hashes, stream.token_owner
        if not self.by_length or len(wh) < 2:
            return []
        bigrams = ngram_hashes(wh, 2)
        at = np.searchsorted(self.anchors, bigrams)
        at[at == len(self.anchors)] = 0
        candidates = np.flatnonzero(self.anchors[at] == bigrams)
        found: list[tuple[int, int]] = []
        for length, (keys, key_items) in self.by_length.items():
            starts = candidates[candidates + length <= len(wh)]
            starts = starts[owner[starts] == owner[starts + length - 1]]
            if len(starts) == 0:
                continue
            hashes = ngram_hashes_at(wh, starts, length)
            lo = np.searchsorted(keys, hashes, side="left")
            hi = np.searchsorted(keys, hashes, side="right")
            for pos in np.flatnonzero(hi > lo).tolist():
                text = int(owner[starts[pos]])
                found.extend((text, int(item)) for item in key_items[lo[pos] : hi[pos]].tolist())
        return found


def _read_benchmark_file(file: Path) -> list[dict[str, Any]]:
    """The records of one benchmark jsonl; ValueError names the first bad line."""
    out = []
    with file.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"line {line_no + 1}: not JSON ({exc.msg})") from exc
            if not isinstance(record, dict) or not benchmark_fields(record):
                raise ValueError(f"line {line_no + 1}: not a benchmark record (needs a question, choices or answer)")
            record.setdefault("benchmark", file.stem)
            record.setdefault("id", f"{file.stem}:{line_no}")
            out.append(record)
    return out


def _matchable_whole(tokens: Sequence[str]) -> bool:
    """A question specific enough to be matched whole without matching by coincidence:
    `what is vishing` (two informative tokens) or `evaluate 2 1 2 2 1 2` (one, but long),
    and never `simplify 2 10` or a run of numbers alone."""
    informative = {t for t in tokens if _is_informative(t)}
    if len(tokens) < MIN_WHOLE_TOKENS or not informative:
        return False
    return len(informative) >= MIN_WHOLE_INFORMATIVE or len(tokens) >= MIN_WHOLE_TOKENS_UNINFORMATIVE


class BenchmarkIndex:
    """Sorted hashed 13-grams of benchmark items; `hits(text)` finds the items a text shares.
    Questions that no 13-gram represents are matched whole (`_WholeIndex`)."""

    def __init__(
        self,
        keys: np.ndarray,
        key_items: np.ndarray,
        items: list[BenchmarkHit],
        n: int,
        stats: dict[str, Any],
        whole: _WholeIndex | None = None,
    ) -> None:
        self._keys = keys  # sorted uint64 n-gram hashes, repeated once per item holding it
        self._key_items = key_items  # int32 item index, aligned with _keys
        self._items = items
        self._whole = whole or _WholeIndex.empty()
        self._bitmap = np.zeros(1 << _BITMAP_BITS, dtype=bool)
        self._bitmap[keys >> _BITMAP_SHIFT] = True
        self.n = n
        self.stats = stats
        self.load_errors: dict[str, str] = {}  # benchmark -> why it was not indexed (from_folder)
        self.items_per_benchmark: Counter[str] = Counter(b for b, _ in items)
        self.ngrams_per_benchmark: Counter[str] = Counter(
            {b: int(c) for b, c in stats.get("ngrams_per_benchmark", {}).items()}
        )

    @property
    def benchmarks(self) -> list[str]:
        return sorted(self.items_per_benchmark)

    def __len__(self) -> int:
        return len(self._keys)

    @classmethod
    def from_records(
        cls,
        records: Iterable[Mapping[str, Any]],
        *,
        n: int = DEFAULT_NGRAM,
        min_distinct: int = DEFAULT_MIN_DISTINCT,
        max_item_df: int = DEFAULT_MAX_ITEM_DF,
    ) -> BenchmarkIndex:
        """Index records with keys id, benchmark, question, and optional choices/answer."""
        items: list[BenchmarkHit] = []
        field_tokens: list[list[str]] = []
        field_item: list[int] = []
        question_field: dict[int, int] = {}  # item -> index of its question among the fields
        for record in records:
            items.append((str(record["benchmark"]), str(record["id"])))
            if str(record.get("question") or "").strip():
                question_field[len(items) - 1] = len(field_tokens)
            for text in benchmark_fields(record):
                field_tokens.append(words(text))
                field_item.append(len(items) - 1)
        stream = _stream(field_tokens, n)
        usable = _non_degenerate(stream, n, min_distinct)
        degenerate = int((~usable).sum())
        represented = set(np.unique(stream.owner[usable]).tolist())
        whole_candidates = [
            (item, field_tokens[f]) for item, f in question_field.items() if f not in represented
        ]
        matchable = [(i, t) for i, t in whole_candidates if _matchable_whole(t)]
        whole, whole_templates = _WholeIndex.build(matchable, max_item_df)
        item_of_ngram = np.asarray(field_item, dtype=np.int64)[stream.owner[usable]]
        # one entry per (n-gram, item): fields of one item may repeat an n-gram
        pairs = np.unique(
            np.stack([stream.hashes[usable].view(np.int64), item_of_ngram], axis=1), axis=0
        )
        keys = pairs[:, 0].copy().view(np.uint64)
        key_items = pairs[:, 1].astype(np.int32)
        # an n-gram in many items is the benchmark's own template text
        _, inverse, item_df = np.unique(keys, return_inverse=True, return_counts=True)
        common = item_df[inverse] > max_item_df
        keys, key_items = keys[~common], key_items[~common]
        order = np.lexsort((key_items, keys))
        keys, key_items = keys[order], key_items[order]
        per_bench = Counter()
        for idx, count in zip(*np.unique(key_items, return_counts=True), strict=True):
            per_bench[items[int(idx)][0]] += int(count)
        stats = {
            "n": n,
            "n_items": len(items),
            "n_ngrams": int(len(keys)),
            "n_degenerate_skipped": int(degenerate),
            "n_template_skipped": int((item_df > max_item_df).sum()),
            "ngrams_per_benchmark": dict(sorted(per_bench.items())),
            "min_distinct": min_distinct,
            "max_item_df": max_item_df,
            # questions without an indexable n-gram: matched whole, or too short to match at all
            "n_whole_questions": len(whole),
            "n_whole_too_short": len(whole_candidates) - len(matchable),
            "n_whole_template_skipped": whole_templates,
        }
        return cls(keys, key_items, items, n, stats, whole)

    @classmethod
    def from_folder(cls, path: str | Path, **kwargs: Any) -> BenchmarkIndex:
        """Index every `*.jsonl` file in `path` (sorted, so the index is reproducible).

        A file that cannot be read or parsed is left out whole and named in `load_errors`
        (benchmark name -> why): half a benchmark screens nothing reliably, and the caller
        must be able to fail on it rather than on every file.
        """
        folder = Path(path)
        if not folder.is_dir():
            raise FileNotFoundError(f"benchmark folder not found: {folder}")
        records: list[Mapping[str, Any]] = []
        errors: dict[str, str] = {}
        files = sorted(folder.glob("*.jsonl"))
        for file in files:
            try:
                records.extend(_read_benchmark_file(file))
            except (OSError, UnicodeDecodeError, ValueError, TypeError) as exc:
                errors[file.stem] = f"{file.name}: {exc}"
        if not files:
            errors["(none)"] = f"no *.jsonl benchmark file in {folder}"
        index = cls.from_records(records, **kwargs)
        index.load_errors = errors
        return index

    def match_counts(self, text: str) -> Counter[int]:
        """Item index -> number of distinct shared n-grams, for items sharing at least one.
        An item whose question the text holds whole counts `WHOLE_MATCH`: no overlap is
        stronger, so it passes any `min_shared`."""
        return self._match_counts_batch([words(text)])[0]

    def _match_counts_batch(self, token_lists: Sequence[Sequence[str]]) -> list[Counter[int]]:
        out: list[Counter[int]] = [Counter() for _ in token_lists]
        if len(self._keys) == 0 and not self._whole.by_length:
            return out
        stream = _stream(token_lists, self.n)
        for owner, item in self._whole.matches(stream):
            out[owner][item] = WHOLE_MATCH
        if len(self._keys) == 0:
            return out
        # almost every query misses: a bitmap on the top hash bits rejects most of them
        # with one gather, before the binary search (measured 3x faster scans)
        maybe = np.flatnonzero(self._bitmap[stream.hashes >> _BITMAP_SHIFT])
        left_all = np.searchsorted(self._keys, stream.hashes[maybe], side="left")
        hit = left_all < len(self._keys)
        hit[hit] = self._keys[left_all[hit]] == stream.hashes[maybe][hit]
        found = maybe[hit]
        if len(found) == 0:
            return out
        left = np.zeros(len(stream.hashes), dtype=np.int64)
        right = np.zeros(len(stream.hashes), dtype=np.int64)
        left[found] = left_all[hit]
        right[found] = np.searchsorted(self._keys, stream.hashes[found], side="right")
        seen: set[tuple[int, int]] = set()  # (text, key position): count distinct n-grams
        for pos, lo, hi in zip(
            found.tolist(), left[found].tolist(), right[found].tolist(), strict=True
        ):
            owner = int(stream.owner[pos])
            if (owner, lo) in seen:
                continue
            seen.add((owner, lo))
            counts = out[owner]
            for item in self._key_items[lo:hi].tolist():
                if counts[item] != WHOLE_MATCH:
                    counts[item] += 1
        return out

    def _ranked(self, counts: Counter[int], min_shared: int) -> list[BenchmarkHit]:
        ranked = sorted(
            ((idx, c) for idx, c in counts.items() if c >= min_shared),
            key=lambda kv: (-kv[1], self._items[kv[0]]),
        )
        return [self._items[idx] for idx, _ in ranked]

    def hits(self, text: str, min_shared: int = 1) -> list[BenchmarkHit]:
        """(benchmark, item id) of every item sharing >= `min_shared` distinct n-grams with
        `text`, or whose question `text` holds whole, most shared first. The default (1) is
        the strict rule: one 13-gram is enough.
        """
        return self._ranked(self.match_counts(text), min_shared)

    def hits_many(self, texts: Sequence[str], min_shared: int = 1) -> list[list[BenchmarkHit]]:
        """`hits` for many texts in one vectorized look-up (what a batch of tasks needs)."""
        counts = self._match_counts_batch([words(t) for t in texts])
        return [self._ranked(c, min_shared) for c in counts]

    def scan(
        self, docs: Iterable[tuple[str, str]], min_shared: int = 1, batch_size: int = 256
    ) -> DecontamResult:
        """Hits for (doc_id, text) pairs with per-benchmark counters (batched lookups).

        `docs_per_benchmark` counts documents hitting a benchmark at least once;
        `items_per_benchmark` counts distinct benchmark items hit.
        """
        result = DecontamResult()
        items_hit: set[BenchmarkHit] = set()
        batch: list[tuple[str, str]] = []

        def flush() -> None:
            counts = self._match_counts_batch([words(text) for _, text in batch])
            for (doc_id, _), doc_counts in zip(batch, counts, strict=True):
                found = self._ranked(doc_counts, min_shared)
                if not found:
                    continue
                result.hits[doc_id] = found
                for bench in {b for b, _ in found}:
                    result.docs_per_benchmark[bench] += 1
                items_hit.update(found)
            batch.clear()

        for doc in docs:
            result.n_docs += 1
            batch.append(doc)
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
        result.items_per_benchmark = Counter(b for b, _ in items_hit)
        return result


@dataclass(slots=True)
class LoadedIndex:
    """The benchmark index of a run, or why there is none."""

    index: BenchmarkIndex | None = None
    errors: dict[str, str] = field(default_factory=dict)  # benchmark (or folder) -> why not indexed
    configured: bool = False


@cache
def _index(folder: str, fingerprint: tuple[tuple[str, float, int], ...]) -> BenchmarkIndex:
    # cached per process and per version of the folder's files: building the index costs seconds
    return BenchmarkIndex.from_folder(Path(folder))


def _fingerprint(folder: Path) -> tuple[tuple[str, float, int], ...]:
    return tuple((f.name, f.stat().st_mtime, f.stat().st_size) for f in sorted(folder.glob("*.jsonl")))


def load_benchmark_index(folder: Path | None, explicit: Path | None) -> LoadedIndex:
    """The index of the benchmark `folder` (None: none found). A folder that was set
    (`explicit`) but is missing, or a benchmark file that cannot be read, is an error for
    `benchmark_overlap` to fail on; the default `<corpus>/benchmarks` may be absent."""
    if folder is None:
        if explicit is None:
            return LoadedIndex()
        return LoadedIndex(errors={"(folder)": f"benchmark folder not found: {explicit}"}, configured=True)
    try:
        index = _index(str(folder), _fingerprint(folder))
    except OSError as exc:
        return LoadedIndex(errors={"(folder)": f"cannot read {folder}: {exc}"}, configured=True)
    return LoadedIndex(index, dict(index.load_errors), configured=True)
