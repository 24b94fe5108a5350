"""A small OpenAI-compatible chat server on 127.0.0.1 for tests and benchmarks.

It answers `/v1/chat/completions` with realistic replies built from the request's fenced
`<document>` text, so the real parser and validator run on its output:

- synthesis prompts (their schema or prompt names `removed_steps`, `removed_lines` or
  `removed_content`): 2-3 consecutive sentences (lines, for code) of the document body are
  masked, and >= 16 distinct distractors of similar length are built from other sentences of
  the same document and from mutations of the answer. The reply is in the prompt's output
  format (core.synthesis.synthesis_format): the paper's, with the masked text echoed, or the lean one
  (a schema without a masked-text key), which names the span by its unit numbers where the
  prompt numbers units (`lean_units`), else verbatim;
- with `choices_path`, synthesis prompts listed there are answered with exactly the span and
  distractors recorded for them (bench/synthesis_cost.py records the offline generator's),
  serialized in the prompt's format, so two formats can be compared byte for byte;
- extraction prompts (key `passage`): the first ~300 words of the document;
- student prompts: "Answer: X", X drawn from the options present, a different draw per
  choice when `n` > 1.

It reports `usage` (chars/4, or a real tokenizer: `tokenizer="o200k_base"` where the
`bpe-openai` package is installed), honours `n`, has a fixed latency and a concurrency cap, counts
calls (received and answered, in total and per prompt) and injects faults, per server or by
schedule. Faults: see `FAULTS`. A fault is chosen for each call, in this order: `fault`
(every call), `faults_by_call` (global 1-based call number), `faults_by_attempt` (the k-th
call of the same prompt; re-asks and retries count), `fault_rates` (seeded by prompt and
attempt, so the schedule does not depend on arrival order).

Run it in-process (`LoopbackLLMServer(...).start()`, a daemon thread with its own event loop;
`stop()` is graceful, `kill()` drops every open connection like a dead host) or as a
subprocess (`spawn_server_process(...)`, `python -m goose_assets_tests.llm_server`), which
keeps the server's CPU off the client's core in benchmarks. `/stats` returns the counters as
JSON and `/admin/reset` zeroes them.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

from goose_assets.core.synthesis.synthesis_format import (
    LEAN,
    LEAN_KEYS,
    PAPER,
    answer_object,
    unit_offsets,
    unnumbered,
)
from goose_assets.core.synthesis.terms import code_only
from goose_assets.core.text import char_ngrams, jaccard

FAULTS: tuple[str, ...] = (
    "http_500",  # 500 with an error body
    "http_429",  # 429 with Retry-After / retry-after-ms
    "connection_reset",  # the TCP connection is aborted before any reply
    "read_timeout",  # the reply comes after `hang_s`, past any sane client timeout
    "truncated_json",  # the JSON object loses its last few characters: repairable
    "truncated_json_early",  # the JSON object is cut at 60%: repair cannot save it
    "schema_violation",  # valid JSON, wrong keys and types
    "answer_not_in_source",  # the removed span is reworded, so it is not verbatim
    "unconstrained_prose",  # prose with no JSON, as from a server that ignored response_format
    "obey_injection",  # a document that says "ignore previous instructions" is obeyed
    # the masked text a paper-format reply echoes is paraphrased (a line break reflowed, one
    # word changed), as a model copying a long passage does; a lean reply has no echo
    "echo_drift",
)

# faults that replace the reply: nothing to build before the latency is up
_TRANSPORT_FAULTS = ("http_500", "http_429", "connection_reset", "read_timeout")
_FENCED = re.compile(r"<document>\n(.*?)\n</document>", re.DOTALL)
_INJECTION = re.compile(r"ignore (all )?(previous|prior|above) instructions", re.IGNORECASE)
_OPTION = re.compile(r"^\(([A-Z])\)", re.MULTILINE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
_NUMBER = re.compile(r"\d+")
_KEY_SETS: dict[str, tuple[str, str, str]] = {
    "removed_lines": ("masked_reference_solution", "removed_lines", "distractors"),
    "removed_steps": ("masked_reference_solution", "removed_steps", "distractors"),
    "removed_content": ("masked_passage", "removed_content", "distractors"),
}
_FAMILY = {"removed_lines": "code", "removed_steps": "qa", "removed_content": "passage"}
_SWAPS = {
    "increases": "decreases", "decreases": "increases", "more": "less", "less": "more",
    "larger": "smaller", "smaller": "larger", "positive": "negative", "negative": "positive",
    "true": "false", "false": "true", "before": "after", "after": "before", "<": ">=",
    ">": "<=", "+": "-", "-": "+", "and": "or", "or": "and", "always": "never", "is": "is not",
}


@dataclass
class ServerConfig:
    latency_s: float = 0.0
    max_concurrency: int | None = None  # requests past this queue inside the server
    fault: str | None = None
    faults_by_call: dict[int, str] = field(default_factory=dict)
    faults_by_attempt: dict[int, str] = field(default_factory=dict)
    fault_rates: dict[str, float] = field(default_factory=dict)
    obey_injections: bool = False  # documents with an injection are obeyed whatever the schedule
    seed: int = 0
    retry_after_s: float = 0.05
    hang_s: float = 30.0
    distractors: int = 16
    # lean replies name the span by unit numbers where the prompt numbers units (else verbatim)
    lean_units: bool = True
    # JSON file {"choices": [{shape, body, start, end, distractors}], "by_prompt": {prompt_key: index}}
    choices_path: str | None = None
    tokenizer: str = "chars/4"  # or "o200k_base" (needs the bpe-openai package)

    def __post_init__(self) -> None:
        named = [self.fault, *self.faults_by_call.values(), *self.faults_by_attempt.values(), *self.fault_rates]
        unknown = sorted({f for f in named if f is not None and f not in FAULTS})
        if unknown:
            raise ValueError(f"unknown fault modes {unknown}; known: {FAULTS}")
        # JSON round trips turn int keys into strings
        self.faults_by_call = {int(k): v for k, v in self.faults_by_call.items()}
        self.faults_by_attempt = {int(k): v for k, v in self.faults_by_attempt.items()}


@dataclass
class ServerCounters:
    received: int = 0
    answered: int = 0  # 200 replies fully written to the socket
    in_flight: int = 0
    max_in_flight: int = 0
    follow_ups: int = 0  # requests carrying an earlier assistant turn (re-asks)
    received_by_prompt: Counter[str] = field(default_factory=Counter)
    received_at_by_prompt: dict[str, list[float]] = field(default_factory=dict)  # monotonic times
    answered_by_prompt: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    tokens_in: int = 0
    tokens_out: int = 0
    chars_in: int = 0  # message contents of answered calls
    chars_out: int = 0  # reply contents of answered calls


def token_counter(name: str) -> Any:
    """(text -> tokens): `chars/4`, or a tiktoken encoding from the bpe-openai package, which
    ships its vocabularies (tiktoken itself downloads them at run time, impossible here)."""
    if name == "chars/4":
        return lambda text: len(text) // 4
    import bpe_openai  # an ImportError names the missing package

    encoding = bpe_openai.get_encoding(name)
    return lambda text: len(encoding.encode_ordinary(text)) if text else 0


def prompt_key(messages: list[dict[str, Any]]) -> str:
    """Identity of a prompt across retries and re-asks: the messages up to the first user one."""
    head: list[dict[str, Any]] = []
    for message in messages:
        head.append({"role": message.get("role"), "content": message.get("content")})
        if message.get("role") == "user":
            break
    return hashlib.sha256(json.dumps(head, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------
# realistic replies


def _units(body: str, by_line: bool) -> list[tuple[int, int]]:
    """Character spans of the maskable units: non-blank lines for code, else sentences."""
    spans: list[tuple[int, int]] = []
    if by_line:
        # a code model masks code: lines that are all docstring, comment or doctest are not units
        code = code_only(body)
        pos = 0
        for line in body.split("\n"):
            if code[pos : pos + len(line)].strip():
                spans.append((pos, pos + len(line)))
            pos += len(line) + 1
        return spans
    start = 0
    for m in _SENTENCE_END.finditer(body):
        if body[start : m.start()].strip():
            spans.append((start, m.start()))
        start = m.end()
    if body[start:].strip():
        spans.append((start, len(body.rstrip())))
    if len(spans) < 4:  # few sentences: fall back to lines (equations, lists)
        line_spans = _units(body, by_line=True)
        if len(line_spans) > len(spans):
            return line_spans
    return spans


def _mutations(answer: str, rng: random.Random) -> list[str]:
    """Wrong-but-plausible variants of the answer: numbers, swapped words, reordered parts."""
    out: list[str] = []
    numbers = _NUMBER.findall(answer)
    for k in range(1, 6):
        if numbers:
            out.append(_NUMBER.sub(lambda m, k=k: str(int(m.group()) + k), answer))
    words = answer.split(" ")
    swappable = [i for i, w in enumerate(words) if w.lower() in _SWAPS]
    for i in swappable[:4]:
        changed = list(words)
        changed[i] = _SWAPS[words[i].lower()]
        out.append(" ".join(changed))
    return out


_CODE_SWAPS = (("==", "!="), ("!=", "=="), ("<=", ">"), (">=", "<"), (" < ", " >= "), (" > ", " <= "),
               (" + ", " - "), (" - ", " + "), (" * ", " // "), (" and ", " or "), (" or ", " and "),
               ("True", "False"), ("False", "True"), ("min(", "max("), ("max(", "min("), ("+= ", "-= "),
               ("[]", "{}"), ("-inf", "inf"), ("float(", "int("), ("abs(", "round("), ("if ", "while "),
               ("lower", "upper"), ("append", "remove"), ("split(", "rsplit("), ("strip(", "lstrip("),
               ("not ", ""), ("return ", "return not "), ("len(", "sum("), ("[0]", "[-1]"), ("range(", "reversed("))


def _code_bugs(answer: str, rng: random.Random) -> list[str]:
    """Bugs a code model would write: one or two operators flipped, numbers off by a few.
    They stay valid Python, as a code distractor must (validation parses it in place)."""
    singles: list[str] = []
    for old, new in _CODE_SWAPS:
        start = answer.find(old)
        while start >= 0:
            singles.append(answer[:start] + new + answer[start + len(old):])
            start = answer.find(old, start + 1)
    for m in _NUMBER.finditer(code_only(answer)):
        for k in (1, 2, 3, 5, 9):
            singles.append(answer[: m.start()] + str(int(m.group()) + k) + answer[m.end() :])
    code = code_only(answer)
    names = sorted(set(re.findall(r"\b[a-z_][a-z0-9_]*\b", code)) - {"if", "in", "for", "while", "return", "not", "and",
                                                                     "or", "def", "is", "else", "elif", "none", "pass"})
    for a in names:  # one use of a name becomes another name of the answer
        for b in names:
            if a != b and (m := re.search(rf"\b{a}\b", code)):
                singles.append(answer[: m.start()] + b + answer[m.end() :])
    for name in names:  # a use of a name becomes an expression of it
        if (m := re.search(rf"(?<![.\w]){name}\b(?!\s*=[^=])", code)):
            for form in (f"{name} + 1", f"({name} - 1)", f"-{name}", f"not {name}", f"len({name})",
                         f"{name} * 2", f"{name} // 2", f"abs({name})", f"str({name})", f"{name}[0]", f"{name}[::-1]"):
                singles.append(answer[: m.start()] + form + answer[m.end() :])
    doubles = []
    for a in singles[:40]:  # two bugs at once: short answers have few single ones
        for old, new in _CODE_SWAPS:
            if old in a:
                doubles.append(a.replace(old, new, 1))
    rng.shuffle(doubles)
    return singles + doubles


def _distractors(body: str, units: list[tuple[int, int]], first: int, count: int, want: int,
                 rng: random.Random, code: bool = False) -> list[str]:
    answer = body[units[first][0] : units[first + count - 1][1]]
    alen = max(1, len(answer))
    candidates: list[str] = []
    if code:
        candidates += _code_bugs(answer, rng)
    else:
        for i in range(len(units) - count + 1):
            if abs(i - first) >= count:  # windows of other sentences of the same document
                candidates.append(body[units[i][0] : units[i + count - 1][1]])
    candidates += _mutations(answer, rng)
    seen = {" ".join(answer.lower().split())}
    # a good generator's distractors are not near-copies of each other (the leakage check
    # flags options at char-3-gram Jaccard >= 0.9): keep clear of that line
    kept_grams = [char_ngrams(answer)]

    # the validator drops pairs at >= 0.9; code bugs are close to the answer by nature
    line = 0.895 if code else 0.85

    def distinct(cand: str) -> bool:
        grams = char_ngrams(cand)
        if any(jaccard(grams, g) >= line for g in kept_grams):
            return False
        kept_grams.append(grams)
        return True

    picked: list[str] = []
    for cand in sorted(candidates, key=lambda c: abs(len(c) - alen)):
        key = " ".join(cand.lower().split())
        if key and key not in seen and 0.5 <= len(cand) / alen <= 2.0 and distinct(cand):
            seen.add(key)
            picked.append(cand)
        if len(picked) >= want:
            break
    sentences = [body[a:b] for a, b in units]
    for _ in range(want * 20):  # short documents: splice halves of two of its sentences
        if len(picked) >= want or len(sentences) < 2 or code:
            break
        first, second = rng.sample(sentences, 2)
        a, b = first.split(), second.split()
        cut = rng.choice((3, 2, 1.5))  # several cut points: short documents have few pairs
        cand = " ".join(a[: max(1, int(len(a) // cut))] + b[int(len(b) // cut) :])
        cand = _NUMBER.sub(lambda m: str(int(m.group()) + rng.randint(1, 9)), cand)
        key = " ".join(cand.lower().split())
        if key not in seen and 0.25 <= len(cand) / alen <= 4.0 and distinct(cand):
            seen.add(key)
            picked.append(cand)
    # a model held to the schema's minItems writes that many whatever the document offers:
    # near-copies and, last, restatements, which validation then drops as an LLM's would be
    for cand in [*candidates, *sentences]:
        key = " ".join(cand.lower().split())
        if len(picked) >= want:
            break
        if key and key not in seen:
            seen.add(key)
            picked.append(cand)
    picked += [f"{answer}  # variant {i}" if code else f"{answer} (variant {i})" for i in range(want - len(picked))]
    rng.shuffle(picked)
    return picked


def synthesis_choice(body: str, fam: str, rng: random.Random, n_distractors: int,
                     units: list[tuple[int, int]] | None = None) -> tuple[int, int, list[str]]:
    """(start, end, distractors): 2-3 consecutive units in the middle of the body, from
    `units` when given (the lean prompt's numbered units), else the server's own."""
    if not units or len(units) < 2:
        units = _units(body, by_line=fam == "code")
    if len(units) < 2:
        units = [(0, len(body))]
    count = min(len(units), rng.choice((2, 3)))
    first = (len(units) - count) // 2
    if fam == "code":
        # the window nearest the middle whose lines are adjacent code (no docstring between)
        def adjacent(i: int) -> bool:
            return body.count("\n", units[i][0], units[i + count - 1][1]) == count - 1
        windows = [i for i in range(len(units) - count + 1) if adjacent(i)]
        if windows:
            first = min(windows, key=lambda i: abs(i - first))
    start, end = units[first][0], units[first + count - 1][1]
    return start, end, _distractors(body, units, first, count, n_distractors, rng, code=fam == "code")


def synthesis_object(body: str, keys: tuple[str, str, str], rng: random.Random,
                     n_distractors: int) -> dict[str, Any]:
    """A paper-format reply (the masked text, the span, the distractors)."""
    masked_key, answer_key, distractor_key = keys
    start, end, distractors = synthesis_choice(body, "code" if answer_key == "removed_lines" else "", rng, n_distractors)
    return {masked_key: body[:start] + "[MASK]" + body[end:], answer_key: body[start:end], distractor_key: distractors}


_PARAPHRASES = {
    "therefore": "thus", "because": "since", "compute": "calculate", "computes": "calculates",
    "gives": "yields", "which": "that", "shows": "demonstrates", "using": "with", "value": "number",
    "values": "numbers", "return": "give back", "first": "initially", "must": "has to",
}
_WORD = re.compile(r"[A-Za-z]{4,}")


def paraphrase_echo(masked: str, rng: random.Random) -> str:
    """A model's copy of a long passage: one line break reflowed into a space (on its own
    that passes validation, which compares whitespace-collapsed text) and one word changed
    (a synonym where it knows one, else its first letter's case), which does not."""
    if "\n" in masked:
        breaks = [i for i, ch in enumerate(masked) if ch == "\n"]
        i = rng.choice(breaks)
        masked = masked[:i] + " " + masked[i + 1 :]
    words = [m for m in _WORD.finditer(masked) if m.group() != "MASK"]
    if not words:
        return masked + " "
    m = rng.choice(words)
    word = m.group()
    lower = word.lower()
    if lower in _PARAPHRASES:
        new = _PARAPHRASES[lower]
        new = new[0].upper() + new[1:] if word[0].isupper() else new
    else:
        new = word[0].swapcase() + word[1:]
    return masked[: m.start()] + new + masked[m.end() :]


def _reword(text: str) -> str:
    words = text.split(" ")
    for i, w in enumerate(words):
        if len(w) > 3:
            words[i] = w.upper() if not w.isupper() else w.lower()
            break
    return " ".join(words) + " Hence this holds."


@dataclass(slots=True)
class ParsedPrompt:
    kind: str  # synthesize | extract | student | other
    keys: tuple[str, str, str] | None  # the paper format's keys of the prompt's family
    documents: list[str]
    user_text: str
    constrained: bool
    fmt: str = "paper"  # synthesis output format: paper | lean
    family: str = ""  # qa | code | passage (synthesis prompts)


def parse_prompt(payload: dict[str, Any]) -> ParsedPrompt:
    messages = payload.get("messages") or []
    user_text = next((m.get("content") or "" for m in messages if m.get("role") == "user"), "")
    response_format = payload.get("response_format") or {}
    vllm_native = (payload.get("structured_outputs") or {}).get("json")  # vLLM's own field
    schema = (response_format.get("json_schema") or {}).get("schema") or vllm_native or {}
    constrained = response_format.get("type") in ("json_schema", "json_object") or bool(vllm_native)
    props = set((schema.get("properties") or {}).keys())
    documents = _FENCED.findall(user_text)
    for marker, keys in _KEY_SETS.items():
        if marker in props or (not props and f'"{marker}"' in user_text):
            # the paper's format echoes the masked text; a prompt without that key is lean
            echo = keys[0] in props or (not props and f'"{keys[0]}"' in user_text)
            return ParsedPrompt("synthesize", keys, documents, user_text, constrained,
                                fmt="paper" if echo else "lean", family=_FAMILY[marker])
    if "passage" in props or '"passage"' in user_text:
        return ParsedPrompt("extract", None, documents, user_text, constrained)
    if _OPTION.search(user_text) or "Answer: X" in user_text:
        return ParsedPrompt("student", None, documents, user_text, constrained)
    return ParsedPrompt("other", None, documents, user_text, constrained)


def _synthesis_reply(prompt: ParsedPrompt, fault: str | None, rng: random.Random, n_distractors: int,
                     choice: dict[str, Any] | None, lean_units: bool) -> dict[str, Any]:
    """A synthesis reply object in the prompt's format, with a content-level fault applied."""
    fam, fmt = prompt.family, prompt.fmt
    shape = "qa" if fam == "qa" else fam
    shown = prompt.documents[-1] if prompt.documents else prompt.user_text
    body = unnumbered(shape, shown) if fmt == LEAN else shown
    if choice is not None:
        body, start, end, distractors = choice["body"], choice["start"], choice["end"], list(choice["distractors"])
    else:
        units = unit_offsets(shape, body) if fmt == LEAN and lean_units else None
        start, end, distractors = synthesis_choice(body, fam, rng, n_distractors, units)
    if fault == "obey_injection" and _INJECTION.search(body):
        start, end, distractors = 0, len(body), [f"PWNED {i}" for i in range(n_distractors)]
        obj = answer_object(fmt, shape, body, start, end, distractors, units=False)
        obj[LEAN_KEYS[fam].removed if fmt == LEAN else prompt.keys[1]] = "PWNED"  # type: ignore[index]
        if fmt == PAPER:
            obj[prompt.keys[0]] = "PWNED"  # type: ignore[index]
        return obj
    obj = answer_object(fmt, shape, body, start, end, distractors, units=lean_units and fault != "answer_not_in_source")
    answer_key = LEAN_KEYS[fam].removed if fmt == LEAN else prompt.keys[1]  # type: ignore[index]
    if fault == "answer_not_in_source":
        obj[answer_key] = _reword(body[start:end])
    elif fault == "schema_violation":
        wrong = {"answer": body[start:end], "distractors": "; ".join(distractors)}
        return {"masked": obj[prompt.keys[0]], **wrong} if fmt == PAPER else wrong  # type: ignore[index]
    elif fault == "echo_drift" and fmt == PAPER:
        obj[prompt.keys[0]] = paraphrase_echo(obj[prompt.keys[0]], rng)  # type: ignore[index]
    return obj


def reply_text(prompt: ParsedPrompt, fault: str | None, rng: random.Random, n_distractors: int,
               choice: dict[str, Any] | None = None, lean_units: bool = True) -> str:
    """The content of one choice, with a content-level fault applied when asked. `choice`:
    the span and distractors to answer a synthesis prompt with (else the server picks)."""
    if prompt.kind == "student":
        letters = _OPTION.findall(prompt.user_text) or list("ABCDEFGHI")
        return f"The masked step must keep the argument consistent.\nAnswer: {rng.choice(letters)}"
    if fault == "unconstrained_prose":
        return ("Sure! The most important steps are in the middle of the solution. I would mask "
                "them and write several alternatives that look similar but are wrong.")
    body = prompt.documents[-1] if prompt.documents else prompt.user_text
    if prompt.kind == "extract":
        obj: dict[str, Any] = {"passage": " ".join(body.split()[:300])}
    elif prompt.kind == "synthesize" and prompt.keys is not None:
        obj = _synthesis_reply(prompt, fault, rng, n_distractors, choice, lean_units)
    else:
        return "OK."
    text = json.dumps(obj, ensure_ascii=False)
    if fault == "truncated_json":  # cut inside the last distractor (finish_reason "length")
        text = text[: len(text) - 6]
    elif fault == "truncated_json_early":
        text = text[: max(10, int(len(text) * 0.6))]
    # a model that was only *asked* for JSON wraps it as the prompt says
    return text if prompt.constrained else f"<answer>{text}</answer>"


# ---------------------------------------------------------------------------------------
# the server


def _new_loop(fast: bool) -> asyncio.AbstractEventLoop:
    if fast:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class LoopbackLLMServer:
    """The server in a daemon thread with its own event loop, bound to 127.0.0.1."""

    def __init__(self, config: ServerConfig | None = None, port: int = 0, model: str = "loopback-model",
                 fast_loop: bool = False) -> None:
        self.config = config or ServerConfig()
        self.fast_loop = fast_loop  # uvloop when installed (the subprocess server uses it)
        self.model = model
        self.counters = ServerCounters()
        self._lock = threading.Lock()
        self._requested_port = port
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._startup_error: BaseException | None = None
        self._count_tokens = token_counter(self.config.tokenizer)
        self._choices: list[dict[str, Any]] = []
        self._choice_by_prompt: dict[str, int] = {}
        if self.config.choices_path:
            with open(self.config.choices_path, encoding="utf-8") as fh:
                loaded = json.load(fh)
            self._choices, self._choice_by_prompt = loaded["choices"], loaded["by_prompt"]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # lifecycle ------------------------------------------------------------------------
    def start(self) -> LoopbackLLMServer:
        self._thread = threading.Thread(target=self._run, name=f"llm-server-{id(self)}", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("loopback LLM server did not start within 10 s")
        if self._startup_error is not None:
            raise RuntimeError("loopback LLM server failed to start") from self._startup_error
        return self

    def stop(self) -> None:
        """Graceful: finish what is in flight (briefly), then close."""
        self._shutdown(abort=False)

    def kill(self) -> None:
        """Like a dead host: drop every open connection and the listening socket at once."""
        self._shutdown(abort=True)

    def __enter__(self) -> LoopbackLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _shutdown(self, abort: bool) -> None:
        if self._loop is None or self._thread is None or not self._thread.is_alive():
            return
        future = asyncio.run_coroutine_threadsafe(self._close(abort), self._loop)
        future.result(timeout=15)
        self._thread.join(timeout=15)

    async def _close(self, abort: bool) -> None:
        assert self._runner is not None and self._stopped is not None
        if abort:
            server = self._runner.server
            for site in list(self._runner.sites):
                await site.stop()
            for handler in list(server.connections if server else []):
                transport = handler.transport
                if transport is not None:
                    transport.abort()
        await self._runner.cleanup()
        self._stopped.set()

    def _run(self) -> None:
        self._loop = _new_loop(self.fast_loop)
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            # handlers still sleeping (read_timeout, latency) are cancelled, not abandoned
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()

    async def _serve(self) -> None:
        self._stopped = asyncio.Event()
        cap = self.config.max_concurrency
        self._semaphore = asyncio.Semaphore(cap) if cap else None
        app = web.Application(client_max_size=64 * 1024**2)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/stats", self._stats)
        app.router.add_post("/admin/reset", self._reset)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        try:
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", self._requested_port, backlog=1024)
            await site.start()
            sockets = self._runner.addresses
            self.port = int(sockets[0][1])
        except BaseException as exc:  # surfaced by start()
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        await self._stopped.wait()

    # counters -------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """The counters, once the server has taken in what clients already sent and finished
        the replies already on the wire (see `_settle`)."""
        self._settle()
        with self._lock:
            c = self.counters
            return {
                "received": c.received,
                "answered": c.answered,
                "in_flight": c.in_flight,
                "max_in_flight": c.max_in_flight,
                "follow_ups": c.follow_ups,
                "received_by_prompt": dict(c.received_by_prompt),
                "received_at_by_prompt": {k: list(v) for k, v in c.received_at_by_prompt.items()},
                "answered_by_prompt": dict(c.answered_by_prompt),
                "faults": dict(c.faults),
                "tokens_in": c.tokens_in,
                "tokens_out": c.tokens_out,
                "chars_in": c.chars_in,
                "chars_out": c.chars_out,
            }

    def reset(self) -> None:
        with self._lock:
            self.counters = ServerCounters()

    def _settle(self, turns: int = 8) -> None:
        """A few turns of the server's loop, from another thread: requests already in its
        sockets reach their handler (`received`), and a handler whose reply is already on
        the wire finishes counting it (`answered`, tokens). Without this a fast client in
        the same process can read the counters between the server's send and its count
        (the send releases the GIL)."""
        loop = self._loop
        if loop is None or not loop.is_running() or threading.current_thread() is self._thread:
            return

        async def spin() -> None:
            for _ in range(turns):
                await asyncio.sleep(0)

        try:
            asyncio.run_coroutine_threadsafe(spin(), loop).result(timeout=5)
        except Exception:  # noqa: BLE001 - a stopping server: read the counters as they are
            pass

    def _choose_fault(self, call_no: int, key: str, attempt: int) -> str | None:
        cfg = self.config
        if cfg.fault:
            return cfg.fault
        if call_no in cfg.faults_by_call:
            return cfg.faults_by_call[call_no]
        if attempt in cfg.faults_by_attempt:
            return cfg.faults_by_attempt[attempt]
        if cfg.fault_rates:
            draw = random.Random(f"{cfg.seed}:{key}:{attempt}").random()
            acc = 0.0
            for fault, rate in sorted(cfg.fault_rates.items()):
                acc += rate
                if draw < acc:
                    return fault
        return None

    # handlers -------------------------------------------------------------------------
    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "loopback"}]})

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        payload = await request.json()
        messages = payload.get("messages") or []
        key = prompt_key(messages)
        with self._lock:
            c = self.counters
            c.received += 1
            c.received_by_prompt[key] += 1
            c.received_at_by_prompt.setdefault(key, []).append(time.monotonic())
            c.follow_ups += any(m.get("role") == "assistant" for m in messages)
            call_no, attempt = c.received, c.received_by_prompt[key]
            c.in_flight += 1
            c.max_in_flight = max(c.max_in_flight, c.in_flight)
        try:
            if self._semaphore is not None:
                queued = self._semaphore.locked()
                async with self._semaphore:
                    # the latency runs from when the request gets a slot
                    started = time.monotonic() if queued else arrived
                    return await self._answer(request, payload, key, call_no, attempt, started)
            return await self._answer(request, payload, key, call_no, attempt, arrived)
        finally:
            with self._lock:
                self.counters.in_flight -= 1

    async def _answer(self, request: web.Request, payload: dict[str, Any], key: str,
                      call_no: int, attempt: int, started: float | None = None) -> web.StreamResponse:
        """The reply leaves `latency_s` after `started` (arrival, or the free slot): the
        server's own work (parsing, building the reply) happens inside that time, as a real
        server's compute does, instead of adding to it."""
        cfg = self.config
        if started is None:
            started = time.monotonic()
        prompt = parse_prompt(payload)
        fault = self._choose_fault(call_no, key, attempt)
        injected = any(_INJECTION.search(d) for d in prompt.documents)
        if fault == "obey_injection" and not injected:
            fault = None  # the mode only matters for documents that carry an injection
        elif fault == "echo_drift" and not (prompt.kind == "synthesize" and prompt.fmt == PAPER):
            fault = None  # only a paper-format reply echoes the masked text
        elif fault is None and injected and cfg.obey_injections:
            fault = "obey_injection"
        if fault:
            with self._lock:
                self.counters.faults[fault] += 1
        reply = None if fault in _TRANSPORT_FAULTS else self._reply(payload, prompt, fault, key, attempt)
        if cfg.latency_s:
            left = started + cfg.latency_s - time.monotonic()
            if left > 0:
                await asyncio.sleep(left)
        if fault == "http_500":
            return web.json_response({"error": {"message": "injected internal error", "type": "server_error"}}, status=500)
        if fault == "http_429":
            headers = {"Retry-After": f"{cfg.retry_after_s:g}", "retry-after-ms": str(int(cfg.retry_after_s * 1000))}
            return web.json_response({"error": {"message": "injected rate limit", "type": "rate_limit"}}, status=429, headers=headers)
        if fault == "connection_reset":
            if request.transport is not None:
                request.transport.abort()  # RST, no reply; what follows is never sent
            return web.Response(status=500)
        if fault == "read_timeout":
            await asyncio.sleep(cfg.hang_s)
        if reply is None:
            reply = self._reply(payload, prompt, fault, key, attempt)
        body, tokens_in, tokens_out, chars_in, chars_out = reply
        # counted only once the reply is handed to the socket: a reply lost with a killed
        # connection is not "answered", so the fleet test can tell lost work from duplicates
        response = web.Response(body=body, content_type="application/json")
        try:
            await response.prepare(request)
            await response.write_eof()
        except ConnectionResetError:  # the client or a kill() closed the connection first
            return response
        with self._lock:
            c = self.counters
            c.answered += 1
            c.answered_by_prompt[key] += 1
            c.tokens_in += tokens_in
            c.tokens_out += tokens_out
            c.chars_in += chars_in
            c.chars_out += chars_out
        return response

    def _reply(self, payload: dict[str, Any], prompt: ParsedPrompt, fault: str | None, key: str,
               attempt: int) -> tuple[bytes, int, int, int, int]:
        """The chat-completion body (JSON bytes), its token counts and its character counts
        (message contents in, reply contents out)."""
        cfg = self.config
        n = max(1, int(payload.get("n") or 1))
        rng = random.Random(f"{cfg.seed}:{key}:{attempt}")
        index = self._choice_by_prompt.get(key) if prompt.kind == "synthesize" else None
        choice = self._choices[index] if index is not None else None
        texts = [reply_text(prompt, fault, rng, cfg.distractors, choice, cfg.lean_units) for _ in range(n)]
        contents = [str(m.get("content") or "") for m in payload.get("messages") or []]
        prompt_chars = sum(map(len, contents))
        if cfg.tokenizer == "chars/4":
            tokens_in = max(1, prompt_chars // 4)
            tokens_out = sum(max(1, len(t) // 4) for t in texts)
        else:  # message contents only: a chat template adds a few tokens per message on top
            tokens_in = max(1, sum(map(self._count_tokens, contents)))
            tokens_out = sum(max(1, self._count_tokens(t)) for t in texts)
        finish = "length" if fault in ("truncated_json", "truncated_json_early") else "stop"
        body = {
            "id": f"chatcmpl-{key}-{attempt}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": payload.get("model") or self.model,
            "choices": [
                {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": finish, "logprobs": None}
                for i, t in enumerate(texts)
            ],
            "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out, "total_tokens": tokens_in + tokens_out},
        }
        return json.dumps(body).encode(), tokens_in, tokens_out, prompt_chars, sum(map(len, texts))


# ---------------------------------------------------------------------------------------
# the same server as a subprocess (benchmarks, crash tests)


class ServerProcess:
    """A server started with `spawn_server_process`; counters come over HTTP."""

    def __init__(self, proc: subprocess.Popen[str], base_url: str) -> None:
        self.proc = proc
        self.base_url = base_url

    def stats(self) -> dict[str, Any]:
        root = self.base_url.rsplit("/v1", 1)[0]
        with urllib.request.urlopen(f"{root}/stats", timeout=10) as resp:
            return json.loads(resp.read())

    def reset(self) -> None:
        root = self.base_url.rsplit("/v1", 1)[0]
        req = urllib.request.Request(f"{root}/admin/reset", data=b"{}", method="POST")
        with urllib.request.urlopen(req, timeout=10):
            pass

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def spawn_server_process(config: ServerConfig | None = None, port: int = 0) -> ServerProcess:
    cfg = json.dumps(asdict(config or ServerConfig()))
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(
        [sys.executable, "-m", "goose_assets_tests.llm_server", "--port", str(port), "--config", cfg],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        proc.kill()
        raise RuntimeError(f"loopback server process did not start: {line!r}")
    return ServerProcess(proc, line.split(" ", 1)[1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="OpenAI-compatible loopback LLM server (tests only)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--config", default="{}", help="ServerConfig as JSON")
    args = parser.parse_args(argv)
    fast = os.environ.get("GOOSE_LOOPBACK_UVLOOP", "1") != "0"
    server = LoopbackLLMServer(ServerConfig(**json.loads(args.config)), port=args.port, fast_loop=fast).start()
    print(f"READY {server.base_url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
