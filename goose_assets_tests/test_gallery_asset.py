"""task_gallery reads a real warehouse through its SQL, samples deterministically, and writes
the page, its index and metadata under GOOSE_HOME/reports/gallery."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dagster as dg
import lxml.html

from goose_assets.definitions import ASSETS_BY_NAME
from goose_assets.defs.resources import WarehouseResource
from goose_assets.storage.duckdb_warehouse import Warehouse
from goose_assets_tests.gallery_fixtures import HOSTILE, build_tables, fill_warehouse

task_gallery, = (ASSETS_BY_NAME['task_gallery'],)


def _materialize(home: Path, domain: str, sample_size: int) -> dict[str, object]:
    result = dg.materialize(
        [task_gallery], partition_key=domain, resources={"warehouse": WarehouseResource(home=str(home))},
        run_config={"ops": {"task_gallery": {"config": {"sample_size": sample_size, "max_source_chars": 80}}}},
    )
    assert result.success
    return result.asset_materializations_for_node("task_gallery")[0].metadata


def _blob(page: Path) -> dict:
    doc = lxml.html.document_fromstring(page.read_text(encoding="utf-8"))
    return json.loads(doc.get_element_by_id("gallery-data").text)


def test_task_gallery_asset_writes_sampled_pages_and_index(tmp_path: Path) -> None:
    home = tmp_path / "home"
    wh = Warehouse(home / "warehouse.duckdb")
    cyber = build_tables("cyber", n_tasks=12, hostile_task=1)
    fill_warehouse(wh, cyber)
    fill_warehouse(wh, build_tables("math", n_tasks=4, hostile_task=None))

    meta = _materialize(home, "cyber", sample_size=5)
    page = home / "reports" / "gallery" / "cyber.html"
    assert meta["gallery"] == dg.MetadataValue.path(str(page))
    assert meta["index"] == dg.MetadataValue.path(str(home / "reports" / "gallery" / "index.html"))
    assert (meta["tasks"].value, meta["kept"].value, meta["dropped"].value) == (12, 8, 4)
    assert (meta["tasks_in_page"].value, meta["sample_size"].value) == (5, 5)
    assert meta["page_bytes"].value == page.stat().st_size

    data = _blob(page)
    sampled = [t["id"] for t in data["tasks"]]
    assert len(sampled) == 5 and sampled == sorted(sampled)
    assert set(data["docs"]) == {t["doc"] for t in data["tasks"]}
    joined = {t["id"]: t for t in data["tasks"]}
    source_by_task = {r["task_id"]: r for r in cyber.rows["mcq_tasks"]}
    for task_id, task in joined.items():
        assert task["opts"] == source_by_task[task_id]["options"]
        assert task["ans"] == source_by_task[task_id]["answer_index"]
        assert task["backend"] == "offline" and task["prompt"] == "synthesize_passage@1"
        assert task["n"] == 4 and set(task["votes"]) == {"longest", "shortest", "most_central"}
    # max_source_chars caps the text in SQL; the full length is still reported
    doc = next(iter(data["docs"].values()))
    assert len(doc["text"]) == 80 and doc["truncated"] and doc["length"] > 80

    # deterministic: the 5 smallest md5(task_id), so a larger sample is a superset
    by_md5 = sorted(source_by_task, key=lambda tid: hashlib.md5(tid.encode()).hexdigest())
    assert sampled == sorted(by_md5[:5])
    _materialize(home, "cyber", sample_size=12)
    everything = _blob(page)
    assert set(sampled) < {t["id"] for t in everything["tasks"]} and len(everything["tasks"]) == 12
    hostile = next(t for t in everything["tasks"] if t["id"].endswith("00001"))
    assert HOSTILE in hostile["ctx"]

    meta = _materialize(home, "math", sample_size=100)
    assert meta["domains_in_index"].value == ["cyber", "math"]
    index = lxml.html.document_fromstring((home / "reports" / "gallery" / "index.html").read_text(encoding="utf-8"))
    assert index.xpath('//table[@id="domains"]/tr/td/a/@href') == ["math.html", "cyber.html"]
