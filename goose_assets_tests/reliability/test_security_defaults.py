"""Security defaults: the API key is stored nowhere, SQL never carries config or partition
text, exports stay inside GOOSE_HOME, and the UI binds to loopback.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
from collections import Counter
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from aiohttp import web

from goose_assets import cli
from goose_assets.definitions import ALL_ASSETS
from goose_assets.defs.resources import (
    CorpusResource,
    LLMResource,
    WarehouseResource,
    default_resources,
)
from goose_assets.publish import export
from goose_assets.publish.dataset_card import CardInfo
from goose_assets.storage.duckdb_warehouse import Warehouse
from goose_assets.storage.schema import TABLES, WarehouseError
from goose_assets_tests.llm_server import LoopbackLLMServer, ServerConfig
from goose_assets_tests.pipeline_helpers import materialize_all
from goose_assets_tests.reliability.corpus import write_corpus
from goose_assets_tests.reliability.runner import REPO_ROOT

HOSTILE = [
    "math'; DROP TABLE raw_documents; --",
    'math" OR 1=1; --',
    "../../../etc/passwd",
    "x'); ATTACH '/tmp/goose_evil.duckdb' AS evil; --",
    "math\\'; DELETE FROM quarantine; --",
]


class KeyRecordingServer(LoopbackLLMServer):
    """The loopback server, also counting the Authorization headers it receives: proof that
    the key really went from the environment to the server (so "not found" means something)."""

    def __init__(self, config: ServerConfig) -> None:
        super().__init__(config)
        self.authorizations: Counter[str] = Counter()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.authorizations[request.headers.get("Authorization", "")] += 1
        return await super()._chat(request)


def _places_holding(root: Path, secret: str) -> list[str]:
    """Every file under `root` whose bytes hold `secret`, every DuckDB cell and every SQLite
    row that does (DuckDB compresses strings, so its files are also read through SQL)."""
    found = []
    needle = secret.encode()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if needle in path.read_bytes():
            found.append(str(path))
        if path.suffix == ".duckdb":
            con = duckdb.connect(str(path), read_only=True)
            try:
                for (table,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
                    cols = [r[0] for r in con.execute(
                        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()]
                    for col in cols:
                        hits = con.execute(f'SELECT count(*) FROM "{table}" WHERE CAST("{col}" AS VARCHAR) LIKE ?',
                                           [f"%{secret}%"]).fetchone()[0]
                        if hits:
                            found.append(f"{path}:{table}.{col}")
            finally:
                con.close()
        elif path.suffix == ".db":
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                if secret in "\n".join(con.iterdump()):
                    found.append(f"{path} (sqlite rows)")
            finally:
                con.close()
    return found


def test_the_leak_scanner_finds_a_planted_key(tmp_path: Path) -> None:
    secret = "sk-planted-" + secrets.token_hex(8)
    duck = duckdb.connect(str(tmp_path / "w.duckdb"))
    duck.execute("CREATE TABLE t (a VARCHAR, b VARCHAR[])")
    duck.execute("INSERT INTO t SELECT 'row ' || range, ['x', 'y'] FROM range(5000)")
    duck.execute("INSERT INTO t VALUES ('clean', ['x', ?])", [secret])
    duck.close()
    lite = sqlite3.connect(tmp_path / "e.db")
    lite.execute("CREATE TABLE e (event TEXT)")
    lite.execute("INSERT INTO e VALUES (?)", [json.dumps({"config": {"api_key": secret}})])
    lite.commit()
    lite.close()
    found = _places_holding(tmp_path, secret)
    assert any(f.endswith("t.b") for f in found) and any("sqlite rows" in f for f in found), found


@pytest.mark.slow
def test_the_api_key_from_the_environment_is_in_no_log_metadata_table_or_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-goose-" + secrets.token_hex(16)
    home, dagster_home = tmp_path / "home", tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_bytes((REPO_ROOT / "dagster.yaml").read_bytes())
    with KeyRecordingServer(ServerConfig(latency_s=0.0)) as server:  # __enter__ starts it
        for name, value in {"GOOSE_LLM_API_KEY": secret, "GOOSE_LLM_BACKEND": "openai", "GOOSE_HOME": str(home),
                            "GOOSE_LLM_BASE_URL": server.base_url, "GOOSE_LLM_MODEL": "loopback-model",
                            "DAGSTER_HOME": str(dagster_home)}.items():
            monkeypatch.setenv(name, value)
        llm = default_resources()["llm"]
        assert isinstance(llm, LLMResource) and llm.backend == "openai"
        instance = dg.DagsterInstance.get()  # persistent: the event log is a set of SQLite files
        try:
            results = materialize_all(home, llm=llm, domains=("math",), instance=instance)
            logs = [str(entry) for r in results for entry in instance.all_logs(r.run_id)]
        finally:
            instance.dispose()
    # the key did travel: every call carried it to the server
    assert server.authorizations == Counter({f"Bearer {secret}": sum(server.authorizations.values())})
    assert sum(server.authorizations.values()) > 0
    assert (home / "exports" / "default" / export.GOOSEREASON_FILE).is_file()
    metadata = [
        json.dumps({k: str(getattr(v, "value", v)) for k, v in e.materialization.metadata.items()})
        for r in results for e in r.get_asset_materialization_events()
    ]
    assert metadata and not [m for m in metadata if secret in m], "the key is in materialization metadata"
    assert logs and not [line for line in logs if secret in line], "the key is in the event log"
    assert _places_holding(tmp_path, secret) == []


def test_hostile_partition_keys_reach_the_warehouse_only_as_parameters(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    wh.replace_partition("raw_documents", "math", [{"doc_id": "keep-me", "domain": "math"}])
    wh.replace_quarantine("ingest", "math", [{"stage": "ingest", "domain": "math", "ref_id": "q1", "reason": "r"}])
    for key in HOSTILE:
        assert wh.replace_partition("raw_documents", key, [{"doc_id": f"doc-{key}", "domain": key}]) == 1
        assert wh.replace_quarantine("ingest", key, [{"domain": key, "ref_id": key, "reason": "r"}]) == 1
        assert wh.count("raw_documents", key) == 1
        assert [r["doc_id"] for r in wh.read("raw_documents", key, columns=["doc_id"])] == [f"doc-{key}"]
    # nothing was dropped, deleted or attached along the way
    assert wh.count("raw_documents", "math") == 1 and wh.count("quarantine", "math") == 1
    assert wh.count("raw_documents") == 1 + len(HOSTILE)
    names = {r["table_name"] for r in wh.query("SELECT table_name FROM information_schema.tables")}
    assert set(TABLES) <= names
    assert not wh.query("SELECT database_name FROM duckdb_databases() WHERE database_name = 'evil'")
    assert not Path("/tmp/goose_evil.duckdb").exists()
    # names that go into SQL text are checked against the schema first
    for bad in HOSTILE:
        with pytest.raises((WarehouseError, KeyError)):
            wh.count(bad)
        with pytest.raises((WarehouseError, KeyError)):
            wh.read(bad)
        with pytest.raises(WarehouseError):
            wh.read("raw_documents", columns=["doc_id", bad])
        with pytest.raises(WarehouseError):
            wh.read("raw_documents", order_by=bad)
    assert wh.count("raw_documents", "math") == 1


def test_dagster_rejects_a_hostile_partition_key_before_any_sql(tmp_path: Path) -> None:
    home = tmp_path / "home"
    resources = {"warehouse": WarehouseResource(home=str(home)), "corpus": CorpusResource(), "llm": LLMResource()}
    raw = [a for a in ALL_ASSETS if a.key.path[-1] == "raw_documents"]
    for key in HOSTILE:
        with pytest.raises(dg.DagsterUnknownPartitionError, match="Could not find a partition"):
            dg.materialize(ALL_ASSETS, selection=raw, partition_key=key, resources=resources)
    assert not home.exists(), "a rejected partition key still touched GOOSE_HOME"


def test_a_hostile_corpus_path_is_a_path_not_sql(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "it's; DROP TABLE raw_documents; --", 3)
    home = tmp_path / "home"
    resources = {"warehouse": WarehouseResource(home=str(home)), "corpus": CorpusResource(corpus_dir=str(corpus)),
                 "llm": LLMResource()}
    raw = [a for a in ALL_ASSETS if a.key.path[-1] == "raw_documents"]
    assert dg.materialize(ALL_ASSETS, selection=raw, partition_key="math", resources=resources).success
    rows = Warehouse(home / "warehouse.duckdb").read("raw_documents", "math", columns=["source_path"])
    assert len(rows) == 3 and all(r["source_path"] == str(corpus / "math.jsonl") for r in rows)


@pytest.mark.parametrize("name", HOSTILE + ["..", ".", "a/b", "-rf", "x" * 65, ""])
def test_a_hostile_mix_name_is_rejected_and_nothing_is_written(tmp_path: Path, name: str) -> None:
    root = tmp_path / "home" / "exports"
    with pytest.raises(ValueError):
        export.write_exports([], root, CardInfo(mix_name=name))
    assert not any(tmp_path.iterdir()), "a rejected mix name still created something"


def test_the_training_mix_asset_rejects_a_hostile_mix_name_from_run_config(tmp_path: Path) -> None:
    home = tmp_path / "home"
    resources = {"warehouse": WarehouseResource(home=str(home)), "corpus": CorpusResource(), "llm": LLMResource()}
    mix = [a for a in ALL_ASSETS if a.key.path[-1] == "training_mix"]
    name = "../../outside'; DROP TABLE training_mix; --"
    result = dg.materialize(ALL_ASSETS, selection=mix, partition_key="math", resources=resources,
                            run_config={"ops": {"training_mix": {"config": {"name": name}}}}, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    error, text = failure.step_failure_data.error, ""
    while error is not None:
        text += error.message
        error = error.cause
    assert "mix" in text.lower() and "name" in text.lower(), text
    assert not (home / "exports").exists() and not (tmp_path / "outside").exists()


def test_exports_refuse_a_symlink_planted_to_leave_the_home(tmp_path: Path) -> None:
    outside, root = tmp_path / "outside", tmp_path / "home" / "exports"
    outside.mkdir()
    root.mkdir(parents=True)
    (root / "default").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError, match="outside"):
        export.write_exports([], root, CardInfo(mix_name="default"))
    assert not any(outside.iterdir()), "an export was written through the symlink"


def test_lineage_cli_treats_a_hostile_task_id_as_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    Warehouse(home / "warehouse.duckdb").replace_partition("mcq_tasks", "math", [{"task_id": "t1", "domain": "math"}])
    monkeypatch.setenv("GOOSE_HOME", str(home))
    assert cli.main(["lineage", "x' OR '1'='1"]) == 1
    assert "no task" in capsys.readouterr().err
    assert Warehouse(home / "warehouse.duckdb").count("mcq_tasks") == 1


def test_the_ui_and_test_servers_bind_loopback() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    ui = re.search(r"dagster dev (.*)", makefile)
    assert ui and re.search(r"(-h|--host) 127\.0\.0\.1\b", ui.group(1)), "make ui must bind 127.0.0.1"
    sources = [REPO_ROOT / "Makefile", *sorted((REPO_ROOT / "goose_assets").rglob("*.py"))]
    assert not [p for p in sources if "0.0.0.0" in p.read_text()], "something binds every interface"
    with LoopbackLLMServer() as server:
        assert server.base_url.startswith("http://127.0.0.1:")
