"""Offline distractors: meaning-changing mutations of the answer and corpus-mined spans.

Mutations stay on topic (same symbols, same style) but change the meaning: numbers,
operators, comparisons, negations, swapped identifiers, off-by-one edits and reordered
steps. Several mutations are stacked on one candidate so that code distractors are not
all single-operator edits (the audit's complaint about GooseReason). Mined spans come from
other documents of the same domain with a similar length, so length alone does not give
the answer away.
"""

from __future__ import annotations

import bisect
import random
import re
from collections.abc import Callable, Iterable, Sequence

from goose_assets.core.leakage import option_key, trigram_set
from goose_assets.core.spans import units_for
from goose_assets.core.text import jaccard

_NUM = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")
_IDENT = re.compile(r"\b[a-z_][a-z0-9_]*\b")
_PY_RESERVED = frozenset(
    "and as assert async await break class continue def del elif else except finally for from "
    "global if import in is lambda nonlocal not or pass raise return try while with yield self "
    "True False None print len range int str float list dict set tuple min max abs sum sorted".split()
)

OPERATOR_SWAPS: tuple[tuple[str, str], ...] = (
    (" + ", " - "), (" * ", " / "), (" <= ", " >= "), (" < ", " > "), (" == ", " != "),
    (" and ", " or "), ("True", "False"), ("min(", "max("), ("+=", "-="), ("//", "%"),
    (r"\times", "+"), (r"\le", r"\ge"), (r"\sin", r"\cos"), ("^2", "^3"), (r"\cdot", "+"),
    ("append(", "insert(0, "), ("[0]", "[-1]"), ("sqrt", "log"),
)
WORD_SWAPS: tuple[tuple[str, str], ...] = (
    ("increases", "decreases"), ("increase", "decrease"), ("more", "less"), ("higher", "lower"),
    ("larger", "smaller"), ("greater", "smaller"), ("before", "after"), ("always", "never"),
    ("positive", "negative"), ("acid", "base"), ("gains", "loses"), ("gain", "lose"),
    ("can", "cannot"), ("should", "should not"), ("must", "must not"), ("allows", "blocks"),
    ("encrypt", "decrypt"), ("client", "server"), ("input", "output"), ("public", "private"),
    ("maximum", "minimum"), ("first", "last"), ("left", "right"), ("inside", "outside"),
    ("add", "subtract"), ("multiply", "divide"), ("sum", "difference"), ("even", "odd"),
    ("absorbs", "releases"), ("oxidation", "reduction"), ("attacker", "defender"),
    ("trusted", "untrusted"), ("valid", "invalid"), ("is", "is not"), ("are", "are not"),
)
OFF_BY_ONE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"range\(([^(),]+)\)"), r"range(\1 - 1)"),
    (re.compile(r"range\(([^(),]+), ([^(),]+)\)"), r"range(\1 + 1, \2)"),
    (re.compile(r"\[(\w+)\]"), r"[\1 + 1]"),
    (re.compile(r"len\((\w+)\)"), r"len(\1) - 1"),
)


def _mutate_number(text: str, rng: random.Random, pool: Sequence[str] = ()) -> str | None:
    """Change one number; half the time to another number of the same document, so a
    distractor's numbers overlap the context as much as the answer's do."""
    nums = list(_NUM.finditer(text))
    if not nums:
        return None
    m = rng.choice(nums)
    raw = m.group(0)
    others = [p for p in pool if p != raw]
    if others and rng.random() < 0.5:
        return text[: m.start()] + rng.choice(others) + text[m.end() :]
    value = float(raw)
    options = [value + 1, value - 1, value * 2, value + 10, value / 2 if value else 3]
    if len(raw) > 1 and "." not in raw:
        options.append(float(raw[::-1]))
    new = rng.choice([o for o in options if o != value] or [value + 2])
    new_raw = str(int(new)) if "." not in raw and float(new).is_integer() else f"{new:g}"
    return text[: m.start()] + new_raw + text[m.end() :]


def _trie_pattern(keys: Iterable[str], fold: bool) -> str:
    """A regex matching any of `keys`, written as a prefix tree.

    It matches exactly what the longest-first alternation `k1|k2|...` matches (at a
    position, the longest key that fits, the word boundary after it included), but the
    regex engine walks one branch per character instead of trying every key at every
    position: ~3x faster on the word table."""
    trie: dict[str, dict] = {}
    for key in keys:
        node = trie
        for ch in key.lower() if fold else key:
            node = node.setdefault(ch, {})
        node[""] = {}  # a key ends here

    def emit(node: dict[str, dict]) -> str:
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        # a longer key is tried first; ending here is the backtracking fallback
        return f"(?:{body})?" if "" in node else body

    return emit(trie)


