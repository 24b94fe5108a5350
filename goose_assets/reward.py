"""Rule-based reward for Golden Goose multiple-choice fill-in-the-middle tasks.

The paper's reward is a binary exact match of the chosen option letter: no judge, no
execution. This module extracts the letter a model chose and compares it with the ground
truth. It is stdlib-only so trainers can import it without the rest of the platform.

Entry points:

* verl:      ``compute_score(data_source, solution_str, ground_truth, extra_info=None)``
             (``custom_reward_function.path=goose_assets/reward.py``, ``name=compute_score``)
* OpenRLHF:  ``reward_func(queries, prompts, labels)`` (``--remote_rm_url goose_assets/reward.py``)
* anything:  ``score(text, letter)`` and ``extract_choice(text)``

What counts as an answer (most to least explicit):

1. An explicit marker followed by one option letter: ``\\boxed{C}``, ``\\boxed{\\text{C}}``,
   ``Answer: C``, ``Final answer: (C)``, ``The answer is **C**``, ``correct option is C``,
   ``<answer>C</answer>``. The LAST such marker in the response wins, so a model that
   changes its mind is scored on its final word.
2. Failing that, the last non-empty line: ``C``, ``(C)``, ``**C**``, ``C.``, ``C) text``,
   or a line holding exactly one parenthesised/bold letter (``So **C**.``).

An answer is rejected (``None``) when the final answer names several different letters
(``Answer: A or C``, ``\\boxed{AC}``, ``\\boxed{A} or \\boxed{C}``) or a letter outside the
option range (``Answer: J`` on a 9-option task). A marker followed by no letter at all
(``the answer is clear``, ``\\boxed{42}``) is not an answer and is skipped.

Only the text after the last ``</think>`` is scanned when one is present (reasoning is not
the answer), and at most the last ``SCAN_CHARS`` characters: answers sit at the end, and
the cap bounds the cost of every call. All patterns use possessive quantifiers or single
character classes, so no input can trigger catastrophic backtracking. No public function
raises: a trainer must never crash on a malformed rollout.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "DEFAULT_N_OPTIONS",
    "SCAN_CHARS",
    "compute_score",
    "extract_choice",
    "normalize_letter",
    "reward_func",
    "score",
]

DEFAULT_N_OPTIONS = 9
MAX_OPTIONS = 26
SCAN_CHARS = 4000
# bytes may be multi-byte UTF-8; decode a generous tail, then cut to SCAN_CHARS characters
_SCAN_BYTES = SCAN_CHARS * 4
_BOXED_CONTENT_CHARS = 200

# One option letter with its usual decorations: "**C**", "(C)", "$\boxed{C}$", "option C",
# "\text{C}", '"C"'. Possessive quantifiers (Python >= 3.11) make each step commit, so a
# failed match costs O(length of the decoration), never a backtracking search.
_TOKEN = re.compile(
    r"""
    [ \t]*+
    (?P<open>\*\*|[*"'`$]|\\\(|\\\[)?+
    [ \t]*+
    (?P<cmd>\\(?:boxed|fbox|text|textbf|textrm|texttt|mathrm|mathbf|mathtt|mathsf)[ \t]*+\{[ \t]*+)?+
    (?:(?i:option|choice|letter)[ \t]++)?+
    (?P<paren>[(\[])?+
    [ \t]*+
    (?P<letter>[A-Za-z])
    (?:[)\]}*"'`$]|\\\)|\\\])*+
    # the letter must end a word: not "Cat", "I'm", "B-tree", "E=mc^2", "x_1", "C.2", "f(x)"
    (?![A-Za-z0-9_\-=^(\\{]|[.,:;][A-Za-z0-9])
    """,
    re.VERBOSE,
)
# Joins letters into a list: "A or C", "A, C", "A/C", "A & C", "A and/or C", "A (or C)".
# Not ";": in "Answer: C; A is wrong" the A is commentary, not a second answer.
_SEPARATOR = re.compile(
    r"[ \t]*+\(?+[ \t]*+(?:,[ \t]*+(?i:(?:or|and)\b)?+|/|&|\+|(?i:and/or|or|and)\b)"
)
# "AC", "(ABD)": a run of capitals, read as several letters when all are option letters.
_LETTER_RUN = re.compile(r"[ \t]*+[(\[]?+(?P<run>[A-Z]{2,26})[)\]]?+(?![A-Za-z0-9_])")
_PRONOUN_I = re.compile(r"[ \t]++[a-z]")

_ANSWER_MARKER = re.compile(
    r"""
    (?:
      (?i:\b(?:final[ \t]++)?(?:answer|choice|option)\b)
      (?:[ \t]*+\*\*)?+
      [ \t]*+
      (?:(?i:is|would[ \t]++be|should[ \t]++be|will[ \t]++be)\b|[:=\-\u2014\u2013])
      (?:[ \t]*+\*\*)?+
      [ \t]*+:?+
    |
      (?i:<answer>)
    )
    """,
    re.VERBOSE,
)
_BOXED = re.compile(r"\\(?:boxed|fbox)[ \t]*+\{")
_LATEX_NOISE = re.compile(r"\\[A-Za-z]++|[{}$]")
_THINK_END = "</think>"

Kind = Literal["none", "choice", "invalid"]


@dataclass(frozen=True, slots=True)
class _Token:
    letter: str
    end: int


@dataclass(frozen=True, slots=True)
class _Verdict:
    """What one answer clause says: nothing, one letter, or an invalid final answer."""

    kind: Kind
    letter: str = ""
    start: int = 0
    end: int = 0


_NOTHING = _Verdict("none")


def _read_token(text: str, pos: int, allow_lower: bool) -> _Token | None:
    match = _TOKEN.match(text, pos)
    if match is None:
        return None
    letter = match["letter"]
    decorated = bool(match["open"] or match["cmd"] or match["paren"])
    # lowercase "a" after "the answer is" is an article; only "(c)" or a boxed "c" is a choice
    if letter.islower() and not (allow_lower or match["paren"]):
        return None
    # "Answer: I think it is C": a bare I followed by a lowercase word is the pronoun
    if letter == "I" and not decorated and _PRONOUN_I.match(text, match.end()):
        return None
    return _Token(letter.upper(), match.end())


def _letter_index(letter: str) -> int:
    return ord(letter) - ord("A")


def _in_range(letter: str, n_options: int) -> bool:
    return 0 <= _letter_index(letter) < n_options


def _continue_list(
    text: str, first: _Token, n_options: int, allow_lower: bool, start: int
) -> _Verdict:
    """Read "A or C", "A, C" after a first token; several distinct letters is invalid."""
    letters = {first.letter}
    end = first.end
    for _ in range(MAX_OPTIONS):
        separator = _SEPARATOR.match(text, end)
        if separator is None:
            break
        following = _read_token(text, separator.end(), allow_lower)
        if following is None:
            break
        letters.add(following.letter)
        end = following.end
    if len(letters) > 1 or not _in_range(first.letter, n_options):
        return _Verdict("invalid", start=start, end=end)
    return _Verdict("choice", first.letter, start=start, end=end)


def _letter_run_verdict(text: str, pos: int, n_options: int, start: int) -> _Verdict:
    run = _LETTER_RUN.match(text, pos)
    if run is not None and all(_in_range(ch, n_options) for ch in run["run"]):
        return _Verdict("invalid", start=start, end=run.end())
    return _Verdict("none", start=start, end=pos)


def _clause_verdict(text: str, pos: int, n_options: int, allow_lower: bool, start: int) -> _Verdict:
    first = _read_token(text, pos, allow_lower)
    if first is None:
        return _letter_run_verdict(text, pos, n_options, start)
    return _continue_list(text, first, n_options, allow_lower, start)


def _boxed_close(text: str, open_end: int) -> int:
    """Index of the brace closing a box opened just before open_end, or -1."""
    depth = 1
    limit = min(len(text), open_end + _BOXED_CONTENT_CHARS)
    for index in range(open_end, limit):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _boxed_verdict(text: str, box: re.Match[str], n_options: int) -> _Verdict:
    close = _boxed_close(text, box.end())
    if close < 0:
        return _NOTHING
    # "\text{(C)}" -> "(C)": commands, braces and $ are layout, not content
    content = _LATEX_NOISE.sub(" ", text[box.end() : close]).strip()
    inner = _clause_verdict(content, 0, n_options, True, box.start())
    if inner.kind != "choice":
        return _Verdict(inner.kind, start=box.start(), end=close + 1)
    # "\boxed{A} or \boxed{C}" names two letters: read on past the closing brace
    first = _Token(inner.letter, close + 1)
    return _continue_list(text, first, n_options, False, box.start())


def _marker_verdicts(text: str, n_options: int) -> list[_Verdict]:
    verdicts = [
        _clause_verdict(text, marker.end(), n_options, False, marker.start())
        for marker in _ANSWER_MARKER.finditer(text)
    ]
    verdicts += [_boxed_verdict(text, box, n_options) for box in _BOXED.finditer(text)]
    return sorted((v for v in verdicts if v.kind != "none"), key=lambda v: v.start)


def _final_marker_verdict(verdicts: list[_Verdict]) -> _Verdict:
    """The last explicit answer, widened to any clause that spans it.

    In "Answer: \\boxed{A} or \\boxed{C}" the last marker is "\\boxed{C}", but the clause
    started by "Answer:" covers it and names two letters, so that clause decides.
    """
    last = verdicts[-1]
    for verdict in verdicts:
        if verdict.start < last.start < verdict.end:
            return verdict
    return last


def _last_line(text: str) -> str:
    for line in reversed(text.splitlines()):
        if line.strip():
            return line.strip()
    return ""


# in a last line of prose, only a decorated letter counts: "(C)", "**C**", "**(C)**"
_DECORATED_LETTER = re.compile(r"(?:\*\*\(?+|\()(?P<letter>[A-Z])(?:\)?+\*\*|\))(?![A-Za-z0-9_])")
_LINE_START_CLOSER = re.compile(r"[ \t]*+(?:[.:]|$)")


def _last_line_verdict(text: str, n_options: int) -> _Verdict:
    line = _last_line(text)
    if not line:
        return _NOTHING
    first = _read_token(line, 0, False)
    if first is not None:
        bare = line[: first.end].strip().isalpha()
        # a bare leading letter counts only as "C", "C." or "C:", never "A good idea"
        if not bare or _LINE_START_CLOSER.match(line, first.end):
            return _continue_list(line, first, n_options, False, 0)
    letters = {m["letter"] for m in _DECORATED_LETTER.finditer(line)}
    letters = {letter for letter in letters if _in_range(letter, n_options)}
    if len(letters) == 1:
        return _Verdict("choice", letters.pop())
    return _Verdict("invalid") if letters else _NOTHING


def _as_text(value: object) -> str | None:
    """The tail of a response as str, whatever a trainer handed over."""
    if value is None:
        return None
    if isinstance(value, str):
        return value[-SCAN_CHARS:]
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value[-_SCAN_BYTES:]).decode("utf-8", errors="replace")[-SCAN_CHARS:]
    return None


def _answer_region(text: str) -> str:
    _, found, after = text.rpartition(_THINK_END)
    return after if found else text


def _clamp_n_options(n_options: object) -> int:
    if isinstance(n_options, bool) or not isinstance(n_options, int):
        return DEFAULT_N_OPTIONS
    return max(1, min(MAX_OPTIONS, n_options))


def _extract(text: str, n_options: int) -> str | None:
    region = _answer_region(text)
    verdicts = _marker_verdicts(region, n_options)
    verdict = _final_marker_verdict(verdicts) if verdicts else _last_line_verdict(region, n_options)
    return verdict.letter if verdict.kind == "choice" else None


def extract_choice(text: object, n_options: int = DEFAULT_N_OPTIONS) -> str | None:
    """The option letter a response chose ("A".."Z"), or None when there is no single one.

    ``text`` may be str or bytes (decoded as UTF-8, errors replaced); anything else gives
    None. ``n_options`` bounds the letters (9 -> A..I); values outside 1..26 are clamped.
    Never raises.
    """
    try:
        scanned = _as_text(text)
        if not scanned:
            return None
        return _extract(scanned, _clamp_n_options(n_options))
    except Exception:  # noqa: BLE001 - the contract is "never raise" inside a training loop
        return None


def normalize_letter(value: object) -> str | None:
    """A ground-truth letter as one uppercase letter: "c", " (C) ", "C." -> "C"; else None."""
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", errors="replace")
    if not isinstance(value, str) or len(value) > 16:
        return None
    core = value.strip().strip("().:*[] ").strip()
    if len(core) == 1 and "A" <= core.upper() <= "Z":
        return core.upper()
    return None


def score(text: object, letter: object, n_options: int = DEFAULT_N_OPTIONS) -> float:
    """1.0 when ``text`` chose exactly ``letter``, else 0.0. Never raises."""
    try:
        truth = normalize_letter(letter)
        if truth is None:
            return 0.0
        # a ground truth beyond n_options means the caller's n_options is stale: widen it
        bound = max(_clamp_n_options(n_options), _letter_index(truth) + 1)
        return 1.0 if extract_choice(text, bound) == truth else 0.0
    except Exception:  # noqa: BLE001 - see extract_choice
        return 0.0


def _n_options_from(extra_info: object) -> int:
    if isinstance(extra_info, dict):
        value = extra_info.get("n_options")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return DEFAULT_N_OPTIONS


def compute_score(
    data_source: object,
    solution_str: object,
    ground_truth: object,
    extra_info: object = None,
    **_: Any,
) -> float:
    """verl reward: 1.0 when the response chose ``ground_truth``, else 0.0.

    ``data_source`` is accepted for verl's signature and ignored: every goose task is
    scored the same way. ``extra_info["n_options"]`` (written by the verl export) bounds
    the letters; it defaults to 9. Extra keyword arguments that newer verl versions pass
    (sandbox URLs, semaphores) are ignored.
    """
    return score(solution_str, ground_truth, _n_options_from(extra_info))


def _response_part(query: object, prompt: object) -> object:
    # OpenRLHF's queries are prompt + response; the prompt's own "(A)..(I)" lines and its
    # "Answer: X" instruction must not be read as the model's answer
    if isinstance(query, str) and isinstance(prompt, str) and query.startswith(prompt):
        return query[len(prompt) :]
    return query


def reward_func(
    queries: Sequence[object], prompts: Sequence[object], labels: Sequence[object], **_: Any
) -> dict[str, Any]:
    """OpenRLHF custom reward (``--remote_rm_url goose_assets/reward.py``).

    Returns ``{"rewards", "scores", "extra_logs"}`` as OpenRLHF expects, with torch tensors
    when torch is importable (it is imported here, lazily, never at module import) and
    plain lists otherwise.
    """
    rewards = [
        score(_response_part(query, prompt), label)
        for query, prompt, label in zip(queries, prompts, labels, strict=False)
    ]
    try:
        import torch

        values: Any = torch.tensor(rewards, dtype=torch.float32)
    except ImportError:
        values = rewards
    return {"rewards": values, "scores": values, "extra_logs": {}}
