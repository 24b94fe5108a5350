"""Offline distractors built on the answer: whole-token, meaning-changing edits of it, and
the answer with one step replaced by a step mined from a neighbouring document.

Every edit swaps whole tokens and keeps the text well-formed: a recomputed number, a
swapped operator or comparison, an antonym, another identifier or term defined in the
context, an off-by-one, or a reordered pair of dependent steps. Nothing moves words
around: a shuffled sentence is ungrammatical, and any reader (or language model) spots the
one grammatical option at a glance.

Edits are stacked as a star around a hidden hub: the hub is the answer with a few edits,
and every distractor is the hub with as many fresh ones. The answer is then one leaf among
the others at the same distance from the hub; editing the answer directly would make it
the centroid of its mutants, which a most-central-option solver spots every time. Both
legs are measured from the hub: the hub is edited until it differs from the answer as
much as a leaf must (MAX_EDIT_SIMILARITY), and each leaf until it differs that much from
the hub. A leaf topped up against the answer instead, from a hub one edit away, sat
nearer the answer than the other leaves (in 85% of 165 code items on the corpora), and
an edit that undoes one of the hub's (a swap is its own inverse) does the same, so such a
leaf is not kept.

Splicing (`spliced_candidates`) follows the same idea with mined text: one step or
sentence of the answer (an interior one where the span has three or more, so the span's
edges stay its own) is replaced by a step of a mined span, a step of the passage moved
from outside the span, or another step of the answer itself, each of the last two with
one edit (`moved_units`, `restated_steps`). Every such option shares the
rest of the span with the answer and with each other: the answer is one leaf of a
symmetric star, on the context's topic like the others, and what tells it apart is
whether that one step follows from the text around it.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from goose_assets.core.synthesis.code_check import CodeSlot
from goose_assets.core.synthesis.leakage import option_key, trigram_jaccard, trigram_set
from goose_assets.core.synthesis.spans import Unit, column, unit_bounds, unit_form, units_for
from goose_assets.core.synthesis.terms import (
    IDENTIFIER,
    NUMBER,
    ContextTerms,
    code_names,
    code_only,
    format_number,
    matching_case,
    math_variables,
    numbers_of,
    parse_number,
    term_class,
    term_occurrences,
)
from goose_assets.core.text import jaccard

OPERATOR_SWAPS: tuple[tuple[str, str], ...] = (
    (" + ", " - "), (" * ", " / "), (" <= ", " >= "), (" < ", " > "), (" == ", " != "),
    (" and ", " or "), ("True", "False"), ("min(", "max("), ("+=", "-="), (" // ", " % "),
    (r"\times", r"\div"), (r"\le ", r"\ge "), (r"\leq", r"\geq"), (r"\sin", r"\cos"), ("^2", "^3"),
    ("[0]", "[-1]"), ("sqrt", "log"), (r"\cup", r"\cap"), ("any(", "all("),
)
WORD_SWAPS: tuple[tuple[str, str], ...] = (
    ("increases", "decreases"), ("increase", "decrease"), ("increased", "decreased"),
    ("more", "less"), ("higher", "lower"), ("larger", "smaller"), ("greater", "smaller"),
    ("before", "after"), ("always", "never"), ("positive", "negative"), ("acid", "base"),
    ("acidic", "basic"), ("gains", "loses"), ("gain", "lose"), ("can", "cannot"),
    ("allows", "blocks"), ("encrypt", "decrypt"), ("encrypted", "decrypted"), ("client", "server"),
    ("input", "output"), ("public", "private"), ("maximum", "minimum"), ("first", "last"),
    ("left", "right"), ("inside", "outside"), ("add", "subtract"), ("multiply", "divide"),
    ("sum", "difference"), ("even", "odd"), ("absorbs", "releases"), ("oxidation", "reduction"),
    ("trusted", "untrusted"), ("valid", "invalid"), ("inner", "outer"), ("upper", "lower"),
    ("minimum", "maximum"), ("inhibits", "stimulates"), ("contracts", "relaxes"),
    ("anterior", "posterior"), ("superior", "inferior"), ("exothermic", "endothermic"),
    ("oxidized", "reduced"), ("donates", "accepts"), ("weak", "strong"), ("low", "high"),
    ("safe", "unsafe"), ("secure", "insecure"), ("enable", "disable"), ("enabled", "disabled"),
    ("allow", "deny"), ("accept", "reject"), ("include", "exclude"), ("read", "write"),
    ("lowest", "highest"), ("smallest", "largest"), ("fewer", "more"), ("decreasing", "increasing"),
)
OFF_BY_ONE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"range\(([^(),]+)\)"), r"range(\1 - 1)"),
    (re.compile(r"range\(([^(),]+), ([^(),]+)\)"), r"range(\1 + 1, \2)"),
    (re.compile(r"\[(\w+)\]"), r"[\1 + 1]"),
    (re.compile(r"len\((\w+)\)(?! - 1)"), r"len(\1) - 1"),
    (re.compile(r"(?<![<>=!])<(?![=<])"), "<="),
    (re.compile(r"(?<![<>=!-])>(?![=>])"), ">="),
)


def _trie_pattern(keys: Iterable[str], fold: bool) -> str:
    """A regex matching any of `keys`, written as a prefix tree: the same matches as the
    longest-first alternation, with one branch walked per character."""
    trie: dict[str, dict] = {}
    for key in keys:
        node = trie
        for ch in key.lower() if fold else key:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(trie)


def _swap_table(pairs: Iterable[tuple[str, str]], words: bool) -> tuple[re.Pattern[str], dict[str, str]]:
    table: dict[str, str] = {}
    for a, b in pairs:
        table.setdefault(a, b)
        table.setdefault(b, a)
    body = _trie_pattern(table, fold=words)
    pattern = rf"\b{body}\b" if words else body
    return re.compile(pattern, re.IGNORECASE if words else 0), {k.lower() if words else k: v for k, v in table.items()}


_OPERATOR_TABLE = _swap_table(OPERATOR_SWAPS, words=False)
# in code, `is`/`is not` are operators too; in prose they are words
_CODE_OPERATOR_TABLE = _swap_table((*OPERATOR_SWAPS, (" is not ", " is ")), words=False)
_WORD_TABLE = _swap_table(WORD_SWAPS, words=True)


def _editable(pattern: re.Pattern[str], text: str, ctx: EditContext) -> list[re.Match[str]]:
    """Matches an edit may change: in code, never inside a string literal or a comment
    (a changed docstring or doctest leaves the program as it was)."""
    found = list(pattern.finditer(text))
    if ctx.shape != "code" or not found:
        return found
    code = code_only(text)
    # judged by the match's first non-blank character (an operator match starts with a space)
    return [m for m in found if code[m.start() + len(m.group(0)) - len(m.group(0).lstrip())] != " "]


def _swap_pair(
    text: str, table: tuple[re.Pattern[str], dict[str, str]], rng: random.Random, words: bool, ctx: EditContext
) -> str | None:
    pattern, swaps = table
    found = _editable(pattern, text, ctx)
    if not found:
        return None
    m = rng.choice(found)
    original = m.group(0)
    dst = swaps[original.lower() if words else original]
    if words and original[:1].isupper():
        dst = dst[:1].upper() + dst[1:]
    return text[: m.start()] + dst + text[m.end() :]


class EditContext:
    """What the edits may borrow from the text around the span: its numbers, its variables
    or identifiers, its named terms. Built once per item."""

    def __init__(self, shape: str, context: str, answer: str) -> None:
        self.shape = shape
        self.numbers = [n for n in dict.fromkeys(numbers_of(context)) if n not in numbers_of(answer)]
        if shape == "code":
            # variables only: swapping in the enclosing function's own name reads as a slip
            # no programmer makes
            self.names = [n for n, _ in code_names(context + "\n" + answer, functions=False).most_common()]
        elif shape == "qa":
            self.names = [n for n, _ in math_variables(context + " " + answer).most_common()]
        else:
            self.names = []
        self.terms = ContextTerms.of(context)


def _recompute_number(text: str, rng: random.Random, ctx: EditContext) -> str | None:
    """One number changes value: to another number of the context half the time (a
    distractor's numbers then overlap the context as much as the answer's), else to a
    plausible slip (off by one, doubled, halved, ten more, digits swapped)."""
    found = _editable(NUMBER, text, ctx)
    if not found:
        return None
    m = rng.choice(found)
    raw = m.group(0)
    value = parse_number(raw)
    if value is None:
        return None
    others = [n for n in ctx.numbers if parse_number(n) not in (None, value)]
    if others and rng.random() < 0.5:
        new_raw = rng.choice(others)
    else:
        slips = [value + 1, value - 1, value * 2, value + 10, value / 2 if value % 2 == 0 else value + 2]
        if len(raw) > 1 and raw.isdigit() and raw[::-1] != raw and not raw.endswith("0"):
            slips.append(float(raw[::-1]))
        slips = [s for s in slips if s != value and (s >= 0 or value < 0)]
        if not slips:
            return None
        new_raw = format_number(rng.choice(slips), raw)
    if parse_number(new_raw) == value:
        return None
    return text[: m.start()] + new_raw + text[m.end() :]


def _swap_operator(text: str, rng: random.Random, ctx: EditContext) -> str | None:
    return _swap_pair(text, _CODE_OPERATOR_TABLE if ctx.shape == "code" else _OPERATOR_TABLE, rng, False, ctx)


def _antonym(text: str, rng: random.Random, ctx: EditContext) -> str | None:
    return _swap_pair(text, _WORD_TABLE, rng, True, ctx)


_MATH_VAR = re.compile(r"(?<![\\\w])[a-zA-Z](?!\w)")


def _other_identifier(text: str, rng: random.Random, ctx: EditContext) -> str | None:
    """Every use of one name in the span becomes another name the context defines (code),
    another variable of the problem (math), or another term of the same form (prose)."""
    if ctx.shape == "passage":
        return _other_term(text, rng, ctx)
    pattern = IDENTIFIER if ctx.shape == "code" else _MATH_VAR
    present = [m.group(0) for m in pattern.finditer(code_only(text) if ctx.shape == "code" else text)]
    known = set(ctx.names)
    names = sorted({n for n in present if n in known})
    if not names:
        return None
    old = rng.choice(names)
    choices = [n for n in ctx.names[:12] if n != old and n not in present]
    if not choices:
        return None
    new = rng.choice(choices)
    if ctx.shape != "code":
        return pattern.sub(lambda m: new if m.group(0) == old else m.group(0), text)
    blanked = code_only(text)  # strings and comments keep their words
    return pattern.sub(lambda m: new if m.group(0) == old and blanked[m.start()] != " " else m.group(0), text)


def _other_term(text: str, rng: random.Random, ctx: EditContext) -> str | None:
    """A salient word of the span that the context also uses becomes another word of the
    context of the same form (acronym, name, or word with the same ending)."""
    present = {canonical for _, canonical in term_occurrences(text)}
    found = [(m, c) for m, c in term_occurrences(text) if c in ctx.terms]
    rng.shuffle(found)
    for m, canonical in found:
        swaps = [t for t in ctx.terms.by_class(term_class(canonical))[:10] if t not in present]
        if swaps:
            return text[: m.start()] + matching_case(rng.choice(swaps), m.group(0)) + text[m.end() :]
    return None


def _off_by_one(text: str, rng: random.Random, ctx: EditContext) -> str | None:
    candidates = [(p, r) for p, r in OFF_BY_ONE if p.search(text)]
    if ctx.shape != "code":
        candidates = [(p, r) for p, r in candidates if "range" not in p.pattern and "len" not in p.pattern]
    if not candidates:
        return None
    pattern, repl = rng.choice(candidates)
    found = _editable(pattern, text, ctx)
    if not found:
        return None
    m = rng.choice(found)
    return text[: m.start()] + m.expand(repl) + text[m.end() :]


Edit = Callable[[str, random.Random, EditContext], "str | None"]
EDITS: dict[str, Edit] = {
    "number": _recompute_number,
    "operator": _swap_operator,
    "antonym": _antonym,
    "identifier": _other_identifier,
    "off_by_one": _off_by_one,
}


def reorder_dependent_steps(text: str, shape: str, rng: random.Random) -> str | None:
    """Two adjacent steps swapped where the second uses what the first produces (a name it
    assigns, a number it introduces): the order then matters, so the swap is wrong.
    Separators (indentation, newlines) stay where they are."""
    if shape not in ("qa", "code"):
        return None
    units = units_for(shape, text)
    pairs = []
    for a, b in zip(units, units[1:], strict=False):
        first, second = text[a.start : a.end], text[b.start : b.end]
        if shape == "code":
            if first.rstrip().endswith(":") or second.rstrip().endswith(":"):
                continue
            if _indent_at(text, a.start) != _indent_at(text, b.start):
                continue
            assigned = set(re.findall(r"^\s*([A-Za-z_]\w*)\s*(?:[-+*/%]?=)(?!=)", first))
            if not assigned or not assigned & set(IDENTIFIER.findall(second.split("=", 1)[-1])):
                continue
        else:
            introduced = set(numbers_of(first)) - set(numbers_of(text[: a.start]))
            if not introduced & set(numbers_of(second)):
                continue
        pairs.append((a, b))
    if not pairs:
        return None
    a, b = rng.choice(pairs)
    return text[: a.start] + text[b.start : b.end] + text[a.end : b.start] + text[a.start : a.end] + text[b.end :]


def _indent_at(text: str, pos: int) -> int:
    """`column(text, pos)` where only blanks precede `pos` on its line, else -1."""
    indent = column(text, pos)
    return indent if text[pos - indent : pos].strip() == "" else -1


# options at char-3-gram Jaccard >= 0.9 count as near-duplicates (the leakage check); an
# edited option gets more edits until it sits clearly below that line
MAX_EDIT_SIMILARITY = 0.88


def answer_edits(
    answer: str, shape: str, context: str, rng: random.Random, want: int, slot: CodeSlot | None = None
) -> list[tuple[str, str]]:
    """Up to `want` distinct, well-formed, meaning-changing edits of `answer`, as
    (kind, text). `context` is the text around the span (what edits borrow from); `slot`,
    for code, rejects edits that do not parse or leave the syntax tree unchanged."""
    ctx = EditContext(shape, context, answer)
    kinds = [k for k, fn in EDITS.items() if fn(answer, random.Random(0), ctx) not in (None, answer)]
    if not kinds:
        return []
    per_leaf = min(4, max(1, len(answer) // 150))

    def edit(text: str, budget: int, applied: list[str]) -> str:
        for _ in range(budget * 2):
            if budget <= 0:
                break
            kind = rng.choice(kinds)
            edited = EDITS[kind](text, rng, ctx)
            if edited and edited != text:
                text = edited
                applied.append(kind)
                budget -= 1
        return text

    answer_grams = trigram_set(answer)

    def apart(text: str, grams: set[str] | set[tuple[str, ...]], applied: list[str]) -> tuple[str, float]:
        """`text` topped up with edits until it differs from `grams`' text enough: a long
        answer needs several edits to."""
        similarity = jaccard(grams, trigram_set(text))
        for _top_up in range(3):
            if similarity < MAX_EDIT_SIMILARITY or not applied:
                break
            text = edit(text, 1, applied)
            similarity = jaccard(grams, trigram_set(text))
        return text, similarity

    hub_applied: list[str] = []
    hub, _ = apart(edit(answer, per_leaf, hub_applied), answer_grams, hub_applied)
    hub_grams = trigram_set(hub)
    seen = {option_key(answer)}
    out: list[tuple[str, str]] = []
    misses = 0
    # a long passage with few editable words yields few edits: stop trying early
    while len(out) < want and misses < 8:
        applied: list[str] = []
        text = edit(hub, per_leaf, applied)
        if rng.random() < 0.2 and (reordered := reorder_dependent_steps(text, shape, rng)):
            text = reordered
            applied.append("reorder")
        text, from_hub = apart(text, hub_grams, applied)
        similarity = jaccard(answer_grams, trigram_set(text))
        key = option_key(text)
        # nearer the answer than its own hub: it undid the hub's edits
        undone = hub != answer and from_hub <= similarity
        if not applied or undone or key in seen or similarity >= MAX_EDIT_SIMILARITY or (slot is not None and not slot.accepts(text)):
            misses += 1
            continue
        misses = 0
        seen.add(key)
        out.append(("edit:" + "+".join(sorted(Counter(applied))), text))
    return out


def splice_slot(answer: str, shape: str) -> Unit | None:
    """The one unit of the answer every spliced option replaces: its longest interior
    step or sentence (its longest one of two). Code keeps whole mined spans (a spliced
    line would rarely parse in place), and a one-unit answer has no rest to share."""
    units = units_for(shape, answer)
    if shape == "code" or len(units) < 2:
        return None
    # one slot per item: options that replaced different units would make the answer the
    # one option sharing every unit with the others
    return max(units[1:-1] or units, key=lambda u: u.end - u.start)


def one_edit(
    text: str, rng: random.Random, ctx: EditContext, accept: Callable[[str], bool], label: str = "moved"
) -> tuple[str, str] | None:
    """A step made wrong: ("<label>:<edit>", text) with the first edit, in a random order,
    that changes it and that `accept` takes; None where none does. `label` names where the
    step came from: "moved" from elsewhere in the passage (`moved_units`,
    `mining.moved_runs`), "restated" from the answer itself (`restated_steps`)."""
    for kind in rng.sample(list(EDITS), len(EDITS)):
        edited = EDITS[kind](text, rng, ctx)
        if edited and edited != text and accept(edited):
            return f"{label}:{kind}", edited
    return None


# a step of the passage moved into the slot (`moved_units`): its length against the slot's
MOVED_LENGTH_BAND = (0.5, 2.0)


def moved_units(
    shape: str, body: str, span: tuple[int, int], slot_text: str, ctx: EditContext, rng: random.Random, want: int
) -> list[tuple[str, str]]:
    """Up to `want` (kind, unit) to put in the answer's slot (`spliced_candidates`): units
    of the passage itself from outside the span, of the slot's form (`unit_form`) and a
    similar length, each with one meaning-changing edit. Prose and math only, as splicing is.

    A step of the same passage is on its topic and in its own words, which a step from
    another document is not: an embedding or word-overlap solver reads exactly that (with
    neighbour steps alone, the embedding solver picked the answer on 39% of held-out math
    tasks: BENCHMARKS.md §8). The edit is what makes the unit a distractor: moved as it is,
    it would repeat a step the student reads elsewhere in the context, and a step that
    restates its neighbour can be right in the slot too; edited, it is wrong wherever it
    stands."""
    if want <= 0:
        return []
    slot_chars = max(1, len(slot_text))
    form, slot_key = unit_form(slot_text), option_key(slot_text)
    bounds = [(s, e) for s, e in unit_bounds(shape, body) if e <= span[0] or s >= span[1]]
    rng.shuffle(bounds)
    out: list[tuple[str, str]] = []
    for start, end in bounds:
        text = body[start:end]
        if not MOVED_LENGTH_BAND[0] <= len(text) / slot_chars <= MOVED_LENGTH_BAND[1]:
            continue
        if unit_form(text) != form or option_key(text) == slot_key:
            continue
        moved = one_edit(text, rng, ctx, lambda edited: option_key(edited) != slot_key)
        if moved is not None:
            out.append(moved)
        if len(out) >= want:
            break
    return out


def restated_steps(answer: str, shape: str, slot: Unit, ctx: EditContext, rng: random.Random) -> list[tuple[str, str]]:
    """("restated:<edit>", unit) per other step or sentence of the answer, with one
    meaning-changing edit, to put in the answer's `slot` (`spliced_candidates`).

    The answer's slot reuses its neighbours' words (a coherent solution names the same
    quantities step after step), and a unit mined from another document or moved from
    outside the span does not, so the answer was the option sharing most with the others:
    on 214 math tasks whose options were all spliced, the most-central solver picked it
    26% of the time. A restated step carries the span's own words into the slot as the
    answer's slot does. Edited, it is wrong wherever it stands, and it no longer says what
    the slot said."""
    slot_key = option_key(answer[slot.start : slot.end])
    out: list[tuple[str, str]] = []
    for unit in units_for(shape, answer):
        if unit.start == slot.start:
            continue
        edited = one_edit(answer[unit.start : unit.end], rng, ctx, lambda text: option_key(text) != slot_key, "restated")
        if edited is not None:
            out.append(edited)
    return out


def slot_pieces(shape: str, slot: Unit, mined: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """(kind, unit) per whole mined span: its unit closest in length to the slot, where
    that is within a factor of two. A second source of units to splice besides
    `SpanMiner.slot_units`: a step of a run that reads like the answer as a whole."""
    slot_chars = max(1, slot.end - slot.start)
    out = []
    for kind, text in mined:
        pieces = unit_bounds(shape, text)
        if not pieces:
            continue
        start, end = min(pieces, key=lambda p: abs((p[1] - p[0]) - slot_chars))
        if 0.5 <= (end - start) / slot_chars <= 2.0:
            out.append((kind, text[start:end]))
    return out


def spliced_candidates(answer: str, slot: Unit, replacements: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """(kind, text) per replacement unit (`SpanMiner.slot_units`, `slot_pieces`): the
    answer with `slot` replaced by it."""
    spliced = [answer[: slot.start] + replacement + answer[slot.end :] for _, replacement in replacements]
    # near-copies of the answer are leaks (char-3-gram Jaccard >= 0.9 in the leakage check)
    similarity = trigram_jaccard([answer, *spliced])[0, 1:]
    seen = {option_key(answer)}
    out: list[tuple[str, str]] = []
    for (kind, _), text, sim in zip(replacements, spliced, similarity, strict=True):
        key = option_key(text)
        if key in seen or sim >= MAX_EDIT_SIMILARITY:
            continue
        seen.add(key)
        out.append((kind + ":spliced", text))
    return out
