"""What the README and pyproject say about the code matches the code."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from goose_assets.definitions import defs
from goose_assets_tests.llm.test_vllm_cpu import DEFAULT_VENV

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def _table_rows(heading: str) -> list[list[str]]:
    """The cells of the first markdown table after `heading`."""
    section = README.split(heading, 1)[1]
    rows = []
    for line in section.splitlines():
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip("|").split("|")])
        elif rows:
            break
    return [r for r in rows[2:]]  # header and separator


def test_the_asset_table_lists_every_asset_with_its_group() -> None:
    graph = defs.resolve_asset_graph()
    assets = {k.path[-1]: graph.get(k).group_name for k in graph.get_all_asset_keys()}
    table = {r[0].strip("`"): r[1] for r in _table_rows("## Assets and lineage")}
    assert table == assets


def test_the_check_table_lists_every_asset_check_on_its_asset() -> None:
    checks = {(k.name, k.asset_key.path[-1]) for k in defs.resolve_asset_graph().asset_check_keys}
    table = {(r[0].split("`")[1], r[1].strip("`")) for r in _table_rows("### Asset checks (per partition)")}
    assert table == checks


def test_the_vllm_marker_names_the_venv_the_vllm_tests_use() -> None:
    (marker,) = [m for m in PYPROJECT["tool"]["pytest"]["ini_options"]["markers"] if m.startswith("vllm:")]
    venvs = re.findall(r"[\w<>$./-]*\.venv[\w-]*", marker)
    assert venvs == [f"<repo>/{DEFAULT_VENV.relative_to(REPO)}"], marker
    script = (REPO / "bench" / "setup_vllm_cpu.sh").read_text(encoding="utf-8")
    assert f"$REPO/{DEFAULT_VENV.relative_to(REPO)}" in script


def test_package_data_ships_the_whole_sample_corpus() -> None:
    # a wheel carries only what package-data names: the sample benchmarks included
    globs = PYPROJECT["tool"]["setuptools"]["package-data"]["goose_assets"]
    package = REPO / "goose_assets"
    shipped = {p for g in globs for p in package.glob(g)}  # setuptools' glob: `*` stops at `/`
    files = {p for p in (package / "sample_corpus").rglob("*") if p.is_file()}
    assert package / "sample_corpus" / "benchmarks" / "goose_sample_bench.jsonl" in files
    assert sorted(str(f.relative_to(package)) for f in files - shipped) == []


def test_package_data_ships_every_file_the_code_reads() -> None:
    # prompt templates, the gallery's stylesheet and script, the sample corpus
    globs = PYPROJECT["tool"]["setuptools"]["package-data"]["goose_assets"]
    package = REPO / "goose_assets"
    shipped = {p for g in globs for p in package.glob(g)}
    data = {p for p in package.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")}
    assert sorted(str(f.relative_to(package)) for f in data - shipped) == []


def test_the_architecture_tree_names_modules_that_exist() -> None:
    tree = README.split("## Architecture", 1)[1].split("```", 2)[1]
    modules = {p.name for p in (REPO / "goose_assets").rglob("*") if p.suffix in (".py", ".css", ".js")}
    named = set(re.findall(r"\b[\w]+\.(?:py|css|js)\b", tree))
    assert named - modules == set()
    # a newcomer finds where distractors are made in one hop
    assert "distractors.py" in named and "mining.py" in named
