"""Regenerate the tables of BENCHMARKS.md from bench/results/*.json (never by hand).

BENCHMARKS.md keeps hand-written analysis around generated blocks delimited by
`<!-- bench:NAME:begin -->` / `<!-- bench:NAME:end -->`; only the blocks are rewritten.
NAME is `headline` or a benchmark's result name. A missing result renders as "not run".

A figure the prose states quotes the results instead of restating them:
`<!-- bench:q RESULT PATH [FORMAT] -->89%<!-- /q -->` is rewritten with the value at PATH
in `bench/results/RESULT.json`. PATH is dotted keys, where `key[field=value,...]` picks
the one list element with those fields; FORMAT is `num` (the tables' number format, the
default), `pct` (0.89 -> 89%), or `met>=GOAL` / `met<=GOAL` (met / not met against the
value at path GOAL). So prose cannot claim more than the JSON says: `--check` names every
quote that differs from it.

    python -m bench.report [--check]   (--check: exit 1 if BENCHMARKS.md is out of date)
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from typing import Any

from bench import cache_rerun, dedup_decontam, html_extraction, llm_saturation, pipeline
from bench.common import REPO, fmt, md_table, read_result

TARGET = REPO / "BENCHMARKS.md"
TABLES: dict[str, Callable[[dict[str, Any]], str]] = {
    "pipeline": pipeline.tables,
    "llm_saturation": llm_saturation.table,
    "cache_rerun": cache_rerun.table,
    "dedup_decontam": dedup_decontam.table,
    "dedup_decontam_100k": dedup_decontam.table,
    "html_extraction": html_extraction.table,
}
_BLOCK = re.compile(r"(<!-- bench:(?P<name>[\w-]+):begin -->\n)(?P<body>.*?)(<!-- bench:(?P=name):end -->)", re.DOTALL)


def provenance(res: dict[str, Any]) -> str:
    m = res["machine"]
    return (f"_Measured {res['finished_at']} with `{res['command'].strip()}` on {m['nproc']} cores, "
            f"{m['mem_gib']} GiB ({m['cpu']}), Python {m['python']}; load average at start "
            f"{', '.join(map(str, m['load_avg_at_start']))} (a shared machine: absolute numbers are noisy, "
            f"ratios within one run are the comparison)._")


def _met(ok: bool | None) -> str:
    return "not measured" if ok is None else ("**met**" if ok else "**not met**")


def headline() -> str:
    rows: list[list[Any]] = []
    p = read_result("pipeline")
    if p:
        dag = [r for r in p["runs"] if r.get("mode") == "dagster" and "wall_s" in r]
        big = max(dag, key=lambda r: r["size"], default=None)
        if big:
            ok = big["peak_rss_mb"] < p["goal_rss_mb"] if big["size"] >= 100_000 else None
            rows.append(["§1 whole offline pipeline, peak RSS", f"< {p['goal_rss_mb'] // 1024} GiB at 100K docs",
                         f"{fmt(big['peak_rss_mb'])} MB at {fmt(big['size'])} docs ({fmt(big['wall_s'])} s)", _met(ok)])
        for s in p["scaling"]:
            cpu = s.get("cpu_per_doc_ratio", s["time_per_doc_ratio"])
            rows.append([f"§1 scaling {fmt(s['from'])}→{fmt(s['to'])} docs", "linear time (cost/doc ≈ 1×), flat memory",
                         f"CPU/doc ×{cpu}, wall/doc ×{s['time_per_doc_ratio']} (load drifted), peak RSS ×{s['peak_rss_ratio']}",
                         _met(cpu <= 1.15 and s["peak_rss_ratio"] <= 1.5)
                         + ("" if s["to"] >= 100_000 else f" (up to {fmt(s['to'])} docs only)")])
        for o in p["overhead"]:
            if "dagster_over_plain" in o:
                at_goal_size = o["size"] >= 10_000
                rows.append([f"§2 orchestration a/b at {fmt(o['size'])} docs", f"≤ {p['goal_overhead']} at 10K docs",
                             f"{o['dagster_over_plain']} wall, {fmt(o.get('dagster_over_plain_cpu'))} CPU "
                             f"(CPU: dagster ÷ direct {fmt(o.get('dagster_over_direct_cpu'))}, direct ÷ plain {fmt(o.get('direct_over_plain_cpu'))})",
                             _met(max(o["dagster_over_plain"], o.get("dagster_over_plain_cpu") or 0) <= p["goal_overhead"])
                             + ("" if at_goal_size else f" (wall and CPU; at {fmt(o['size'])} docs, not the 10K goal size)")])
    s = read_result("llm_saturation")
    if s:
        for pt in s["points"]:
            if pt["client"] == "ours" and "req_per_s" in pt:
                peers = [q for q in s["points"] if q["concurrency"] == pt["concurrency"] and q["client"] != "ours" and "req_per_s" in q]
                peer_txt = ", ".join(f"{q['client']} {q['of_ceiling']:.0%}" for q in peers)
                rows.append([f"§3 LLM client C={pt['concurrency']}", f"≥ {s['goal_of_ceiling']:.0%} of ceiling",
                             f"{pt['of_ceiling']:.0%} of {fmt(pt['ceiling'])} req/s (same run: {peer_txt})",
                             _met(pt["of_ceiling"] >= s["goal_of_ceiling"])])
    c = read_result("cache_rerun")
    if c:
        failed_first = c["first"].get("quarantined", 0)
        rows.append(["§4 cache re-run: LLM calls 2nd time", "0",
                     f"{c['second']['items_requested']} items requested, {c['second']['cache_hits']} cache hits "
                     f"({failed_first} answer(s) quarantined in the 1st run were replayed from the cache, not re-asked); "
                     f"reverted-template run: {c['reverted']['items_requested']}",
                     _met(c["second"]["items_requested"] <= failed_first and c["reverted"]["items_requested"] <= c["second"].get("quarantined", 0))])
        rows.append(["§4 cache re-run wall ratio 2nd ÷ 1st", f"≤ {c['goal_ratio']}",
                     f"{c['ratio_second_over_first']} ({c['second']['wall_s']} s ÷ {c['first']['wall_s']} s, latency {c['latency_s']} s, C={c['concurrency']})",
                     _met(c["ratio_second_over_first"] <= c["goal_ratio"])])
        rows.append(["§4 template edit re-requests only affected items", f"{c['expected_rerequests_after_edit']} (code-shaped passages + earlier failures)",
                     f"{c['after_template_edit']['items_requested']} items ({c['after_template_edit']['requests']} HTTP requests with re-asks)",
                     _met(c["after_template_edit"]["items_requested"] == c["expected_rerequests_after_edit"])])
    d = read_result("dedup_decontam")
    if d:
        by = {r["tool"]: r for r in d.get("minhash", []) if "docs_per_s" in r}
        g, t = by.get("goose"), by.get("datatrove")
        if g and t:
            rg = g["recall_by_jaccard_bin"]
            rt = t["recall_by_jaccard_bin"]
            same_recall = all(rg[k]["recall"] >= rt[k]["recall"] for k in ("0.9-1.0", "0.8-0.9") if k in rg and k in rt)
            rows.append([f"§5 MinHash near-dedup, {fmt(d['n_docs'])} docs", "≥ datatrove speed at the same recall (J ≥ 0.8)",
                         f"{fmt(g['docs_per_s'])} vs {fmt(t['docs_per_s'])} docs/s (×{t.get('goose_speedup')}); recall J 0.8–0.9 "
                         f"{rg.get('0.8-0.9', {}).get('recall')} vs {rt.get('0.8-0.9', {}).get('recall')}",
                         _met(g["docs_per_s"] >= t["docs_per_s"] and same_recall)])
        by = {r["tool"]: r for r in d.get("decontamination", []) if "docs_per_s" in r}
        g, t = by.get("goose"), by.get("datatrove")
        if g and t:
            rows.append([f"§5 13-gram decontamination, {fmt(d['n_docs'])} docs", "≥ datatrove speed",
                         f"{fmt(g['docs_per_s'])} vs {fmt(t['docs_per_s'])} docs/s (×{t.get('goose_speedup')}); flagged {g['n_flagged']} vs {t['n_flagged']}",
                         _met(g["docs_per_s"] >= t["docs_per_s"])])
    d100 = read_result("dedup_decontam_100k")
    if d100:
        by = {r["tool"]: r for r in d100.get("minhash", []) if "docs_per_s" in r}
        g, k = by.get("goose"), by.get("datasketch")
        if g and k:
            rg, rk = g["recall_by_jaccard_bin"], k["recall_by_jaccard_bin"]
            rows.append([f"§5 MinHash at {fmt(d100['n_docs'])} docs vs datasketch (datatrove: see note)",
                         "datatrove's recall at datasketch's speed, bounded memory",
                         f"{fmt(g['docs_per_s'])} vs {fmt(k['docs_per_s'])} docs/s; RSS {fmt(g['peak_rss_mb_self'])} vs "
                         f"{fmt(k['peak_rss_mb_self'])} MB; recall J 0.8–0.9 {rg.get('0.8-0.9', {}).get('recall')} vs "
                         f"{rk.get('0.8-0.9', {}).get('recall')}",
                         _met(g["docs_per_s"] >= k["docs_per_s"] and g["peak_rss_mb_self"] <= k["peak_rss_mb_self"])])
    h = read_result("html_extraction")
    if h:
        by = {r["extractor"]: r for r in h["extractors"] if "cpu_s" in r}
        g, r = by.get("goose_main_text"), by.get("resiliparse")
        if g and r:
            rows.append(["§6 HTML main text (trafilatura) vs resiliparse", "(no goal: a measurement)",
                         f"{g['pages_per_s_cpu']} vs {r['pages_per_s_cpu']} pages/s; median {g['words_median']} vs {r['words_median']} words; "
                         f"empty {g['empty_outputs']} vs {r['empty_outputs']}", "–"])
    if not rows:
        return "_no results yet: run `make bench`_\n"
    return md_table(["benchmark", "goal", "measured (same run)", "status"], rows) + "\n"


def render_block(name: str) -> str:
    if name == "headline":
        return headline()
    res = read_result(name)
    if res is None:
        return "_not run yet: see the command above_\n"
    return TABLES[name](res) + "\n\n" + provenance(res) + "\n"


_QUOTE = re.compile(r"(?P<open><!-- bench:q (?P<result>[\w-]+) (?P<path>\S+?)(?: (?P<fmt>\S+))? -->)(?P<text>.*?)(?P<close><!-- /q -->)")
MISSING = "(not in the results)"


def _select(value: Any, path: str) -> Any:
    for part in path.split("."):
        key, _, where = part.partition("[")
        value = value[key]
        if where:
            wanted = dict(kv.split("=", 1) for kv in where.rstrip("]").split(","))
            (value,) = [v for v in value if all(str(v.get(k)) == w for k, w in wanted.items())]
    return value


def quote(result: str, path: str, form: str | None) -> str:
    """The text a quote of `path` in `result`'s JSON renders as (MISSING if it is not there)."""
    res = read_result(result)
    try:
        value = _select(res, path)
        if form and form.startswith("met"):
            op, goal = form[3:5], _select(res, form[5:])
            return "met" if (value >= goal if op == ">=" else value <= goal) else "not met"
    except (KeyError, TypeError, ValueError):
        return MISSING
    return f"{value:.0%}" if form == "pct" else fmt(value)


def stale_quotes(text: str) -> list[str]:
    """Every quote whose stated text is not what the results say."""
    out = []
    for m in _QUOTE.finditer(text):
        want = quote(m["result"], m["path"], m["fmt"])
        if m["text"] != want:
            out.append(f"{m['result']} {m['path']}{' ' + m['fmt'] if m['fmt'] else ''}: prose says {m['text']!r}, results {want!r}")
    return out


def render(text: str) -> str:
    text = _BLOCK.sub(lambda m: m.group(1) + render_block(m.group("name")) + m.group(4), text)
    return _QUOTE.sub(lambda m: m["open"] + quote(m["result"], m["path"], m["fmt"]) + m["close"], text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    old = TARGET.read_text(encoding="utf-8")
    new = render(old)
    if args.check:
        for problem in stale_quotes(old):
            print(f"BENCHMARKS.md prose: {problem}")
        unresolved = [m.group(0) for m in _QUOTE.finditer(new) if m["text"] == MISSING]
        for q in unresolved:
            print(f"BENCHMARKS.md prose quotes what no result holds: {q}")
        if new != old or unresolved:
            print("BENCHMARKS.md is out of date: run python -m bench.report")
            return 1
        return 0
    TARGET.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
