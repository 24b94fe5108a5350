"""The task gallery (issue 11): a static, self-contained HTML page per domain plus an index.

Curators want to *look* at generated tasks before training on them. Each page holds a
summary header (yield per stage, drop reasons, the answer-letter histogram, baseline
accuracies against chance, the difficulty histogram) drawn as inline SVG here in Python,
and a browsable sample of tasks rendered in the browser from an embedded JSON blob.

Web scrapes are hostile input, so the page is built in two safe halves:
- server-side text goes through `html.escape`;
- task data is embedded as JSON inside `<script type="application/json">`, with `<`, `>`,
  `&`, U+2028/2029 and lone surrogates escaped as `\\uXXXX`, so no document text can close
  the script element; the page's script builds the DOM with `textContent` only.
A Content Security Policy allows that one script (by hash) and forbids every network
request, so even a missed escape could neither run code nor phone home.

Inputs are plain rows (dicts) as the warehouse returns them; this module never imports
Dagster and never touches the warehouse. Files are written atomically (temp + rename).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from goose_assets.core.records import DOMAINS
from goose_assets.publish.atomic_io import atomic_write_bytes

DEFAULT_SAMPLE_SIZE = 2000
DEFAULT_PAGE_SIZE = 50
PAGE_SIZES = (25, 50, 100, 200)
# a web page's raw HTML can be megabytes; the gallery is for reading, not archiving
DEFAULT_MAX_SOURCE_CHARS = 20_000
STAGES = ("documents", "passages", "items", "tasks", "kept")
# the triviality gate fails a baseline above chance + this margin (pipeline/filtering/baselines.py)
GATE_MARGIN = 0.10
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SUMMARY_SUFFIX = ".summary.json"

_SCRIPT_UNSAFE = re.compile("[<>&\u2028\u2029\ud800-\udfff]")
# The page's stylesheet and script are their own files beside this module (gallery.css,
# gallery.js), inlined into every page. The script reads the task data from the page's
# `<script type="application/json">` blob and builds every task card with `textContent` and
# `createElement`: it never assigns data to `innerHTML`, so document-derived text cannot
# become markup. The page's Content Security Policy allows exactly this script (by its
# hash) and no network access at all.
GALLERY_CSS = resources.files(__package__).joinpath("gallery.css").read_text(encoding="utf-8")
GALLERY_JS = resources.files(__package__).joinpath("gallery.js").read_text(encoding="utf-8")
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(GALLERY_JS.encode()).digest()).decode()
_PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    f"script-src 'sha256-{_SCRIPT_HASH}'; base-uri 'none'; form-action 'none'"
)
_INDEX_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


# --- summary -------------------------------------------------------------------------


@dataclass(slots=True)
class GallerySummary:
    """Everything the summary header shows, computed over ALL of a domain's tasks (the
    task list below it may be a sample)."""

    domain: str
    stage_counts: dict[str, int]
    n_tasks: int
    n_kept: int
    n_dropped: int
    n_unscreened: int
    drop_reasons: dict[str, int]
    answer_letters: dict[str, int]
    baseline_hits: dict[str, list[int]]  # baseline -> [picked the answer, voted]
    chance: float
    difficulty: dict[str, int]  # "n_correct/n" -> tasks
    quarantine: dict[str, int]  # "stage: reason" -> rows
    sample_size: int
    n_sampled: int = 0
    page_bytes: int = 0
    # option selection (core.synthesis.selection) over the domain: AUROC before and after, rounds...
    selection: dict[str, Any] = field(default_factory=dict)

    def baseline_accuracy(self) -> dict[str, float]:
        return {name: hit / voted for name, (hit, voted) in self.baseline_hits.items() if voted}

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, indent=1)


def parse_votes(raw: str | Mapping[str, int] | None) -> dict[str, int]:
    """task_difficulty.baseline_votes: a JSON object of baseline -> picked option index."""
    if raw is None or raw == "":
        return {}
    votes = json.loads(raw) if isinstance(raw, str) else raw
    return {str(k): int(v) for k, v in votes.items() if v is not None}


def selection_summary(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """`option_selection` rows of a domain (one per partition: the domain, or each shard)
    as one: AUROCs and pool size weighted by items, the most rounds, replaced options and
    surface-solvable items summed."""
    rows = [r for r in rows if r.get("n_items")]
    if not rows:
        return {}
    n = sum(int(r["n_items"]) for r in rows)

    def weighted(key: str) -> float | None:
        pairs = [(float(r[key]), int(r["n_items"])) for r in rows if r.get(key) is not None]
        return round(sum(v * w for v, w in pairs) / sum(w for _, w in pairs), 4) if pairs else None

    return {
        "items": n, "partitions": len(rows), "auroc_before": weighted("auroc_before"),
        "auroc_after": weighted("auroc_after"), "rounds": max(int(r.get("rounds") or 0) for r in rows),
        "pool_mean": weighted("pool_mean"), "options_replaced": sum(int(r.get("options_replaced") or 0) for r in rows),
        "surface_solvable": sum(int(r.get("surface_solvable") or 0) for r in rows),
        "discriminator": str(rows[0].get("discriminator") or ""),
    }


def summarize(
    domain: str,
    stage_counts: Mapping[str, int],
    stat_rows: Iterable[Mapping[str, Any]],
    quarantine_rows: Iterable[Mapping[str, Any]] = (),
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    selection_rows: Iterable[Mapping[str, Any]] = (),
) -> GallerySummary:
    """Summarize every task of a domain. A stat row carries answer_letter, answer_index,
    n_options, baseline_votes, n_correct, n_rollouts, kept and drop_reason; a quarantine
    row carries stage, reason and n (rows quarantined for that reason); a selection row is
    one partition's `option_selection` row."""
    letters: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    difficulty: Counter[str] = Counter()
    hits: dict[str, list[int]] = {}
    status: Counter[str] = Counter()
    max_options, inverse_options_sum, voted_tasks = 0, 0.0, 0
    for row in stat_rows:
        letters[row["answer_letter"]] += 1
        max_options = max(max_options, int(row["n_options"]))
        status[_status(row.get("kept"))] += 1
        if row.get("kept") is False:
            reasons[row.get("drop_reason") or "unspecified"] += 1
        if row.get("n_rollouts"):
            difficulty[f"{row['n_correct']}/{row['n_rollouts']}"] += 1
        votes = parse_votes(row.get("baseline_votes"))
        if votes:
            voted_tasks += 1
            inverse_options_sum += 1 / int(row["n_options"])
        for name, pick in votes.items():
            tally = hits.setdefault(name, [0, 0])
            tally[0] += pick == row["answer_index"]
            tally[1] += 1
    counts = {stage: int(stage_counts.get(stage, 0)) for stage in STAGES}
    return GallerySummary(
        domain=domain,
        stage_counts=counts,
        n_tasks=sum(status.values()),
        n_kept=status["kept"],
        n_dropped=status["dropped"],
        n_unscreened=status["unscreened"],
        drop_reasons=dict(reasons.most_common()),
        answer_letters={letter: letters.get(letter, 0) for letter in LETTERS[:max_options]},
        baseline_hits=dict(sorted(hits.items())),
        chance=inverse_options_sum / voted_tasks if voted_tasks else 0.0,
        difficulty=dict(sorted(difficulty.items(), key=lambda kv: _fraction(kv[0]))),
        quarantine=_quarantine_counts(quarantine_rows),
        sample_size=sample_size,
        selection=selection_summary(selection_rows),
    )


