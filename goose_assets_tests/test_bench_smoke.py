"""`make bench` must keep running (issue 20): every benchmark once, at its smallest size.

One `python -m bench.run --smoke` in a subprocess, with its results and generated data in a
temp folder (GOOSE_BENCH_RESULTS / GOOSE_BENCH_DATA), so the committed
bench/results/*.json and BENCHMARKS.md are never rewritten by a test. The tests assert that
the run completes and that each result JSON carries its figures. They never assert a speed:
speed is measured in bench/ and recorded in BENCHMARKS.md, not tested.

The benchmarks that read the shared corpora are skipped with the reason where those are
absent (bench/common.py: $GOOSE_SHARED_CORPORA, else ../shared/corpora); the peers are
skipped where their venvs (bench/.venv-peer*, made by bench/setup_peers.sh) are absent.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
COMMITTED = [REPO / "BENCHMARKS.md", *sorted((REPO / "bench" / "results").glob("*"))]
BENCHMARKS = ("pipeline", "llm_saturation", "cache_rerun", "dedup_decontam", "html_extraction", "synthesis_cost")
NUMBER = (int, float)

pytestmark = pytest.mark.slow


def _digest(paths: list[Path]) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench-smoke")
    before = _digest(COMMITTED)
    env = {
        **os.environ,
        "GOOSE_BENCH_RESULTS": str(out / "results"),
        "GOOSE_BENCH_DATA": str(out / "data"),
        # this checkout's bench/ and goose_assets, whatever the venv's editable install points at
        "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    proc = subprocess.run([sys.executable, "-m", "bench.run", "--smoke"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    summary_path = out / "results" / "run-smoke.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return {"proc": proc, "results": out / "results", "summary": summary, "before": before,
            "after": _digest(COMMITTED)}


def _log(smoke: dict[str, Any]) -> str:
    proc = smoke["proc"]
    return f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"


def _result(smoke: dict[str, Any], name: str) -> dict[str, Any]:
    """The benchmark's result JSON, or a skip with the reason the run recorded."""
    status = smoke["summary"]["benchmarks"][name]["status"]
    if status.startswith("skipped"):
        pytest.skip(f"{name} {status}")
    assert status == "ok", f"{name}: {status}"
    path = smoke["results"] / f"{name}.json"
    assert path.exists(), f"{name} reported ok but wrote no {path.name}"
    res = json.loads(path.read_text())
    assert res["machine"]["nproc"] and res["command"].startswith(f"python -m bench.{name} --")
    return res


def _peer_ok(row: dict[str, Any], figure: str) -> None:
    """A peer either ran (its figure is there) or says why not (its venv is absent)."""
    assert figure in row or "setup_peers.sh" in row.get("skipped", ""), row


def test_smoke_run_completes_and_leaves_committed_results_alone(smoke: dict[str, Any]) -> None:
    assert smoke["proc"].returncode == 0, _log(smoke)
    assert set(smoke["summary"]["benchmarks"]) == set(BENCHMARKS), _log(smoke)
    for name, b in smoke["summary"]["benchmarks"].items():
        # a skip is only ever for absent corpora, and says so
        assert b["status"] == "ok" or (b["status"].startswith("skipped") and "GOOSE_SHARED_CORPORA" in b["status"]), (name, b)
    assert smoke["after"] == smoke["before"], "the smoke run rewrote committed results or BENCHMARKS.md"


def test_pipeline_figures(smoke: dict[str, Any]) -> None:
    res = _result(smoke, "pipeline")
    runs = {r["mode"]: r for r in res["runs"]}
    assert set(runs) == {"dagster", "plain"}
    for mode, r in runs.items():
        assert "error" not in r, r.get("error")
        assert isinstance(r["wall_s"], NUMBER) and isinstance(r["cpu_s"], NUMBER) and isinstance(r["peak_rss_mb"], NUMBER)
        assert set(r["docs_per_s"]) == {"ingest", "extraction", "masking", "assembly", "gates", "export"}
        assert r["counts"]["documents"] == r["size"] and r["counts"]["tasks"] > 0
        # the dagster mode runs each partition run in a forked process, as `goose run` does
        assert r["settings"] == {"embedding_baseline": False, "process_per_run": mode == "dagster"}
        if mode == "dagster":
            assert r["peak_rss_mb_parts"]["largest_child"] > 0
    (overhead,) = res["overhead"]
    assert isinstance(overhead["dagster_over_plain"], NUMBER) and isinstance(overhead["dagster_over_plain_cpu"], NUMBER)
    cost = res["embedding_cost"]
    assert "error" not in cost, cost.get("error")
    assert cost["tasks"] > 0 and isinstance(cost["cpu_on_over_off"], NUMBER) and isinstance(cost["added_cpu_s_per_task"], NUMBER)


def test_llm_saturation_figures(smoke: dict[str, Any]) -> None:
    res = _result(smoke, "llm_saturation")
    points = {p["client"]: p for p in res["points"]}
    for client in ("ours", "openai_raw"):
        p = points[client]
        assert "error" not in p, p.get("error")
        assert isinstance(p["req_per_s"], NUMBER) and isinstance(p["of_ceiling"], NUMBER)
        assert p["server_answered"] == res["requests_per_point"]
    for peer in ("curator", "distilabel_llm"):
        _peer_ok(points[peer], "req_per_s")


