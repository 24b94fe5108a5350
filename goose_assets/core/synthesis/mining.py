"""Offline distractors of the first kind: real spans mined from the nearest documents of
the same domain, adapted to the context.

A mined span is real text of the same structural kind as the answer (the same number of
solution steps, code lines or sentences, of a similar length), so it is as fluent as the
answer. Taken as it is, it gives itself away by its vocabulary: the answer shares the
problem's numbers, variables and terms, a span from another problem does not. So each
mined span is adapted before it is offered: the context's numbers, variables, identifiers
and named terms replace the mined span's own.

Neighbours are the most similar documents by TF-IDF cosine (sublinear term frequency): on
the same topic, the mined spans talk about the same kind of thing.
"""

from __future__ import annotations

import random
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from goose_assets.core.synthesis.code_check import CodeSlot
from goose_assets.core.synthesis.code_layout import (
    Layout,
    indent_unit,
    layout_of,
    reindent,
    statement_indents,
)
from goose_assets.core.synthesis.distractors import EditContext, one_edit
from goose_assets.core.synthesis.leakage import option_key
from goose_assets.core.synthesis.spans import Unit, column, unit_form, units_for
from goose_assets.core.synthesis.terms import (
    IDENTIFIER,
    MATH_LETTER,
    MATH_SEGMENT,
    NUMBER,
    ContextTerms,
    code_names,
    code_only,
    is_reserved,
    matching_case,
    math_variables,
    parse_number,
    term_class,
    term_occurrences,
)
from goose_assets.core.text import words
from goose_assets.core.web.lexicon import STOP_WORDS

NEIGHBOURS = 32
# the words of the context a reader weighs an option against: as many as the overlap
# solver of core.filtering.baselines reads on each side of [MASK]
WINDOW_WORDS = 64
# a mined span's length may differ from the answer's by this factor at most
LENGTH_BAND = (0.6, 1.6)
# a unit spliced into the answer (`slot_units`): its length against the slot's, and how
# many units one neighbour may give
SLOT_LENGTH_BAND = (0.7, 1.4)
SLOT_UNITS_PER_DOC = 3
_SELF = re.compile(r"\bself\b")
_DIGIT = re.compile(r"\d")
_NUMBERED = re.compile(
    r"\b(?:group|period|chapter|section|figure|fig\.|table|example|step|problem|exercise|equation|eq\.|page|"
    r"part|unit|lesson|question|no\.|number|version|level|phase|stage|type|class|grade)\s*$", re.IGNORECASE)
_CALLED = re.compile(r"(?<![.\w])([A-Za-z_]\w*)\s*\(")


@dataclass(slots=True)
class _Doc:
    key: str
    shape: str
    body: str
    units: list[Unit] | None = None
    indents: list[int] | None = None  # code: each unit's indentation
    # per unit, its form, content words and their weight (`slot_units`): a document
    # neighbours many others, and is read once
    profiles: list[tuple[tuple[str, bool, bool, bool], frozenset[str], float]] | None = None

    def prepared(self) -> _Doc:
        """The document with its units (and, for code, their indentation), cut once."""
        if self.units is None:
            self.units = units_for(self.shape, self.body)
            if self.shape == "code":
                self.indents = [column(self.body, u.start) for u in self.units]
        return self