def _swap_table(pairs: Iterable[tuple[str, str]], words: bool) -> tuple[re.Pattern[str], dict[str, str]]:
    """One regex for every pair, both directions: a single scan per mutation."""
    table: dict[str, str] = {}
    for a, b in pairs:
        table.setdefault(a, b)
        table.setdefault(b, a)
    body = _trie_pattern(table, fold=words)
    pattern = rf"\b{body}\b" if words else body
    return re.compile(pattern, re.IGNORECASE if words else 0), {k.lower() if words else k: v for k, v in table.items()}


def _swap_pair(text: str, table: tuple[re.Pattern[str], dict[str, str]], rng: random.Random, words: bool) -> str | None:
    pattern, swaps = table
    found = list(pattern.finditer(text))
    if not found:
        return None
    m = rng.choice(found)
    original = m.group(0)
    dst = swaps[original.lower() if words else original]
    if words and original[:1].isupper():
        dst = dst[:1].upper() + dst[1:]
    return text[: m.start()] + dst + text[m.end() :]


_OPERATOR_TABLE = _swap_table(OPERATOR_SWAPS, words=False)
_WORD_TABLE = _swap_table(WORD_SWAPS, words=True)


def _mutate_operator(text: str, rng: random.Random) -> str | None:
    return _swap_pair(text, _OPERATOR_TABLE, rng, words=False)


def _mutate_word(text: str, rng: random.Random) -> str | None:
    return _swap_pair(text, _WORD_TABLE, rng, words=True)


def _swap_identifiers(text: str, rng: random.Random) -> str | None:
    found = list(_IDENT.finditer(text))
    names = sorted({m.group(0) for m in found} - _PY_RESERVED)
    if len(names) < 2:
        return None
    a, b = rng.sample(names, 2)
    # the scan above already holds every identifier: swap the two in place (what
    # `_IDENT.sub` with a swap table did, without a second scan and a call per name)
    out, pos = [], 0
    for m in found:
        name = m.group(0)
        if name == a or name == b:
            out.append(text[pos : m.start()])
            out.append(b if name == a else a)
            pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def _off_by_one(text: str, rng: random.Random) -> str | None:
    candidates = [(p, r) for p, r in OFF_BY_ONE if p.search(text)]
    if not candidates:
        return None
    pattern, repl = rng.choice(candidates)
    return pattern.sub(repl, text, count=1)


def _reorder_steps(text: str, rng: random.Random, shape: str) -> str | None:
    units = units_for(shape, text)
    if len(units) < 2:
        return None
    pieces = [text[u.start : u.end] for u in units]
    order = list(range(len(pieces)))
    while order == sorted(order):
        rng.shuffle(order)
    # keep the separators (indentation, newlines) in place, move only the unit texts
    out, pos = [], 0
    for slot, u in enumerate(units):
        out.append(text[pos : u.start])
        out.append(pieces[order[slot]])
        pos = u.end
    out.append(text[pos:])
    return "".join(out)


Mutation = Callable[[str, random.Random], str | None]
MUTATIONS: dict[str, Mutation] = {
    "number": _mutate_number,
    "operator": _mutate_operator,
    "negation": _mutate_word,
    "identifier_swap": _swap_identifiers,
    "off_by_one": _off_by_one,
}


# options at char-3-gram Jaccard >= 0.9 count as near-duplicates (the leakage check); a
# mutant is edited until it sits clearly below that line
MAX_MUTANT_SIMILARITY = 0.85


