"""Any OpenAI-compatible endpoint (`vllm serve`, hosted APIs), or a fleet of them.

Callers are sync Dagster assets, so `generate` runs its own event loop. Inside it a fixed
pool of `max_in_flight` workers takes requests off a queue; each worker owns its request
until it is answered or given up:

    cache look-up (all keys at once) -> for each miss:
      pick the least-loaded healthy server -> call (own timeout; the SDK's retries are off)
        transport fault  -> back off (exponential, jittered; Retry-After wins) and retry,
                            preferring another server
        bad output       -> re-ask with a corrective turn (parse, repair, schema, content)
      -> write the final response to the cache at once (a crash loses only calls in flight)

Two guards stop a run that cannot succeed rather than quarantining everything at full
price: `ConstraintGuard` (the server ignores structured output) and `ErrorRateBreaker`.

Transport (`http_client`): "auto" (the default) sends the chat-completions POST straight over
one aiohttp session per server (`_DirectClient`): the same wire format, auth header and
status mapping as the SDK, without its per-call layers (request options, httpx request and
URL models, header merging, the httpx-over-aiohttp adapter): they were ~70% of the client's
CPU per call (0.85 -> 0.26 ms at C=128) and what capped one client process at high
concurrency (BENCHMARKS.md §3). "aiohttp" and "httpx" keep the openai SDK client with that transport.
The API key lives only inside the HTTP clients: it is in no log line, repr or stats dict.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import openai
from openai import AsyncOpenAI

try:  # a dependency through openai[aiohttp]; without it "auto" falls back to the SDK on httpx
    import aiohttp
except ImportError:  # pragma: no cover - exercised only on a broken install
    aiohttp = None  # type: ignore[assignment]

from goose_assets.core.llm_types import LLMRequest, LLMResponse
from goose_assets.core.progress import Progress, ProgressFn
from goose_assets.core.prompts import family
from goose_assets.core.synthesis.synthesis_format import request_format
from goose_assets.llm.base import ResponseCache
from goose_assets.llm.calls.accounting import CallStats, Prices
from goose_assets.llm.calls.cache import ResultSink, split_counted
from goose_assets.llm.calls.checks import check_output, reask_messages
from goose_assets.llm.calls.errors import LLMBackendError, LLMConfigurationError, Validator
from goose_assets.llm.calls.estimate import DryRunEstimate, estimate_calls
from goose_assets.llm.calls.guards import ConstraintGuard, ErrorRateBreaker

log = logging.getLogger(__name__)

StructuredOutputMode = Literal["json_schema", "json_object", "vllm_extra_body", "prompt"]


class HTTPStatusFailure(Exception):
    """A non-2xx reply on the direct transport: what `openai.APIStatusError` is for the SDK,
    with the same message ("Error code: 400 - <the server's error message>")."""

    def __init__(self, status_code: int, headers: Mapping[str, str], body: Any) -> None:
        self.status_code = status_code
        self.headers = headers
        self.body = body
        error = body.get("error", body) if isinstance(body, dict) else None
        said = error.get("message") if isinstance(error, dict) else None
        self.message = f"Error code: {status_code}" + (f" - {said}" if isinstance(said, str) and said else "")
        super().__init__(self.message)


class _DirectClient:
    """POST /chat/completions on one server over one aiohttp session (keep-alive pool sized
    for every worker). Returns the decoded JSON body; raises `HTTPStatusFailure` for a
    non-2xx reply and aiohttp's own errors for transport faults (see `classify`). Timeouts
    are the caller's (`asyncio.timeout` around each call)."""

    def __init__(self, base_url: str, api_key: str, max_in_flight: int) -> None:
        self._url = base_url + "/chat/completions"
        self._proxy = _env_proxy(base_url)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max(100, 2 * max_in_flight), limit_per_host=0),
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json",
                     "Accept": "application/json", "User-Agent": "goose-assets"},
            timeout=aiohttp.ClientTimeout(total=None),
        )

    def __repr__(self) -> str:
        return f"_DirectClient({self._url!r})"

    async def chat(self, body: dict[str, Any]) -> Any:
        async with self._session.post(self._url, data=json.dumps(body).encode(), proxy=self._proxy) as resp:
            raw = await resp.read()
            if not 200 <= resp.status < 300:
                try:
                    parsed: Any = json.loads(raw)
                except ValueError:
                    parsed = raw.decode("utf-8", "replace").strip()
                raise HTTPStatusFailure(resp.status, resp.headers, parsed)
        return json.loads(raw)  # a ValueError here is a bad body: retried

    async def close(self) -> None:
        await self._session.close()


