#!/usr/bin/env bash
# Builds the model versions the workers load, when missing (each step reuses a version built from
# the same inputs): intent classifier, sentiment classifier, converted LLM weights.
# Artifacts live in CS_MODEL_DIR (default ~/.cache/cs-platform/models), never in the repo.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
export HF_HUB_OFFLINE=1
PY=.venv/bin/python
$PY -m services.intent.training --promote
$PY -m services.sentiment.training --promote
$PY -m services.generator.llm.weights
