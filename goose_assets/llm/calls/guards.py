"""The guards that stop a run that cannot succeed: an ignored structured-output
constraint, and an error rate past its limit."""

from __future__ import annotations

from collections import Counter

from goose_assets.llm.calls.accounting import CallStats
from goose_assets.llm.calls.checks import OutputCheck
from goose_assets.llm.calls.errors import ErrorRateExceededError, StructuredOutputIgnoredError


class ConstraintGuard:
    """Fails the run when structured output is evidently not applied.

    Old vLLM servers drop unknown fields (`guided_json` since 0.12) without an error and
    return unconstrained text, so every answer would be quarantined at full price. After the
    first `probe` schema-bound replies, if more than half do not parse as the schema, stop."""

    def __init__(self, probe: int, mode: str, backend: str) -> None:
        self.probe = probe
        self.mode = mode
        self.backend = backend
        self.seen = 0
        self.broken = 0
        self.decided = probe <= 0
        self.failed = False

    @property
    def passed(self) -> bool:
        """Decided, and the constraint holds: failed answers may now be cached."""
        return self.decided and not self.failed

    def observe(self, verdict: OutputCheck) -> None:
        if self.decided:
            return
        self.seen += 1
        self.broken += 0 if verdict.schema_ok else 1
        if self.seen < self.probe:
            return
        self.decided = True
        if self.broken * 2 > self.seen:
            self.failed = True
            if self.mode == "json_schema":
                cause = (
                    "the server is ignoring the structured-output constraint. Likely causes: a vLLM "
                    "older than 0.10.2 (or a server without response_format json_schema support) "
                    "that silently drops the request's json_schema, a server that expects the old "
                    "`guided_json` field (removed in vLLM 0.12), or a structured-output backend "
                    "that is disabled. Check the server version and its structured-output config, "
                    "or set structured_output='prompt' if the server cannot constrain output"
                )
            elif self.mode == "engine":
                cause = (
                    "vLLM did not apply StructuredOutputsParams (check the installed vLLM version: "
                    "GuidedDecodingParams was removed in 0.12, and the structured-output backend "
                    "must be available)"
                )
            else:
                cause = (
                    "structured output is off (structured_output='prompt') and the model does not "
                    "follow the JSON instructions; enable json_schema on a server that supports it"
                )
            raise StructuredOutputIgnoredError(
                f"{self.broken} of the first {self.seen} {self.backend} replies do not parse as the "
                f"requested JSON schema: {cause}."
            )


class ErrorRateBreaker:
    """Fails the run when most calls fail, instead of quarantining everything at full price."""

    def __init__(self, min_calls: int, max_error_rate: float, stats: CallStats | None = None) -> None:
        self.min_calls = min_calls
        self.max_error_rate = max_error_rate
        # counts are taken from here on: an earlier healthy run must not dilute this one
        self.base_calls = stats.calls if stats else 0
        self.base_failed = stats.failed_calls if stats else 0
        self.base_faults = Counter(stats.faults) if stats else Counter()

    def check(self, stats: CallStats) -> None:
        calls = stats.calls - self.base_calls
        if self.min_calls <= 0 or calls < self.min_calls:
            return
        failed = stats.failed_calls - self.base_failed
        rate = failed / calls
        if rate > self.max_error_rate:
            top = ", ".join(f"{k}={v}" for k, v in (stats.faults - self.base_faults).most_common(4))
            raise ErrorRateExceededError(
                f"{failed} of {calls} LLM calls failed ({rate:.0%} > "
                f"{self.max_error_rate:.0%}); most common faults: {top}. Stopping instead of "
                "quarantining the rest; answers received so far are cached."
            )
