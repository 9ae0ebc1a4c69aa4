#!/usr/bin/env bash
# Installs what the project needs on a fresh machine, idempotently, and says how long each step took.
#
#   deploy/local/install.sh         what the demo runs on (make install):
#                                   - .venv with the exact versions of requirements.lock
#                                   - the Kafka broker jars (Maven) and FerretDB (Go): stack.sh install
#   deploy/local/install.sh --dev   the lint and test tools, on top of that (make install-dev, which
#                                   make test and make check run):
#                                   - requirements-dev.lock into .venv (pytest-asyncio, hypothesis,
#                                     import-linter, grpcio-tools, ruff, mypy)
#                                   - buf (Go), for the protos lint
#                                   - the pinned tools deploy/validate.sh checks the deployment files with
#                                   - Debian's chromium and a Chinese font (apt-get, as root), which the browser tests drive
#
# pip's cache, ~/.m2 and the Go module cache make a second machine fast; CS_TOOLS_DIR
# (~/.cache/cs-platform/tools) holds the jars and binaries, shared by clones.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
PYTHON_BOOTSTRAP=${CS_PYTHON_BOOTSTRAP:-python3}
TOOLS_DIR=${CS_TOOLS_DIR:-$HOME/.cache/cs-platform/tools}
BUF_VERSION=v1.75.0
BUF_BIN="$TOOLS_DIR/bin/buf-$BUF_VERSION"

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: error: %s\n' "$*" >&2; exit 1; }

timed() {  # label command...: runs the command, then prints how long it took (0 s: nothing to do)
  local label=$1 started=$SECONDS
  shift
  "$@"
  say "$label $((SECONDS - started)) s"
}

stamp() {  # name files...: the stamp file that records an install of exactly these files
  printf '.venv/.installed-%s-%s' "$1" "$(cat "${@:2}" | sha256sum | cut -c1-16)"
}

python_packages() {
  "$PYTHON_BOOTSTRAP" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' \
    || die "Python 3.11 is required (found $("$PYTHON_BOOTSTRAP" --version 2>&1)); set CS_PYTHON_BOOTSTRAP"
  if [[ ! -x .venv/bin/python ]]; then
    say "creating .venv"
    "$PYTHON_BOOTSTRAP" -m venv .venv
  fi
  local done_stamp
  done_stamp=$(stamp runtime requirements.lock pyproject.toml)
  [[ -f "$done_stamp" ]] && return
  say "Python packages from requirements.lock (first run downloads ~4 GB: torch with CUDA libraries)"
  .venv/bin/python -m pip install -q --upgrade pip==26.3 setuptools==84.2.1
  .venv/bin/python -m pip install -q --no-deps -r requirements.lock
  .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
  rm -f .venv/.installed-runtime-*
  touch "$done_stamp"
}

lock_names() {  # file: the package names it pins, normalised, sorted
  sed -n 's/^\([A-Za-z0-9_.-]*\)==.*/\1/p' "$1" | tr 'A-Z_.' 'a-z--' | sort
}

python_dev_packages() {
  [[ -x .venv/bin/python ]] || die ".venv missing: run deploy/local/install.sh (or make install) first"
  local twice
  twice=$(comm -12 <(lock_names requirements.lock) <(lock_names requirements-dev.lock) | tr '\n' ' ')
  [[ -z "$twice" ]] || die "pinned in both requirements.lock and requirements-dev.lock (pin each once): $twice"
  local done_stamp
  done_stamp=$(stamp dev requirements-dev.lock)
  [[ -f "$done_stamp" ]] && return
  say "Python lint and test tools from requirements-dev.lock"
  .venv/bin/python -m pip install -q --no-deps -r requirements-dev.lock
  rm -f .venv/.installed-dev-*
  touch "$done_stamp"
}

install_buf() {
  if [[ ! -x "$BUF_BIN" ]]; then
    command -v go >/dev/null || die "go not found: install Go 1.24+"
    say "installing buf $BUF_VERSION (protos lint) into $BUF_BIN"
    mkdir -p "$TOOLS_DIR/gobin" "$TOOLS_DIR/bin"
    GOBIN="$TOOLS_DIR/gobin" go install "github.com/bufbuild/buf/cmd/buf@$BUF_VERSION"
    mv "$TOOLS_DIR/gobin/buf" "$BUF_BIN"
  fi
  ln -sf "$BUF_BIN" "$TOOLS_DIR/bin/buf"
}

install_chromium() {  # the browser the console and web-chat tests drive (Playwright, by executable path)
  local packages=()
  command -v chromium >/dev/null || packages+=(chromium)
  # a Chinese font: without one the zh widget and console render as empty boxes in the tests' screenshots
  [[ -n $(fc-list :lang=zh 2>/dev/null) ]] || packages+=(fonts-wqy-zenhei)
  ((${#packages[@]})) || return 0
  [[ $(id -u) == 0 ]] || die "${packages[*]} not installed: apt-get install ${packages[*]}, or run this as root"
  say "installing ${packages[*]} (browser tests)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}" >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}" >/dev/null; }
}

started=$SECONDS
case "${1:-}" in
  "")
    timed "python packages" python_packages
    timed "stack (Kafka jars, FerretDB)" bash deploy/local/stack.sh install
    ;;
  --dev)
    timed "python dev packages" python_dev_packages
    timed "buf" install_buf
    timed "chromium (browser tests)" install_chromium
    timed "deployment validation tools" bash deploy/validate.sh install
    ;;
  *) echo "usage: $0 [--dev]" >&2; exit 2 ;;
esac
say "done in $((SECONDS - started)) s"
