"""The failures a whole run stops on, and the type of an answer validator."""

from __future__ import annotations

from collections.abc import Callable

from goose_assets.core.llm_types import LLMRequest

# (request, text of one choice) -> None when usable, else the quarantine reason
Validator = Callable[[LLMRequest, str], "str | None"]


class LLMBackendError(RuntimeError):
    """A run-level failure: the asset should fail with this message, not quarantine rows."""


class StructuredOutputIgnoredError(LLMBackendError):
    pass


class ErrorRateExceededError(LLMBackendError):
    pass


class LLMConfigurationError(LLMBackendError):
    pass
