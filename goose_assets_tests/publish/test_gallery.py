"""The task gallery renders counts, filters and charts from plain rows, writes its files
atomically, and renders hostile document text as text (parsed back with lxml)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import lxml.html
import pytest

from goose_assets.publish.gallery import render as gallery
from goose_assets.publish.gallery.render import GALLERY_JS
from goose_assets_tests.gallery_fixtures import (
    HOSTILE,
    HOSTILE_IMG,
    HOSTILE_REASON,
    build_tables,
    render_page,
)

BLOB_OPEN = '<script type="application/json" id="gallery-data">'


@pytest.fixture()
def tables():
    return build_tables(domain="cyber", n_tasks=12, hostile_task=1)


def _parse(page: str) -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring(page)


def _blob(page: str) -> str:
    """The JSON blob exactly as a browser's tokenizer cuts it: up to the first `</script`."""
    start = page.index(BLOB_OPEN) + len(BLOB_OPEN)
    return page[start : page.lower().index("</script", start)]


def test_summary_covers_every_task(tables) -> None:
    summary, _ = render_page(tables)
    assert summary.stage_counts == {"documents": 14, "passages": 13, "items": 12, "tasks": 12, "kept": 8}
    assert (summary.n_tasks, summary.n_kept, summary.n_dropped, summary.n_unscreened) == (12, 8, 4, 0)
    assert summary.drop_reasons == {HOSTILE_REASON: 1, "leak": 1, "duplicate_task": 1, "trivial": 1}
    # answer index is i % 9 over 12 tasks
    assert summary.answer_letters == {"A": 2, "B": 2, "C": 2, "D": 1, "E": 1, "F": 1, "G": 1, "H": 1, "I": 1}
    # most_central picks the answer on even tasks; longest/shortest never do
    assert summary.baseline_accuracy() == {"longest": 0.0, "most_central": 0.5, "shortest": 0.0}
    assert summary.chance == pytest.approx(1 / 9)
    assert list(summary.difficulty) == ["0/4", "1/4", "2/4", "3/4", "4/4"]
    assert summary.difficulty == {"0/4": 3, "1/4": 3, "2/4": 2, "3/4": 2, "4/4": 2}
    assert summary.quarantine == {"extract: non_english": 1, "synthesis: too_few_distractors": 1}


def test_page_shows_counts_filters_and_charts(tables) -> None:
    summary, page = render_page(tables)
    doc = _parse(page)
    data = json.loads(doc.get_element_by_id("gallery-data").text)
    assert [t["id"] for t in data["tasks"]] == [r["task_id"] for r in tables.rows["mcq_tasks"]]
    assert set(data["docs"]) == {t["doc"] for t in data["tasks"]}
    assert sum(t["kept"] is False for t in data["tasks"]) == 4
    buttons = doc.xpath('//div[@id="status-filter"]/button')
    assert [(b.get("data-status"), b.text_content()) for b in buttons] == [
        ("all", "All (12)"), ("kept", "Kept (8)"), ("dropped", "Dropped (4)")]
    assert [b.get("aria-pressed") for b in buttons] == ["true", "false", "false"]
    options = doc.xpath('//select[@id="reason-filter"]/option')
    assert [o.get("value") for o in options] == ["", "duplicate_task", "leak", HOSTILE_REASON, "trivial"]
    assert all(o.text_content().endswith("(1)") for o in options[1:])
    assert [o.get("value") for o in doc.xpath('//select[@id="sort"]/option')] == ["order", "hardest", "easiest"]
    note = doc.get_element_by_id("sample-note")
    assert note.get("data-sample-size") == str(gallery.DEFAULT_SAMPLE_SIZE)
    assert "Showing all 12 tasks" in note.text_content()
    charts = doc.xpath('//section[@id="summary"]//svg')
    assert [c.get("aria-label") for c in charts] == [
        "Yield per stage", "Drop reasons", "Answer letters", "Baseline accuracy vs chance", "Difficulty (n_correct/n)"]
    yield_values = [t.text_content() for t in charts[0].xpath('.//text[@class="value"]')]
    assert yield_values == ["14 (100%)", "13 (93%)", "12 (86%)", "12 (86%)", "8 (57%)"]
    baseline_markers = [t.text_content() for t in charts[3].xpath('.//text[@class="marker-label"]')]
    assert baseline_markers == ["chance 11%", "gate 21%"]
    # the one baseline above the gate is flagged
    flagged = [g.xpath('.//text[@class="label"]')[0].text_content() for g in charts[3].xpath(".//g")
               if "warn" in g.xpath(".//rect")[0].get("class")]
    assert flagged == ["most_central"]
    assert summary.n_sampled == 12


