"""`dagster dev` boots on 127.0.0.1 and serves the eight-asset graph over GraphQL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

QUERY = """{ assetNodes { assetKey { path } groupName dependencyKeys { path } } }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _non_loopback_ipv4() -> list[str]:
    """The machine's IPv4 addresses other than 127.0.0.0/8: the host name's, and the one
    a datagram socket would route from (connect on UDP sends nothing)."""
    found = set()
    try:
        found.update(info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET))
    except OSError:
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("203.0.113.1", 9))  # TEST-NET-3: a route lookup only
            found.add(s.getsockname()[0])
        except OSError:
            pass
    return sorted(a for a in found if not a.startswith("127.") and a != "0.0.0.0")


def _graphql(port: int, query: str) -> dict:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_dagster_dev_serves_the_asset_graph(tmp_path: Path) -> None:
    port = _free_port()
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "GOOSE_HOME": str(tmp_path / "goose")}
    dagster = Path(sys.executable).parent / "dagster"
    proc = subprocess.Popen(
        [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", str(REPO / "workspace.yaml")],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        nodes = None
        while time.monotonic() < deadline:
            try:
                data = _graphql(port, QUERY)
                nodes = data.get("data", {}).get("assetNodes")
                if nodes:
                    break
            except OSError:
                pass
            time.sleep(1)
        assert nodes, "dagster dev did not serve the asset graph within 120 s"
        graph = {"/".join(n["assetKey"]["path"]): sorted("/".join(d["path"]) for d in n["dependencyKeys"]) for n in nodes}
        assert graph == {
            "raw_documents": [],
            "extracted_passages": ["raw_documents"],
            "masked_items": ["extracted_passages"],
            "mcq_tasks": ["masked_items"],
            "task_difficulty": ["mcq_tasks"],
            "filtered_tasks": ["task_difficulty"],
            "training_mix": ["filtered_tasks"],
            "task_gallery": ["filtered_tasks"],
            "quality_report": ["filtered_tasks"],
        }
        # bound to loopback only: served on 127.0.0.1, refused on the machine's other addresses
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) == 0
        others = _non_loopback_ipv4()
        if not others:
            pytest.skip("this machine has no non-loopback IPv4 address to test the binding against")
        for address in others:
            with socket.socket() as s:
                s.settimeout(5)
                assert s.connect_ex((address, port)) != 0, f"dagster dev answers on {address}:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
