from __future__ import annotations

from pathlib import Path

from goose_assets.publish.report import DomainQualityStats, write_quality_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _stats(domain: str) -> DomainQualityStats:
    return DomainQualityStats(
        domain=domain,
        stage_yield={"raw_documents": 100, "mcq_tasks": 90, "filtered_tasks": 72},
        drop_reasons={"trivial": 10, "answer_in_context": 8},
        baseline_accuracy={"longest": 0.14, "shortest": 0.09, "classifier": None},
        chance=1 / 9,
        auroc=0.55,
        gate_passed=True,
        span_lengths=[120, 340, 95, 400],
        option_lengths=[110, 300, 90, 420, 380, 60],
        letter_histogram={"A": 9, "B": 8, "C": 8, "D": 7, "E": 8, "F": 8, "G": 8, "H": 8, "I": 8},
        extra={"leakage_flagged": 8},
        selection_auroc_before=0.91,
        selection_auroc_after=0.58,
    )


def test_report_writes_markdown_and_one_png_per_domain(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    paths = write_quality_report([_stats("math"), _stats("code")], out)
    assert paths.markdown == out / "quality_report.md"
    assert [p.name for p in paths.plots] == ["quality_code.png", "quality_math.png"]
    for plot in paths.plots:
        assert plot.read_bytes()[:8] == PNG_MAGIC
    text = paths.markdown.read_text()
    assert "| code | 72 | 0.111 | 0.140 | 0.090 | n/a | 0.550 | pass | 0.910 | 0.580 |" in text
    assert "| filtered_tasks | 72 | 72.0% |" in text
    assert "| trivial | 10 |" in text
    assert "![math](quality_math.png)" in text
    assert "- leakage_flagged: 8" in text
    # nothing temporary is left behind
    assert sorted(p.name for p in out.iterdir()) == [
        "quality_code.png",
        "quality_math.png",
        "quality_report.md",
    ]


def test_rerun_overwrites_in_place(tmp_path: Path) -> None:
    first = write_quality_report([_stats("math")], tmp_path, plots=False)
    stats = _stats("math")
    stats.gate_passed = False
    second = write_quality_report({"math": stats}, tmp_path, plots=False)
    assert first.markdown == second.markdown
    assert second.plots == []
    assert "| FAIL |" in second.markdown.read_text()


def test_empty_domain_stats_still_render(tmp_path: Path) -> None:
    paths = write_quality_report([DomainQualityStats(domain="cyber")], tmp_path)
    assert paths.plots[0].read_bytes()[:8] == PNG_MAGIC
    assert "## cyber" in paths.markdown.read_text()
