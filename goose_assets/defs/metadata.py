"""Materialization metadata: one helper per asset, and the pieces they share.

An asset body gathers what it wrote (a `Tally` fed while the rows stream to the warehouse)
and hands it here; what the UI shows for each asset is decided in this module only.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from goose_assets.core.ingest.readers import SourcePlan
from goose_assets.core.records import Passage, QuarantineRow

PREVIEW_ROWS = 3


def counts_md(counts: Iterable[tuple[str, int]] | Counter[str]) -> dg.MetadataValue:
    items = sorted(counts.items() if isinstance(counts, Counter) else counts, key=lambda kv: -kv[1])
    if not items:
        return dg.MetadataValue.md("_none_")
    return dg.MetadataValue.md("| reason | count |\n|---|---|\n" + "\n".join(f"| `{k}` | {v} |" for k, v in items))


def table_preview(rows: list[dict[str, Any]], columns: list[str], limit: int = PREVIEW_ROWS, width: int = 300) -> dg.MetadataValue:
    if not rows:
        return dg.MetadataValue.md("_no rows_")
    blocks = []
    for r in rows[:limit]:
        lines = []
        for c in columns:
            value = r.get(c)
            text = "\n".join(f"({chr(65 + i)}) {o}" for i, o in enumerate(value)) if isinstance(value, list) else str(value)
            text = text if len(text) <= width else text[:width] + " …"
            fenced = text.replace("```", "'''")
            lines.append(f"**{c}**\n\n```\n{fenced}\n```")
        blocks.append("\n\n".join(lines))
    return dg.MetadataValue.md("\n\n---\n\n".join(blocks))


@dataclass(slots=True)
class Tally:
    """What a streamed stage keeps beside the rows it writes: its quarantine rows, the
    first rows for the preview, and named counters."""

    quarantined: list[QuarantineRow] = field(default_factory=list)
    preview: list[dict[str, Any]] = field(default_factory=list)
    counters: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    rows_in: int = 0

    def rows(self, results: Iterable[Any], count: Callable[[Any], None] | None = None) -> Iterator[dict[str, Any]]:
        """The rows of `results` (records with `to_row`), quarantine rows put aside."""
        for result in results:
            if isinstance(result, QuarantineRow):
                self.quarantined.append(result)
                continue
            if count is not None:
                count(result)
            row = result.to_row()
            if len(self.preview) < PREVIEW_ROWS:
                self.preview.append(row)
            yield row

    def quarantine_rows(self) -> Iterator[dict[str, Any]]:
        return (q.to_row() for q in self.quarantined)

    def drop_reasons(self) -> dg.MetadataValue:
        return counts_md(Counter(q.reason for q in self.quarantined))


def raw_documents_metadata(written: int, tally: Tally, plan: SourcePlan, rows_per_source: Counter[str],
                           warning: str | None) -> dict[str, Any]:
    return {
        "rows_in": written + len(tally.quarantined),
        "rows_out": written,
        "quarantined": len(tally.quarantined),
        "drop_reasons": tally.drop_reasons(),
        "shapes": dict(tally.counters["shapes"]),
        "sources": [f"{s.kind}:{s.path} ({rows_per_source[s.path]} rows)" for s in plan.specs],
        "no_source": not plan.has_source,
        "looked_for": list(plan.looked_for),
        **({"warning": warning} if warning else {}),
        "preview": table_preview(tally.preview, ["source_id", "shape", "license", "title", "text"]),
        "dagster/row_count": written,
    }


@dataclass(slots=True)
class PassageTally(Tally):
    """A `Tally` that also keeps each passage's length and method, and web examples."""

    lengths: list[int] = field(default_factory=list)
    web_preview: list[dict[str, Any]] = field(default_factory=list)

    def count(self, passage: Passage) -> None:
        self.lengths.append(passage.word_count)
        self.counters["methods"][passage.method.split("(")[0]] += 1
        if passage.method != "passthrough":
            self.counters["web"]["passages"] += 1
            if len(self.web_preview) < PREVIEW_ROWS:
                self.web_preview.append(passage.to_row())


