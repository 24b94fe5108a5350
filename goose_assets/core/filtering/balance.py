"""Answer-letter balance: a chi-square goodness-of-fit test per partition (issue 5, check 6).

A shuffle that favours some letters teaches the policy a prior ("answer C when unsure")
instead of reasoning. The test compares the observed letter counts with what a uniform
shuffle would give. Tasks may have different option counts: a task with n options puts
1/n expected mass on each of its first n letters.
"""

from __future__ import annotations

import math
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scipy.stats import chisquare

LETTERS = string.ascii_uppercase
DEFAULT_ALPHA = 0.01


@dataclass(frozen=True, slots=True)
class LetterBalance:
    """Observed letter counts, the chi-square statistic and p-value, and the verdict."""

    histogram: dict[str, int]
    expected: dict[str, float]
    statistic: float | None
    p_value: float | None
    warn: bool
    n: int

    def to_metadata(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "histogram": self.histogram,
            "chi2": None if self.statistic is None else round(self.statistic, 4),
            "p_value": None if self.p_value is None else float(f"{self.p_value:.4g}"),
            "warn": self.warn,
        }


def letter_balance(
    letters: Sequence[str],
    n_options: int | Sequence[int] = 9,
    alpha: float = DEFAULT_ALPHA,
) -> LetterBalance:
    """Chi-square test of answer letters against a uniform shuffle.

    `n_options` is one count for all tasks or one per task (same order as `letters`).
    `warn` is True when p < alpha. With fewer than 2 tasks or only one possible letter
    there is nothing to test: statistic and p-value are None and `warn` is False.
    A letter outside the task's option range raises ValueError: that is a broken task,
    not an imbalance.
    """
    counts_per_task = [n_options] * len(letters) if isinstance(n_options, int) else list(n_options)
    if len(counts_per_task) != len(letters):
        raise ValueError("n_options must be an int or have one entry per letter")
    max_n = max(counts_per_task, default=0)
    expected = [0.0] * max_n
    for n in counts_per_task:
        for k in range(n):
            expected[k] += 1.0 / n
    observed = Counter(letters)
    for letter, n in zip(letters, counts_per_task, strict=True):
        if letter not in LETTERS[:n]:
            raise ValueError(f"answer letter {letter!r} is outside A..{LETTERS[n - 1]}")
    histogram = {LETTERS[k]: int(observed.get(LETTERS[k], 0)) for k in range(max_n)}
    expected_map = {LETTERS[k]: round(expected[k], 4) for k in range(max_n)}
    if len(letters) < 2 or max_n < 2:
        return LetterBalance(histogram, expected_map, None, None, False, len(letters))
    result = chisquare(list(histogram.values()), f_exp=expected)
    statistic = float(result.statistic)
    p_value = float(result.pvalue)
    warn = bool(not math.isnan(p_value) and p_value < alpha)
    return LetterBalance(histogram, expected_map, statistic, p_value, warn, len(letters))