def _env_proxy(url: str) -> str | None:
    """The HTTP(S)_PROXY that applies to `url` (NO_PROXY honoured), read once per session,
    as the SDK's httpx client would; none for loopback. (aiohttp's own `trust_env` would
    re-read the environment and ~/.netrc on every request.)"""
    import urllib.request
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if host in ("localhost", "::1") or host.startswith("127.") or urllib.request.proxy_bypass_environment(host):
        return None
    return urllib.request.getproxies_environment().get(parts.scheme)


class _SDKClient:
    """The openai SDK's documented raw `post`: same auth, errors and status mapping as
    `chat.completions.create`, without its param transform and pydantic model build."""

    def __init__(self, client: AsyncOpenAI) -> None:
        self._client = client

    async def chat(self, body: dict[str, Any]) -> Any:
        return await self._client.post("/chat/completions", cast_to=object, body=body)

    async def close(self) -> None:
        await self._client.close()


@dataclass
class _Server:
    """One base URL of the fleet, with its health."""

    base_url: str
    client: _DirectClient | _SDKClient
    in_flight: int = 0
    calls: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    down_until: float = 0.0
    probing: bool = False  # back from cool-down: one trial request decides
    removals: int = 0

    def snapshot(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "calls": self.calls, "failures": self.failures,
                "removals": self.removals, "in_flight": self.in_flight,
                "down": self.down_until > time.monotonic()}


class Fleet:
    """Least-in-flight routing over servers, with a per-server circuit breaker: after
    `failure_threshold` consecutive transport failures a server leaves the rotation for
    `cooldown_s`, then one probe request decides whether it is back."""

    def __init__(self, servers: list[_Server], failure_threshold: int, cooldown_s: float,
                 logger: logging.Logger | Any) -> None:
        self.servers = servers
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self.logger = logger

    def _available(self, now: float) -> list[_Server]:
        out = []
        for s in self.servers:
            if s.down_until > now or (s.probing and s.in_flight > 0):
                continue
            out.append(s)
        return out

    async def acquire(self, avoid: _Server | None = None) -> _Server:
        while True:
            now = time.monotonic()
            candidates = self._available(now)
            if avoid is not None and len(candidates) > 1:
                candidates = [s for s in candidates if s is not avoid] or candidates
            if candidates:
                server = min(candidates, key=lambda s: (s.in_flight, s.calls))
                if server.down_until and server.down_until <= now and not server.probing:
                    server.probing = True  # first request after the cool-down
                server.in_flight += 1
                server.calls += 1
                return server
            wake = min((s.down_until for s in self.servers if s.down_until > now), default=now + 0.05)
            await asyncio.sleep(min(1.0, max(0.01, wake - now)))

    def release(self, server: _Server, healthy: bool | None) -> None:
        """`healthy` None: the call says nothing about the server (429, a bad answer)."""
        server.in_flight -= 1
        if healthy is None or (not healthy and server.probing and not any(
                s is not server and s.down_until <= time.monotonic() for s in self.servers)):
            if server.probing:
                server.probing = False
                server.down_until = 0.0
            return
        if healthy:
            if server.probing or server.down_until:
                self.logger.info(f"LLM server {server.base_url} is back in rotation")
            server.consecutive_failures = 0
            server.probing = False
            server.down_until = 0.0
            return
        server.failures += 1
        server.consecutive_failures += 1
        others_up = any(s is not server and s.down_until <= time.monotonic() for s in self.servers)
        # the last server standing stays in: backoff paces it, and the error-rate breaker
        # stops the run if it is really dead
        if others_up and (server.probing or server.consecutive_failures >= self.failure_threshold):
            server.probing = False
            server.down_until = time.monotonic() + self.cooldown_s
            server.removals += 1
            server.consecutive_failures = 0
            self.logger.warning(
                f"LLM server {server.base_url} out of rotation for {self.cooldown_s:g}s after "
                f"repeated failures")