def test_sample_size_caps_the_page_and_is_shown(tables) -> None:
    summary, page = render_page(tables, sample_size=5)
    doc = _parse(page)
    data = json.loads(doc.get_element_by_id("gallery-data").text)
    assert len(data["tasks"]) == 5 and summary.n_sampled == 5
    assert set(data["docs"]) == {t["doc"] for t in data["tasks"]}
    note = doc.get_element_by_id("sample-note")
    assert note.get("data-sample-size") == "5"
    assert "sample of 5 of 12 tasks" in note.text_content()
    assert doc.xpath('//div[@id="status-filter"]/button')[0].text_content() == "All (5)"
    # the header still summarizes all 12 tasks
    assert "12 (86%)" in [t.text_content() for t in doc.xpath('//svg[@aria-label="Yield per stage"]//text')]
    smaller = len(render_page(tables, sample_size=2)[1].encode())
    assert smaller < len(page.encode())


def test_hostile_document_renders_as_text(tables) -> None:
    _, page = render_page(tables)
    doc = _parse(page)
    # no element was injected: no image, no event-handler attribute, only the page's own scripts
    assert doc.xpath("//img") == [] and "<img" not in page
    assert doc.xpath("//@*[starts-with(name(), 'on')]") == []
    scripts = doc.xpath("//script")
    assert [(s.get("type"), s.get("id")) for s in scripts] == [("application/json", "gallery-data"), (None, None)]
    assert scripts[1].text == GALLERY_JS
    # the blob runs to its own closing tag: the hostile `</script>` cannot cut it short ...
    blob = _blob(page)
    assert not {"<", ">", "&", "\u2028", "\u2029"} & set(blob)
    data = json.loads(blob)
    # ... and it decodes to the hostile text, byte for byte, for the script to set as textContent
    task = next(t for t in data["tasks"] if t["id"].endswith("00001"))
    assert HOSTILE in task["ctx"] and task["opts"][0].startswith(HOSTILE_IMG) and HOSTILE in task["detail"]
    assert HOSTILE in data["docs"][task["doc"]]["text"] and HOSTILE == data["docs"][task["doc"]]["title"]
    assert task["reason"] == HOSTILE_REASON
    # server-rendered strings are escaped and read back as the same text
    reason_option = doc.xpath('//select[@id="reason-filter"]/option')[3]
    assert reason_option.get("value") == HOSTILE_REASON
    assert reason_option.text_content() == f"{HOSTILE_REASON} (1)"
    titles = [t.text_content() for t in doc.xpath('//svg[@aria-label="Drop reasons"]//title')]
    assert f"{HOSTILE_REASON}: 1 (8%)" in titles


def test_script_json_cannot_close_its_script_or_break_javascript() -> None:
    for payload in ("</script><script>alert(1)</script>", "<!--<script>", "\u2028\u2029", "&amp;&", "\ud800 lone"):
        blob = gallery.script_json({"s": payload, "list": [payload]})
        assert not {"<", ">", "&", "\u2028", "\u2029", "\ud800"} & set(blob), payload
        blob.encode("utf-8")  # valid UTF-8: lone surrogates are escaped, not written raw
        assert json.loads(blob) == {"s": payload, "list": [payload]}


def test_page_is_self_contained_and_locked_down(tables) -> None:
    _, page = render_page(tables)
    doc = _parse(page)
    assert doc.xpath("//link") == [] and doc.xpath("//*[@src]") == []
    hrefs = doc.xpath("//@href")
    assert hrefs and all("://" not in h and not h.startswith("//") for h in hrefs)
    csp = doc.xpath('//meta[@http-equiv="Content-Security-Policy"]/@content')[0]
    inline_script = doc.xpath("//script[not(@type)]")[0].text
    digest = base64.b64encode(hashlib.sha256(inline_script.encode()).digest()).decode()
    assert "default-src 'none'" in csp and f"script-src 'sha256-{digest}'" in csp
    assert "innerHTML" not in GALLERY_JS and "insertAdjacentHTML" not in GALLERY_JS


def test_unscreened_tasks_get_their_own_filter() -> None:
    row = {"task_id": "task_x", "doc_id": "doc_x", "options": ["a", "b"], "answer_index": 1,
           "answer_letter": "B", "context_masked": "x [MASK]", "kept": None, "baseline_votes": None}
    record = gallery.task_record(row)
    assert (record["kept"], record["n"], record["votes"], record["backend"]) == (None, 0, {}, "unknown")
    summary = gallery.summarize("math", {"tasks": 1}, [{**row, "n_options": 2}])
    assert summary.n_unscreened == 1 and summary.drop_reasons == {} and summary.chance == 0.0
    doc = _parse(gallery.render_domain_page(summary, [record], {}))
    statuses = [b.get("data-status") for b in doc.xpath('//div[@id="status-filter"]/button')]
    assert statuses == ["all", "kept", "dropped", "unscreened"]
    assert "No baseline votes recorded." in doc.get_element_by_id("summary").text_content()


