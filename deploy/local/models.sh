#!/usr/bin/env bash
# Builds the model versions the workers load, when missing (each step reuses a version built from
# the same inputs), and prints how long each step took: intent classifier, sentiment classifier,
# converted LLM weights.
# Artifacts live in CS_MODEL_DIR (default ~/.cache/cs-platform/models), never in the repo.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
export HF_HUB_OFFLINE=1
PY=.venv/bin/python

timed() {  # label command...: runs the command, then prints how long it took
  local label=$1 started=$SECONDS
  shift
  "$@"
  printf 'models: %s %d s\n' "$label" "$((SECONDS - started))"
}

started=$SECONDS
timed "intent classifier" $PY -m services.intent.training --promote
timed "sentiment classifier" $PY -m services.sentiment.training --promote
timed "LLM weights" $PY -m services.generator.llm.weights
printf 'models: done in %d s\n' "$((SECONDS - started))"
