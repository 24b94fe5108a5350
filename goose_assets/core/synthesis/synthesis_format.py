"""The two output formats of a synthesis call: the paper's, and the lean one (issue 19).

- **paper** (arXiv 2601.22975, Appendix A): the model returns the whole masked text
  (`masked_reference_solution` / `masked_passage`), the removed span and the distractors.
  The echo is paid for in output tokens, and a model asked to copy a long passage
  paraphrases it, reformats LaTeX or re-indents code: the text no longer rebuilds the source,
  and the item is asked again or lost.
- **lean** (the default for LLM backends): the model returns only the removed span, verbatim,
  and the distractors. For step-structured text (numbered solution steps, code lines: shapes
  `qa` and `code`) the prompt numbers the units (`core.synthesis.spans.units_for`, the units
  the offline generator masks) and the model may instead name the first and last unit it
  masks. The masked context is always cut from the source here, so it cannot drift.

Both formats are validated equally strictly: the span is located verbatim in the source and
`core.synthesis.parse.check_span` applies the same distractor checks. A request carries its
format in `inputs["format"]`; it is part of the LLM cache key (`llm.base.cache_key`) and
each item records it (`masked_items.synthesis_format`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from goose_assets.core import prompts
from goose_assets.core.prompts import (
    OUTPUT_KEYS,
    SYSTEM,
    family,
    fence,
    synthesis_messages,
    synthesis_schema,
    synthesis_template_name,
)
from goose_assets.core.records import MASK
from goose_assets.core.synthesis.parse import (
    ParseError,
    ValidSpan,
    check_span,
    locate_answer,
    validate_generation,
)
from goose_assets.core.synthesis.spans import units_for
from goose_assets.core.text import collapse_ws

PAPER = "paper"
LEAN = "lean"
FORMATS = (PAPER, LEAN)
FORMAT_ENV = "GOOSE_SYNTHESIS_FORMAT"
DISTRACTORS_KEY = "distractors"


class LeanKeys(NamedTuple):
    removed: str
    first: str | None  # None: the family has no numbered units (passages)
    last: str | None


LEAN_KEYS: dict[str, LeanKeys] = {
    "qa": LeanKeys("removed_steps", "first_step", "last_step"),
    "code": LeanKeys("removed_lines", "first_line", "last_line"),
    "passage": LeanKeys("removed_content", None, None),
}


# ---------------------------------------------------------------------------------------
# which format


def resolve_format(setting: str | None, backend: str) -> str:
    """`paper` or `lean`. Empty (or `auto`) means lean for an LLM backend and paper for the
    offline generator, whose output costs nothing and whose items keep their ids."""
    value = (setting or "").strip().lower()
    if value in ("", "auto"):
        return PAPER if (backend or "offline").strip().lower() == "offline" else LEAN
    if value not in FORMATS:
        raise ValueError(f"unknown synthesis_format {setting!r}; choose one of {FORMATS} (or leave it empty)")
    return value


def configured_format(*settings: str | None, backend: str, env: Mapping[str, str] | None = None) -> str:
    """The first non-empty setting (run config, then resource), else $GOOSE_SYNTHESIS_FORMAT,
    resolved for `backend`."""
    env = os.environ if env is None else env
    chosen = next((s for s in settings if s and s.strip()), "") or env.get(FORMAT_ENV, "")
    return resolve_format(chosen, backend)


def request_format(inputs: Mapping[str, Any]) -> str:
    """The format a synthesis request asked for (requests made before issue 19: paper)."""
    value = inputs.get("format")
    return value if value in FORMATS else PAPER


# ---------------------------------------------------------------------------------------
# numbered units (lean prompts of step-structured text)


def numbered_family(shape: str) -> bool:
    return LEAN_KEYS[family(shape)].first is not None


def unit_offsets(shape: str, body: str) -> list[tuple[int, int]]:
    """(start, end) of each numbered unit, in order: unit k of the prompt is element k - 1."""
    return [(u.start, u.end) for u in units_for(family(shape), body)] if numbered_family(shape) else []


def numbered_body(shape: str, body: str) -> str:
    """The body as the lean prompt shows it: code with a line-number gutter on every line
    (blank for lines that start no unit), solution steps with an `[Sk]` marker in front."""
    units = unit_offsets(shape, body)
    if not units:
        return body
    if family(shape) == "code":
        starts = {s: k for k, (s, _) in enumerate(units, 1)}
        width = len(str(len(units)))
        out, pos = [], 0
        for line in body.splitlines(keepends=True):
            k = next((starts[i] for i in range(pos, pos + len(line)) if i in starts), None)
            out.append((f"{k:>{width}}| " if k is not None else " " * width + "| ") + line)
            pos += len(line)
        return "".join(out)
    out, pos = [], 0
    for k, (start, _) in enumerate(units, 1):
        out.append(body[pos:start] + f"[S{k}] ")
        pos = start
    return "".join(out) + body[pos:]


_STEP_MARK = re.compile(r"\[S\d+\] ?")
_GUTTER = re.compile(r"^ *\d*\| ?", re.MULTILINE)


def unnumbered(shape: str, text: str) -> str:
    """`text` without the unit numbers a lean prompt added (a model may copy them along)."""
    if not numbered_family(shape):
        return text
    return _GUTTER.sub("", text) if family(shape) == "code" else _STEP_MARK.sub("", text)


def unit_range(shape: str, body: str, start: int, end: int) -> tuple[int, int] | None:
    """The (first, last) unit numbers of the span `body[start:end]`, when it begins and ends
    at unit boundaries; else None."""
    units = unit_offsets(shape, body)
    first = next((k for k, (s, _) in enumerate(units, 1) if s == start), None)
    last = next((k for k, (_, e) in enumerate(units, 1) if e == end), None)
    return (first, last) if first is not None and last is not None and first <= last else None


# ---------------------------------------------------------------------------------------
# prompts and schemas


def lean_template_name(shape: str) -> str:
    return synthesis_template_name(shape) + "_lean"


def lean_schema(shape: str, min_distractors: int = 10) -> dict[str, Any]:
    """Every key required (OpenAI strict mode); the span is a string or null, and the unit
    numbers integers or null, so either form fits one schema."""
    keys = LEAN_KEYS[family(shape)]
    distractors = {"type": "array", "items": {"type": "string"}, "minItems": min_distractors}
    if keys.first is None or keys.last is None:
        props: dict[str, Any] = {keys.removed: {"type": "string"}, DISTRACTORS_KEY: distractors}
    else:
        props = {
            keys.removed: {"type": ["string", "null"]},
            keys.first: {"type": ["integer", "null"]},
            keys.last: {"type": ["integer", "null"]},
            DISTRACTORS_KEY: distractors,
        }
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


def lean_messages(shape: str, question: str, body: str) -> tuple[str, list[dict[str, str]]]:
    tpl = prompts.template(lean_template_name(shape))  # looked up at call time, as synthesis_messages does
    shown = numbered_body(shape, body)
    if family(shape) == "passage":
        user = tpl.render(document=fence(shown))
    else:
        user = tpl.render(question=fence(question), solution=fence(shown))
    return tpl.version, [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def synthesis_prompt(fmt: str, shape: str, question: str, body: str,
                     min_distractors: int) -> tuple[str, list[dict[str, str]], dict[str, Any]]:
    """(template version, messages, JSON schema) of a synthesis request in format `fmt`."""
    if fmt == LEAN:
        version, messages = lean_messages(shape, question, body)
        return version, messages, lean_schema(shape, min_distractors)
    version, messages = synthesis_messages(shape, question, body)
    return version, messages, synthesis_schema(shape, min_distractors)


# ---------------------------------------------------------------------------------------
# validation


def validate_answer(obj: dict[str, Any], shape: str, source: str, fmt: str = PAPER) -> ValidSpan:
    """`validate_generation` for the paper format, `validate_lean` for the lean one."""
    return validate_lean(obj, shape, source) if fmt == LEAN else validate_generation(obj, shape, source)


def validate_lean(obj: dict[str, Any], shape: str, source: str) -> ValidSpan:
    """Locate the span a lean answer names (unit numbers, else the verbatim text) and apply
    the same distractor checks as the paper format. Raises ParseError(reason)."""
    keys = LEAN_KEYS[family(shape)]
    if keys.removed not in obj or DISTRACTORS_KEY not in obj:
        raise ParseError("schema_violation", f"missing keys {[k for k in (keys.removed, DISTRACTORS_KEY) if k not in obj]}")
    removed, distractors = obj[keys.removed], obj[DISTRACTORS_KEY]
    if (removed is not None and not isinstance(removed, str)) or not isinstance(distractors, list):
        raise ParseError("schema_violation", "wrong value types")
    first = obj.get(keys.first) if keys.first else None
    last = obj.get(keys.last) if keys.last else None
    if first is not None or last is not None:
        start, end = _unit_span(shape, source, first, last)
        if removed is not None and removed.strip() and collapse_ws(unnumbered(shape, removed)) != collapse_ws(source[start:end]):
            raise ParseError("units_do_not_match_span", f"{first}..{last} vs {removed[:200]!r}")
    else:
        if removed is None or not removed.strip():
            raise ParseError("empty_answer")
        found = locate_answer(source, removed) or locate_answer(source, unnumbered(shape, removed))
        if found is None:
            raise ParseError("answer_not_in_source", removed[:200])
        start, end = found
    if MASK in source[:start] + source[end:]:
        # as in the paper format, a context must carry exactly one [MASK]
        raise ParseError("mask_count", "the source itself contains [MASK]")
    return check_span(source, shape, start, end, distractors)


def _unit_span(shape: str, source: str, first: Any, last: Any) -> tuple[int, int]:
    if type(first) is not int or type(last) is not int:
        raise ParseError("bad_unit_range", f"first={first!r} last={last!r}: both must be integers")
    units = unit_offsets(shape, source)
    if not 1 <= first <= last <= len(units):
        raise ParseError("bad_unit_range", f"{first}..{last} of {len(units)} units")
    return units[first - 1][0], units[last - 1][1]


# ---------------------------------------------------------------------------------------
# answers in either format, from known choices (the offline generator, the loopback server)


def answer_object(fmt: str, shape: str, body: str, start: int, end: int, distractors: Sequence[str],
                  units: bool = True) -> dict[str, Any]:
    """The reply object a model would write for the span `body[start:end]` and these
    distractors, in format `fmt`. Lean: the unit numbers where the span begins and ends at
    unit boundaries (and `units` is set), else the span verbatim."""
    fam = family(shape)
    if fmt != LEAN:
        masked_key, answer_key, distractor_key = OUTPUT_KEYS[fam]
        return {masked_key: body[:start] + MASK + body[end:], answer_key: body[start:end], distractor_key: list(distractors)}
    keys = LEAN_KEYS[fam]
    obj: dict[str, Any] = {keys.removed: body[start:end]}
    if keys.first is not None and keys.last is not None:
        found = unit_range(shape, body, start, end) if units else None
        if found is not None:
            obj = {keys.removed: None, keys.first: found[0], keys.last: found[1]}
        else:
            obj[keys.first] = obj[keys.last] = None
    obj[DISTRACTORS_KEY] = list(distractors)
    return obj
