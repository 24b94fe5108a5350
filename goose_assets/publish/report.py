"""Quality report: markdown plus PNG plots per domain (issue 5, item 8).

Every file is written to a temporary name in the target directory and renamed into place,
so a reader never sees a half-written file; the markdown is renamed last, so once it
exists every plot it links exists too. matplotlib is imported lazily with the Agg backend
and used through `Figure` objects (no pyplot global state, safe in threads).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from goose_assets.publish.atomic_io import atomic_file

REPORT_NAME = "quality_report.md"


@dataclass(slots=True)
class DomainQualityStats:
    """What the report shows for one domain; every field may be empty."""

    domain: str
    # rows surviving each stage, in pipeline order, e.g. {"raw_documents": 2800, ...}
    stage_yield: dict[str, int] = field(default_factory=dict)
    drop_reasons: dict[str, int] = field(default_factory=dict)
    baseline_accuracy: dict[str, float | None] = field(default_factory=dict)
    chance: float | None = None
    auroc: float | None = None
    gate_passed: bool | None = None
    # option selection's discriminator AUROC before and after (core.synthesis.selection)
    selection_auroc_before: float | None = None
    selection_auroc_after: float | None = None
    # lengths in characters: answer spans, and every option (answers and distractors)
    span_lengths: Sequence[int] = ()
    option_lengths: Sequence[int] = ()
    letter_histogram: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_summary(cls, summary: Any, gate: Mapping[str, Any], lengths: Mapping[str, Sequence[int]]) -> DomainQualityStats:
        """A domain's stats from its gallery summary (`publish.gallery.render.summarize`),
        the triviality gate of `task_difficulty` and the span and option lengths."""
        return cls(
            domain=summary.domain,
            stage_yield=summary.stage_counts,
            drop_reasons={**summary.drop_reasons, **{f"quarantine {k}": v for k, v in summary.quarantine.items()}},
            baseline_accuracy=dict(summary.baseline_accuracy()),
            chance=summary.chance,
            auroc=gate.get("classifier_auroc"),
            gate_passed=gate.get("gate_passed"),
            selection_auroc_before=summary.selection.get("auroc_before"),
            selection_auroc_after=summary.selection.get("auroc_after"),
            span_lengths=lengths["span_lengths"],
            option_lengths=lengths["option_lengths"],
            letter_histogram=summary.answer_letters,
        )


def worst_gate(gates: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The triviality gate of a domain from its partitions' gates (one per shard): the
    highest classifier AUROC, passed only if it passed on every shard."""
    if len(gates) <= 1:
        return dict(gates[0]) if gates else {}
    return {
        "classifier_auroc": max(g["classifier_auroc"] for g in gates),
        "gate_passed": all(g.get("gate_passed") for g in gates),
    }


@dataclass(frozen=True, slots=True)
class ReportPaths:
    markdown: Path
    plots: list[Path]