@dataclass(slots=True)
class _Failure:
    fault: str
    retryable: bool
    server_health: bool | None  # False counts toward taking the server out of rotation
    retry_after_s: float | None = None
    fatal: str | None = None


def _retry_after(headers: Any) -> float | None:
    """Seconds from `retry-after-ms` or `Retry-After` (seconds or an HTTP date)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _caused_by_disconnect(exc: BaseException) -> bool:
    """Some transports (httpx-aiohttp) report a dropped connection as a timeout; the
    exception chain still holds the disconnect."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ConnectionError) or type(cause).__name__ in (
            "ServerDisconnectedError", "ClientOSError", "ClientConnectionResetError", "RemoteProtocolError",
        ):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def classify(exc: BaseException) -> _Failure:
    if aiohttp is not None and isinstance(exc, aiohttp.InvalidURL):
        return _Failure("invalid_url", False, None, fatal="the base URL is not a valid URL")
    if isinstance(exc, openai.APIConnectionError | TimeoutError) and _caused_by_disconnect(exc):
        return _Failure("connection_error", True, False)
    if isinstance(exc, openai.APITimeoutError | TimeoutError):
        return _Failure("timeout", True, False)
    if isinstance(exc, openai.APIConnectionError):
        return _Failure("connection_error", True, False)
    if aiohttp is not None and isinstance(exc, aiohttp.ClientError):  # direct transport
        return _Failure("connection_error", True, False)
    if isinstance(exc, openai.APIStatusError | HTTPStatusFailure):
        status = exc.status_code
        headers = exc.headers if isinstance(exc, HTTPStatusFailure) else getattr(exc.response, "headers", None)
        after = _retry_after(headers)
        fault = f"http_{status}"
        if status in (401, 403):
            return _Failure(fault, False, None, fatal="the server rejected the API key (check GOOSE_LLM_API_KEY)")
        if status == 404:
            return _Failure(fault, False, None, fatal="the model or endpoint was not found (check GOOSE_LLM_MODEL and the base URL, which must end in /v1)")
        if status == 429:
            return _Failure(fault, True, None, after)
        if status in (408, 409) or status >= 500:
            return _Failure(fault, True, False, after)
        # 400/422: this request is malformed for this server; say what the server said
        said = str(getattr(exc, "message", "") or "")[:200]
        hint = " (if it rejects response_format, try structured_output='prompt' or 'vllm_extra_body')" \
            if "response_format" in said or "json_schema" in said else ""
        return _Failure(f"{fault}: {said}{hint}" if said else fault, False, None)
    if isinstance(exc, openai.APIResponseValidationError | ValueError):
        return _Failure("bad_http_body", True, False)
    return _Failure(f"client_error_{type(exc).__name__}", False, None)


