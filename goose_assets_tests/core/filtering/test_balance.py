from __future__ import annotations

import random

import pytest

from goose_assets.core.filtering.balance import letter_balance


def test_uniform_letters_do_not_warn() -> None:
    letters = [letter for letter in "ABCDEFGHI" for _ in range(50)]
    result = letter_balance(letters)
    assert result.histogram == {letter: 50 for letter in "ABCDEFGHI"}
    assert result.statistic == pytest.approx(0.0)
    assert result.p_value == pytest.approx(1.0)
    assert not result.warn


def test_seeded_shuffle_does_not_warn() -> None:
    rng = random.Random(7)
    result = letter_balance([rng.choice("ABCDEFGHI") for _ in range(900)])
    assert result.p_value is not None and result.p_value > 0.01
    assert not result.warn


def test_skewed_letters_warn() -> None:
    rng = random.Random(7)
    letters = ["A"] * 200 + [rng.choice("ABCDEFGHI") for _ in range(700)]
    result = letter_balance(letters)
    assert result.warn
    assert result.p_value is not None and result.p_value < 1e-10
    assert result.histogram["A"] > 200
    meta = result.to_metadata()
    assert meta["warn"] is True and meta["n"] == 900


def test_letters_never_used_count_as_zero() -> None:
    # a shuffle that never puts the answer at I is biased even if A..H look even
    letters = [letter for letter in "ABCDEFGH" for _ in range(60)]
    result = letter_balance(letters)
    assert result.histogram["I"] == 0
    assert result.warn


def test_mixed_option_counts_use_per_task_expectations() -> None:
    # 3-option tasks can only be A..C; 4-option tasks add D
    letters = list("ABC" * 40) + list("ABCD" * 30)
    counts = [3] * 120 + [4] * 120
    result = letter_balance(letters, counts)
    assert result.expected["D"] == pytest.approx(30.0)
    assert result.expected["A"] == pytest.approx(70.0)
    assert not result.warn


def test_letter_outside_the_option_range_raises() -> None:
    with pytest.raises(ValueError, match="outside"):
        letter_balance(["A", "J"], 9)


def test_too_few_tasks_is_not_testable() -> None:
    result = letter_balance(["A"])
    assert result.statistic is None and result.p_value is None
    assert not result.warn
    assert letter_balance([]).n == 0