def _atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    with atomic_file(path) as staging:
        write(staging)
    return path


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _plot_domain(stats: DomainQualityStats, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    fig = Figure(figsize=(12, 8), dpi=90)
    axes = fig.subplots(2, 2)
    fig.suptitle(f"{stats.domain}: quality gates")

    ax = axes[0][0]
    if stats.stage_yield:
        names = list(stats.stage_yield)
        ax.barh(names[::-1], [stats.stage_yield[n] for n in names][::-1], color="#4c72b0")
        ax.set_title("rows per stage")
    else:
        ax.text(0.5, 0.5, "no yield data", ha="center", va="center")
        ax.set_axis_off()

    ax = axes[0][1]
    accuracies = {k: v for k, v in stats.baseline_accuracy.items() if v is not None}
    if accuracies:
        ax.bar(list(accuracies), list(accuracies.values()), color="#dd8452")
        if stats.chance is not None:
            ax.axhline(stats.chance, color="black", linestyle="--", label="chance")
            ax.axhline(
                stats.chance + 0.10, color="red", linestyle=":", label="chance + 0.10 (gate)"
            )
            ax.legend()
        ax.set_ylim(0, 1)
        ax.tick_params(axis="x", labelrotation=30)
        title = "baseline accuracy"
        if stats.auroc is not None:
            title += f" (classifier AUROC {stats.auroc:.3f})"
        ax.set_title(title)
    else:
        ax.text(0.5, 0.5, "no baseline data", ha="center", va="center")
        ax.set_axis_off()

    ax = axes[1][0]
    if len(stats.span_lengths) or len(stats.option_lengths):
        values = [v for v in (*stats.span_lengths, *stats.option_lengths) if v > 0] or [1]
        bins = np.logspace(np.log10(min(values)), np.log10(max(values) + 1), 30)
        # share of rows per bin (not density): comparable across the two series on log bins
        for series, label in (
            (stats.option_lengths, "options"),
            (stats.span_lengths, "answer spans"),
        ):
            if len(series):
                ax.hist(
                    series,
                    bins=bins,
                    alpha=0.5,
                    label=label,
                    weights=np.full(len(series), 1 / len(series)),
                )
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap on short ranges
        ax.set_xlabel("characters")
        ax.legend()
        ax.set_title("span and option lengths")
    else:
        ax.text(0.5, 0.5, "no length data", ha="center", va="center")
        ax.set_axis_off()

    ax = axes[1][1]
    if stats.letter_histogram:
        letters = sorted(stats.letter_histogram)
        counts = [stats.letter_histogram[k] for k in letters]
        ax.bar(letters, counts, color="#55a868")
        ax.axhline(sum(counts) / len(counts), color="black", linestyle="--")
        ax.set_title("answer letters")
    else:
        ax.text(0.5, 0.5, "no letter data", ha="center", va="center")
        ax.set_axis_off()

    fig.tight_layout()
    fig.savefig(path, format="png")


def _median(values: np.ndarray) -> str:
    return "n/a" if values.size == 0 else f"{np.median(values):.0f}"


def _markdown(
    stats_by_domain: Mapping[str, DomainQualityStats], plots: Mapping[str, str], title: str
) -> str:
    lines = [f"# {title}", ""]
    # first-seen order keeps the caller's baseline order (e.g. longest, shortest, ...)
    baselines = list(
        dict.fromkeys(b for s in stats_by_domain.values() for b in s.baseline_accuracy)
    )
    if stats_by_domain:
        lines += ["## Summary", ""]
        header = ["domain", "final yield", "chance", *baselines, "AUROC", "gate", "selection AUROC before", "after"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for name, s in sorted(stats_by_domain.items()):
            final = list(s.stage_yield.values())[-1] if s.stage_yield else None
            gate = "n/a" if s.gate_passed is None else ("pass" if s.gate_passed else "FAIL")
            row = [
                name,
                "n/a" if final is None else str(final),
                _fmt(s.chance),
                *[_fmt(s.baseline_accuracy.get(b)) for b in baselines],
                _fmt(s.auroc),
                gate,
                _fmt(s.selection_auroc_before),
                _fmt(s.selection_auroc_after),
            ]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    for name, s in sorted(stats_by_domain.items()):
        lines += [f"## {name}", ""]
        if s.stage_yield:
            lines += ["| stage | rows | share of first |", "|---|---|---|"]
            first = next(iter(s.stage_yield.values())) or 1
            for stage, count in s.stage_yield.items():
                lines.append(f"| {stage} | {count} | {count / first:.1%} |")
            lines.append("")
        if s.drop_reasons:
            lines += ["| drop reason | rows |", "|---|---|"]
            for reason, count in sorted(s.drop_reasons.items(), key=lambda kv: (-kv[1], kv[0])):
                lines.append(f"| {reason} | {count} |")
            lines.append("")
        if len(s.span_lengths) or len(s.option_lengths):
            span = np.asarray(s.span_lengths, dtype=float)
            opt = np.asarray(s.option_lengths, dtype=float)
            lines += [
                f"Median length (chars): answer spans {_median(span)}, options {_median(opt)}.",
                "",
            ]
        if s.letter_histogram:
            hist = ", ".join(f"{k}: {v}" for k, v in sorted(s.letter_histogram.items()))
            lines += [f"Answer letters: {hist}.", ""]
        for key, value in s.extra.items():
            lines.append(f"- {key}: {value}")
        if s.extra:
            lines.append("")
        if name in plots:
            lines += [f"![{name}]({plots[name]})", ""]
    return "\n".join(lines)


def write_quality_report(
    stats: Sequence[DomainQualityStats] | Mapping[str, DomainQualityStats],
    out_dir: str | Path,
    *,
    title: str = "Golden Goose quality report",
    plots: bool = True,
) -> ReportPaths:
    """Write `quality_report.md` and one `quality_<domain>.png` per domain into `out_dir`.

    Returns the paths written. Re-running overwrites the same files atomically.
    """
    by_domain = dict(stats) if isinstance(stats, Mapping) else {s.domain: s for s in stats}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plot_paths: list[Path] = []
    plot_names: dict[str, str] = {}
    if plots:
        for name, s in sorted(by_domain.items()):
            safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
            path = out / f"quality_{safe}.png"
            _atomic_write(path, lambda tmp, s=s: _plot_domain(s, tmp))
            plot_paths.append(path)
            plot_names[name] = path.name
    text = _markdown(by_domain, plot_names, title)
    markdown = _atomic_write(out / REPORT_NAME, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return ReportPaths(markdown=markdown, plots=plot_paths)