def extracted_passages_metadata(
    rows_in: int, written: int, tally: PassageTally, urls: Mapping[str, str], extra: Mapping[str, object]
) -> dict[str, Any]:
    lengths = tally.lengths
    buckets = Counter(f"{100 * (n // 100)}-{100 * (n // 100) + 99}" for n in lengths)
    return {
        "rows_in": rows_in,
        "rows_out": written,
        "web_pages_in": len(urls),
        "web_passages_out": tally.counters["web"]["passages"],
        "drop_reasons": tally.drop_reasons(),
        "methods": dict(tally.counters["methods"]),
        "passage_words_histogram": dict(sorted(buckets.items())),
        "passage_words_median": sorted(lengths)[len(lengths) // 2] if lengths else 0,
        "web_examples": table_preview([{**p, "url": urls.get(p["doc_id"], "")} for p in tally.web_preview], ["url", "method", "body"]),
        "preview": table_preview(tally.preview, ["doc_id", "shape", "method", "question", "body"]),
        "dagster/row_count": written,
        **extra,
    }


def masked_items_metadata(
    rows_in: int, written: int, tally: Tally, backend: Any, prompt_versions: set[str], synthesis_format: str,
    generation: Mapping[str, int],
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "rows_in": rows_in,
        "rows_out": written,
        "drop_reasons": tally.drop_reasons(),
        "backend": backend.name,
        "model": backend.model,
        "prompt_versions": sorted(prompt_versions),
        "synthesis_format": synthesis_format,
        **generation,
        "distractor_kinds": dict(tally.counters["distractor_kinds"]),
        "preview": table_preview(tally.preview, ["context_masked", "answer", "distractors"]),
        "dagster/row_count": written,
    }
    stats = getattr(backend, "stats", None)
    if callable(getattr(stats, "as_metadata", None)):
        metadata.update(stats.as_metadata())
    return metadata


def mcq_tasks_metadata(written: int, tally: Tally, n_leaking: int, selection: Any) -> dict[str, Any]:
    return {
        "rows_in": tally.rows_in,
        "rows_out": written,
        "drop_reasons": tally.drop_reasons(),
        "leaking": n_leaking,
        "answer_letters": dict(sorted(tally.counters["letters"].items())),
        "option_selection": selection.to_metadata(),
        "selection_auroc_before": selection.auroc_before,
        "selection_auroc_after": selection.auroc_after,
        "shown_option_kinds": dict(tally.counters["option_kinds"]),
        "preview": table_preview(tally.preview, ["question", "options", "answer_letter"], width=600),
        "dagster/row_count": written,
    }


def task_difficulty_metadata(written: int, student: str, effective_share: float, histogram: Counter[str],
                             gate: Mapping[str, Any], generation: Mapping[str, int]) -> dict[str, Any]:
    return {
        "rows_out": written,
        "student": student,
        "effective_share": round(effective_share, 4),
        "pass_rate_histogram": dict(sorted(histogram.items())),
        "baselines": dict(gate),
        "dagster/row_count": written,
        **generation,
    }


def filtered_tasks_metadata(rows: list[dict[str, Any]], written: int, reasons: Counter[str]) -> dict[str, Any]:
    kept = sum(1 for r in rows if r["kept"])
    return {
        "rows_in": len(rows),
        "kept": kept,
        "dropped": len(rows) - kept,
        "drop_reasons": counts_md(reasons),
        "dagster/row_count": written,
    }


def training_mix_metadata(
    written: int, mix_size: int, report: Mapping[str, Any], partition_report: Mapping[str, Any],
    warnings: list[str], gaps: Mapping[str, str], waiting: list[str], manifest: Any, preview: dg.MetadataValue,
    goosereason_file: str,
) -> dict[str, Any]:
    return {
        "rows_out": written,
        "mix_size": mix_size,
        "selection": report["selection"],
        "kept_left_out": report["left_out"],
        "partition_mix": dict(partition_report),
        "requested_vs_realized": report["domains"],
        "max_share_error_points": report["max_share_error_points"],
        "split": report["split"],
        "warnings": warnings,
        "domains_without_tasks": dict(gaps),
        "domains_not_mixed_yet": waiting,
        "export_dir": dg.MetadataValue.path(str(manifest.export_dir)),
        "export_rows": manifest.rows,
        "goosereason_jsonl": dg.MetadataValue.path(str(manifest.export_dir / goosereason_file)),
        "preview": preview,
        "dagster/row_count": written,
    }


def task_gallery_metadata(summary: Any, files: Any, sample: list[dict[str, Any]], sample_size: int) -> dict[str, Any]:
    return {
        "gallery": dg.MetadataValue.path(str(files.page)),
        "index": dg.MetadataValue.path(str(files.index)),
        "tasks": summary.n_tasks,
        "kept": summary.n_kept,
        "dropped": summary.n_dropped,
        "tasks_in_page": len(sample),
        "sample_size": sample_size,
        "page_bytes": files.page_bytes,
        "domains_in_index": list(files.domains_in_index),
        "preview": table_preview(sample, ["context_masked", "options", "answer_letter"]),
    }


def quality_report_metadata(summary: Any, paths: Any, gate: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "report": dg.MetadataValue.path(str(paths.markdown)),
        "plots": [str(p) for p in paths.plots],
        "baseline_accuracy": {k: round(v, 4) for k, v in summary.baseline_accuracy().items()},
        "chance": round(summary.chance, 4),
        "classifier_auroc": gate.get("classifier_auroc"),
        "selection": summary.selection,
        "stage_yield": summary.stage_counts,
        "report_markdown": dg.MetadataValue.md(paths.markdown.read_text(encoding="utf-8")[:20000]),
    }
