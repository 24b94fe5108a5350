"""Build a backend by name: offline | openai | vllm. Heavy imports happen only when chosen."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from goose_assets.llm.base import LLMBackend
from goose_assets.llm.calls.accounting import Prices
from goose_assets.llm.calls.errors import LLMConfigurationError
from goose_assets.llm.offline import OfflineBackend

# vllm itself is imported inside the backend, when an engine starts (the vllm extra has its own venv)
from goose_assets.llm.vllm_backend import VLLMBackend

BACKENDS = ("offline", "openai", "vllm")


def _urls(base_url: str | Sequence[str] | None) -> list[str]:
    if base_url is None:
        return []
    parts = [base_url] if isinstance(base_url, str) else list(base_url)
    return [u.strip() for part in parts for u in part.split(",") if u.strip()]


def _openai_backend(urls: list[str], model: str, api_key: str | None, options: dict[str, Any]) -> LLMBackend:
    # imported when chosen: the openai SDK costs ~2 s of import on top of Dagster
    from goose_assets.llm.openai_backend import OpenAIBackend

    if not urls:
        raise LLMConfigurationError("GOOSE_LLM_BACKEND=openai needs GOOSE_LLM_BASE_URL (comma-separated for a fleet)")
    if not model:
        raise LLMConfigurationError("GOOSE_LLM_BACKEND=openai needs GOOSE_LLM_MODEL")
    structured = options.pop("structured_output", "json_schema")
    if isinstance(structured, bool):
        structured = "json_schema" if structured else "prompt"
    validate = options.pop("validate", None)
    logger = options.pop("logger", None)
    return OpenAIBackend(urls, model, api_key or None, validate=validate, logger=logger,
                         structured_output=structured, **options)


def _vllm_backend(model: str, options: dict[str, Any]) -> LLMBackend:
    if not model:
        raise LLMConfigurationError("GOOSE_LLM_BACKEND=vllm needs GOOSE_LLM_MODEL (a local model directory or Hub id)")
    # options that only mean something over HTTP are dropped, so one resource config fits both
    for http_only in ("max_in_flight", "timeout_s", "http_client", "send_seed", "max_retries"):
        options.pop(http_only, None)
    if "structured_output" in options:
        options["structured_output"] = options["structured_output"] not in (False, "prompt")
    return VLLMBackend(model, **options)


def make_backend(
    name: str,
    base_urls: str | Sequence[str] | None = None,
    model: str = "",
    api_key: str | None = None,
    *,
    base_url: str | Sequence[str] | None = None,
    **options: Any,
) -> LLMBackend:
    """`base_urls` (or `base_url`): one URL, a comma-separated string or a list (a fleet).

    Options common to both real backends: `validate` (a `calls.Validator`), `logger`, and
    either `prices=Prices(...)` or `price_in_per_mtok`/`price_out_per_mtok`.
    `structured_output` accepts a bool (True: json_schema, False: prompt-only JSON) or a mode
    name. The rest go to `OpenAIBackendConfig` or `VLLMBackend` as keyword arguments."""
    name = (name or "offline").strip().lower()
    price_in = float(options.pop("price_in_per_mtok", 0.0) or 0.0)
    price_out = float(options.pop("price_out_per_mtok", 0.0) or 0.0)
    if "prices" not in options and (price_in or price_out):
        options["prices"] = Prices(price_in, price_out)
    if name == "offline":
        accepted = {k: v for k, v in options.items() if k in ("candidates_wanted", "edits_wanted")}
        return OfflineBackend(**accepted)
    if name == "openai":
        return _openai_backend(_urls(base_urls) + _urls(base_url), model, api_key, options)
    if name == "vllm":
        return _vllm_backend(model, options)
    raise LLMConfigurationError(f"unknown LLM backend {name!r}; choose one of {BACKENDS}")


def backend_from_env(env: Mapping[str, str] | None = None, **options: Any) -> LLMBackend:
    """GOOSE_LLM_BACKEND / _BASE_URL / _MODEL / _API_KEY, as DESIGN §7 names them. In Dagster,
    prefer the resource with `dg.EnvVar("GOOSE_LLM_API_KEY")`; this is for scripts and the CLI."""
    env = os.environ if env is None else env
    return make_backend(
        env.get("GOOSE_LLM_BACKEND", "offline"),
        base_urls=env.get("GOOSE_LLM_BASE_URL", ""),
        model=env.get("GOOSE_LLM_MODEL", ""),
        api_key=env.get("GOOSE_LLM_API_KEY") or None,
        **options,
    )
