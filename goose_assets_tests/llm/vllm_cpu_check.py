"""Real vLLM on CPU through `VLLMBackend`: run with the vllm venv's python (test_vllm_cpu.py does).

A random model can only produce schema-valid JSON if the constraint is really applied, so
this proves the structured-output wiring end to end:
1. 16 synthesis requests (three shapes) under the JSON schema: every reply must parse with
   plain `json.loads(strict=False)` (no repair) and satisfy the schema;
2. the same 16 without the constraint: most must not;
3. without the constraint and with the guard on: the run must fail loudly;
4. student requests with n=4 return 4 texts each;
5. a re-run against the cache starts no engine;
6. the *openai* backend against a real `vllm serve` (the OpenAI-compatible server, started on
   127.0.0.1 with the same model): every structured-output mode that carries the schema
   (`response_format` json_schema, vLLM's `structured_outputs` field) gives schema-valid
   JSON, prompt-only JSON does not, and the guard fails that run loudly.
Prints one JSON object with the measurements.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # in-process: ~2 s start, ~1 GB
os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from goose_assets.llm.calls.checks import schema_problem  # noqa: E402
from goose_assets.llm.calls.errors import StructuredOutputIgnoredError  # noqa: E402
from goose_assets.llm.openai_backend import OpenAIBackend  # noqa: E402
from goose_assets.llm.vllm_backend import VLLMBackend  # noqa: E402
from goose_assets_tests.llm.helpers import MemoryCache, mixed_requests, student_request  # noqa: E402
from goose_assets_tests.llm.tiny_llama import build_model  # noqa: E402

KV_CACHE_BYTES = 64 * 1024**2


def strictly_valid(text: str, schema: dict) -> bool:
    try:
        obj = json.loads(text, strict=False)  # xgrammar may let control characters into strings
    except ValueError:
        return False
    return schema_problem(obj, schema) is None


def backend(model_dir: Path, **options: object) -> VLLMBackend:
    # enforce_eager: torch.compile's warm-up costs 15-75 s per engine on 2 cores, longer than
    # the whole generation of a 64-dim model
    return VLLMBackend(str(model_dir), kv_cache_memory_bytes=KV_CACHE_BYTES, max_model_len=4096, seed=0,
                       max_reasks=0, validate=lambda request, text: None,  # type: ignore[arg-type]
                       engine_kwargs={"enforce_eager": True}, **options)


def serve(model_dir: Path) -> tuple[subprocess.Popen[bytes], str, float]:
    """`vllm serve` on a free loopback port (the `vllm` console script is broken in vllm-cpu)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir), "--host", "127.0.0.1",
         "--port", str(port), "--kv-cache-memory-bytes", str(KV_CACHE_BYTES), "--enforce-eager",
         "--max-model-len", "4096", "--seed", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    started = time.monotonic()
    import urllib.request

    while time.monotonic() - started < 400:
        if proc.poll() is not None:
            raise RuntimeError(f"vllm serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2):
                return proc, f"http://127.0.0.1:{port}/v1", time.monotonic() - started
        except OSError:
            time.sleep(1)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError("vllm serve was not healthy within 400 s")


def against_server(model_dir: Path, out: dict[str, object]) -> None:
    proc, url, startup = serve(model_dir)
    out["serve_startup_s"] = round(startup, 1)
    try:
        requests = mixed_requests(16)
        for r in requests:
            r.max_tokens = 192
        for mode in ("json_schema", "vllm_extra_body", "prompt"):
            client = OpenAIBackend(url, str(model_dir), None, structured_output=mode, max_in_flight=16,  # type: ignore[arg-type]
                                   max_reasks=0, constraint_probe=0, validate=lambda request, text: None)
            replies = client.generate(requests)
            out[f"serve_{mode}_valid"] = sum(bool(r.texts) and strictly_valid(r.texts[0], q.json_schema or {})
                                             for r, q in zip(replies, requests, strict=True))
            out[f"serve_{mode}_errors"] = sum(r.error is not None for r in replies)
        try:
            OpenAIBackend(url, str(model_dir), None, structured_output="prompt", max_reasks=0).generate(requests[:8])
            out["serve_guard_raised"] = False
        except StructuredOutputIgnoredError:
            out["serve_guard_raised"] = True
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and its engine process
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def main() -> None:
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="tiny-llama-") as tmp:
        started = time.monotonic()
        model_dir = build_model(Path(tmp) / "model", REPO)
        out["build_model_s"] = round(time.monotonic() - started, 2)
        requests = mixed_requests(16)
        for r in requests:
            r.max_tokens = 192  # a constrained reply takes ~65 tokens

        constrained = backend(model_dir)
        cache = MemoryCache()
        started = time.monotonic()
        replies = constrained.generate(requests, cache)
        out["constrained_s"] = round(time.monotonic() - started, 2)
        out["engine_start_s"] = round(constrained.engine_seconds[0], 2)
        out["constrained_valid"] = sum(strictly_valid(r.texts[0], q.json_schema or {}) for r, q in zip(replies, requests, strict=True))
        out["constrained_total"] = len(requests)
        out["constrained_tokens_out"] = constrained.stats.tokens_out
        out["sample_constrained"] = replies[0].texts[0][:300]

        again = backend(model_dir)
        rerun = again.generate(requests, cache)
        out["rerun_cached"] = sum(r.cached for r in rerun)
        out["rerun_engine_starts"] = len(again.engine_seconds)

        free = backend(model_dir, structured_output=False, constraint_probe=0)
        loose = free.generate(requests)
        out["unconstrained_valid"] = sum(strictly_valid(r.texts[0], q.json_schema or {}) for r, q in zip(loose, requests, strict=True))
        out["sample_unconstrained"] = loose[0].texts[0][:200]

        probe = mixed_requests(8)
        for r in probe:
            r.max_tokens = 64
        try:
            backend(model_dir, structured_output=False, constraint_probe=8).generate(probe)
            out["guard_raised"] = False
        except StructuredOutputIgnoredError as exc:
            out["guard_raised"] = True
            out["guard_message"] = str(exc)[:200]

        rollouts = [student_request(i, n=4) for i in range(4)]
        for r in rollouts:
            r.max_tokens = 64
        students = backend(model_dir).generate(rollouts)
        out["student_texts_per_request"] = sorted({len(r.texts) for r in students})
        out["student_errors"] = sum(r.error is not None for r in students)
        if os.environ.get("GOOSE_VLLM_SERVE_CHECK", "1") == "1":
            against_server(model_dir, out)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    import vllm

    out["vllm_version"] = vllm.__version__
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()
