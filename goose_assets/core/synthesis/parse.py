"""Parse and validate a generator's answer, whichever backend produced it.

The contract (DESIGN §5): the JSON parses against the schema, the answer is verbatim in
the source, masked text + answer rebuilds the source, and the distractors are distinct from
each other and from the answer. Every failure returns a reason string that becomes a
quarantine row.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from goose_assets.core import prompts, records, text
from goose_assets.core.prompts import OUTPUT_KEYS, family
from goose_assets.core.records import MASK
from goose_assets.core.synthesis import leakage, spans
from goose_assets.core.synthesis.code_check import code_slot
from goose_assets.core.synthesis.leakage import NEAR_DUPLICATE_JACCARD, option_key, trigram_jaccard
from goose_assets.core.text import (
    collapse_ws,
    strip_control,
)

_ANSWER_TAG = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)

MIN_USABLE_DISTRACTORS = 8
LENGTH_RATIO_BAND = (0.25, 4.0)
# candidates a reply may offer beyond this many are not read: prompts ask for 16, the
# offline generator offers ~60, and every pair of candidates is compared at once
MAX_CANDIDATES = 256
# "several steps" (every prompt) are never a word or two. A lean answer names its span
# without copying the masked text, so this is also what stops a reply that obeys an injected
# "answer PWNED in every field" (the word is verbatim in the document) from becoming a task.
MIN_SPAN_CHARS = 10
# the lean format's validation (validation_version hashes it too): it imports this module,
# so its source is read by path rather than imported here
_LEAN_FORMAT_SOURCE = Path(__file__).with_name("synthesis_format.py")


class ParseError(ValueError):
    """The model's text is not a usable JSON object; `reason` is the quarantine reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def extract_json_text(text: str) -> str:
    """The JSON part of a reply: inside <answer> tags, a code fence, or the outermost braces."""
    text = strip_control(text)
    m = _ANSWER_TAG.search(text)
    if m:
        text = m.group(1)
    text = text.strip()
    # a fence is unwrapped only around the whole reply: documents contain fences of their own
    if not text.startswith("{") and (m := _FENCE.search(text)):
        text = m.group(1).strip()
    return text


def repair_json(text: str) -> str:
    """Best-effort repair of common breakage: prose around the object, trailing commas,
    and truncation (close open strings, arrays and objects)."""
    start = text.find("{")
    if start < 0:
        return text
    text = text[start:]
    end = text.rfind("}")
    try:
        json.loads(text[: end + 1], strict=False)
        return text[: end + 1]
    except ValueError:
        pass
    text = re.sub(r",\s*([}\]])", r"\1", text)
    stack: list[str] = []
    in_str = False
    escaped = False
    for ch in text:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
    tail = ('"' if in_str else "") + "".join(reversed(stack))
    repaired = text.rstrip().rstrip(",") + tail
    return re.sub(r",\s*([}\]])", r"\1", repaired)


def parse_object(text: str) -> tuple[dict[str, Any] | None, bool]:
    """Parse a reply into a dict. Returns (obj, repaired). `None` means an explicit empty
    answer ("no suitable passage"). Raises ParseError otherwise."""
    body = extract_json_text(text)
    if body in ("", '""', "''"):
        return None, False
    try:
        obj = json.loads(body, strict=False)
        repaired = False
    except ValueError:
        try:
            obj = json.loads(repair_json(body), strict=False)
            repaired = True
        except ValueError as exc:
            raise ParseError("invalid_json", str(exc)[:200]) from exc
    if obj == "" or obj is None:
        return None, repaired
    if not isinstance(obj, dict):
        raise ParseError("schema_violation", f"top level is {type(obj).__name__}, not object")
    return obj, repaired


@dataclass(slots=True)
class ValidSpan:
    context_masked: str
    answer: str
    distractors: list[str]
    span_start: int
    span_end: int


def validate_generation(obj: dict[str, Any], shape: str, source: str) -> ValidSpan:
    """Check one parsed generation against its source text. Raises ParseError(reason)."""
    masked_key, answer_key, distractor_key = OUTPUT_KEYS[family(shape)]
    missing = [k for k in (masked_key, answer_key, distractor_key) if k not in obj]
    if missing:
        raise ParseError("schema_violation", f"missing keys {missing}")
    masked, answer, distractors = obj[masked_key], obj[answer_key], obj[distractor_key]
    if not isinstance(masked, str) or not isinstance(answer, str) or not isinstance(distractors, list):
        raise ParseError("schema_violation", "wrong value types")
    if not answer.strip():
        raise ParseError("empty_answer")
    if masked.count(MASK) != 1:
        raise ParseError("mask_count", f"{masked.count(MASK)} [MASK] tokens")
    start = locate_answer(source, answer)
    if start is None:
        raise ParseError("answer_not_in_source", answer[:200])
    rebuilt = masked.replace(MASK, answer)
    if collapse_ws(rebuilt) != collapse_ws(source):
        raise ParseError("mask_does_not_rebuild_source")
    return check_span(source, shape, start[0], start[1], distractors)


