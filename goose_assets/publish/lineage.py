"""An exported task's history as text, one line per stage (`goose lineage`); the query
that reads it is `storage.queries.LINEAGE_SQL`."""

from __future__ import annotations

from typing import Any


def format_lineage(row: dict[str, Any]) -> str:
    steps = [
        ("raw_documents", f"{row['doc_id']}  source_id={row['source_id']}  source={row['source']}  "
                          f"license={row['license']}  path={row['source_path']}  url={row['url']}  sha256={row['content_sha256'][:16]}…"),
        ("extracted_passages", f"{row['passage_id']}  method={row['passage_method']}  offsets={row['body_start']}..{row['body_end']}"),
        ("masked_items", f"{row['item_id']}  backend={row['backend']}  model={row['model']}  "
                         f"prompt={row['prompt_version']}  span={row['span_start']}..{row['span_end']}"),
        ("mcq_tasks", f"{row['task_id']}  answer={row['answer_letter']}  options={len(row['options'])}"),
        ("task_difficulty", f"student={row['student']}  {row['n_correct']}/{row['n_rollouts']} correct  votes={row['baseline_votes']}"),
        ("filtered_tasks", "kept" if row["kept"] else f"dropped: {row['drop_reason']}"),
        ("training_mix", ", ".join(row["mixes"] or []) or "not in any mix"),
    ]
    lines = [f"{name:>20}  {text}" for name, text in steps]
    lines.append(f"{'answer':>20}  {row['answer'][:200]!r}")
    return "\n".join(lines)
