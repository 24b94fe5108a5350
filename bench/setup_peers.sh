#!/usr/bin/env bash
# Peer tools for the benchmarks, each in its own venv so they never touch the project's pins.
#   bench/.venv-peer      datatrove[processing] + spacy + orjson (dedup/decontam), resiliparse
#                         (HTML), psutil, py-spy and pyinstrument (profiling)
#   bench/.venv-peer-llm  bespokelabs-curator and distilabel (LLM-client peers) + raw openai
# Idempotent: a venv whose imports already work is left alone. Every outcome, including a
# failed install and its last error lines, is recorded in bench/results/peers_install.json
# so BENCHMARKS.md can say why a peer is missing. pip only: uv ignores the local CPU torch wheel.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-python3.11}"
OUT="$HERE/results/peers_install.json"
LOGDIR="$HERE/.data/install-logs"
mkdir -p "$HERE/results" "$LOGDIR"
# litellm 1.107.0 was a compromised release (see the litellm-check advisory): never resolve to it.
CONSTRAINTS="$LOGDIR/constraints.txt"
printf 'litellm<1.107\n' > "$CONSTRAINTS"

declare -A STATUS
install() {  # install NAME VENV CHECK_IMPORT PKG...
  local name="$1" venv="$2" check="$3"; shift 3
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$check" 2>/dev/null; then
    STATUS[$name]="ok (already installed)"; return
  fi
  [ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
  local start; start=$(date +%s)
  if "$venv/bin/python" -m pip install -q -c "$CONSTRAINTS" "$@" >"$LOGDIR/$name.log" 2>&1 \
     && "$venv/bin/python" -c "$check" >>"$LOGDIR/$name.log" 2>&1; then
    STATUS[$name]="ok ($(( $(date +%s) - start ))s)"
  else
    STATUS[$name]="FAILED: $(tail -n 3 "$LOGDIR/$name.log" | tr '\n"' ' _' | cut -c1-300)"
  fi
}

PEER="$HERE/.venv-peer"
LLM="$HERE/.venv-peer-llm"
install datatrove "$PEER" "import datatrove, spacy, orjson; from datatrove.pipeline.dedup import MinhashDedupSignature" \
  "datatrove[processing]==0.10.1" spacy orjson
install resiliparse "$PEER" "import resiliparse.extract.html2text" resiliparse
install profilers "$PEER" "import psutil, pyinstrument" psutil py-spy pyinstrument
install curator "$LLM" "import bespokelabs.curator, openai, aiohttp" "bespokelabs-curator==0.1.31" openai aiohttp
install distilabel "$LLM" "import distilabel, openai, requests" "distilabel==1.5.3" openai requests

{
  printf '{\n'
  first=1
  for k in "${!STATUS[@]}"; do
    [ $first -eq 1 ] || printf ',\n'
    first=0
    printf '  "%s": "%s"' "$k" "${STATUS[$k]}"
  done
  printf '\n}\n'
} > "$OUT"
cat "$OUT"
