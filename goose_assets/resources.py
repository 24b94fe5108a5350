"""Every resource in one place: the warehouse, the corpus sources and the LLM backend.

Defaults need no configuration at all: the bundled sample corpus, the offline backend and
DuckDB under `./.goose`. Environment variables switch each piece (README "Configuration");
secrets enter only through `dg.EnvVar`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from goose_assets.core.ingest import SourceSpec
from goose_assets.core.shards import discover
from goose_assets.partitions import SHARDS_DIR_ENV, shards_dir
from goose_assets.warehouse import Warehouse, open_warehouse

SAMPLE_CORPUS = Path(__file__).parent / "sample_corpus"


def goose_home() -> Path:
    return Path(os.environ.get("GOOSE_HOME", ".goose")).resolve()


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse: the DuckDB file `<home>/warehouse.duckdb` (default), or a DuckLake
    catalog in PostgreSQL with parquet under a data path, for many writing processes.
    Empty fields are read from the environment when a step runs, so workers on other
    machines take their own settings (docs/scaling.md)."""

    home: str = Field(default="", description="GOOSE_HOME; empty means $GOOSE_HOME or ./.goose")
    mode: str = Field(default="", description="duckdb | ducklake; empty means $GOOSE_WAREHOUSE, else duckdb")
    ducklake_catalog: str = Field(
        default="",
        description="ducklake catalog, e.g. 'postgres:dbname=goose host=db user=goose'; empty: $GOOSE_DUCKLAKE_CATALOG. "
        "Keep passwords out of it: libpq reads PGPASSWORD",
    )
    ducklake_data_path: str = Field(
        default="", description="parquet folder or s3:// prefix; empty: $GOOSE_DUCKLAKE_DATA_PATH, else <home>/lake"
    )

    def home_path(self) -> Path:
        return Path(self.home).resolve() if self.home else goose_home()

    def warehouse(self) -> Warehouse:
        return open_warehouse(self.home_path(), self.mode, self.ducklake_catalog, self.ducklake_data_path)


class CorpusResource(dg.ConfigurableResource):
    """Where each domain's documents come from.

    `corpus_dir` (or GOOSE_CORPUS_DIR) holds `{math,code,science,cyber}.jsonl` in the corpus
    schema, plus an optional `web_raw.jsonl` whose rows are routed by their `domain` field.
    `sources_json` overrides per domain: {"cyber": [{"kind": "warc", "path": "/data/crawl"}]}.
    """

    corpus_dir: str = Field(default="", description="empty: $GOOSE_CORPUS_DIR, else the bundled sample")
    sources_json: str = Field(default="", description="per-domain list of SourceSpec objects, as JSON")
    web_fallback_domain: str = Field(
        default="cyber", description="domain that takes web_raw rows labelled 'general'"
    )
    max_docs_per_domain: int = Field(default=0, description="0 means no cap")
    shards_dir: str = Field(
        default="", description="watched folder of source shards (core/shards.py); empty: $GOOSE_SHARDS_DIR"
    )

    benchmarks: str = Field(
        default="", description="folder of benchmark jsonl for decontamination; empty: $GOOSE_BENCHMARKS_DIR, else <corpus_dir>/benchmarks"
    )

    def corpus_root(self) -> Path:
        return Path(self.corpus_dir or os.environ.get("GOOSE_CORPUS_DIR", "") or SAMPLE_CORPUS)

    def benchmarks_dir(self) -> Path | None:
        explicit = self.benchmarks_setting()
        candidate = explicit or self.corpus_root() / "benchmarks"
        return candidate if candidate.is_dir() else None

    def benchmarks_setting(self) -> Path | None:
        """The benchmark folder set explicitly (field or GOOSE_BENCHMARKS_DIR): unlike the
        default `<corpus>/benchmarks`, its absence is an error."""
        explicit = self.benchmarks or os.environ.get("GOOSE_BENCHMARKS_DIR", "")
        return Path(explicit) if explicit else None

    def shards_root(self) -> Path | None:
        return Path(self.shards_dir).resolve() if self.shards_dir else shards_dir()

    def sources(self, domain: str, shard: str | None = None) -> list[SourceSpec]:
        """A domain's sources; with `shard`, only that shard's files in the shards folder."""
        if shard is not None:
            root = self.shards_root()
            if root is None:
                raise ValueError(f"partition {domain}|{shard} is sharded, but no shards folder is set ({SHARDS_DIR_ENV})")
            found = discover(root).get(shard)
            fallback = ["general"] if domain == self.web_fallback_domain else []
            return found.sources(domain, fallback) if found else []
        if self.sources_json:
            overrides = json.loads(self.sources_json)
            if domain in overrides:
                return [SourceSpec(**s) for s in overrides[domain]]
        root = self.corpus_root()
        cap = self.max_docs_per_domain or None
        specs = [SourceSpec(kind="jsonl", path=str(root / f"{domain}.jsonl"), max_rows=cap)]
        web = root / "web_raw.jsonl"
        if web.exists():
            fallback = ["general"] if domain == self.web_fallback_domain else []
            specs.append(
                SourceSpec(kind="jsonl", path=str(web), route_by_domain_field=True,
                           fallback_labels=fallback, max_rows=cap)
            )
        return specs


