"""In-process `vllm.LLM` for one GPU node (or CPU, for tests), imported only when used.

vllm is an optional extra that pins its own torch, so it lives in its own venv
(`bench/setup_vllm_cpu.sh`); nothing here imports it at module load.

Per `generate` call (one pipeline step) the engine is built, fed the cache misses in chunks,
and torn down (del + gc + the distributed-state helpers), so a step never holds GPU memory
after it returns. Structured output is `SamplingParams(structured_outputs=
StructuredOutputsParams(json=schema))` (vLLM >= 0.12; `GuidedDecodingParams` is gone).
`n` comes from the request (16 for student rollouts, sharing the prompt's KV); prefix
caching is on so the fixed instruction prefix is computed once. The seed is set on the
engine, never per request: per-request seeds crash the CPU worker ("CPU Generator does not
use offset"). Each chunk's answers are checked, re-asked once more if bad, and written to
the cache before the next chunk starts (shared logic in `calls`).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Sequence
from typing import Any

from goose_assets.core.llm_types import LLMRequest, LLMResponse
from goose_assets.core.progress import Progress, ProgressFn
from goose_assets.core.synthesis.synthesis_format import request_format
from goose_assets.llm.base import ResponseCache
from goose_assets.llm.calls.accounting import CallStats, Prices
from goose_assets.llm.calls.cache import ResultSink, split_counted
from goose_assets.llm.calls.checks import check_output, reask_messages
from goose_assets.llm.calls.errors import LLMConfigurationError, Validator
from goose_assets.llm.calls.estimate import DryRunEstimate, estimate_calls
from goose_assets.llm.calls.guards import ConstraintGuard, ErrorRateBreaker

log = logging.getLogger(__name__)


class VLLMBackend:
    """`LLMBackend` over an in-process vLLM engine. `stats` sums every `generate` call."""

    name = "vllm"
    uses_cache = True

    def __init__(
        self,
        model: str,
        *,
        seed: int = 0,
        kv_cache_memory_bytes: int | None = None,  # CPU: 64 MiB; unset takes most of RAM
        max_model_len: int | None = None,
        dtype: str = "auto",
        enable_prefix_caching: bool = True,
        structured_output: bool = True,  # False: prompt-only JSON (the schema still checks)
        structured_outputs_backend: str = "auto",
        disable_any_whitespace: bool = False,
        tensor_parallel_size: int = 1,
        chat_template: str | None = None,
        chunk_size: int = 256,  # prompts per engine call: the write-through granularity
        max_reasks: int = 1,
        constraint_probe: int = 8,
        breaker_min_calls: int = 50,
        breaker_max_error_rate: float = 0.5,
        prices: Prices | None = None,
        validate: Validator | None = None,
        logger: logging.Logger | Any | None = None,
        engine_kwargs: dict[str, Any] | None = None,
        progress_every_s: float = 10.0,
    ) -> None:
        self.model = model
        self.seed = seed
        self.kv_cache_memory_bytes = kv_cache_memory_bytes
        self.max_model_len = max_model_len
        self.dtype = dtype
        self.enable_prefix_caching = enable_prefix_caching
        self.structured_output = structured_output
        self.structured_outputs_backend = structured_outputs_backend
        self.disable_any_whitespace = disable_any_whitespace
        self.tensor_parallel_size = tensor_parallel_size
        self.chat_template = chat_template
        self.chunk_size = max(1, chunk_size)
        self.max_reasks = max_reasks
        self.constraint_probe = constraint_probe
        self.breaker_min_calls = breaker_min_calls
        self.breaker_max_error_rate = breaker_max_error_rate
        self.prices = prices or Prices()  # for hosted-equivalent cost reports; 0 by default
        self.validate = validate
        self.logger = logger or log
        self.engine_kwargs = dict(engine_kwargs or {})
        self.progress_every_s = progress_every_s
        self.stats = CallStats()
        self.engine_seconds: list[float] = []  # engine start-up time per generate call

    def __repr__(self) -> str:
        return f"VLLMBackend(model={self.model!r})"

    # LLMBackend ------------------------------------------------------------------------
    def prepare(self, domain: str, corpus: Sequence[Any]) -> None:
        """Nothing to prepare: the model needs no corpus statistics."""

    def estimate(self, requests: Sequence[LLMRequest], cache: ResponseCache | None = None) -> DryRunEstimate:
        return estimate_calls(self.name, self.model, requests, cache, self.prices)

    def generate(self, requests: Sequence[LLMRequest], cache: ResponseCache | None = None,
                 progress: ProgressFn | None = None) -> list[LLMResponse]:
        requests = list(requests)
        split = split_counted(self.name, self.model, requests, cache, self.stats)
        mode = "engine" if self.structured_output else "prompt"
        guard = ConstraintGuard(self.constraint_probe, mode, f"vllm ({self.model})")
        tracker = Progress(f"vLLM {self.model}", len(requests), self.logger.info, self.progress_every_s, fn=progress)
        sink = ResultSink(self.name, self.model, requests, split, cache, guard, self.stats, tracker)
        tracker.advance(len(requests) - len(split.misses))
        misses = split.misses
        if not misses:
            return sink.responses()
        started = time.monotonic()
        breaker = ErrorRateBreaker(self.breaker_min_calls, self.breaker_max_error_rate, self.stats)
        engine = self._start_engine()
        try:
            for at in range(0, len(misses), self.chunk_size):
                self._run_chunk(engine, requests, misses[at : at + self.chunk_size], sink, breaker)
        finally:
            sink.flush()
            _tear_down(engine)
            self.stats.seconds += time.monotonic() - started
        return sink.responses()

    # internals -------------------------------------------------------------------------
    def engine_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {
            "model": self.model,
            "seed": self.seed,
            "dtype": self.dtype,
            "enable_prefix_caching": self.enable_prefix_caching,
            "tensor_parallel_size": self.tensor_parallel_size,
            "structured_outputs_config": {
                "backend": self.structured_outputs_backend,
                # read from the engine config, not the request
                "disable_any_whitespace": self.disable_any_whitespace,
            },
        }
        if self.kv_cache_memory_bytes is not None:
            args["kv_cache_memory_bytes"] = self.kv_cache_memory_bytes
        if self.max_model_len is not None:
            args["max_model_len"] = self.max_model_len
        args.update(self.engine_kwargs)
        return args

    def _start_engine(self) -> Any:
        try:
            from vllm import LLM
        except ImportError as exc:
            raise LLMConfigurationError(
                "GOOSE_LLM_BACKEND=vllm needs vLLM >= 0.12 importable in this environment "
                "(pip install -e .[vllm] on a GPU node, or bench/setup_vllm_cpu.sh for CPU tests)"
            ) from exc
        begin = time.monotonic()
        engine = LLM(**self.engine_args())
        self.engine_seconds.append(time.monotonic() - begin)
        return engine

    def sampling_params(self, request: LLMRequest) -> Any:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        structured = None
        if request.json_schema is not None and self.structured_output:
            structured = StructuredOutputsParams(json=request.json_schema)
        return SamplingParams(n=request.n, temperature=request.temperature, max_tokens=request.max_tokens,
                              structured_outputs=structured)

    def _run_chunk(self, engine: Any, requests: list[LLMRequest], chunk: list[int], sink: ResultSink,
                   breaker: ErrorRateBreaker) -> None:
        stats = self.stats
        conversation = {i: list(requests[i].messages) for i in chunk}
        tokens = {i: [0, 0] for i in chunk}
        faults: dict[int, list[str]] = {i: [] for i in chunk}
        attempts = dict.fromkeys(chunk, 0)
        pending = list(chunk)
        first_round = True
        while pending:
            chat_kwargs: dict[str, Any] = {"use_tqdm": False}
            if self.chat_template is not None:
                chat_kwargs["chat_template"] = self.chat_template
            outputs = engine.chat([conversation[i] for i in pending],
                                  [self.sampling_params(requests[i]) for i in pending], **chat_kwargs)
            retry: list[int] = []
            for i, out in zip(pending, outputs, strict=True):
                request = requests[i]
                attempts[i] += 1
                stats.calls += 1
                texts = [o.text for o in out.outputs] or [""]
                call_in = len(out.prompt_token_ids or [])
                call_out = sum(len(o.token_ids) for o in out.outputs)
                tokens[i][0] += call_in
                tokens[i][1] += call_out
                stats.tokens_in += call_in
                stats.tokens_out += call_out
                stats.cost_usd += self.prices.cost(call_in, call_out)
                verdicts = [check_output(request, t, self.validate) for t in texts]
                if first_round and request.json_schema is not None:
                    sink.guard.observe(verdicts[0])
                for v in verdicts:
                    if v.repaired:
                        stats.faults["repaired_json"] += 1
                        faults[i].append("repaired_json")
                bad = next((v for v in verdicts if v.reason is not None), None)
                if bad is None:
                    sink.store(i, LLMResponse(request.ref_id, texts, tokens[i][0], tokens[i][1],
                                              attempts=attempts[i], faults=faults[i],
                                              validation=verdicts[0].validation))
                    continue
                assert bad.reason is not None
                stats.failed_calls += 1
                stats.faults[bad.reason] += 1
                faults[i].append(bad.reason)
                if attempts[i] <= self.max_reasks and len(texts) == 1:
                    stats.reasks += 1
                    conversation[i] = reask_messages(list(request.messages), texts[0], bad.reason, request.json_schema,
                                                    request_format(request.inputs))
                    retry.append(i)
                    continue
                detail = f": {bad.detail}" if bad.detail else ""
                sink.store(i, LLMResponse(request.ref_id, texts, tokens[i][0], tokens[i][1],
                                          error=f"{bad.reason}{detail}", attempts=attempts[i], faults=faults[i]))
            breaker.check(stats)
            pending = retry
            first_round = False


def _tear_down(engine: Any) -> None:
    """Give the engine's memory back before the step returns (GPU memory is per process)."""
    try:
        shutdown = getattr(getattr(engine, "llm_engine", None), "shutdown", None)
        if callable(shutdown):
            shutdown()
    except Exception as exc:  # teardown is best effort; the step's result is already safe
        log.debug("vLLM engine shutdown: %s", exc)
    del engine
    gc.collect()
    try:
        from vllm.distributed.parallel_state import (
            destroy_distributed_environment,
            destroy_model_parallel,
        )

        destroy_model_parallel()
        destroy_distributed_environment()
    except Exception as exc:
        log.debug("vLLM distributed teardown: %s", exc)
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception as exc:
        log.debug("torch cache release: %s", exc)