def mutations(
    answer: str, shape: str, rng: random.Random, want: int, context: str = ""
) -> list[tuple[str, str]]:
    """Up to `want` distinct meaning-changing variants of `answer`, each (kind, text).

    Built as a star around a hidden hub: the hub is the answer with a few edits, and every
    distractor is the hub with as many fresh edits. The answer is then one leaf among nine
    at the same distance from the hub; editing the answer directly would make it the
    centroid of its mutants, which a most-central-option baseline spots every time. Each
    leaf gets edits until it is no near-duplicate of the answer, so long spans get several
    changes and code distractors are not single-operator edits. `context` lends numbers."""
    number_pool = sorted(set(_NUM.findall(context)))
    edits: dict[str, Mutation] = {**MUTATIONS, "number": lambda t, r: _mutate_number(t, r, number_pool)}
    seen = {option_key(answer)}
    answer_grams = trigram_set(answer)
    out: list[tuple[str, str]] = []
    # only the edits that find something to change in this answer: failed tries cost scans
    kinds = [k for k, fn in edits.items() if fn(answer, random.Random(0)) not in (None, answer)]
    if not kinds:
        return out
    per_leaf = min(6, max(1, len(answer) // 120))

    def edit(text: str, budget: int, applied: list[str]) -> str:
        for _ in range(budget):
            kind = rng.choice(kinds)
            mutated = edits[kind](text, rng)
            if mutated and mutated != text:
                text = mutated
                applied.append(kind)
        return text

    hub = edit(answer, per_leaf, [])
    for _ in range(want * 2):
        if len(out) >= want:
            break
        applied: list[str] = []
        text = edit(hub, per_leaf, applied)
        similarity = jaccard(answer_grams, trigram_set(text))
        for _top_up in range(2):
            if similarity < MAX_MUTANT_SIMILARITY:
                break
            text = edit(text, 2, applied)
            similarity = jaccard(answer_grams, trigram_set(text))
        # reordered sentences of a passage can still be right; order matters in steps and code
        if shape in ("qa", "code") and rng.random() < 0.15 and (reordered := _reorder_steps(text, rng, shape)):
            text = reordered
            applied.append("reorder")
        key = option_key(text)
        if applied and key not in seen and similarity < MAX_MUTANT_SIMILARITY:
            seen.add(key)
            out.append(("+".join(applied), text))
    return out


class SpanPool:
    """Candidate spans mined from a domain's corpus, indexed by length for near-length picks.

    Bounded: at most `per_bucket` spans per 16-character length bucket, chosen
    deterministically, so memory stays flat however large the corpus is."""

    def __init__(self, per_bucket: int = 64) -> None:
        self.per_bucket = per_bucket
        self._buckets: dict[int, list[tuple[str, str]]] = {}
        self._lengths: list[int] = []

    def add_text(self, doc_key: str, shape: str, body: str, rng: random.Random) -> None:
        units = units_for(shape, body)
        if len(units) < 2:
            return
        for _ in range(3):
            k = rng.choice((1, 2, 2, 3))
            i = rng.randrange(0, max(1, len(units) - k + 1))
            j = min(len(units) - 1, i + k - 1)
            span = body[units[i].start : units[j].end]
            if 20 <= len(span) <= 800:
                bucket = self._buckets.setdefault(len(span) // 16, [])
                if len(bucket) < self.per_bucket:
                    bucket.append((doc_key, span))
                else:
                    bucket[rng.randrange(self.per_bucket)] = (doc_key, span)
        self._lengths = sorted(self._buckets)

    def near_length(self, length: int, exclude_in: str, rng: random.Random, want: int) -> list[str]:
        """Spans within ~35% of `length`, none of which occurs in `exclude_in` (the source)."""
        if not self._lengths:
            return []
        lo, hi = int(length * 0.65) // 16, int(length * 1.35) // 16 + 1
        keys = self._lengths[bisect.bisect_left(self._lengths, lo) : bisect.bisect_right(self._lengths, hi)]
        pool = [span for key in keys for _, span in self._buckets[key]]
        rng.shuffle(pool)
        out: list[str] = []
        seen: set[str] = set()
        for span in pool:
            norm = option_key(span)
            if norm in seen or span in exclude_in:
                continue
            seen.add(norm)
            out.append(span)
            if len(out) >= want:
                break
        return out


def offline_distractors(
    answer: str, source: str, shape: str, pool: SpanPool, rng: random.Random, want: int = 12
) -> list[tuple[str, str]]:
    """At least `want` (kind, text) distractors when the material allows: mutations first
    (on topic, hard), then mined spans of similar length."""
    candidates = mutations(answer, shape, rng, want=want * 2, context=source)
    n_mutations = max(6, want * 2 // 3)
    out, spare = candidates[:n_mutations], candidates[n_mutations:]
    seen = {option_key(t) for _, t in out} | {option_key(answer)}
    for span in pool.near_length(len(answer), source, rng, want=want * 2):
        if len(out) >= want:
            break
        if option_key(span) not in seen:
            seen.add(option_key(span))
            out.append(("mined", span))
    # a small corpus mines little: top up with the remaining mutations
    return out + spare[: max(0, want - len(out))]