class LLMResource(dg.ConfigurableResource):
    """The generator and student backends (offline | openai | vllm)."""

    backend: str = Field(default="offline", description="offline | openai | vllm")
    base_url: str = Field(default="", description="comma-separated for a fleet of servers")
    model: str = Field(default="")
    api_key: str = Field(default="", description="set through dg.EnvVar('GOOSE_LLM_API_KEY')")
    student_model: str = Field(default="", description="defaults to `model`")
    max_in_flight: int = Field(default=32)
    timeout_s: float = Field(default=120.0)
    structured_output: bool = Field(default=True, description="false: prompt-only JSON")
    price_in_per_mtok: float = Field(default=0.0)
    price_out_per_mtok: float = Field(default=0.0)
    rollouts: int = Field(default=16, description="student rollouts per task")
    synthesis_format: str = Field(
        default="", description="paper | lean (core/synthesis_format.py); empty: $GOOSE_SYNTHESIS_FORMAT, "
        "else lean for an LLM backend and paper for the offline one"
    )

    def format_for(self, override: str = "") -> str:
        """The synthesis output format a run uses: `override` (the asset's run config), this
        resource's field, $GOOSE_SYNTHESIS_FORMAT, else the backend's default."""
        from goose_assets.core.synthesis_format import configured_format

        return configured_format(override, self.synthesis_format, backend=self.backend)

    def make(self, role: str = "generator"):  # noqa: ANN201 - returns an LLMBackend
        if self.backend == "offline":
            from goose_assets.llm.offline import OfflineBackend

            return OfflineBackend()
        from goose_assets.llm.factory import make_backend

        model = self.student_model or self.model if role == "student" else self.model
        return make_backend(
            self.backend,
            base_urls=[u.strip() for u in self.base_url.split(",") if u.strip()],
            model=model,
            api_key=self.api_key,
            max_in_flight=self.max_in_flight,
            timeout_s=self.timeout_s,
            structured_output=self.structured_output,
            price_in_per_mtok=self.price_in_per_mtok,
            price_out_per_mtok=self.price_out_per_mtok,
        )


def default_resources() -> dict[str, dg.ConfigurableResource]:
    llm_env = os.environ.get("GOOSE_LLM_BACKEND", "offline")
    return {
        "warehouse": WarehouseResource(),
        "corpus": CorpusResource(),
        "llm": LLMResource(
            backend=llm_env,
            base_url=os.environ.get("GOOSE_LLM_BASE_URL", ""),
            model=os.environ.get("GOOSE_LLM_MODEL", ""),
            student_model=os.environ.get("GOOSE_LLM_STUDENT_MODEL", ""),
            api_key=dg.EnvVar("GOOSE_LLM_API_KEY") if os.environ.get("GOOSE_LLM_API_KEY") else "",
        ),
    }
