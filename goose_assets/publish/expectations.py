"""Great Expectations suite for the exported training table (issue 5, check 7).

The table has one row per task: task_id, domain, question, options (list of str) and answer
(a letter). GX validates columns, not nested lists, so a few derived columns are added to a
copy of the frame first (n_options, answer_position, ...), and the expectations run on
those. GX is imported lazily (about 3.5 s) inside an ephemeral context: nothing is written
to disk and analytics are off. This module does not use dagster-ge; the Dagster layer puts
`summary` into asset-check metadata.
"""

from __future__ import annotations

import json
import os
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from goose_assets.core.text import normalize_option
from goose_assets.publish.layout import GOOSEREASON_COLUMNS

REQUIRED_COLUMNS: tuple[str, ...] = ("task_id", "domain", "question", "options", "answer")
STRING_COLUMNS: tuple[str, ...] = ("task_id", "domain", "question", "answer")
SUITE_NAME = "goose_training_table"


def _as_list(value: Any) -> list[Any] | None:
    # parquet round-trips give numpy arrays; json gives lists
    if isinstance(value, list | tuple | np.ndarray):
        return list(value)
    return None


def _min_option_chars(options: list[Any] | None) -> int:
    if not options:
        return 0
    return min(len(o.strip()) if isinstance(o, str) else 0 for o in options)


def _answer_position(answer: Any) -> int:
    if isinstance(answer, str) and len(answer) == 1 and answer in string.ascii_uppercase:
        return string.ascii_uppercase.index(answer)
    return -1


def derive_columns(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of `table` with the columns the expectations check.

    - options_is_list, n_options, n_distinct_options (whitespace/case-insensitive),
      min_option_chars (0 when any option is empty or not a string);
    - answer_position (A=0, ..., -1 when not a single capital letter);
    - question_chars, task_id_chars, domain_chars (length after stripping).
    Missing source columns are skipped: their own existence expectation reports them.
    """
    df = table.copy()
    if "options" in df:
        lists = df["options"].map(_as_list)
        df["options_is_list"] = lists.map(lambda v: v is not None)
        df["n_options"] = lists.map(lambda v: len(v) if v is not None else 0)
        df["n_distinct_options"] = lists.map(
            lambda v: len({normalize_option(str(o)) for o in v}) if v is not None else 0
        )
        df["min_option_chars"] = lists.map(_min_option_chars)
    if "answer" in df:
        df["answer_position"] = df["answer"].map(_answer_position)
    for column in ("question", "task_id", "domain"):
        if column in df:
            df[f"{column}_chars"] = df[column].map(
                lambda v: len(v.strip()) if isinstance(v, str) else 0
            )
    return df


def build_expectations(
    n_options: int | None = 9,
    domains: Sequence[str] | None = None,
) -> list[Any]:
    """The expectation objects of the suite.

    `n_options`: the exact option count every row must have (None: any count 2..26).
    `domains`: the allowed domain names (None: any non-empty string).
    """
    import great_expectations.expectations as gxe

    max_options = n_options or 26
    letters = list(string.ascii_uppercase[:max_options])
    expectations: list[Any] = [gxe.ExpectColumnToExist(column=c) for c in REQUIRED_COLUMNS]
    expectations += [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in REQUIRED_COLUMNS]
    expectations += [
        gxe.ExpectColumnValuesToBeOfType(column=c, type_="str") for c in STRING_COLUMNS
    ]
    expectations += [
        gxe.ExpectColumnValuesToBeUnique(column="task_id"),
        gxe.ExpectColumnValuesToBeBetween(column="task_id_chars", min_value=1),
        gxe.ExpectColumnValuesToBeBetween(column="domain_chars", min_value=1),
        gxe.ExpectColumnValuesToBeBetween(column="question_chars", min_value=1),
        gxe.ExpectColumnValuesToBeInSet(column="options_is_list", value_set=[True]),
        gxe.ExpectColumnValuesToBeBetween(
            column="n_options",
            min_value=n_options if n_options is not None else 2,
            max_value=max_options,
        ),
        gxe.ExpectColumnPairValuesToBeEqual(column_A="n_options", column_B="n_distinct_options"),
        gxe.ExpectColumnValuesToBeBetween(column="min_option_chars", min_value=1),
        gxe.ExpectColumnValuesToBeInSet(column="answer", value_set=letters),
        # the letter must also name an option of *this* row (e.g. no "I" in a 5-option row)
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="n_options", column_B="answer_position"
        ),
    ]
    if domains is not None:
        expectations.append(
            gxe.ExpectColumnValuesToBeInSet(column="domain", value_set=list(domains))
        )
    return expectations


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _expectation_label(config: dict[str, Any]) -> str:
    kwargs = config.get("kwargs", {})
    target = kwargs.get("column") or "/".join(
        str(kwargs[k]) for k in ("column_A", "column_B") if k in kwargs
    )
    return f"{config.get('type', '?')}({target})"


def validate_training_table(
    table: pd.DataFrame,
    *,
    n_options: int | None = 9,
    domains: Sequence[str] | None = None,
    max_examples: int = 3,
) -> tuple[bool, dict[str, Any]]:
    """Run the suite on `table`; returns (success, summary).

    The summary is JSON-ready for Dagster metadata: n_rows, n_expectations, n_failed, and
    per expectation its success, unexpected count and a few unexpected values.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    # tqdm bars would flood Dagster's captured stderr
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_pandas(name="goose_exports")
    asset = source.add_dataframe_asset(name="training_table")
    batch = asset.add_batch_definition_whole_dataframe(name="whole_table")
    suite = context.suites.add(gx.ExpectationSuite(name=SUITE_NAME))
    for expectation in build_expectations(n_options=n_options, domains=domains):
        suite.add_expectation(expectation)
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{SUITE_NAME}_validation", data=batch, suite=suite)
    )
    result = validation.run(
        batch_parameters={"dataframe": derive_columns(table)},
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": max_examples},
    )
    rows: list[dict[str, Any]] = []
    for r in result.results:
        config = r.expectation_config.to_json_dict()
        info = r.result or {}
        exception = (r.exception_info or {}).get("exception_message")
        rows.append(
            {
                "expectation": _expectation_label(config),
                "success": bool(r.success),
                "unexpected_count": _jsonable(info.get("unexpected_count")),
                "unexpected_examples": _jsonable(
                    info.get("partial_unexpected_list", [])[:max_examples]
                ),
                **({"error": str(exception)[:200]} if exception else {}),
            }
        )
    summary = {
        "success": bool(result.success),
        "n_rows": int(len(table)),
        "n_expectations": len(rows),
        "n_failed": sum(not row["success"] for row in rows),
        "expectations": rows,
    }
    return bool(result.success), summary


def read_export_table(path: Path) -> pd.DataFrame:
    """``goosereason.jsonl`` as a pandas DataFrame (what Great Expectations validates).

    Every value keeps the type its JSON line gives it: a mistyped answer (``3``) or option
    stays mistyped, so the suite's type expectations can see it. (polars and DuckDB both
    cast such values to the column's string type, which would hide them: that is why this
    one read is plain ``json`` into pandas.) Lines are parsed one at a time, never the
    whole file as one string. An export of zero rows gives an empty table with the
    export's columns, which the suite checks like any other.
    """
    with open(path, encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines if line.strip()]
    if not records:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in GOOSEREASON_COLUMNS})
    return pd.DataFrame(records)


def validate_export(path: Path, **options: Any) -> tuple[bool, dict[str, Any]]:
    """The suite on an export file as written (read back apart from what wrote it)."""
    return validate_training_table(read_export_table(path), **options)
