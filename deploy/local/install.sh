#!/usr/bin/env bash
# Installs everything the project needs on a fresh machine, idempotently:
#   - .venv with the exact versions of requirements.lock (pip's cache makes a second run fast)
#   - the Kafka broker jars (Maven), FerretDB (Go), buf (Go): see deploy/local/stack.sh install
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
PYTHON_BOOTSTRAP=${CS_PYTHON_BOOTSTRAP:-python3}

"$PYTHON_BOOTSTRAP" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' \
  || { echo "install: Python 3.11 is required (found $("$PYTHON_BOOTSTRAP" --version 2>&1)); set CS_PYTHON_BOOTSTRAP" >&2; exit 1; }

if [[ ! -x .venv/bin/python ]]; then
  echo "install: creating .venv"
  "$PYTHON_BOOTSTRAP" -m venv .venv
fi
stamp=".venv/.installed-$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
  echo "install: Python packages from requirements.lock (first run downloads ~4 GB: torch with CUDA libraries)"
  .venv/bin/python -m pip install -q --upgrade pip==26.3 setuptools==84.2.1
  .venv/bin/python -m pip install -q --no-deps -r requirements.lock
  .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
  rm -f .venv/.installed-*
  touch "$stamp"
fi
bash deploy/local/stack.sh install
echo "install: done"
