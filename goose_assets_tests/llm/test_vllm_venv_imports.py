"""The vLLM check imports project modules inside the vLLM venv, which holds vLLM's own
dependencies and not the project's. This runs without that venv (unlike test_vllm_cpu.py),
so a top-level import of a project-only package on that path fails here, not only in CI
after the venv has been built.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# the project's own dependencies that vllm-cpu 0.32.0 does not install (scipy broke it once)
PROJECT_ONLY = {"scipy", "sklearn", "polars", "duckdb", "dagster", "great_expectations", "datasets",
                "trafilatura", "threadpoolctl", "sentence_transformers"}


def test_the_vllm_check_loads_no_project_only_package():
    probe = ("import json, sys; before = set(sys.modules); import goose_assets_tests.llm.vllm_cpu_check; "
             "print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before})))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = set(json.loads(proc.stdout.splitlines()[-1]))
    assert "goose_assets" in loaded  # the probe really imported the check
    assert not loaded & PROJECT_ONLY, f"the vLLM venv lacks {sorted(loaded & PROJECT_ONLY)}: import it lazily"