def _quarantine_counts(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for q in rows:
        counts[f"{q['stage']}: {q['reason']}"] += int(q.get("n", 1))
    return dict(counts.most_common())


def _status(kept: bool | None) -> str:
    return "unscreened" if kept is None else ("kept" if kept else "dropped")


def _fraction(label: str) -> tuple[float, int]:
    correct, n = (int(x) for x in label.split("/"))
    return (correct / n if n else 0.0, n)


# --- task data for the browser -----------------------------------------------------------


def task_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """One task as the page's script reads it (short keys: 10,000 of them ship per page)."""
    return {
        "id": row["task_id"],
        "doc": row.get("doc_id") or "",
        "shape": row.get("shape") or "",
        "ctx": row.get("context_masked") or "",
        "opts": list(row["options"]),
        "ans": int(row["answer_index"]),
        "kept": row.get("kept"),
        "reason": row.get("drop_reason") or "",
        "detail": row.get("detail") or "",
        "nc": row.get("n_correct") or 0,
        "n": row.get("n_rollouts") or 0,
        "student": row.get("student") or "",
        "votes": parse_votes(row.get("baseline_votes")),
        "backend": row.get("backend") or "unknown",
        "model": row.get("model") or "unknown",
        "prompt": row.get("prompt_version") or "unknown",
    }


def document_record(row: Mapping[str, Any], max_chars: int = DEFAULT_MAX_SOURCE_CHARS) -> dict[str, Any]:
    """A source document: its text (the raw HTML for web pages) capped at `max_chars`."""
    text = row.get("text") or row.get("html") or ""
    length = int(row.get("text_length") or len(text))
    shown = text[:max_chars]
    return {
        "license": row.get("license") or "",
        "source": row.get("source") or "",
        "title": row.get("title") or "",
        "url": row.get("url") or "",
        "text": shown,
        "length": length,
        "truncated": length > len(shown),
    }


def script_json(data: Any) -> str:
    """JSON that is safe inside a <script> element: nothing in it can end the element
    (`</script>`, `<!--`), start markup, or break a JS parser (U+2028/2029). Lone
    surrogates become escapes too, so the page stays valid UTF-8."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _SCRIPT_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# --- inline SVG charts -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    text: str
    css: str = ""


@dataclass(frozen=True, slots=True)
class Marker:
    value: float
    label: str
    css: str = ""
    anchor: str = "middle"  # SVG text-anchor: neighbouring markers put labels on opposite sides


def hbar_chart(
    bars: Sequence[Bar], scale_max: float, markers: Sequence[Marker] = (), title: str = "",
    width: int = 400, label_width: int = 110, value_width: int = 100, row_height: int = 20,
) -> str:
    """A horizontal bar chart as an inline SVG string; every text is escaped."""
    top = 16 if markers else 2
    plot = width - label_width - value_width
    height = top + row_height * max(len(bars), 1) + 4

    def x(value: float) -> float:
        return label_width + plot * (min(max(value, 0.0), scale_max) / scale_max if scale_max > 0 else 0.0)

    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">']
    if title:
        parts.append(f"<title>{_e(title)}</title>")
    for i, bar in enumerate(bars):
        y = top + i * row_height
        label = bar.label if len(bar.label) <= 20 else bar.label[:19] + "…"
        parts.append(
            f'<g><title>{_e(bar.label)}: {_e(bar.text)}</title>'
            f'<text class="label" x="{label_width - 6}" y="{y + row_height * 0.68:.1f}" text-anchor="end">{_e(label)}</text>'
            f'<rect class="bar {_e(bar.css)}" x="{label_width}" y="{y + 3}" width="{x(bar.value) - label_width:.1f}" height="{row_height - 6}" rx="2"/>'
            f'<text class="value" x="{x(bar.value) + 4:.1f}" y="{y + row_height * 0.68:.1f}">{_e(bar.text)}</text></g>'
        )
    for marker in markers:
        mx = x(marker.value)
        nudge = {"start": 3, "end": -3}.get(marker.anchor, 0)
        parts.append(
            f'<line class="marker {_e(marker.css)}" x1="{mx:.1f}" x2="{mx:.1f}" y1="{top - 2}" y2="{height - 2}"/>'
            f'<text class="marker-label" x="{mx + nudge:.1f}" y="11" text-anchor="{_e(marker.anchor)}">{_e(marker.label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "–"


def yield_chart(summary: GallerySummary) -> str:
    documents = summary.stage_counts["documents"]
    bars = [
        Bar(stage, n, f"{n:,} ({_pct(n, documents)})", "kept" if stage == "kept" else "")
        for stage, n in summary.stage_counts.items()
    ]
    return hbar_chart(bars, max(summary.stage_counts.values(), default=0), title="Yield per stage")


def drop_reason_chart(summary: GallerySummary) -> str:
    if not summary.drop_reasons:
        return '<p class="note">No task was dropped.</p>'
    bars = [Bar(r, n, f"{n:,} ({_pct(n, summary.n_tasks)})", "warn") for r, n in summary.drop_reasons.items()]
    return hbar_chart(bars, max(summary.drop_reasons.values()), title="Drop reasons")


def letter_chart(summary: GallerySummary) -> str:
    letters = summary.answer_letters
    if not letters:
        return '<p class="note">No tasks.</p>'
    uniform = summary.n_tasks / len(letters)
    bars = [Bar(f"({letter})", n, f"{n:,} ({_pct(n, summary.n_tasks)})") for letter, n in letters.items()]
    scale = max(max(letters.values()), uniform) * 1.05
    return hbar_chart(bars, scale, [Marker(uniform, "uniform")], title="Answer letters", label_width=50)


def baseline_chart(summary: GallerySummary) -> str:
    accuracy = summary.baseline_accuracy()
    if not accuracy:
        return '<p class="note">No baseline votes recorded.</p>'
    gate = summary.chance + GATE_MARGIN
    bars = [
        Bar(name, acc, f"{acc:.1%} of {summary.baseline_hits[name][1]:,}", "warn" if acc > gate else "")
        for name, acc in accuracy.items()
    ]
    scale = max(max(accuracy.values()), gate) * 1.1
    markers = [Marker(summary.chance, f"chance {summary.chance:.0%}", anchor="end"),
               Marker(gate, f"gate {gate:.0%}", "gate", anchor="start")]
    return hbar_chart(bars, scale, markers, title="Baseline accuracy vs chance")


def difficulty_chart(summary: GallerySummary) -> str:
    if not summary.difficulty:
        return '<p class="note">No difficulty measured.</p>'
    bars = [Bar(label, n, f"{n:,} ({_pct(n, summary.n_tasks)})") for label, n in summary.difficulty.items()]
    return hbar_chart(bars, max(summary.difficulty.values()), title="Difficulty (n_correct/n)", label_width=60)


def _table(rows: Iterable[tuple[str, object]], header: tuple[str, str]) -> str:
    body = "".join(f'<tr><td>{_e(k)}</td><td class="num">{_e(_num(v))}</td></tr>' for k, v in rows)
    return f'<table><tr><th>{_e(header[0])}</th><th class="num">{_e(header[1])}</th></tr>{body}</table>'


def _num(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def summary_html(summary: GallerySummary) -> str:
    counts = [("tasks", summary.n_tasks), ("kept", summary.n_kept), ("dropped", summary.n_dropped)]
    if summary.n_unscreened:
        counts.append(("not screened yet", summary.n_unscreened))
    quarantine = (
        _table(summary.quarantine.items(), ("stage: reason", "rows")) if summary.quarantine
        else '<p class="note">Nothing quarantined.</p>'
    )
    panels = [
        ("Yield per stage", yield_chart(summary) + _table(counts, ("status", "tasks"))),
        ("Drop reasons", drop_reason_chart(summary) + "<h2>Quarantined before tasks</h2>" + quarantine),
        ("Answer-letter histogram", letter_chart(summary)),
        ("Baseline accuracy vs chance", baseline_chart(summary)
         + f'<p class="note">Chance {summary.chance:.1%}; the triviality gate fails a baseline above chance + {GATE_MARGIN:.0%}.</p>'),
        ("Option selection", selection_html(summary.selection)),
        ("Difficulty", difficulty_chart(summary)),
    ]
    body = "".join(f'<div class="panel"><h2>{_e(title)}</h2>{content}</div>' for title, content in panels)
    return f'<section class="summary" id="summary">{body}</section>'


def selection_html(selection: Mapping[str, Any]) -> str:
    """What option selection did: the discriminator's AUROC before and after, and how."""
    if not selection:
        return '<p class="note">No option selection recorded for this domain.</p>'

    def auroc(value: Any) -> str:
        return "n/a" if value is None else f"{float(value):.3f}"

    rows = [
        ("AUROC before (the generator's first 8)", auroc(selection.get("auroc_before"))),
        ("AUROC after", auroc(selection.get("auroc_after"))),
        ("rounds", selection.get("rounds")),
        ("candidates per item (mean)", selection.get("pool_mean")),
        ("options replaced", selection.get("options_replaced")),
        ("items set aside as surface-solvable (AFLite)", selection.get("surface_solvable", 0)),
        ("discriminator", selection.get("discriminator")),
    ]
    return _table(rows, ("option selection", "value")) + (
        '<p class="note">AUROC of a cross-fitted discriminator telling the answer from the distractors '
        "(0.5: it cannot); every item is scored by a model not trained on it.</p>")


# --- pages ---------------------------------------------------------------------------------


def _head(title: str, csp: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{_e(title)}</title><style>{GALLERY_CSS}</style></head>"
    )


def _nav(domains: Sequence[str], current: str) -> str:
    links = ['<a href="index.html">index</a>']
    for d in domains:
        css = ' class="current"' if d == current else ""
        links.append(f'<a{css} href="{_e(_page_name(d))}">{_e(d)}</a>')
    return f"<nav>{''.join(links)}</nav>"


def _page_name(domain: str) -> str:
    # domains come from the partition definition; the name still must not escape the folder
    if not re.fullmatch(r"[A-Za-z0-9_-]+", domain):
        raise ValueError(f"unsafe domain name for a file: {domain!r}")
    return f"{domain}.html"


def _sample_note(summary: GallerySummary) -> str:
    if summary.n_sampled < summary.n_tasks:
        text = (f"Showing a deterministic sample of {summary.n_sampled:,} of {summary.n_tasks:,} tasks "
                f"(sample size {summary.sample_size:,}; raise task_gallery's sample_size config to see more). "
                "The summary above covers every task.")
    else:
        text = f"Showing all {summary.n_tasks:,} tasks (sample size {summary.sample_size:,})."
    return f'<p class="sample-note" id="sample-note" data-sample-size="{summary.sample_size}">{_e(text)}</p>'


def _controls(tasks: Sequence[Mapping[str, Any]], page_size: int) -> str:
    status = Counter(_status(t["kept"]) for t in tasks)
    reasons = Counter(t["reason"] for t in tasks if t["kept"] is False)
    buttons = [("all", f"All ({len(tasks):,})"), ("kept", f"Kept ({status['kept']:,})"),
               ("dropped", f"Dropped ({status['dropped']:,})")]
    if status["unscreened"]:
        buttons.append(("unscreened", f"Not screened ({status['unscreened']:,})"))
    seg = "".join(
        f'<button type="button" data-status="{s}" aria-pressed="{str(s == "all").lower()}">{_e(label)}</button>'
        for s, label in buttons
    )
    reason_options = '<option value="">any</option>' + "".join(
        f'<option value="{_e(r)}">{_e(r)} ({n:,})</option>' for r, n in sorted(reasons.items())
    )
    sizes = "".join(
        f'<option value="{n}"{" selected" if n == page_size else ""}>{n}</option>'
        for n in sorted({*PAGE_SIZES, page_size})
    )
    return (
        '<div class="controls" id="controls">'
        f'<div class="seg" id="status-filter" role="group" aria-label="kept or dropped">{seg}</div>'
        f'<label>drop reason <select id="reason-filter">{reason_options}</select></label>'
        '<label>search <input type="search" id="search" placeholder="text, task id, doc id…"></label>'
        '<label>sort <select id="sort"><option value="order">task id</option>'
        '<option value="hardest">hardest first</option><option value="easiest">easiest first</option></select></label>'
        '<label><input type="checkbox" id="reveal-all"> reveal all answers</label>'
        '<span class="count" id="match-count" aria-live="polite"></span>'
        '<span class="pager"><button type="button" id="prev-page">‹ prev</button>'
        '<span id="page-info" class="note"></span><button type="button" id="next-page">next ›</button>'
        f'<label>per page <select id="page-size">{sizes}</select></label></span>'
        "</div>"
    )


def render_domain_page(
    summary: GallerySummary,
    tasks: Sequence[Mapping[str, Any]],
    documents: Mapping[str, Mapping[str, Any]],
    domains: Sequence[str] = DOMAINS,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> str:
    """One domain's gallery. `tasks` are `task_record`s (already sampled), `documents`
    maps doc id -> `document_record`. Records the number of tasks shown in `summary`, so
    the index and the page agree."""
    summary.n_sampled = len(tasks)
    data = {"domain": summary.domain, "page_size": page_size, "tasks": list(tasks), "docs": dict(documents)}
    title = f"Task gallery: {summary.domain}"
    return (
        _head(title, _PAGE_CSP)
        + f'<body><header class="page"><h1>{_e(title)}</h1>{_nav(domains, summary.domain)}'
        '<span class="note">Golden Goose fill-in-the-middle tasks; answers are hidden until revealed.</span></header>'
        f"<main>{summary_html(summary)}{_sample_note(summary)}{_controls(tasks, page_size)}"
        '<noscript><p class="empty">The task list needs JavaScript; the summary above does not.</p></noscript>'
        '<div id="tasks"></div></main>'
        f'<script type="application/json" id="gallery-data">{script_json(data)}</script>'
        f"<script>{GALLERY_JS}</script></body></html>\n"
    )


def render_index(summaries: Sequence[GallerySummary]) -> str:
    """The landing page: one row per domain page that exists, with its yield."""
    ordered = sorted(summaries, key=lambda s: (DOMAINS.index(s.domain) if s.domain in DOMAINS else len(DOMAINS), s.domain))
    head_cells = "".join(f"<th>{_e(c)}</th>" for c in ("domain", *STAGES, "kept share", "dropped", "in page", "page size"))
    rows = []
    for s in ordered:
        cells = [f'<a href="{_e(_page_name(s.domain))}">{_e(s.domain)}</a>']
        cells += [f"{s.stage_counts.get(stage, 0):,}" for stage in STAGES]
        cells += [_pct(s.n_kept, s.n_tasks), f"{s.n_dropped:,}", f"{s.n_sampled:,} / {s.sample_size:,}",
                  f"{s.page_bytes / 1e6:.2f} MB"]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    body = "".join(rows) or f'<tr><td colspan="{len(STAGES) + 5}">No gallery rendered yet.</td></tr>'
    return (
        _head("Task gallery", _INDEX_CSP)
        + '<body><header class="page"><h1>Task gallery</h1>'
        f"{_nav([s.domain for s in ordered], '')}</header><main>"
        '<p class="note">One self-contained page per domain: the summary covers every task, the '
        "list a deterministic sample. Pages make no network requests.</p>"
        f'<table class="index" id="domains"><tr>{head_cells}</tr>{body}</table></main></body></html>\n'
    )


# --- files ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GalleryFiles:
    page: Path
    index: Path
    page_bytes: int
    domains_in_index: tuple[str, ...]


def write_atomic(path: Path, text: str) -> int:
    """Write `text` as UTF-8 atomically (publish.atomic_io): a browser, or a concurrent
    partition, never sees half a page. Returns the byte size."""
    data = text.encode("utf-8", errors="replace")
    atomic_write_bytes(path, data)
    return len(data)


def load_summaries(out_dir: Path) -> list[GallerySummary]:
    """The summaries beside the pages that exist; unreadable ones are skipped, since the
    index is a convenience and a stale sidecar must not fail a materialization."""
    found = []
    for path in sorted(out_dir.glob(f"*{SUMMARY_SUFFIX}")):
        page = out_dir / (path.name[: -len(SUMMARY_SUFFIX)] + ".html")
        try:
            if page.exists():
                found.append(GallerySummary(**json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError):
            continue
    return found


def write_gallery(out_dir: Path, summary: GallerySummary, page_html: str) -> GalleryFiles:
    """Write `<domain>.html`, its summary sidecar, then rebuild `index.html` from every
    domain's sidecar, so the index lists exactly the pages on disk."""
    page = out_dir / _page_name(summary.domain)
    summary.page_bytes = write_atomic(page, page_html)
    write_atomic(out_dir / f"{summary.domain}{SUMMARY_SUFFIX}", summary.to_json())
    summaries = load_summaries(out_dir)
    index = out_dir / "index.html"
    write_atomic(index, render_index(summaries))
    return GalleryFiles(page, index, summary.page_bytes, tuple(s.domain for s in summaries))
