"""An exported task's history, back to its raw_documents row, in one documented query."""

from __future__ import annotations

from typing import Any

# documented in the README ("Lineage"); `?` is the task id
LINEAGE_SQL = """
SELECT t.task_id, t.domain, t.answer_letter, t.options, t.question,
       f.kept, f.drop_reason, d.n_correct, d.n_rollouts, d.student, d.baseline_votes,
       m.item_id, m.answer, m.span_start, m.span_end, m.backend, m.model, m.prompt_version,
       p.passage_id, p.method AS passage_method, p.body_start, p.body_end,
       r.doc_id, r.source_id, r.source, r.license, r.title, r.url, r.source_path, r.content_sha256,
       (SELECT list(mix_name || ':' || split) FROM training_mix x WHERE x.task_id = t.task_id) AS mixes
FROM mcq_tasks t
JOIN masked_items m USING (item_id)
JOIN extracted_passages p ON p.passage_id = m.passage_id
JOIN raw_documents r ON r.doc_id = t.doc_id
LEFT JOIN filtered_tasks f ON f.task_id = t.task_id
LEFT JOIN task_difficulty d ON d.task_id = t.task_id
WHERE t.task_id = ?
"""


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
