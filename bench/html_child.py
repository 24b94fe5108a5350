"""Main-content extraction of every page of web_raw.jsonl with one extractor, in one
process on one core. Stand-alone (stdlib at import) so resiliparse runs in bench/.venv-peer.
Prints one JSON line: CPU and wall seconds (best of `repeats`), words per page.

    python bench/html_child.py EXTRACTOR WEB_RAW_JSONL REPEATS [MAX_PAGES]
EXTRACTOR: goose_main_text | goose_chain | resiliparse | trafilatura_plain
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable


def extractor(name: str) -> Callable[[str, str], tuple[str, str | None]]:
    """(html, domain) -> (text, drop reason or None)."""
    if name == "resiliparse":
        from resiliparse.extract.html2text import extract_plain_text

        return lambda html, _d: (extract_plain_text(html, main_content=True), None)
    if name == "trafilatura_plain":
        import trafilatura

        return lambda html, _d: (trafilatura.extract(html) or "", None)
    from goose_assets.core.web import html as web_html
    from goose_assets.core.web import pages

    if name == "goose_main_text":
        def main_text(html: str, _d: str) -> tuple[str, str | None]:
            r = web_html.extract_main_text(html)
            return r.text, r.reason

        return main_text

    def chain(html: str, domain: str) -> tuple[str, str | None]:
        d = domain if domain in ("math", "code", "science", "cyber") else "cyber"
        r = pages.extract_passage(html, d)
        return (r.passage if r.reason is None else ""), r.reason

    return chain


def main() -> None:
    name, path, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
    max_pages = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as the peer figure
    with open(path, encoding="utf-8") as fh:
        pages = [(r["html"], r.get("domain", "")) for r in map(json.loads, fh)]
    if max_pages:
        pages = pages[:max_pages]
    fn = extractor(name)
    fn(pages[0][0], pages[0][1])  # warm-up: imports and lazy tables are not per-page cost
    best_cpu = best_wall = float("inf")
    words: list[int] = []
    reasons: dict[str, int] = {}
    for _ in range(repeats):
        words, reasons = [], {}
        c0, t0 = time.process_time(), time.perf_counter()
        for html, domain in pages:
            text, reason = fn(html, domain)
            words.append(len(text.split()))
            if reason:
                reasons[reason] = reasons.get(reason, 0) + 1
        best_cpu = min(best_cpu, time.process_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - t0)
    print(json.dumps({"extractor": name, "pages": len(pages), "cpu_s": round(best_cpu, 3), "wall_s": round(best_wall, 3),
                      "words": words, "drop_reasons": reasons}))


if __name__ == "__main__":
    main()
