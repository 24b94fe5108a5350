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
from pydantic import Field, ValidationError

from goose_assets.core.ingest.readers import SourcePlan, SourceSpec, path_problem, spec_problem
from goose_assets.core.ingest.shards import discover
from goose_assets.core.records import DOMAINS
from goose_assets.core.synthesis.synthesis_format import configured_format
from goose_assets.defs.partitions import SHARDS_DIR_ENV, sharded_from_env, shards_dir
from goose_assets.llm.factory import make_backend
from goose_assets.llm.offline import OfflineBackend
from goose_assets.storage.duckdb_warehouse import Warehouse
from goose_assets.storage.open import open_warehouse

SAMPLE_CORPUS = Path(__file__).resolve().parents[1] / "sample_corpus"
CORPUS_DIR_ENV = "GOOSE_CORPUS_DIR"
BENCHMARKS_DIR_ENV = "GOOSE_BENCHMARKS_DIR"
WEB_RAW_FILE = "web_raw.jsonl"


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
    Any of these files may be absent: a domain with none has no source and materializes
    empty. The folder itself must exist. `sources_json` overrides per domain:
    {"cyber": [{"kind": "warc", "path": "/data/crawl"}]}; every path it names must exist.
    """

    corpus_dir: str = Field(default="", description="empty: $GOOSE_CORPUS_DIR, else the bundled sample")
    sources_json: str = Field(default="", description="per-domain list of SourceSpec objects, as JSON")
    web_fallback_domain: str = Field(
        default="cyber", description="domain that takes web_raw rows labelled 'general'"
    )
    max_docs_per_domain: int = Field(default=0, description="0 means no cap")
    shards_dir: str = Field(
        default="", description="watched folder of source shards (pipeline/ingest/shards.py); empty: $GOOSE_SHARDS_DIR"
    )

    benchmarks: str = Field(
        default="", description="folder of benchmark jsonl for decontamination; empty: $GOOSE_BENCHMARKS_DIR, else <corpus_dir>/benchmarks"
    )

    def corpus_root(self) -> Path:
        return Path(self.corpus_dir or os.environ.get(CORPUS_DIR_ENV, "") or SAMPLE_CORPUS)

    def _corpus_root_setting(self) -> str | None:
        """The name of the setting that chose the corpus folder (None: the bundled sample)."""
        if self.corpus_dir:
            return "corpus.corpus_dir"
        return CORPUS_DIR_ENV if os.environ.get(CORPUS_DIR_ENV, "") else None

    def benchmarks_dir(self) -> Path | None:
        explicit = self.benchmarks_setting()
        candidate = explicit or self.corpus_root() / "benchmarks"
        return candidate if candidate.is_dir() else None

    def benchmarks_setting(self) -> Path | None:
        """The benchmark folder set explicitly (field or GOOSE_BENCHMARKS_DIR): unlike the
        default `<corpus>/benchmarks`, its absence is an error."""
        explicit = self.benchmarks or os.environ.get(BENCHMARKS_DIR_ENV, "")
        return Path(explicit) if explicit else None

    def benchmarks_problem(self) -> str | None:
        """One line when the explicitly set benchmark folder cannot be read, so `goose run`
        stops before any run instead of failing at the screening stage."""
        explicit = self.benchmarks_setting()
        problem = path_problem(explicit, folder=True) if explicit is not None else None
        setting = "corpus.benchmarks" if self.benchmarks else BENCHMARKS_DIR_ENV
        return f"{setting}={explicit}: {problem}" if problem else None

    def _overrides(self) -> dict[str, list[SourceSpec]]:
        """`sources_json` parsed and validated; ValueError with one line naming the setting."""
        if not self.sources_json:
            return {}
        try:
            raw = json.loads(self.sources_json)
            if not isinstance(raw, dict):
                raise ValueError("must be a JSON object of domain -> list of sources")
            return {domain: [SourceSpec(**s) for s in specs] for domain, specs in raw.items()}
        except (ValueError, TypeError, ValidationError) as exc:
            detail = " ".join(str(exc).split())[:300]
            raise ValueError(f"corpus.sources_json is not a valid source list: {detail}") from exc

    def problems(self, domains: tuple[str, ...] | list[str] = DOMAINS, shard: str | None = None) -> list[str]:
        """One line per source setting of `domains` that cannot be read: the setting, the
        path and what is wrong. Empty when every source can be read. A domain without any
        source is not a problem (it materializes empty); a named path that is missing is."""
        problems: list[str] = []
        try:
            overrides = self._overrides()
        except ValueError as exc:
            return [str(exc)]
        sharded = shard is not None or (sharded_from_env() and self.shards_root() is not None)
        if sharded:
            root = self.shards_root()
            setting = "corpus.shards_dir" if self.shards_dir else SHARDS_DIR_ENV
            problem = path_problem(root, folder=True) if root is not None else "is not set"
            if problem:
                problems.append(f"{setting}={root or ''}: {problem}")
        for domain in domains:
            for spec in overrides.get(domain, []):
                problem = spec_problem(spec)
                if problem:
                    problems.append(f"corpus.sources_json[{domain}]: {spec.kind} source {spec.path} {problem}")
        setting = self._corpus_root_setting()
        if sharded or setting is None or all(d in overrides for d in domains):
            return problems
        root = self.corpus_root()
        problem = path_problem(root, folder=True)
        if problem:
            return [*problems, f"{setting}={root}: {problem}"]
        names = [f"{d}.jsonl" for d in domains if d not in overrides] + [WEB_RAW_FILE]
        for name in names:
            # an absent file is a domain without a source; one that is there must be readable
            if (root / name).is_symlink() or (root / name).exists():
                problem = path_problem(root / name)
                if problem:
                    problems.append(f"{setting}={root}: {root / name} {problem}")
        return problems

    def shards_root(self) -> Path | None:
        return Path(self.shards_dir).resolve() if self.shards_dir else shards_dir()

    def sources(self, domain: str, shard: str | None = None) -> list[SourceSpec]:
        """A domain's sources; with `shard`, only that shard's files in the shards folder."""
        return list(self.source_plan(domain, shard).specs)

    def _labels(self, domain: str) -> str:
        return f"'{domain}' or 'general'" if domain == self.web_fallback_domain else f"'{domain}'"

    def source_plan(self, domain: str, shard: str | None = None) -> SourcePlan:
        """A domain's sources and where the project looked for them. With `shard`, only
        that shard's files in the shards folder. An absent `<domain>.jsonl` in the corpus
        folder is no source (not an error): a partial corpus is the common case."""
        fallback = ["general"] if domain == self.web_fallback_domain else []
        if shard is not None:
            root = self.shards_root()
            if root is None:
                raise ValueError(f"partition {domain}|{shard} is sharded, but no shards folder is set ({SHARDS_DIR_ENV})")
            found = discover(root).get(shard) if root.is_dir() else None
            return SourcePlan(
                domain, tuple(found.sources(domain, fallback) if found else ()), f"shard {shard} of {root}",
                (f"{root}/{domain}/{shard}.*", f"rows labelled {self._labels(domain)} in {root}/{shard}.*"),
            )
        overrides = self._overrides()
        if domain in overrides:
            specs = tuple(overrides[domain])
            return SourcePlan(domain, specs, "corpus.sources_json", tuple(s.path for s in specs))
        root = self.corpus_root()
        cap = self.max_docs_per_domain or None
        own, web = root / f"{domain}.jsonl", root / WEB_RAW_FILE
        specs_list: list[SourceSpec] = []
        if own.exists() or own.is_symlink():
            specs_list.append(SourceSpec(kind="jsonl", path=str(own), max_rows=cap))
        if web.exists() or web.is_symlink():
            specs_list.append(
                SourceSpec(kind="jsonl", path=str(web), route_by_domain_field=True,
                           fallback_labels=fallback, max_rows=cap)
            )
        return SourcePlan(domain, tuple(specs_list), str(root),
                          (str(own), f"rows labelled {self._labels(domain)} in {web}"))

    def domain_plan(self, domain: str, sharded: bool) -> SourcePlan:
        """Every source of a domain: in a sharded code location, the domain's files across
        all shards of the shards folder; else `source_plan(domain)`."""
        root = self.shards_root()
        if not sharded or root is None:
            return self.source_plan(domain)
        fallback = ["general"] if domain == self.web_fallback_domain else []
        found = discover(root) if root.is_dir() else {}
        specs = tuple(spec for shard in found.values() for spec in shard.sources(domain, fallback))
        return SourcePlan(domain, specs, str(root),
                          (f"{root}/{domain}/*", f"rows labelled {self._labels(domain)} in {root}/*"))


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
        default="", description="paper | lean (core/synthesis/synthesis_format.py); empty: $GOOSE_SYNTHESIS_FORMAT, "
        "else lean for an LLM backend and paper for the offline one"
    )

    def format_for(self, override: str = "") -> str:
        """The synthesis output format a run uses: `override` (the asset's run config), this
        resource's field, $GOOSE_SYNTHESIS_FORMAT, else the backend's default."""
        return configured_format(override, self.synthesis_format, backend=self.backend)

    def make(self, role: str = "generator"):  # noqa: ANN201 - returns an LLMBackend
        if self.backend == "offline":
            return OfflineBackend()
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