class SpanMiner:
    """The domain's passages with a nearest-neighbour index; `mine` returns adapted spans."""

    def __init__(self, passages: Iterable[tuple[str, str, str]], neighbours: int = NEIGHBOURS) -> None:
        self.docs = [_Doc(key, shape, body) for key, shape, body in passages]
        self.index = {d.key: i for i, d in enumerate(self.docs)}
        self.neighbours: np.ndarray = np.zeros((len(self.docs), 0), dtype=np.int32)
        self._vectorizer = None
        self._matrix = None
        self._idf: dict[str, float] | None = None
        self._idf_max = 1.0
        if len(self.docs) > 1:
            self._build(neighbours)

    def _build(self, k: int) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._vectorizer = TfidfVectorizer(sublinear_tf=True, max_features=1 << 17, dtype=np.float32,
                                           token_pattern=r"(?u)\b[^\W\d_][\w]+\b", stop_words="english")
        try:
            self._matrix = self._vectorizer.fit_transform(d.body for d in self.docs)
        except ValueError:  # no usable words at all (e.g. only numbers)
            self._vectorizer = None
            return
        idf = self._vectorizer.idf_
        self._idf = dict(zip(self._vectorizer.get_feature_names_out(), idf.tolist(), strict=True))
        self._idf_max = float(idf.max())
        shapes = np.array([d.shape for d in self.docs])
        k = min(k, len(self.docs) - 1)
        out = np.zeros((len(self.docs), k), dtype=np.int32)
        for lo in range(0, len(self.docs), 512):
            sims = (self._matrix[lo : lo + 512] @ self._matrix.T).toarray()
            rows = np.arange(sims.shape[0])
            sims[rows, rows + lo] = -1.0  # never itself
            sims[shapes[lo : lo + 512, None] != shapes[None, :]] -= 1.0  # the same shape first
            sims[sims > 0.95] = -2.0  # a near-copy would hand over the answer itself
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < sims.shape[1] else np.argsort(-sims, axis=1)[:, :k]
            order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1)
            out[lo : lo + len(rows)] = np.take_along_axis(top, order, axis=1)
        self.neighbours = out

    def _neighbours_of(self, key: str, body: str) -> Sequence[int]:
        i = self.index.get(key)
        if i is not None and self.neighbours.shape[1]:
            return self.neighbours[i]
        if self._vectorizer is None or self._matrix is None:
            return [j for j, d in enumerate(self.docs) if d.key != key]
        sims = (self._vectorizer.transform([body]) @ self._matrix.T).toarray()[0]
        sims[sims > 0.95] = -1.0
        return [int(j) for j in np.argsort(-sims)[:NEIGHBOURS]]

    def _weight(self, unit_words: set[str] | frozenset[str]) -> float:
        """The words' total inverse document frequency: a term few documents use says
        more about a unit's topic than one most of them use."""
        if self._idf is None:
            return float(len(unit_words))
        return sum(self._idf.get(w, self._idf_max) for w in unit_words)

    def _prepared(self, i: int) -> _Doc:
        return self.docs[i].prepared()

    def mine(
        self, key: str, body: str, shape: str, answer: str, span: tuple[int, int], rng: random.Random, want: int,
        slot: CodeSlot | None = None, adapter: Adapter | None = None,
    ) -> list[tuple[str, str]]:
        """Up to `want` adapted spans from the neighbours of passage `key`, each (kind, text):
        runs of as many units as the answer has, of a similar length, best first (below).
        `adapter`: the span's `Adapter.for_span`, where the caller mines its slot too."""
        answer_units = units_for(shape, answer)
        n_units = max(1, len(answer_units))
        profile = layout_of(statement_indents(body, *span), answer) if shape == "code" else None
        lo, hi = LENGTH_BAND[0] * len(answer), LENGTH_BAND[1] * len(answer)
        adapter = adapter or Adapter.for_span(shape, body, answer, span)
        seen = {option_key(answer)}
        out: list[tuple[str, str]] = []
        window = set(words(_window_text(body, span)))
        answer_density = _density(answer_units)
        # every run of every neighbour, best first by: the share of its words the context
        # uses (the answer's strongest surface cue), a reasoning density like the answer's
        # (key steps are denser in numbers, operators and connectives than the text around
        # them), and how near its document is. Code takes only runs laid out like the
        # answer: others do not parse in its place
        ranked = []
        neighbours = [int(j) for j in self._neighbours_of(key, body)]
        for rank, j in enumerate(neighbours):
            doc = self._prepared(j)
            for i, start, end in _runs(doc, n_units, lo, hi, profile):
                run_words = set(words(doc.body[start:end]))
                fit = len(run_words & window) / max(1, len(run_words))
                density = _density((doc.units or [])[i : i + n_units])
                likeness = 1.0 - min(1.0, abs(density - answer_density) / max(answer_density, 1e-9))
                score = fit + 0.5 * likeness + 0.2 * (1 - rank / len(neighbours)) + 0.05 * rng.random()
                ranked.append((score, j, start, end))
        ranked.sort(reverse=True)
        # variety: two spans per neighbour, more only where there are few neighbours
        cap = max(2, -(-want // max(1, len(neighbours))))
        per_doc: dict[int, int] = {}
        max_parses = (slot.parses if slot else 0) + want + 12  # code: each check may be a parse
        for _, j, start, end in ranked:
            if per_doc.get(j, 0) >= cap:
                continue
            doc = self.docs[j]
            raw = doc.body[start:end]
            if adapter.foreign(raw) or raw.strip() in body:
                continue
            text = adapter.adapt(raw, rng, first_indent=column(doc.body, start))
            okey = option_key(text)
            if okey in seen:
                continue
            if slot is not None and not slot.accepts(text):
                if slot.parses >= max_parses:
                    break
                continue
            seen.add(okey)
            per_doc[j] = per_doc.get(j, 0) + 1
            out.append(("mined:adapted" if text != raw else "mined", text))
            if len(out) >= want:
                break
        return out

    def slot_units(
        self, key: str, body: str, shape: str, answer: str, span: tuple[int, int], slot: Unit,
        rng: random.Random, want: int, adapter: Adapter | None = None,
    ) -> list[tuple[str, str]]:
        """Up to `want` adapted single units from the neighbours, each (kind, text), to put
        in place of the answer's `slot` unit (offsets into `answer`); best first.

        Coherent text reuses its own words: the answer's slot shares terms with the steps
        around it and with the text around [MASK], a sentence from another document does
        not, and a reader (or a most-central solver) sees that at once. So units are ranked
        by the share of their content words that the rest of the answer and the window use,
        and must read like the slot: of a similar length, the same kind of sentence (a
        statement for a statement, a question for a question, never a label such as
        "Example 2:" in place of a sentence), with formulas where it has them. A unit that
        says nearly what the slot says (most of its words) is left out: it may be right too."""
        slot_text = answer[slot.start : slot.end]
        slot_chars = max(1, len(slot_text))
        lo, hi = SLOT_LENGTH_BAND[0] * slot_chars, SLOT_LENGTH_BAND[1] * slot_chars
        form = unit_form(slot_text)
        rest = answer[: slot.start] + " " + answer[slot.end :]
        topic = _content_words(_window_text(body, span) + " " + rest)
        slot_words = _content_words(slot_text)
        neighbours = [int(j) for j in self._neighbours_of(key, body)]
        ranked = []
        for rank, j in enumerate(neighbours):
            doc = self._prepared(j)
            if doc.profiles is None:
                # interned: every document's profiles stay for the partition, and a word is
                # then one string however many units use it (science at 10K documents:
                # 17 MB of the profiles' 39 were copies of the same words)
                doc.profiles = [(unit_form(t), w, self._weight(w)) for u in doc.units or []
                                for t in [doc.body[u.start : u.end]]
                                for w in [frozenset(map(sys.intern, _content_words(t)))]]
            for unit, (candidate_form, unit_words, unit_weight) in zip(doc.units or [], doc.profiles, strict=True):
                if not lo <= unit.end - unit.start <= hi or candidate_form != form:
                    continue
                text = doc.body[unit.start : unit.end]
                if len(unit_words) < 2 or len(unit_words & slot_words) > 0.5 * len(unit_words | slot_words):
                    continue
                coherence = self._weight(unit_words & topic) / unit_weight
                ranked.append((coherence + 0.2 * (1 - rank / len(neighbours)) + 0.05 * rng.random(), j, text, unit_words))
        ranked.sort(key=lambda r: r[0], reverse=True)
        adapter = adapter or Adapter.for_span(shape, body, answer, span)
        seen = {option_key(slot_text)}
        per_doc: dict[int, int] = {}
        out: list[tuple[str, str]] = []
        # two units with the same words but their numbers would make two options that
        # differ in a number only: near-duplicates, which validation drops
        taken = {frozenset(slot_words)}
        for _, j, text, unit_words in ranked:
            if per_doc.get(j, 0) >= SLOT_UNITS_PER_DOC or unit_words in taken or text.strip() in body:
                continue
            taken.add(unit_words)
            adapted = adapter.adapt(text, rng)
            okey = option_key(adapted)
            if okey in seen:
                continue
            seen.add(okey)
            per_doc[j] = per_doc.get(j, 0) + 1
            out.append(("mined:slot:adapted" if adapted != text else "mined:slot", adapted))
            if len(out) >= want:
                break
        return out


def _window_text(body: str, span: tuple[int, int]) -> str:
    """The words around the span, as a reader (or the lexical-overlap solver) sees them."""
    before, after = body[: span[0]].split(), body[span[1] :].split()
    return " ".join(before[-WINDOW_WORDS:] + after[:WINDOW_WORDS])


def _content_words(text: str) -> set[str]:
    # words with digits in them (`9w`, `x2`) are numbers as far as topic goes
    return {w for w in words(text) if len(w) > 2 and w not in STOP_WORDS["en"] and not _DIGIT.search(w)}


def _is_label(text: str, m: re.Match[str]) -> bool:
    """A number that names rather than counts, or sets a scale: a year, a version, part of
    an identifier such as `SP 800-162` or `CWE-284`, a numbered thing (`group 13`,
    `Figure 2`), or a power's base or exponent (`10^-24`): changed, these read as nonsense."""
    before, after = text[max(0, m.start() - 2) : m.start()], text[m.end() : m.end() + 2]
    raw = m.group(0)
    year = len(raw) == 4 and raw.isdigit() and 1900 <= int(raw) <= 2099
    numbered = _NUMBERED.search(text, max(0, m.start() - 12), m.start()) is not None
    power = after[:1] == "^" or "^" in before or before[-1:] in ("{", "−") and "^" in text[max(0, m.start() - 3) : m.start()]
    return (
        year or numbered or power or before[-1:] in ("-", "v", "V") or after[:1] == "-"
        or (after[:1] == "." and after[1:2].isdigit())
    )


def _density(units: Sequence[Unit]) -> float:
    """Mean reasoning score of the units (core.synthesis.spans)."""
    return sum(u.score for u in units) / len(units) if units else 0.0


def _runs(doc: _Doc, n_units: int, lo: float, hi: float, profile: Layout | None) -> list[tuple[int, int, int]]:
    """A neighbour's runs of `n_units` units within the length band, as (first unit,
    start, end). For code, only runs with the answer's `Layout`: others would not parse
    in its place."""
    units = doc.units or []
    out = []
    for i in range(0, max(0, len(units) - n_units + 1)):
        start, end = units[i].start, units[i + n_units - 1].end
        if units[i].score <= 0 or not lo <= end - start <= hi:
            continue
        if profile is not None and doc.indents is not None:
            if layout_of(doc.indents[i : i + n_units], doc.body[start:end]) != profile:
                continue
        out.append((i, start, end))
    return out


class Adapter:
    """Rewrites a mined span in the context's own vocabulary."""

    def __init__(self, shape: str, context: str, answer: str, before_span: str) -> None:
        self.shape = shape
        self.context = context
        # the context's numbers above 3 and their values: every mined span is adapted
        # against the same ones (parsed once, not once a span)
        pool = [(n, v) for n in dict.fromkeys(NUMBER.findall(context)) if (v := parse_number(n)) is not None and v > 3]
        self.number_names = [n for n, _ in pool]
        self.number_values = np.array([v for _, v in pool], dtype=np.float64)
        if shape == "code":
            self.names = [n for n, _ in code_names(context + "\n" + answer, functions=False).most_common()]
            self.functions = [n for n, _ in code_names(context + "\n" + answer).most_common() if n not in self.names]
            # the answer's own indentation: a mined block is moved to it
            line = before_span[before_span.rfind("\n") + 1 :]
            self.indent = len(line) - len(line.lstrip(" \t")) if not line.strip() else 0
            self.unit = indent_unit(context)
            self.uses_self = bool(_SELF.search(context + answer))
        else:
            self.names = [n for n, _ in math_variables(context + " " + answer).most_common()] if shape == "qa" else []
            self.functions = []
            self.indent = 0
            self.uses_self = False
        self.terms = ContextTerms.of(context + "\n" + answer)

    @classmethod
    def for_span(cls, shape: str, body: str, answer: str, span: tuple[int, int]) -> Adapter:
        """The adapter for the span `body[span[0]:span[1]]` (== `answer`): the rest of the
        body is its context."""
        return cls(shape, body[: span[0]] + "\n" + body[span[1] :], answer, body[: span[0]])

    def foreign(self, span: str) -> bool:
        """A span that cannot be made to belong here: code reaching for `self` in a context
        with no object, or the reverse."""
        if self.shape != "code":
            return False
        return bool(_SELF.search(span)) != self.uses_self

    def adapt(self, span: str, rng: random.Random, first_indent: int = 0) -> str:
        text = self._numbers(span, rng)
        if self.shape == "code":
            return reindent(self._identifiers(text), first_indent, self.indent, self.unit)
        if self.shape == "qa":
            text = self._variables(text)
        return self._terms(text, rng)

    def _numbers(self, span: str, rng: random.Random) -> str:
        """Numbers above 3 become the context's numbers of a similar magnitude; small ones
        stay, as they are exponents, counts and indices more often than data."""
        if not self.number_names:
            return span
        mapping: dict[str, str] = {}
        used: set[str] = set()
        for m in NUMBER.finditer(span):
            raw, value = m.group(0), parse_number(m.group(0))
            if raw in mapping or value is None or value <= 3 or _is_label(span, m):
                continue
            # within a factor of ten: 17 may become 12 or 45, never 14400; a context number
            # is used once while others are left
            near = [self.number_names[k] for k in np.flatnonzero(np.abs(np.log10(self.number_values / value)) <= 1)]
            choices = [n for n in near if n not in used] or near
            if not choices:
                continue
            mapping[raw] = rng.choice(choices)
            used.add(mapping[raw])
        return NUMBER.sub(lambda m: mapping.get(m.group(0), m.group(0)), span) if mapping else span

    def _variables(self, span: str) -> str:
        found = [v for v, _ in math_variables(span).most_common()]
        mapping = dict(zip([v for v in found if v not in self.names], [n for n in self.names if n not in found], strict=False))
        if not mapping:
            return span
        return MATH_SEGMENT.sub(lambda seg: MATH_LETTER.sub(lambda m: mapping.get(m.group(0), m.group(0)), seg.group(0)), span)

    def _identifiers(self, span: str) -> str:
        """Names the span uses but the context does not define become the context's names,
        in order of use; strings, comments, attributes and builtins stay as they are."""
        code = code_only(span)
        used = [n for n in IDENTIFIER.findall(code) if not is_reserved(n)]
        called = set(_CALLED.findall(code))
        own = [n for n in dict.fromkeys(used) if n not in self.names and n not in self.functions]
        # a called name becomes one of the context's functions, any other one of its variables
        variables = iter([n for n in self.names if n not in used])
        functions = iter([n for n in self.functions if n not in used])
        mapping = {n: new for n in own if (new := next(functions if n in called else variables, None))}
        if not mapping:
            return span
        return IDENTIFIER.sub(lambda m: mapping.get(m.group(0), m.group(0)) if code[m.start()] != " " else m.group(0), span)

    def _terms(self, span: str, rng: random.Random) -> str:
        """Salient words the context never uses become context words of the same form, so
        the span talks about the context's things in its own sentence structure."""
        occurrences = term_occurrences(span)
        present = {c for _, c in occurrences}
        # a few swaps per span: enough to bring in the context's things, few enough that
        # the sentence still reads as written
        budget = max(1, len(span) // 150)
        pieces, pos = [], 0
        used: set[str] = set()
        for m, canonical in occurrences:
            if len(used) >= budget:
                break
            if canonical in self.terms or rng.random() < 0.5:
                continue
            choices = [t for t in self.terms.by_class(term_class(canonical))[:12] if t not in present and t not in used]
            if not choices:
                continue
            new = rng.choice(choices[:4])
            used.add(new)
            pieces += [span[pos : m.start()], matching_case(new, m.group(0))]
            pos = m.end()
        return "".join(pieces) + span[pos:] if pieces else span


def moved_runs(
    body: str, span: tuple[int, int], answer: str, slot: CodeSlot, ctx: EditContext, rng: random.Random, want: int,
    adapter: Adapter | None = None,
) -> list[tuple[str, str]]:
    """Code's moved steps: up to `want` runs of the file's own logical lines from outside
    the span, as many as the answer has, laid out like it and of a similar length,
    re-indented to the slot and given one whole-token edit (another variable of the file,
    an operator, an off-by-one, a number), each parsing in place of the answer with a
    different syntax tree (`CodeSlot.accepts`). Lines of the same file use its names and
    idioms, which a neighbour's lines adapted to it only approximate."""
    if want <= 0:
        return []
    doc = _Doc("self", "code", body).prepared()
    n_units = max(1, len(units_for("code", answer)))
    profile = layout_of(statement_indents(body, *span), answer)
    lo, hi = LENGTH_BAND[0] * len(answer), LENGTH_BAND[1] * len(answer)
    runs = [(i, start, end) for i, start, end in _runs(doc, n_units, lo, hi, profile) if end <= span[0] or start >= span[1]]
    rng.shuffle(runs)
    adapter = adapter or Adapter.for_span("code", body, answer, span)
    seen = {option_key(answer)}
    out: list[tuple[str, str]] = []
    max_parses = slot.parses + want + 12  # as in `mine`: a long file must not parse for ever
    indents = doc.indents or []
    for i, start, end in runs:
        if slot.parses >= max_parses:
            break
        text = reindent(body[start:end], indents[i], adapter.indent, adapter.unit)
        moved = one_edit(text, rng, ctx, lambda edited: option_key(edited) not in seen and slot.accepts(edited))
        if moved is not None:
            seen.add(option_key(moved[1]))
            out.append(moved)
        if len(out) >= want:
            break
    return out
