"""Synthetic warehouse rows for the task-gallery tests: a small domain whose first task comes
from a hostile web page, with kept and dropped tasks, difficulty, baseline votes and
quarantine rows. The same rows feed the core unit tests, the asset test (through a real
warehouse) and the browser test."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from goose_assets.publish.gallery import render as gallery
from goose_assets.storage.duckdb_warehouse import Warehouse

HOSTILE_SCRIPT = "<script>alert(1)</script>"
HOSTILE_IMG = '"><img src=x onerror=alert(1)>'
# also: a script-closing tag, an HTML comment opener, a JS line separator and entities
HOSTILE = f"{HOSTILE_SCRIPT} {HOSTILE_IMG} </script><!-- \u2028 &amp; &"
HOSTILE_REASON = f"leak{HOSTILE_IMG}"
DROP_REASONS = ("trivial", "leak", "duplicate_task")
LETTERS = "ABCDEFGHI"
TABLES = ("raw_documents", "extracted_passages", "masked_items", "mcq_tasks", "task_difficulty", "filtered_tasks")


@dataclass
class GalleryTables:
    domain: str
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {t: [] for t in TABLES})
    quarantine: list[dict[str, Any]] = field(default_factory=list)

    def by_task(self, table: str) -> dict[str, dict[str, Any]]:
        return {r["task_id"]: r for r in self.rows[table]}


# padding that brings a task to the size of a real one (about 4-5 kB with its document)
PAD_SENTENCE = "Each line follows from the one before it by the rules stated in the problem. "
PAD_CLAUSE = ", which holds because the same operation is applied to every term"


def _task_rows(domain: str, i: int, hostile: bool, realistic: bool = False) -> dict[str, dict[str, Any]]:
    clause = PAD_CLAUSE * 3 if realistic else ""
    answer = f"we add {i} to both sides, so x equals {i + 7}{clause}"
    pad = PAD_SENTENCE * 14 if realistic else ""
    prefix = f"Problem {i}: solve for x. {HOSTILE if hostile else ''} {pad}First we write the equation."
    text = f"{prefix} {answer}. Therefore the result checks out."
    doc_id, task_id = f"doc_{domain}_{i:05d}", f"task_{domain}_{i:05d}"
    answer_index = i % 9
    distractors = [f"we subtract {i + k} from both sides, so x equals {i - k}{clause}" for k in range(1, 9)]
    if hostile:
        distractors[0] = f"{HOSTILE_IMG} a hostile distractor"
    options = distractors[:answer_index] + [answer] + distractors[answer_index:]
    dropped = i % 3 == 1
    reason = (HOSTILE_REASON if hostile else DROP_REASONS[(i // 3) % len(DROP_REASONS)]) if dropped else None
    votes = {"longest": (i + 1) % 9, "shortest": (i + 2) % 9, "most_central": answer_index if i % 2 == 0 else (i + 3) % 9}
    return {
        "raw_documents": {
            "doc_id": doc_id, "domain": domain, "source_id": f"src-{i}", "source": "hostile web" if hostile else "sample",
            "license": f"CC-BY-4.0 {HOSTILE_SCRIPT}" if hostile else "CC-BY-4.0", "title": HOSTILE if hostile else f"Doc {i}",
            "text": text, "html": "", "shape": "passage", "url": f"https://example.org/{i}", "fetched_at": "",
            "content_sha256": "0" * 64, "source_path": "fixture.jsonl",
        },
        "extracted_passages": {
            "passage_id": f"passage_{domain}_{i:05d}", "doc_id": doc_id, "domain": domain, "shape": "passage",
            "question": "", "body": text, "body_start": 0, "body_end": len(text), "method": "passthrough",
            "word_count": len(text.split()),
        },
        "masked_items": {
            "item_id": f"item_{domain}_{i:05d}", "doc_id": doc_id, "passage_id": f"passage_{domain}_{i:05d}",
            "domain": domain, "shape": "passage", "question": "", "context_masked": text.replace(answer, "[MASK]"),
            "answer": answer, "distractors": distractors, "distractor_kinds": ["mutation"] * 8,
            "span_start": len(prefix) + 1, "span_end": len(prefix) + 1 + len(answer), "backend": "offline",
            "model": "rule-based-v1", "prompt_version": "synthesize_passage@1",
        },
        "mcq_tasks": {
            "task_id": task_id, "item_id": f"item_{domain}_{i:05d}", "doc_id": doc_id, "domain": domain,
            "shape": "passage", "question": "Fill in [MASK].", "options": options,
            "answer_letter": LETTERS[answer_index], "answer_index": answer_index,
            "context_masked": text.replace(answer, "[MASK]"), "leak_reasons": [],
        },
        "task_difficulty": {
            "task_id": task_id, "domain": domain, "student": "baseline-ensemble", "n_rollouts": 4,
            "n_correct": i % 5, "pass_rate": (i % 5) / 4, "baseline_votes": json.dumps(votes),
            "baselines_correct": sum(v == answer_index for v in votes.values()), "n_baselines": 3, "trivial": False,
        },
        "filtered_tasks": {
            "task_id": task_id, "domain": domain, "kept": not dropped, "drop_reason": reason,
            "detail": f"detail {HOSTILE}" if hostile and dropped else ("" if not dropped else f"detail {i}"),
        },
    }


def build_tables(
    domain: str = "cyber", n_tasks: int = 12, hostile_task: int | None = 1, realistic: bool = False
) -> GalleryTables:
    """`n_tasks` tasks, every third one (i % 3 == 1) dropped; task `hostile_task` comes
    from a hostile page (its reason, detail, licence, title, text and a distractor). Two
    extra documents never became tasks: they sit in quarantine. `realistic` pads texts to
    the size of tasks from the sample corpus, for page-size and speed measurements."""
    tables = GalleryTables(domain)
    for i in range(n_tasks):
        for table, row in _task_rows(domain, i, hostile=i == hostile_task, realistic=realistic).items():
            tables.rows[table].append(row)
    for j, (stage, reason) in enumerate((("extract", "non_english"), ("synthesis", "too_few_distractors"))):
        doc = dict(_task_rows(domain, n_tasks + j, hostile=False)["raw_documents"])
        tables.rows["raw_documents"].append(doc)
        if stage == "synthesis":
            tables.rows["extracted_passages"].append(_task_rows(domain, n_tasks + j, hostile=False)["extracted_passages"])
        tables.quarantine.append({"stage": stage, "domain": domain, "ref_id": doc["doc_id"], "reason": reason,
                                  "detail": "", "raw": ""})
    return tables


def joined_task_rows(tables: GalleryTables) -> list[dict[str, Any]]:
    """The rows the asset's sample query returns (mcq_tasks joined with its lineage)."""
    items = {r["item_id"]: r for r in tables.rows["masked_items"]}
    difficulty, filtered = tables.by_task("task_difficulty"), tables.by_task("filtered_tasks")
    joined = []
    for t in tables.rows["mcq_tasks"]:
        m, d, f = items[t["item_id"]], difficulty[t["task_id"]], filtered[t["task_id"]]
        joined.append({
            **{k: t[k] for k in ("task_id", "doc_id", "shape", "context_masked", "options", "answer_letter", "answer_index")},
            **{k: m[k] for k in ("backend", "model", "prompt_version")},
            **{k: d[k] for k in ("student", "n_correct", "n_rollouts", "baseline_votes")},
            **{k: f[k] for k in ("kept", "drop_reason", "detail")},
        })
    return joined