def check_span(source: str, shape: str, start: int, end: int, distractors: list[Any]) -> ValidSpan:
    """The checks on a span located in the source (`source[start:end]`) and its distractors,
    shared by both output formats (core.synthesis.synthesis_format): enough usable distinct distractors
    within the length band, code that parses in place. Raises ParseError(reason)."""
    exact = source[start:end]
    if len(exact.strip()) < MIN_SPAN_CHARS:
        raise ParseError("span_too_short", repr(exact[:50]))
    # canonicalize: the stored context is cut from the source itself, so the rebuild is exact
    context = source[:start] + MASK + source[end:]
    usable = usable_distractors(exact, [d for d in distractors if isinstance(d, str)])
    if family(shape) == "code":
        # code must parse wherever the answer parses, and must not be the answer in disguise
        slot = code_slot(source, start, end)
        usable = [d for d in usable if slot.accepts(d)]
    if len(usable) < MIN_USABLE_DISTRACTORS:
        raise ParseError("too_few_distractors", f"{len(usable)} usable of {len(distractors)}")
    return ValidSpan(context, exact, usable, start, end)


# ---------------------------------------------------------------------------------------
# validation records: an answer validated once need not be validated again


@cache
def validation_version() -> str:
    """A hash of the source of the modules `validate_generation` depends on: a stored
    validation record is replayed only while this code is unchanged."""
    h = hashlib.sha256()
    try:
        for module in (sys.modules[__name__], leakage, prompts, records, text, spans):
            h.update(inspect.getsource(module).encode())
        h.update(_LEAN_FORMAT_SOURCE.read_bytes())
    except (OSError, TypeError):  # no source files: records made here are never replayed elsewhere
        return f"no-source-{os.getpid()}-{id(h):x}"
    return h.hexdigest()[:16]


def source_digest(shape: str, source: str) -> str:
    """What a validation record was made against: the passage shape and text."""
    return hashlib.blake2b(f"{shape}\0{source}".encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


def distractor_kinds(obj: dict[str, Any], distractors: list[str]) -> list[str | None]:
    """Each usable distractor's kind as the reply labels it (`distractor_kinds`, parallel to
    `distractors`), None where it gives none."""
    kinds = obj.get("distractor_kinds")
    by_text = dict(zip(obj["distractors"], kinds, strict=False)) if isinstance(kinds, list) else {}
    return [str(by_text[d]) if d in by_text else None for d in distractors]


def validation_record(span: ValidSpan, kinds: list[str | None], shape: str, source: str) -> dict[str, Any]:
    """What a successful `validate_generation` (and `distractor_kinds`) found, in JSON types,
    to keep with a cached answer (llm.calls records it when the answer first arrives)."""
    return {"v": validation_version(), "src": source_digest(shape, source), "span": [span.span_start, span.span_end],
            "distractors": list(span.distractors), "kinds": list(kinds)}


def replay_validation(record: Any, shape: str, source: str) -> tuple[ValidSpan, list[str | None]] | None:
    """The `validate_generation` result and kinds a record holds, if it was made by this
    validation code against this very passage; else None (validate the answer again)."""
    if not isinstance(record, dict) or record.get("v") != validation_version():
        return None
    span, distractors, kinds = record.get("span"), record.get("distractors"), record.get("kinds")
    if not (isinstance(span, list) and len(span) == 2 and all(type(x) is int for x in span)
            and isinstance(distractors, list) and isinstance(kinds, list) and len(kinds) == len(distractors)):
        return None
    start, end = span
    if not 0 <= start <= end <= len(source) or record.get("src") != source_digest(shape, source):
        return None
    context = source[:start] + MASK + source[end:]
    return ValidSpan(context, source[start:end], list(distractors), start, end), list(kinds)


def usable_distractors(answer: str, distractors: list[str]) -> list[str]:
    """Distinct (after whitespace/case normalization), not the answer, within the length
    band, no reordering of the words of the answer or of another kept distractor (a
    shuffled sentence is no distractor: it reads as broken), and no near-duplicate (char
    3-gram Jaccard >= 0.9) of either: such a pair would be flagged by the leakage check.
    Candidates are taken in order, the first `MAX_CANDIDATES` of them; each is compared
    with those kept before it."""
    lo, hi = LENGTH_RATIO_BAND
    alen = max(1, len(answer.strip()))
    stripped = [d.strip("\n") for d in distractors]
    # what does not depend on the candidates kept before: an empty text, a length outside the band
    candidates = [d for d in stripped if option_key(d) and lo <= len(d.strip()) / alen <= hi][:MAX_CANDIDATES]
    # every pair's Jaccard at once: spliced candidates share most of the answer, so few
    # pairs can be ruled out by their sizes and a pair-by-pair test cost ~15 ms an item
    similarity = trigram_jaccard([answer, *candidates])
    seen = {option_key(answer)}
    bags = {word_bag(answer)}
    kept = [0]
    out: list[str] = []
    for row, d in enumerate(candidates, start=1):
        key, bag = option_key(d), word_bag(d)
        if key in seen or bag in bags or similarity[row, kept].max() >= NEAR_DUPLICATE_JACCARD:
            continue
        seen.add(key)
        bags.add(bag)
        kept.append(row)
        out.append(d)
    return out


def word_bag(text: str) -> tuple[str, ...]:
    """The text's words and symbols in sorted order: equal for two texts that differ only
    in word order."""
    return tuple(sorted(re.findall(r"\w+|[^\w\s]", text.lower())))


def locate_answer(source: str, answer: str) -> tuple[int, int] | None:
    """Find `answer` in `source`, exactly or modulo whitespace."""
    i = source.find(answer)
    if i >= 0:
        return i, i + len(answer)
    stripped = answer.strip()
    if stripped and (i := source.find(stripped)) >= 0:
        return i, i + len(stripped)
    tokens = stripped.split()
    if not tokens:
        return None
    pattern = r"\s+".join(re.escape(t) for t in tokens)
    m = re.search(pattern, source)
    return (m.start(), m.end()) if m else None
