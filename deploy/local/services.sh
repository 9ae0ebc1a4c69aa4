#!/usr/bin/env bash
# Runs the four services, the web console and the web chat as background processes against the local stack.
#   deploy/local/services.sh up      start gateway, intent, sentiment, generator, console, webchat; wait until ready
#   deploy/local/services.sh down    SIGTERM them (they drain and commit) and wait
#   deploy/local/services.sh status
# Logs: $CS_STACK_DIR/logs/<service>.log (JSON lines). Ports: gateway gRPC 50051 (its reply sink on a free
# loopback port, CS_GATEWAY_SINK_LISTEN; the generator finds it through the stream routes); health
# intent 50061, sentiment 50062, generator 50063; /metrics 9101..9106. The web chat serves widget.js on
# http://127.0.0.1:8090 and the demo shop page embedding it on http://127.0.0.1:8091/ (an origin of its own);
# its channel key, token secret and the demo tenant's widget key are made on the first start and kept in
# $CS_STACK_DIR/webchat.env. The console: http://127.0.0.1:8080.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
STACK_DIR=${CS_STACK_DIR:-$ROOT/var/stack}
RUN="$STACK_DIR/services"
mkdir -p "$RUN" "$STACK_DIR/logs"
export HF_HUB_OFFLINE=1
PY=.venv/bin/python
SERVICES=(gateway intent sentiment generator console webchat)
DEMO_TENANT=${CS_DEMO_TENANT:-demo-retail}
export CS_WEBCHAT_LISTEN=${CS_WEBCHAT_LISTEN:-127.0.0.1:8090}
export CS_WEBCHAT_DEMO_LISTEN=${CS_WEBCHAT_DEMO_LISTEN:-127.0.0.1:8091}
CONSOLE_URL="http://${CS_CONSOLE_LISTEN:-127.0.0.1:8080}"
declare -A HEALTH=([gateway]="${CS_GATEWAY_LISTEN:-127.0.0.1:50051}" [intent]=127.0.0.1:50061 [sentiment]=127.0.0.1:50062 [generator]=127.0.0.1:50063)

alive() { [[ -f "$RUN/$1.pid" ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

# The web chat's credentials: made once (the keys live in the database), reused on every start.
webchat_env() {
  local file="$STACK_DIR/webchat.env" demo_port=${CS_WEBCHAT_DEMO_LISTEN##*:}
  if [[ ! -s "$file" ]]; then
    local channel widget secret
    channel=$("$PY" -m services.cli keys create --tenant platform --role channel)
    widget=$("$PY" -m services.cli widget-keys create --tenant "$DEMO_TENANT" \
      --origin "http://127.0.0.1:$demo_port" --origin "http://localhost:$demo_port")
    secret=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(32))')
    (umask 077; printf 'CS_WEBCHAT_CHANNEL_KEY=%s\nCS_WEBCHAT_TOKEN_SECRET=%s\nCS_WEBCHAT_DEMO_WIDGET_KEY=%s\n' \
      "$channel" "$secret" "$widget" > "$file")
  fi
  set -a; source "$file"; set +a
}

ready() {
  if [[ "$1" == webchat ]]; then
    "$PY" - "$CS_WEBCHAT_LISTEN" "$(cat "$RUN/$1.pid")" <<'EOF'
import os, sys, time, urllib.request
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        os.kill(int(sys.argv[2]), 0)
        urllib.request.urlopen(f"http://{sys.argv[1]}/readyz", timeout=2)
        sys.exit(0)
    except ProcessLookupError:
        sys.exit(1)
    except OSError:
        time.sleep(0.3)
sys.exit(1)
EOF
  else
    "$PY" -m services.cli health "${HEALTH[$1]}" --wait 240 --pid "$(cat "$RUN/$1.pid")"
  fi
}

up() {
  for s in "${SERVICES[@]}"; do
    if alive "$s"; then echo "services: $s already running"; continue; fi
    [[ "$s" == webchat ]] && webchat_env
    nohup "$PY" -m "services.$s.main" >> "$STACK_DIR/logs/$s.log" 2>&1 < /dev/null &
    echo $! > "$RUN/$s.pid"
    echo "services: $s started (pid $!, log $STACK_DIR/logs/$s.log)"
  done
  for s in "${SERVICES[@]}"; do
    if [[ $s == console ]]; then
      wait_http "$CONSOLE_URL/healthz" "$(cat "$RUN/$s.pid")" || { tail -n 20 "$STACK_DIR/logs/$s.log" >&2; exit 1; }
      continue
    fi
    if ! ready "$s"; then
      echo "services: $s did not become ready; last log lines:" >&2
      tail -n 20 "$STACK_DIR/logs/$s.log" >&2
      exit 1
    fi
  done
  echo "services: web chat demo page http://$CS_WEBCHAT_DEMO_LISTEN/ (widget.js from http://$CS_WEBCHAT_LISTEN)"
}

wait_http() {  # URL PID: until the URL answers 200 (60 s), or the process died
  for _ in $(seq 1 120); do
    kill -0 "$2" 2>/dev/null || { echo "services: console exited; last log lines:" >&2; return 1; }
    "$PY" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null && return 0
    sleep 0.5
  done
  echo "services: console did not answer at $1 within 60 s" >&2
  return 1
}

down() {
  for s in "${SERVICES[@]}"; do
    alive "$s" || { rm -f "$RUN/$s.pid"; continue; }
    local pid; pid=$(cat "$RUN/$s.pid")
    kill -TERM "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    rm -f "$RUN/$s.pid"
    echo "services: $s stopped"
  done
}

status() {
  for s in "${SERVICES[@]}"; do
    if alive "$s"; then echo "services: $s running (pid $(cat "$RUN/$s.pid"))"; else echo "services: $s stopped"; fi
  done
}

case "${1:-}" in
  up) up ;; down) down ;; status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