def stat_rows(tables: GalleryTables) -> list[dict[str, Any]]:
    return [
        {"answer_letter": r["answer_letter"], "answer_index": r["answer_index"], "n_options": len(r["options"]),
         "baseline_votes": r["baseline_votes"], "n_correct": r["n_correct"], "n_rollouts": r["n_rollouts"],
         "kept": r["kept"], "drop_reason": r["drop_reason"]}
        for r in joined_task_rows(tables)
    ]


def stage_counts(tables: GalleryTables) -> dict[str, int]:
    return {
        "documents": len(tables.rows["raw_documents"]), "passages": len(tables.rows["extracted_passages"]),
        "items": len(tables.rows["masked_items"]), "tasks": len(tables.rows["mcq_tasks"]),
        "kept": sum(r["kept"] for r in tables.rows["filtered_tasks"]),
    }


def quarantine_counts(tables: GalleryTables) -> list[dict[str, Any]]:
    return [{"stage": q["stage"], "reason": q["reason"], "n": 1} for q in tables.quarantine]


def render_page(tables: GalleryTables, sample_size: int = gallery.DEFAULT_SAMPLE_SIZE, page_size: int = 50) -> tuple[gallery.GallerySummary, str]:
    """Summary and page HTML straight from the core functions (no warehouse)."""
    summary = gallery.summarize(tables.domain, stage_counts(tables), stat_rows(tables),
                                quarantine_counts(tables), sample_size=sample_size)
    tasks = [gallery.task_record(r) for r in joined_task_rows(tables)[:sample_size]]
    wanted = {t["doc"] for t in tasks}
    docs = {d["doc_id"]: gallery.document_record(d) for d in tables.rows["raw_documents"] if d["doc_id"] in wanted}
    return summary, gallery.render_domain_page(summary, tasks, docs, page_size=page_size)


def fill_warehouse(wh: Warehouse, tables: GalleryTables) -> None:
    for table in TABLES:
        wh.replace_partition(table, tables.domain, tables.rows[table])
    wh.replace_quarantine("extract", tables.domain, [q for q in tables.quarantine if q["stage"] == "extract"])
    wh.replace_quarantine("synthesis", tables.domain, [q for q in tables.quarantine if q["stage"] == "synthesis"])
