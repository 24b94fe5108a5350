"""`python -m bench.report --check` holds BENCHMARKS.md's prose to the results JSON: a
figure or verdict the prose states is a quote of the results, and a quote that says
something else fails the check (issue 17: the closing summary claimed "met at C = 128"
while the table said 89%, not met)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import report

C128 = "<!-- bench:q llm_saturation points[client=ours,concurrency=128].of_ceiling {} -->{}<!-- /q -->"


def test_the_repository_prose_agrees_with_the_results() -> None:
    assert report.main(["--check"]) == 0
    assert report.stale_quotes(report.TARGET.read_text(encoding="utf-8")) == []


def test_a_figure_or_verdict_the_results_do_not_support_fails_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pct = report.quote("llm_saturation", "points[client=ours,concurrency=128].of_ceiling", "pct")
    verdict = report.quote("llm_saturation", "points[client=ours,concurrency=128].of_ceiling", "met>=goal_of_ceiling")
    target = tmp_path / "BENCHMARKS.md"
    monkeypatch.setattr(report, "TARGET", target)
    target.write_text(f"C = 128: {C128.format('pct', pct)}, goal {C128.format('met>=goal_of_ceiling', verdict)}.\n")
    assert report.main(["--check"]) == 0
    wrong_verdict = "not met" if verdict == "met" else "met"
    target.write_text(f"C = 128: {C128.format('pct', '91%' if pct != '91%' else '90%')}, "
                      f"goal {C128.format('met>=goal_of_ceiling', wrong_verdict)}.\n")
    assert report.main(["--check"]) == 1
    out = capsys.readouterr().out
    assert f"prose says '{wrong_verdict}', results '{verdict}'" in out and f"results '{pct}'" in out
    report.main([])  # regenerating rewrites the quotes from the results
    assert report.stale_quotes(target.read_text()) == [] and report.main(["--check"]) == 0


def test_a_quote_of_what_no_result_holds_fails_the_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "BENCHMARKS.md"
    monkeypatch.setattr(report, "TARGET", target)
    target.write_text("<!-- bench:q llm_saturation points[client=ours,concurrency=4096].of_ceiling pct -->99%<!-- /q -->\n")
    report.main([])
    assert report.MISSING in target.read_text() and report.main(["--check"]) == 1