def test_document_record_caps_text_and_falls_back_to_html() -> None:
    long_doc = gallery.document_record({"text": "x" * 50, "license": "MIT"}, max_chars=10)
    assert (long_doc["text"], long_doc["length"], long_doc["truncated"]) == ("x" * 10, 50, True)
    # a web page has html and no text; the SQL may have truncated already and sent the length
    web = gallery.document_record({"text": "", "html": "<p>hi</p>", "text_length": 9000})
    assert (web["text"], web["length"], web["truncated"]) == ("<p>hi</p>", 9000, True)


def test_chart_labels_are_escaped() -> None:
    svg = gallery.hbar_chart([gallery.Bar("<b>bold</b>", 1.0, "<i>1</i>")], 2.0, [gallery.Marker(1.5, "<u>m</u>")])
    assert "<b>" not in svg and "<i>" not in svg and "<u>" not in svg
    texts = [t.text_content() for t in lxml.html.fragment_fromstring(svg).xpath(".//text")]
    assert texts == ["<b>bold</b>", "<i>1</i>", "<u>m</u>"]


def test_write_gallery_builds_index_from_pages_on_disk(tables, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "gallery"
    cyber_summary, cyber_page = render_page(tables)
    math_tables = build_tables(domain="math", n_tasks=3, hostile_task=None)
    math_summary, math_page = render_page(math_tables)
    gallery.write_gallery(out, cyber_summary, cyber_page)
    files = gallery.write_gallery(out, math_summary, math_page)
    assert files.page == out / "math.html" and files.page_bytes == (out / "math.html").stat().st_size
    assert files.domains_in_index == ("cyber", "math")
    assert (out / "cyber.html").read_text(encoding="utf-8") == cyber_page
    index = _parse((out / "index.html").read_text(encoding="utf-8"))
    rows = index.xpath('//table[@id="domains"]/tr[td]')
    # domain order follows the pipeline (math before cyber), not the alphabet
    assert [r.xpath("td/a/@href")[0] for r in rows] == ["math.html", "cyber.html"]
    assert [c.text_content() for c in rows[1].xpath("td")][1:7] == ["14", "13", "12", "12", "8", "67%"]
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
    # a page deleted by hand drops out of the index; a corrupt sidecar is skipped
    (out / "cyber.html").unlink()
    (out / "code.html").write_text("stale")
    (out / f"code{gallery.SUMMARY_SUFFIX}").write_text("{not json")
    files = gallery.write_gallery(out, math_summary, math_page)
    assert files.domains_in_index == ("math",)


def test_write_is_atomic_and_refuses_unsafe_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "page.html"
    gallery.write_atomic(target, "old")

    def failing_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        gallery.write_atomic(target, "new")
    monkeypatch.undo()
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]
    summary = gallery.summarize("../evil", {}, [])
    with pytest.raises(ValueError, match="unsafe domain"):
        gallery.write_gallery(tmp_path / "g", summary, "<html></html>")
    assert not (tmp_path / "evil.html").exists()


def test_the_summary_shows_what_option_selection_did() -> None:
    from goose_assets.publish.gallery.render import selection_summary, summarize, summary_html

    rows = [
        {"n_items": 300, "auroc_before": 0.9, "auroc_after": 0.6, "rounds": 4, "pool_mean": 26.0, "options_replaced": 900,
         "discriminator": "gradient boosting, cross-fitted", "surface_solvable": 41},
        {"n_items": 100, "auroc_before": 0.8, "auroc_after": 0.7, "rounds": 6, "pool_mean": 22.0, "options_replaced": 100,
         "discriminator": "gradient boosting, cross-fitted", "surface_solvable": 0},
    ]
    merged = selection_summary(rows)
    # two shards read as one domain: weighted by items, rounds at most, replacements summed
    assert merged["auroc_before"] == 0.875 and merged["auroc_after"] == 0.625
    assert merged["rounds"] == 6 and merged["options_replaced"] == 1000 and merged["items"] == 400
    assert merged["surface_solvable"] == 41
    summary = summarize("math", {}, [], selection_rows=rows)
    html = summary_html(summary)
    assert "Option selection" in html and "0.875" in html and "0.625" in html
    assert "surface-solvable (AFLite)</td><td class=\"num\">41<" in html
    assert "No option selection" in summary_html(summarize("math", {}, []))
