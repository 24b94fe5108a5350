"""Well-formedness of code options: a distractor must parse wherever the answer parses,
and must not be the answer in disguise (the same syntax tree behaves identically).

Parsing the whole file once per candidate is most of the cost, so a slot parses only the
top-level block around the masked span (the enclosing `def`/`class`/statement, with its
decorators); when that block does not parse even with the answer, the whole file is used.
"""

from __future__ import annotations

import ast
import bisect
import re
import warnings
from dataclasses import dataclass, field
from functools import lru_cache

from goose_assets.core.synthesis.code_layout import opens_block

_CONTINUATION = ("else", "elif", "except", "finally", "case", ")", "]", "}")


def _is_block_start(line: str) -> bool:
    stripped = line.lstrip()
    if not stripped or stripped.startswith("#") or line[:1].isspace():
        return False
    return not stripped.startswith(_CONTINUATION)


def _tree(source: str) -> ast.AST | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences in old code are not our concern
            return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


_COMMENT = re.compile(r"#[^\n]*")
_LAYOUT = re.compile(r"[\s()'\"]+")


def _code_key(code: str) -> str:
    """The code without comments, whitespace, parentheses or quote style: two options whose
    keys differ have different syntax trees (the converse needs the trees)."""
    return _LAYOUT.sub("", _COMMENT.sub("", code))


def _balanced(code: str) -> bool:
    depth = 0
    for ch in _STRING.sub("", code):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


_STRING = re.compile(r"(\"\"\"|\'\'\'|\"|\')(?:\\.|(?!\1).)*?\1", re.DOTALL)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _code_line(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _top_block(lines: list[str], first: int, last: int) -> tuple[int, int, str]:
    """The top-level statement around lines first..last (with a def's decorators)."""
    start = next((i for i in range(min(first, len(lines) - 1), -1, -1) if _is_block_start(lines[i])), 0)
    while start > 0 and lines[start - 1].startswith("@"):
        start -= 1
    end = next((j for j in range(last + 1, len(lines)) if _is_block_start(lines[j])), len(lines))
    return start, end, ""


def _inner_block(lines: list[str], first: int, last: int) -> tuple[int, int, str]:
    """The innermost compound statement (its header to the end of its body) around lines
    first..last. Its lines keep their indentation, so it parses behind an `if 1:` header."""
    span_indent = min((_indent(lines[i]) for i in range(first, last + 1) if _code_line(lines[i])), default=0)
    header = None
    for i in range(first - 1, -1, -1):
        line = lines[i]
        if _code_line(line) and _indent(line) < span_indent and line.rstrip().endswith(":"):
            header = i
            break
    if header is None:
        return _top_block(lines, first, last)
    level = _indent(lines[header])
    # an `else:`/`except:` header belongs to the statement it continues
    while header > 0 and lines[header].lstrip().startswith(_CONTINUATION):
        prev = next((i for i in range(header - 1, -1, -1) if _code_line(lines[i]) and _indent(lines[i]) <= level), None)
        if prev is None or _indent(lines[prev]) != level:
            break
        header = prev
    end = len(lines)
    for j in range(last + 1, len(lines)):
        line = lines[j]
        if _code_line(line) and _indent(line) <= level and not (_indent(line) == level and line.lstrip().startswith(_CONTINUATION)):
            end = j
            break
    return header, end, "if 1:\n" if level else ""


@dataclass(slots=True)
class CodeSlot:
    """The masked span of a code body, ready to test options in place of the answer."""

    before: str
    after: str
    answer_dump: str | None  # the answer's syntax tree, None when the answer does not parse here
    answer_key: str = ""
    answer_balanced: bool = True
    answer_opens_block: bool = False
    parses: int = 0  # how many options were parsed: the costly part, which callers bound
    verdicts: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def of(cls, body: str, start: int, end: int) -> CodeSlot:
        lines = body.splitlines(keepends=True)
        offsets = [0]
        for line in lines:
            offsets.append(offsets[-1] + len(line))
        first = max(0, bisect.bisect_right(offsets, start) - 1)
        last = max(first, bisect.bisect_right(offsets, max(start, end - 1)) - 1)
        answer = body[start:end]
        # the innermost enclosing block parses fastest; then the top-level one; then the file
        for block_start, block_end, prefix in (_inner_block(lines, first, last), _top_block(lines, first, last)):
            before = prefix + body[offsets[block_start] : start]
            after = body[end : offsets[block_end]]
            tree = _tree(before + answer + after)
            if tree is not None:
                break
        else:
            before, after = body[:start], body[end:]
            tree = _tree(body)
        return cls(before, after, ast.dump(tree) if tree is not None else None, _code_key(answer),
                   _balanced(answer), opens_block(answer))

    def accepts(self, option: str) -> bool:
        """True when the option is well-formed here and not the answer in disguise; always
        True where the answer itself does not parse (nothing to hold the option to)."""
        if self.answer_dump is None:
            return True
        verdict = self.verdicts.get(option)
        if verdict is None:
            verdict = self.verdicts[option] = self._accepts(option)
        return verdict

    def _accepts(self, option: str) -> bool:
        # cheap structural screens first: a parse costs ~0.5 ms, and most mined runs that
        # fail would fail them
        if self.answer_balanced and not _balanced(option):
            return False
        if opens_block(option) != self.answer_opens_block:
            return False
        self.parses += 1
        tree = _tree(self.before + option + self.after)
        if tree is None:
            return False
        return _code_key(option) != self.answer_key or ast.dump(tree) != self.answer_dump


@lru_cache(maxsize=4096)
def code_slot(body: str, start: int, end: int) -> CodeSlot:
    """The slot of a span, shared by whoever checks options for it in this process (the
    offline generator, then validation): each option is parsed once."""
    return CodeSlot.of(body, start, end)