def test_cache_rerun_figures(smoke: dict[str, Any]) -> None:
    res = _result(smoke, "cache_rerun")
    assert isinstance(res["ratio_second_over_first"], NUMBER) and res["passages"] > 0
    for label in ("first", "second", "after_template_edit", "reverted"):
        run = res[label]
        assert isinstance(run["wall_s"], NUMBER) and isinstance(run["items_requested"], int) and run["breakdown"]


def test_dedup_decontam_figures(smoke: dict[str, Any]) -> None:
    res = _result(smoke, "dedup_decontam")
    minhash = {r["tool"]: r for r in res["minhash"]}
    for tool in ("goose", "datasketch"):
        assert isinstance(minhash[tool]["docs_per_s"], NUMBER) and minhash[tool]["recall_by_jaccard_bin"]
    _peer_ok(minhash["datatrove"], "docs_per_s")
    decont = {r["tool"]: r for r in res["decontamination"]}
    assert isinstance(decont["goose"]["docs_per_s"], NUMBER) and isinstance(decont["goose"]["n_flagged"], int)
    _peer_ok(decont["datatrove"], "docs_per_s")


def test_html_extraction_figures(smoke: dict[str, Any]) -> None:
    res = _result(smoke, "html_extraction")
    rows = {r["extractor"]: r for r in res["extractors"]}
    for name in ("goose_main_text", "goose_chain", "trafilatura_plain"):
        assert "error" not in rows[name], rows[name].get("error")
        assert isinstance(rows[name]["pages_per_s_cpu"], NUMBER) and rows[name]["pages"] == res["max_pages"]
    _peer_ok(rows["resiliparse"], "pages_per_s_cpu")


def test_synthesis_cost_figures(smoke: dict[str, Any]) -> None:
    res = _result(smoke, "synthesis_cost")
    assert res["tokenizer"] in ("o200k_base", "chars/4")
    rows = {(r["variant"], r["scenario"], r["domain"]): r for r in res["rows"]}
    for variant in ("paper", "lean"):
        for scenario in ("clean", "drift"):
            r = rows[(variant, scenario, "all")]
            assert r["requests"] > 0 and r["kept"] > 0 and isinstance(r["tokens_out_per_kept"], NUMBER)
            assert isinstance(r["cost_per_1000_kept"], NUMBER)
    assert isinstance(res["ratios"]["by_domain"]["all"]["tokens_out_per_kept"], NUMBER)
    # the lean format has no echo: the drift server finds nothing to paraphrase in it
    assert rows[("lean", "drift", "all")]["echoes_paraphrased"] == 0


def test_tables_render_with_sizes_and_settings(smoke: dict[str, Any]) -> None:
    """The tables of BENCHMARKS.md render from the smoke results; a row below its goal's size
    says so instead of met / not met, and the pipeline tables name the setting that differs."""
    ran = [n for n, b in smoke["summary"].get("benchmarks", {}).items() if b["status"] == "ok"]
    if not ran:
        pytest.skip("no benchmark ran: " + json.dumps(smoke["summary"].get("benchmarks"))[:300])
    text = (smoke["results"] / "BENCHMARKS.md").read_text()
    for name in ran:
        block = text.split(f"<!-- bench:{name}:begin -->")[1].split(f"<!-- bench:{name}:end -->")[0]
        assert "not run yet" not in block and ("Size:" in block or "Settings:" in block), name
        assert f"python -m bench.{name} --" in block  # the provenance line names the smoke command
    headline = text.split("<!-- bench:headline:begin -->")[1].split("<!-- bench:headline:end -->")[0]

    def row(start: str) -> str:
        rows = [line for line in headline.splitlines() if line.startswith(f"| {start}")]
        assert rows, f"no headline row starts with {start!r}:\n{headline}"
        return rows[0]

    # every smoke size is below its goal's: no met / not met, only "not measured at this size"
    if "pipeline" in ran:
        assert "not measured at this size (needs 10,000 docs)" in row("§2 orchestration a/b, 40 docs")
        assert "embedding baseline off" in row("§1 whole offline pipeline, peak RSS, 40 docs")
        row("§1 embedding baseline (on in `make run`), 8 docs")
    if "llm_saturation" in ran:
        assert "not measured at this size" in row("§3 LLM client C=8, 16 requests × 1")
    if "cache_rerun" in ran:
        assert "not measured at this size" in row("§4 cache re-run wall ratio 2nd ÷ 1st, 5 docs/domain")
    if "dedup_decontam" in ran:  # below 100K docs, or datatrove's venv absent: not measured either way
        assert "not measured" in row("§5 MinHash near-dedup, ") and "not measured" in row("§5 13-gram decontamination, ")
    if "html_extraction" in ran:
        row("§6 HTML main text (trafilatura) vs resiliparse, 12 pages")
