"""The indentation layout of a run of code statements, and moving a run to another place.

A mined run of code lines can stand in for the answer only if its block structure fits
the slot: it must never dedent below its first statement, it must end at the same block
depth as the answer (the line after the slot expects that depth), and it must open a block
at its end exactly when the answer does. Depths are counted in blocks, not spaces, so a
run from a file indented by two spaces fits a file indented by four.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from goose_assets.core.synthesis.spans import code_units, column
from goose_assets.core.synthesis.terms import code_only

_CONTINUES = re.compile(r"\s*(?:else|elif|except|finally|case)\b")


@dataclass(frozen=True, slots=True)
class Layout:
    final_depth: int
    opens_block: bool
    continues: bool  # starts with `else`/`elif`/`except`/`finally`: it continues a statement


def depths(indents: Sequence[int]) -> list[int] | None:
    """Block depth of each statement relative to the first, or None where a statement
    dedents below the first or to a level never opened."""
    stack = [indents[0]] if indents else []
    out = []
    for indent in indents:
        if indent > stack[-1]:
            stack.append(indent)
        else:
            while len(stack) > 1 and indent < stack[-1]:
                stack.pop()
            if indent != stack[-1]:
                return None
        out.append(len(stack) - 1)
    return out


def layout_of(indents: Sequence[int], text: str) -> Layout | None:
    found = depths(indents)
    if found is None:
        return None
    return Layout(found[-1] if found else 0, opens_block(text), _CONTINUES.match(text) is not None)


# mining asks this of every run of every neighbour, and a file neighbours dozens of
# others: the same runs come back again and again (code's generation spent a sixth of its
# CPU blanking their strings and comments)
@functools.lru_cache(maxsize=1 << 14)
def opens_block(code: str) -> bool:
    return code_only(code).rstrip().endswith(":")


def statement_indents(body: str, start: int, end: int) -> list[int]:
    """The indentation of each statement (logical line) of body[start:end]; the first one's
    is read from the body, as the span starts after it."""
    text = body[start:end]
    return [column(body, start)] + [column(text, unit.start) for unit in code_units(text)[1:]]


def indent_unit(body: str) -> int:
    """The file's indentation step: the most common increase from one line to the next."""
    steps: Counter[int] = Counter()
    previous = 0
    for line in body.splitlines():
        if line.strip():
            indent = len(line) - len(line.lstrip(" "))
            if indent > previous:
                steps[indent - previous] += 1
            previous = indent
    return steps.most_common(1)[0][0] if steps else 4


def reindent(text: str, first_indent: int, target_indent: int, unit: int) -> str:
    """`text` (whose first line's indentation, `first_indent`, lies outside it) moved so
    that its first statement sits at `target_indent`, each later statement at the same
    block depth with `unit` spaces per block; continuation lines move with their statement."""
    units = code_units(text)
    if len(units) < 2:
        return text
    own = [first_indent] + [column(text, u.start) for u in units[1:]]
    found = depths(own)
    if found is None:
        return text
    shifts = {0: target_indent - first_indent}
    starts = {}
    for u, indent, depth in zip(units[1:], own[1:], found[1:], strict=True):
        line_start = text.rfind("\n", 0, u.start) + 1
        starts[line_start] = target_indent + depth * unit - indent
    out, pos, shift = [], 0, shifts[0]
    for line in text.split("\n"):
        if pos in starts:
            shift = starts[pos]
        if pos == 0 or not line.strip():
            out.append(line)
        else:
            current = len(line) - len(line.lstrip(" "))
            out.append(" " * max(0, current + shift) + line.lstrip(" "))
        pos += len(line) + 1
    return "\n".join(out)