@dataclass
class OpenAIBackendConfig:
    max_in_flight: int = 32
    timeout_s: float = 120.0
    max_retries: int = 6  # transport retries per request (re-asks are counted apart)
    max_reasks: int = 2  # corrective re-asks per request for a bad answer
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 120.0
    structured_output: StructuredOutputMode = "json_schema"
    send_seed: bool = False  # vLLM on CPU crashes on per-request seeds; hosted APIs accept them
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    constraint_probe: int = 8  # replies checked before deciding the constraint is applied
    breaker_min_calls: int = 50
    breaker_max_error_rate: float = 0.5
    server_failure_threshold: int = 3
    server_cooldown_s: float = 30.0
    # "auto": the direct aiohttp transport; "aiohttp" / "httpx": the openai SDK on that transport
    http_client: Literal["auto", "httpx", "aiohttp"] = "auto"
    progress_every_s: float = 10.0
    prices: Prices = field(default_factory=Prices)


class OpenAIBackend:
    """`LLMBackend` for OpenAI-compatible servers. `stats` sums every `generate` call."""

    name = "openai"
    uses_cache = True

    def __init__(
        self,
        base_urls: str | Sequence[str],
        model: str,
        api_key: str | None = None,
        *,
        config: OpenAIBackendConfig | None = None,
        validate: Validator | None = None,
        logger: logging.Logger | Any | None = None,
        **options: Any,
    ) -> None:
        urls = [u.strip() for u in ([base_urls] if isinstance(base_urls, str) else base_urls)]
        urls = [u for part in urls for u in part.split(",") if u.strip()]
        if not urls:
            raise LLMConfigurationError("the openai backend needs at least one base URL")
        self.base_urls = [u.strip().rstrip("/") for u in urls]
        self.model = model
        self.config = config or OpenAIBackendConfig()
        for key, value in options.items():  # flat keyword options, e.g. from make_backend
            if not hasattr(self.config, key):
                raise TypeError(f"unknown openai backend option {key!r}")
            setattr(self.config, key, value)
        self.validate = validate
        self.logger = logger or log
        self.stats = CallStats()
        # the key is kept out of __dict__'s obvious names and out of repr; "EMPTY" is what
        # vLLM and most local servers accept when they need no key
        self.__api_key = api_key or "EMPTY"

    def __repr__(self) -> str:
        return f"OpenAIBackend(base_urls={self.base_urls!r}, model={self.model!r})"

    # LLMBackend ------------------------------------------------------------------------
    def prepare(self, domain: str, corpus_texts: Sequence[str]) -> None:
        """Nothing to prepare: the model needs no corpus statistics."""

    def generate(self, requests: Sequence[LLMRequest], cache: ResponseCache | None = None,
                 progress: ProgressFn | None = None) -> list[LLMResponse]:
        requests = list(requests)
        split = split_counted(self.name, self.model, requests, cache, self.stats)
        cfg = self.config
        guard = ConstraintGuard(cfg.constraint_probe, cfg.structured_output, f"openai ({self.model})")
        tracker = Progress(f"LLM {self.model}", len(requests), self.logger.info, cfg.progress_every_s, fn=progress)
        sink = ResultSink(self.name, self.model, requests, split, cache, guard, self.stats, tracker)
        tracker.advance(len(requests) - len(split.misses))  # cache hits are done already
        if split.misses:
            started = time.monotonic()
            try:
                _run_sync(self._generate_misses(requests, split.misses, sink))
            finally:
                self.stats.seconds += time.monotonic() - started
        return sink.responses()

    def estimate(self, requests: Sequence[LLMRequest], cache: ResponseCache | None = None) -> DryRunEstimate:
        """Dry run: calls after cache hits, estimated tokens and cost. Makes no calls."""
        return estimate_calls(self.name, self.model, requests, cache, self.config.prices)

    def stats_dict(self) -> dict[str, Any]:
        """Counters, faults, tokens, cost and per-server counts (no secrets)."""
        return {**self.stats.as_dict(), "servers": list(self.stats.servers)}

    # internals -------------------------------------------------------------------------
    def _client(self, base_url: str) -> _DirectClient | _SDKClient:
        """Called inside the running loop (an aiohttp session binds to it)."""
        choice = self.config.http_client
        if choice == "auto" and aiohttp is not None:
            return _DirectClient(base_url, self.__api_key, self.config.max_in_flight)
        limits = _limits(self.config.max_in_flight)
        if choice == "aiohttp":
            http: Any = openai.DefaultAioHttpClient(timeout=self.config.timeout_s, limits=limits)
        else:
            http = openai.DefaultAsyncHttpxClient(timeout=self.config.timeout_s, limits=limits)
        return _SDKClient(AsyncOpenAI(api_key=self.__api_key, base_url=base_url, max_retries=0,
                                      timeout=self.config.timeout_s, http_client=http))

    def _params(self, request: LLMRequest, messages: list[dict[str, str]]) -> dict[str, Any]:
        cfg = self.config
        params: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": request.temperature,
            cfg.max_tokens_field: request.max_tokens,
        }
        if request.n != 1:
            params["n"] = request.n
        if cfg.send_seed:
            params["seed"] = request.seed
        schema = request.json_schema
        if schema is not None:
            if cfg.structured_output == "json_schema":
                shape = request.inputs.get("shape", "")
                name = f"{request.kind}_{family(shape) if isinstance(shape, str) and shape else 'output'}"
                params["response_format"] = {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}
            elif cfg.structured_output == "json_object":
                params["response_format"] = {"type": "json_object"}
            elif cfg.structured_output == "vllm_extra_body":
                params["structured_outputs"] = {"json": schema}  # vLLM's own request field
        return params

    def _delay(self, failures: int, retry_after: float | None) -> float:
        cfg = self.config
        if retry_after is not None:  # the server said when; a little jitter de-synchronizes workers
            return min(cfg.max_retry_after_s, retry_after) * random.uniform(1.0, 1.1)
        cap = min(cfg.backoff_max_s, cfg.backoff_base_s * 2 ** (failures - 1))
        return cap / 2 + random.uniform(0, cap / 2)

    async def _generate_misses(self, requests: list[LLMRequest], misses: list[int], sink: ResultSink) -> None:
        cfg = self.config
        servers = [_Server(url, self._client(url)) for url in self.base_urls]
        fleet = Fleet(servers, cfg.server_failure_threshold, cfg.server_cooldown_s, self.logger)
        breaker = ErrorRateBreaker(cfg.breaker_min_calls, cfg.breaker_max_error_rate, self.stats)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in misses:
            queue.put_nowait(i)

        async def worker() -> None:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                sink.store(i, await self._answer(requests[i], fleet, sink.guard, breaker))

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(cfg.max_in_flight, len(misses))):
                    group.create_task(worker())
                    # one loop turn per worker: each sends its first request as soon as its
                    # connection is up, instead of every request waiting behind all C connects
                    await asyncio.sleep(0)
        except BaseExceptionGroup as group_error:
            fatal = [e for e in group_error.exceptions if isinstance(e, LLMBackendError)]
            raise (fatal[0] if fatal else group_error.exceptions[0]) from None
        finally:
            sink.flush()  # a no-op when the guard found the constraint ignored
            before = {row["base_url"]: row for row in self.stats.servers}
            self.stats.servers = [_merge_server(before.get(s.base_url), s.snapshot()) for s in servers]
            for s in servers:
                await s.client.close()

    async def _answer(self, request: LLMRequest, fleet: Fleet, guard: ConstraintGuard,
                      breaker: ErrorRateBreaker) -> LLMResponse:
        cfg, stats = self.config, self.stats
        messages = list(request.messages)
        faults: list[str] = []
        attempts = transport_failures = reasks = 0
        tokens_in = tokens_out = 0
        avoid: _Server | None = None
        while True:
            server = await fleet.acquire(avoid)
            attempts += 1
            stats.calls += 1
            try:
                async with asyncio.timeout(cfg.timeout_s):
                    completion = await server.client.chat(self._params(request, messages))
                if not isinstance(completion, dict) or not isinstance(completion.get("choices"), list):
                    raise ValueError("the server's reply is not a chat completion")
            except asyncio.CancelledError:
                fleet.release(server, None)
                raise
            except Exception as exc:  # classified below; anything unknown is not retried
                failure = classify(exc)
                fleet.release(server, failure.server_health)
                kind = failure.fault.split(":", 1)[0]
                stats.failed_calls += 1
                stats.faults[kind] += 1
                faults.append(kind)
                if failure.fatal:
                    raise LLMConfigurationError(f"{failure.fault} from {server.base_url}: {failure.fatal}") from None
                breaker.check(stats)
                if not failure.retryable or transport_failures >= cfg.max_retries:
                    why = "not retryable" if not failure.retryable else f"{transport_failures + 1} failed attempts"
                    return LLMResponse(request.ref_id, [], tokens_in, tokens_out, error=f"transport: {failure.fault} ({why})",
                                       attempts=attempts, faults=faults)
                transport_failures += 1
                stats.retries += 1
                avoid = server
                await asyncio.sleep(self._delay(transport_failures, failure.retry_after_s))
                continue
            fleet.release(server, True)
            avoid = None
            usage = completion.get("usage") or {}
            call_in = int(usage.get("prompt_tokens") or 0)
            call_out = int(usage.get("completion_tokens") or 0)
            tokens_in += call_in
            tokens_out += call_out
            stats.tokens_in += call_in
            stats.tokens_out += call_out
            stats.cost_usd += cfg.prices.cost(call_in, call_out)
            texts = [str(((choice or {}).get("message") or {}).get("content") or "") for choice in completion["choices"]]
            texts = texts or [""]
            verdicts = [check_output(request, t, self.validate) for t in texts]
            if request.json_schema is not None:
                guard.observe(verdicts[0])
            for v in verdicts:
                if v.repaired:
                    stats.faults["repaired_json"] += 1
                    faults.append("repaired_json")
            bad = next((v for v in verdicts if v.reason is not None), None)
            if bad is None:
                return LLMResponse(request.ref_id, texts, tokens_in, tokens_out, attempts=attempts, faults=faults,
                                   validation=verdicts[0].validation)
            assert bad.reason is not None
            stats.failed_calls += 1
            stats.faults[bad.reason] += 1
            faults.append(bad.reason)
            breaker.check(stats)
            if reasks < cfg.max_reasks and len(texts) == 1:
                reasks += 1
                stats.reasks += 1
                messages = reask_messages(list(request.messages), texts[0], bad.reason, request.json_schema,
                                           request_format(request.inputs))
                continue
            detail = f": {bad.detail}" if bad.detail else ""
            return LLMResponse(request.ref_id, texts, tokens_in, tokens_out, error=f"{bad.reason}{detail}",
                               attempts=attempts, faults=faults)


def _limits(max_in_flight: int) -> Any:
    # every worker may hold a connection; keep-alive for all of them avoids reconnects
    import httpx2

    return httpx2.Limits(max_connections=max(100, max_in_flight * 2), max_keepalive_connections=max(20, max_in_flight * 2))


def _merge_server(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    if old is None:
        return new
    return {**new, **{k: old[k] + new[k] for k in ("calls", "failures", "removals")}}


def _run_on_new_loop(coro: Any) -> None:
    """uvloop when installed (it ships with uvicorn[standard], a dagster-webserver
    dependency): less event-loop CPU per request, which is what caps one client process."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(coro)


def _run_sync(coro: Any) -> None:
    """Run the coroutine on a private loop; from inside a running loop, on a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        _run_on_new_loop(coro)
        return
    outcome: list[BaseException] = []

    def target() -> None:
        try:
            _run_on_new_loop(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            outcome.append(exc)

    thread = threading.Thread(target=target, name="openai-backend-loop")
    thread.start()
    thread.join()
    if outcome:
        raise outcome[0]
