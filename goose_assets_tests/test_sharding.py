"""Sharded partitions (issue 10): domain x shard, shards added by a sensor as files land in
a watched folder, the domain-level stages over all of a domain's shards, checks per
partition (the multi-partition check path of dagster-io/dagster#30178).

The sharded code location is chosen by GOOSE_SHARDS_DIR when the definitions are imported,
so those runs happen in child processes (real Dagster materializations, a real DuckDB file
and a real sqlite instance); the pure parts are tested here directly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from goose_assets.core.ingest import shards
from goose_assets.core.ingest.readers import ingest
from goose_assets.defs.partitions import PartitionScope, scope_of
from goose_assets.defs.resources import SAMPLE_CORPUS
from goose_assets.storage.duckdb_warehouse import Warehouse

REPO_ROOT = Path(__file__).resolve().parents[1]
DOMAINS = ("math", "code", "science", "cyber")


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def make_shards(root: Path) -> dict[str, int]:
    """The bundled sample split in two shards per domain, plus the first math document
    repeated in the second shard (a cross-shard duplicate), plus the web pages as a mixed
    top-level shard routed by each row's domain field. Returns source rows per domain."""
    rows: dict[str, int] = {}
    for domain in DOMAINS:
        lines = _lines(SAMPLE_CORPUS / f"{domain}.jsonl")
        half = len(lines) // 2
        (root / domain).mkdir(parents=True)
        (root / domain / "part-0001.jsonl").write_text("\n".join(lines[:half]) + "\n", encoding="utf-8")
        second = lines[half:] + ([lines[0]] if domain == "math" else [])
        (root / domain / "part-0002.jsonl").write_text("\n".join(second) + "\n", encoding="utf-8")
        rows[domain] = len(lines) + (1 if domain == "math" else 0)
    (root / "crawl-07.jsonl").write_text((SAMPLE_CORPUS / "web_raw.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    (root / "math" / ".part-0003.jsonl").write_text("half written", encoding="utf-8")  # not complete: ignored
    return rows


def test_discover_groups_files_by_shard_and_skips_incomplete(tmp_path: Path) -> None:
    make_shards(tmp_path)
    (tmp_path / "code" / "part 0009|x.jsonl.part").write_text("{}", encoding="utf-8")
    found = shards.discover(tmp_path)
    assert list(found) == ["crawl-07", "part-0001", "part-0002"]
    assert {f.domain for f in found["part-0001"].files} == set(DOMAINS)
    assert [f.domain for f in found["crawl-07"].files] == [None]
    specs = found["crawl-07"].sources("cyber", ["general"])
    assert specs[0].route_by_domain_field and specs[0].fallback_labels == ["general"]
    assert specs[0].id_prefix == "crawl-07/"
    before = {d: found["part-0002"].fingerprint(d) for d in DOMAINS}
    with (tmp_path / "math" / "part-0002.jsonl").open("a", encoding="utf-8") as fh:
        fh.write("\n")
    after = {d: shards.discover(tmp_path)["part-0002"].fingerprint(d) for d in DOMAINS}
    assert [d for d in DOMAINS if after[d] != before[d]] == ["math"]  # only math re-runs


@pytest.mark.parametrize(("name", "key"), [("a|b,c", "a_b_c"), ("2026/11/29 crawl", "2026_11_29_crawl"), ("ok-1.2", "ok-1.2")])
def test_shard_keys_are_partition_safe(name: str, key: str) -> None:
    assert shards.shard_key(name) == key
    with pytest.raises(ValueError, match="no usable shard key"):
        shards.shard_key("|||")


def test_the_same_id_in_two_shards_is_two_documents(tmp_path: Path) -> None:
    make_shards(tmp_path)
    found = shards.discover(tmp_path)
    first = [d for d in ingest(found["part-0001"].sources("math", []), "math")]
    second = [d for d in ingest(found["part-0002"].sources("math", []), "math")]
    repeated = second[-1]
    assert repeated.source_id.startswith("part-0002/")
    assert repeated.content_sha256 == first[0].content_sha256 and repeated.doc_id != first[0].doc_id


def test_scope_of_reads_both_partition_kinds() -> None:
    assert scope_of("math") == PartitionScope("math")
    assert scope_of(dg.MultiPartitionKey({"domain": "code", "shard": "part-1"})) == PartitionScope("code", "part-1")
    assert scope_of("cyber|crawl-07").label == "cyber/crawl-07"


def test_shard_writes_replace_only_their_shard(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    row = {"task_id": "t1", "domain": "math", "kept": True, "drop_reason": "", "detail": ""}
    wh.replace_partition("filtered_tasks", "math", [row], shard="a")
    wh.replace_partition("filtered_tasks", "math", [{**row, "task_id": "t2"}], shard="b")
    wh.replace_partition("filtered_tasks", "math", [{**row, "task_id": "t3"}], shard="a")
    assert [(r["task_id"], r["shard"]) for r in wh.read("filtered_tasks", "math")] == [("t2", "b"), ("t3", "a")]
    assert wh.count("filtered_tasks", "math", shard="b") == 1
    wh.replace_partition("filtered_tasks", "math", [{**row, "task_id": "t4"}])  # the whole domain
    assert [(r["task_id"], r["shard"]) for r in wh.read("filtered_tasks", "math")] == [("t4", "")]


def test_an_old_warehouse_gains_the_shard_column(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE filtered_tasks (task_id VARCHAR, domain VARCHAR, kept BOOLEAN, drop_reason VARCHAR, detail VARCHAR)")
    con.execute("INSERT INTO filtered_tasks VALUES ('old', 'math', true, '', '')")
    con.close()
    rows = Warehouse(path).read("filtered_tasks", "math")
    assert rows == [{"task_id": "old", "domain": "math", "kept": True, "drop_reason": "", "detail": "", "shard": ""}]


def _child_env(tmp_path: Path, shards_dir: Path) -> dict[str, str]:
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir(exist_ok=True)
    return {
        **os.environ, "GOOSE_SHARDS_DIR": str(shards_dir), "GOOSE_HOME": str(tmp_path / "goose_home"),
        "DAGSTER_HOME": str(dagster_home), "GOOSE_EXECUTOR": "in_process",
    }


@pytest.fixture(scope="module")
def sharded_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, dict[str, int]]:
    tmp_path = tmp_path_factory.mktemp("sharded")
    rows = make_shards(tmp_path / "shards")
    proc = subprocess.run(
        [sys.executable, "-m", "goose_assets_tests.shard_child"], cwd=REPO_ROOT, env=_child_env(tmp_path, tmp_path / "shards"),
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    facts = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
    return facts, tmp_path / "goose_home", rows


def test_sensor_adds_each_shard_and_requests_every_domain(sharded_run: tuple[dict, Path, dict[str, int]]) -> None:
    facts, _, _ = sharded_run
    assert facts["sensor_added"] == ["crawl-07", "part-0001", "part-0002"]
    assert facts["sensor_runs"] == sorted(f"{d}|{s}" for d in DOMAINS for s in facts["sensor_added"])
    assert facts["sensor_run_keys_unique"]
    assert facts["shard_runs_ok"] and facts["last_shard_ok"] and facts["domain_runs_ok"] and facts["mix_ok"]


def test_a_domain_waits_for_all_of_its_shards(sharded_run: tuple[dict, Path, dict[str, int]]) -> None:
    facts, _, _ = sharded_run
    assert all(not v for v in facts["fan_in_before_any_shard"].values())
    before, after = facts["fan_in_before_last_shard"], facts["fan_in_after_last_shard"]
    # math had a shard left: nothing of math may start; the other domains were complete
    assert "math" not in before["filtered_tasks"]
    assert sorted(before["filtered_tasks"]) == ["code", "cyber", "science"]
    assert after["filtered_tasks"] == ["math"]
    assert before["training_mix"] == [] and after["training_mix"] == []  # filtered_tasks not there yet


def test_downstream_reads_every_shard_of_its_domain(sharded_run: tuple[dict, Path, dict[str, int]]) -> None:
    _, home, rows = sharded_run
    wh = Warehouse(home / "warehouse.duckdb")
    for domain in DOMAINS:
        by_shard = {r["shard"] for r in wh.read("raw_documents", domain, ["shard"])}
        quarantined = wh.count("quarantine", domain)
        jsonl_docs = sum(1 for r in wh.read("raw_documents", domain, ["shard"]) if r["shard"] != "crawl-07")
        assert jsonl_docs + sum(1 for r in wh.read("quarantine", domain) if r["stage"] == "ingest") <= rows[domain]
        assert jsonl_docs >= rows[domain] - quarantined
        assert {"part-0001", "part-0002"} <= by_shard
        tasks = wh.count("mcq_tasks", domain)
        assert wh.count("filtered_tasks", domain) == tasks > 0  # every shard's tasks screened once
    web = wh.query("SELECT count(*) AS n FROM raw_documents WHERE shard = 'crawl-07'")[0]["n"]
    assert web == len(_lines(SAMPLE_CORPUS / "web_raw.jsonl"))
    # the math document repeated in part-0002 is caught as a duplicate across shards
    dup = wh.query(
        "SELECT f.drop_reason FROM filtered_tasks f JOIN mcq_tasks t USING (task_id) JOIN raw_documents d USING (doc_id) "
        "WHERE d.domain = 'math' AND d.shard = 'part-0002' AND d.content_sha256 IN "
        "(SELECT content_sha256 FROM raw_documents WHERE shard = 'part-0001')"
    )
    assert dup and all(r["drop_reason"] and "duplicate" in r["drop_reason"] for r in dup), dup
    assert wh.count("training_mix") > 0


def test_checks_report_per_partition_on_multi_partitioned_assets(sharded_run: tuple[dict, Path, dict[str, int]]) -> None:
    """dagster-io/dagster#30178: checks on MultiPartitionsDefinition assets. Ours are
    emitted by the asset itself, so nothing loads the asset's data through an IO manager;
    each (domain, shard) must carry its own result, and the domain-level checks stay per
    domain."""
    facts, _, _ = sharded_run
    checks = facts["checks"]
    expected = {f"{d}|{s}" for d in DOMAINS for s in facts["sensor_added"]}
    for name in ("mcq_tasks.answer_leakage", "mcq_tasks.task_schema_and_counts", "task_difficulty.triviality_baselines"):
        assert set(checks[name]) == expected, (name, sorted(checks[name]))
    for name in ("mcq_tasks.answer_leakage", "mcq_tasks.task_schema_and_counts"):
        assert all(v["passed"] for v in checks[name].values()), checks[name]
    # a shard of a few tasks is too small to judge the triviality gate: it may only warn
    assert all(v["passed"] or v["severity"].endswith("WARN") for v in checks["task_difficulty.triviality_baselines"].values())
    assert set(checks["filtered_tasks.duplicates"]) == set(DOMAINS)


def test_the_sharded_code_location_validates(tmp_path: Path) -> None:
    make_shards(tmp_path / "shards")
    env = _child_env(tmp_path, tmp_path / "shards")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-m", "goose_assets.definitions"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    listing = subprocess.run(
        [sys.executable, "-c", "from goose_assets.definitions import defs; "
         "print(sorted(j.name for j in defs.resolve_all_job_defs()), sorted(s.name for s in defs.sensors))"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert "'goose_domains', 'goose_shards'" in listing.stdout and "'shard_fan_in', 'source_shards_sensor'" in listing.stdout, listing.stderr[-2000:]


def test_goose_run_plans_every_shard_before_the_domain_stages(tmp_path: Path) -> None:
    make_shards(tmp_path / "shards")
    script = (
        "import dagster as dg\n"
        "from goose_assets.cli import run_plan\n"
        "with dg.DagsterInstance.ephemeral() as instance:\n"
        "    plan = run_plan(instance, ['math', 'code'])\n"
        "    print(instance.get_dynamic_partitions('source_shards'))\n"
        "    for assets, domain, key in plan:\n"
        "        print(len(assets), domain, key)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, env=_child_env(tmp_path, tmp_path / "shards"),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == "['crawl-07', 'part-0001', 'part-0002']"
    # each shard's per-item stages in two runs, cut before mcq_tasks (FRESH_PROCESS_STEPS)
    shard_runs = [f"{n} {d} {d}|{s}" for d in ("math", "code") for s in ("crawl-07", "part-0001", "part-0002") for n in (3, 2)]
    assert lines[1:] == [*shard_runs, "3 math math", "3 code code", "1 math math", "1 code code"]
