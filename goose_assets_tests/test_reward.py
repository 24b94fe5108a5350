"""The reward parser: a table of tricky responses plus property tests."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goose_assets.reward import (
    SCAN_CHARS,
    compute_score,
    extract_choice,
    normalize_letter,
    reward_func,
    score,
)

LETTERS_9 = "ABCDEFGHI"

# (response, expected letter or None); n_options = 9 unless the id says otherwise
TRICKY: list[tuple[str, str | None]] = [
    # the accepted answer forms
    (r"\boxed{C}", "C"),
    (r"\boxed{\text{C}}", "C"),
    (r"\boxed{\textbf{(C)}}", "C"),
    (r"The answer is $\boxed{G}$.", "G"),
    ("Answer: C", "C"),
    ("answer: D.", "D"),
    ("**Answer:** (F)", "F"),
    ("**Answer: (C).**", "C"),
    ("The answer is (C)", "C"),
    ("The correct option is I.", "I"),
    ("Final Answer: (c)", "C"),
    ("Answer: option H", "H"),
    ("<answer>E</answer>", "E"),
    ("(C)", "C"),
    ("Let me think.\nC", "C"),
    ("**C**", "C"),
    ("C.", "C"),
    ("Reasoning...\nC) the loop stops at n - 1", "C"),
    ("After all that, I pick **B**.", "B"),
    (r"\boxed{D: x = 3}", "D"),
    # the last explicit answer wins over earlier mentions
    ("(A) is wrong and (B) is wrong.\nAnswer: D", "D"),
    ("Answer: A\nWait, re-checking step 2: the answer is D.", "D"),
    ("The answer is a bit subtle.\nAnswer: B", "B"),
    ("the answer isn't A. Answer: B", "B"),
    ("Answer: C\nThe boxed value is \\boxed{42}.", "C"),
    ("<think>Answer: A</think>\nAnswer: B", "B"),
    ("Answer: C, since the invariant holds", "C"),
    ("Answer: C; A is a distractor", "C"),
    # several letters in the final answer: rejected
    ("Answer: A or C", None),
    ("Answer: A, C", None),
    ("Answer: A and/or C", None),
    ("Answer: A (or C)", None),
    (r"\boxed{AC}", None),
    (r"\boxed{A, C}", None),
    (r"\boxed{A} or \boxed{C}", None),
    (r"Answer: \boxed{A} or \boxed{C}", None),
    ("Answer: ACE", None),
    ("I'd say (A) and (C)", None),
    # letters out of range, words that start with a letter, no answer at all
    ("Answer: J", None),
    ("Answer: Z", None),
    ("Answer: I think it is C", None),
    ("Answer: B-tree", None),
    ("Answer: E=mc^2", None),
    ("answer: c", None),
    (r"\boxed{x = 3}", None),
    (r"\boxed{42}", None),
    ("A good approach is to expand the product.", None),
    ("The answer is clear once we expand.", None),
    ("<think>Answer: A</think>", None),
    ("", None),
    ("   \n\t\n", None),
]


@pytest.mark.parametrize(("response", "expected"), TRICKY, ids=[repr(r)[:40] for r, _ in TRICKY])
def test_tricky_responses(response: str, expected: str | None) -> None:
    assert extract_choice(response) == expected


def test_option_range_follows_n_options() -> None:
    assert extract_choice("Answer: D", n_options=4) == "D"
    assert extract_choice("Answer: E", n_options=4) is None
    assert extract_choice("Answer: J", n_options=10) == "J"


def test_non_text_inputs_give_none() -> None:
    assert extract_choice(None) is None
    assert extract_choice(5) is None
    assert extract_choice(["Answer: C"]) is None
    assert extract_choice(b"Answer: D") == "D"
    assert extract_choice(bytearray(b"\xff\xfe Answer: E")) == "E"


def test_only_the_tail_is_scanned() -> None:
    head = "Answer: A\n" + "x" * (SCAN_CHARS + 10)
    assert extract_choice(head) is None
    assert extract_choice("y" * 10_000_000 + "\nAnswer: F") == "F"


def test_adversarial_inputs_stay_fast() -> None:
    adversarial = [
        "Answer: " * 1000,
        "\\boxed{" * 1000,
        "\\boxed{A}, " * 500,
        "(" * 5000,
        "**" * 3000,
        "A, " * 2000,
        "Answer:" + "\t" * 4000 + "C-",
        "Answer: " + "(" * 4000 + "A",
        "\\boxed{\\text{" * 400,
    ]
    started = time.perf_counter()
    for text in adversarial:
        extract_choice(text)
    # linear-time parsing does all of these in well under 100 ms; 2 s leaves CI headroom
    assert time.perf_counter() - started < 2.0


def test_normalize_letter() -> None:
    assert normalize_letter(" (c) ") == "C"
    assert normalize_letter("C.") == "C"
    assert normalize_letter(b"B") == "B"
    assert normalize_letter("CD") is None
    assert normalize_letter(3) is None
    assert normalize_letter(None) is None


def test_score_and_compute_score() -> None:
    assert score("Answer: C", "C") == 1.0
    assert score("Answer: C", "D") == 0.0
    assert score("Answer: C", "(c)") == 1.0
    assert score("Answer: C", None) == 0.0
    assert compute_score("goose/math", "so \\boxed{B}", "B") == 1.0
    assert compute_score("goose/math", "so \\boxed{B}", "C", {"split": "train"}) == 0.0
    # newer verl versions pass extra keyword arguments
    assert compute_score("goose/code", "Answer: A", "A", None, sandbox_fusion_url=None) == 1.0


def test_compute_score_reads_n_options_from_extra_info() -> None:
    assert compute_score("goose/cyber", "Answer: E", "E", {"n_options": 5}) == 1.0
    assert compute_score("goose/cyber", "Answer: F", "E", {"n_options": 5}) == 0.0
    # a ground truth beyond a stale n_options still scores: the bound widens to include it
    assert compute_score("goose/cyber", "Answer: K", "K", {"n_options": 9}) == 1.0


def test_reward_func_scores_the_response_not_the_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # force the list path: no torch import
    prompt = 'Options:\n(A) x\n(I) y\nGive your final answer in the form "Answer: X".\n'
    queries = [prompt + "Answer: A", prompt + "", prompt + "Answer: A"]
    result = reward_func(queries, [prompt] * 3, ["A", "I", "B"])
    assert result["rewards"] == [1.0, 0.0, 0.0]
    assert result["scores"] == result["rewards"]


def test_import_is_light() -> None:
    code = "import sys, goose_assets.reward; print(sorted({'dagster','torch','datasets'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- properties

letters_9 = st.sampled_from(LETTERS_9)
any_text = st.text(max_size=600)


@settings(max_examples=300, deadline=None)
@given(any_text, st.integers(min_value=-5, max_value=40))
def test_never_raises_and_stays_in_range(text: str, n_options: int) -> None:
    choice = extract_choice(text, n_options)
    bound = max(1, min(26, n_options))
    assert choice is None or (len(choice) == 1 and 0 <= ord(choice) - ord("A") < bound)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_never_raises_on_bytes(data: bytes) -> None:
    choice = extract_choice(data)
    assert choice is None or (isinstance(choice, str) and choice in LETTERS_9)
    reward = compute_score(None, data, "A", {"n_options": "nine"})
    assert type(reward) is float and reward in (0.0, 1.0)


@settings(max_examples=300, deadline=None)
@given(any_text)
def test_at_most_one_letter_scores(text: str) -> None:
    rewards = [score(text, letter) for letter in LETTERS_9]
    assert set(rewards) <= {0.0, 1.0}
    assert sum(rewards) <= 1.0


_FINAL_FORMS = ["\nAnswer: {}", "\n\\boxed{{{}}}", "\nThe answer is ({}).", "\n**Answer:** {}"]


@settings(max_examples=300, deadline=None)
@given(any_text, letters_9, st.sampled_from(_FINAL_FORMS), letters_9)
def test_final_answer_scores_one_only_for_its_letter(
    prefix: str, chosen: str, form: str, truth: str
) -> None:
    response = prefix + form.format(chosen)
    assert compute_score("goose/math", response, truth) == (1.0 if chosen == truth else 0.0)
