from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from goose_assets.publish.expectations import derive_columns, validate_training_table


def _rows(n: int = 30) -> list[dict[str, Any]]:
    return [
        {
            "task_id": f"task_{i}",
            "domain": ["math", "code", "science"][i % 3],
            "question": f"Fill in the blank.\n\nContext {i} [MASK] end.",
            "options": [f"option {k} for task {i}" for k in range(9)],
            "answer": "ABCDEFGHI"[i % 9],
        }
        for i in range(n)
    ]


def _failed(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["expectation"]: e for e in summary["expectations"] if not e["success"]}


@pytest.fixture(scope="module")
def broken_summary() -> dict[str, Any]:
    rows = _rows()
    rows[1]["answer"] = "J"  # outside A..I
    rows[2]["options"] = rows[2]["options"][:5]  # wrong count ...
    rows[2]["answer"] = "H"  # ... and a letter with no option behind it
    rows[3]["task_id"] = "task_4"  # duplicate id
    rows[5]["options"][2] = "   "  # empty option
    rows[6]["question"] = ""  # empty question
    rows[7]["options"][1] = rows[7]["options"][0].upper()  # duplicate option (case)
    ok, summary = validate_training_table(pd.DataFrame(rows), domains=["math", "code", "science"])
    assert not ok
    return summary


def test_valid_table_passes() -> None:
    ok, summary = validate_training_table(
        pd.DataFrame(_rows()), domains=["math", "code", "science"]
    )
    assert ok, _failed(summary)
    assert summary["success"] is True
    assert summary["n_rows"] == 30
    assert summary["n_failed"] == 0
    assert summary["n_expectations"] >= 15
    json.dumps(summary)


def test_each_broken_rule_is_reported(broken_summary: dict[str, Any]) -> None:
    failed = _failed(broken_summary)
    assert failed["expect_column_values_to_be_unique(task_id)"]["unexpected_count"] == 2
    assert failed["expect_column_values_to_be_in_set(answer)"]["unexpected_examples"] == ["J"]
    assert failed["expect_column_values_to_be_between(n_options)"]["unexpected_count"] == 1
    assert failed["expect_column_values_to_be_between(min_option_chars)"]["unexpected_count"] == 1
    assert failed["expect_column_values_to_be_between(question_chars)"]["unexpected_count"] == 1
    assert "expect_column_pair_values_to_be_equal(n_options/n_distinct_options)" in failed
    # row 1 ("J" of 9) and row 2 ("H" of 5): the letter names no option of its row
    pair = failed["expect_column_pair_values_a_to_be_greater_than_b(n_options/answer_position)"]
    assert pair["unexpected_count"] == 2
    assert "expect_column_values_to_be_in_set(domain)" not in failed
    json.dumps(broken_summary)


def test_missing_column_fails() -> None:
    ok, summary = validate_training_table(pd.DataFrame(_rows(5)).drop(columns=["answer"]))
    assert not ok
    assert "expect_column_to_exist(answer)" in _failed(summary)


def test_derived_columns_accept_numpy_option_arrays() -> None:
    # a parquet round trip turns option lists into numpy arrays
    table = pd.DataFrame(_rows(3))
    table["options"] = table["options"].map(np.array)
    derived = derive_columns(table)
    assert derived["options_is_list"].all()
    assert derived["n_options"].tolist() == [9, 9, 9]
    assert derived["answer_position"].tolist() == [0, 1, 2]
    assert "n_options" not in table  # the caller's frame is not modified
