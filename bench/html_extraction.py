"""§6 HTML main-content extraction on ../shared/corpora/web_raw.jsonl: our chain
(core/web/: trafilatura main text, then the pre-filters and the 100-600-word window)
against resiliparse (bench/.venv-peer) and plain trafilatura.extract, each in its own
process pinned to one core. Pages/s is computed from CPU time (the machine is shared, so
wall time measures the neighbours too); wall time is recorded beside it.

    python -m bench.html_extraction [--repeats 3] [--max-pages N]
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

from bench.common import (
    BENCH,
    CORPORA,
    PEER_VENV,
    md_table,
    peer_python,
    run_json_child,
    write_result,
)

EXTRACTORS = ("goose_main_text", "goose_chain", "trafilatura_plain", "resiliparse")


def summarize(run: dict[str, Any]) -> dict[str, Any]:
    words = run.pop("words")
    nonempty = sorted(w for w in words if w > 0)
    q = statistics.quantiles(nonempty, n=10) if len(nonempty) >= 10 else [None] * 9
    return {
        **run,
        "pages_per_s_cpu": round(run["pages"] / run["cpu_s"], 1),
        "pages_per_s_wall": round(run["pages"] / run["wall_s"], 1),
        "empty_outputs": len(words) - len(nonempty),
        "words_p10": q[0], "words_median": statistics.median(nonempty) if nonempty else 0, "words_p90": q[8],
        "words_over_600": sum(w > 600 for w in nonempty), "words_under_100": sum(w < 100 for w in nonempty),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-pages", type=int, default=0, help="the first N pages only (0: all; the smoke run's size)")
    args = ap.parse_args(argv)
    path = str(CORPORA / "web_raw.jsonl")
    rows = []
    for name in EXTRACTORS:
        py = peer_python(PEER_VENV) if name == "resiliparse" else None
        if name == "resiliparse" and py is None:
            rows.append({"extractor": name, "skipped": "bench/.venv-peer missing: run bench/setup_peers.sh"})
            continue
        env = {"PYTHONPATH": ""} if name == "resiliparse" else None
        try:
            rows.append(summarize(run_json_child([str(BENCH / "html_child.py"), name, path, str(args.repeats),
                                                  str(args.max_pages)],
                                                 python=py, env=env, timeout=1800)))
        except Exception as exc:  # noqa: BLE001 - recorded, not fatal
            rows.append({"extractor": name, "error": str(exc)[-600:]})
    base = next((r for r in rows if r["extractor"] == "goose_main_text" and "cpu_s" in r), None)
    for r in rows:
        if base and "cpu_s" in r:
            r["speed_vs_goose_main_text"] = round(base["cpu_s"] / r["cpu_s"], 2)
    result = {"repeats": args.repeats, "cores": 1, "max_pages": args.max_pages, "extractors": rows}
    write_result("html_extraction", result, argv)
    print(table(result))
    return result


def settings_note(result: dict[str, Any]) -> str:
    """Size and the settings that differ from `make run` (issue 17 point 4, issue 20)."""
    pages = next((r["pages"] for r in result["extractors"] if "pages" in r), None)
    size = f"{pages:,} pages of web_raw.jsonl" if pages is not None else "no extractor ran"
    if result.get("max_pages"):
        size += f" (the first {result['max_pages']:,} only)"
    return (f"Size: {size}, best of {result['repeats']} pass(es), one core per extractor. Settings: `core.web` "
            "with its defaults, as `extracted_passages` calls it in `make run` (which reads the bundled sample, not "
            "these pages).")


def table(result: dict[str, Any]) -> str:
    out = []
    for r in result["extractors"]:
        if "cpu_s" not in r:
            out.append([r["extractor"], None, None, None, None, None, None, "not run: " + str(r.get("skipped") or r.get("error"))[:100]])
            continue
        out.append([r["extractor"], r["pages_per_s_cpu"], r["speed_vs_goose_main_text"], r["words_median"],
                    f"{r['words_p10']:.0f}–{r['words_p90']:.0f}" if r["words_p10"] is not None else None,
                    r["empty_outputs"], r["pages"], ""])
    return settings_note(result) + "\n\n" + md_table(["extractor", "pages/s (CPU, 1 core)", "× goose main text", "median words", "p10–p90 words",
                     "empty / dropped", "pages", "note"], out)


if __name__ == "__main__":
    main()
