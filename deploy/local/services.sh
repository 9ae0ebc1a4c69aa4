#!/usr/bin/env bash
# Runs the four services and the web console as background processes against the local stack.
#   deploy/local/services.sh up      start gateway, intent, sentiment, generator, console; wait until SERVING
#   deploy/local/services.sh down    SIGTERM them (they drain and commit) and wait
#   deploy/local/services.sh status
# Logs: $CS_STACK_DIR/logs/<service>.log (JSON lines). Ports: gateway gRPC 50051 (its reply sink on a free
# loopback port, CS_GATEWAY_SINK_LISTEN; the generator finds it through the stream routes); health
# intent 50061, sentiment 50062, generator 50063; /metrics 9101..9105; console http://127.0.0.1:8080.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
STACK_DIR=${CS_STACK_DIR:-$ROOT/var/stack}
RUN="$STACK_DIR/services"
mkdir -p "$RUN" "$STACK_DIR/logs"
export HF_HUB_OFFLINE=1
PY=.venv/bin/python
SERVICES=(gateway intent sentiment generator console)
CONSOLE_URL="http://${CS_CONSOLE_LISTEN:-127.0.0.1:8080}"
declare -A HEALTH=([gateway]="${CS_GATEWAY_LISTEN:-127.0.0.1:50051}" [intent]=127.0.0.1:50061 [sentiment]=127.0.0.1:50062 [generator]=127.0.0.1:50063)

alive() { [[ -f "$RUN/$1.pid" ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

up() {
  for s in "${SERVICES[@]}"; do
    if alive "$s"; then echo "services: $s already running"; continue; fi
    nohup "$PY" -m "services.$s.main" >> "$STACK_DIR/logs/$s.log" 2>&1 < /dev/null &
    echo $! > "$RUN/$s.pid"
    echo "services: $s started (pid $!, log $STACK_DIR/logs/$s.log)"
  done
  for s in "${SERVICES[@]}"; do
    if [[ $s == console ]]; then
      wait_http "$CONSOLE_URL/healthz" "$(cat "$RUN/$s.pid")" || { tail -n 20 "$STACK_DIR/logs/$s.log" >&2; exit 1; }
      continue
    fi
    if ! "$PY" -m services.cli health "${HEALTH[$s]}" --wait 240 --pid "$(cat "$RUN/$s.pid")"; then
      echo "services: $s did not become ready; last log lines:" >&2
      tail -n 20 "$STACK_DIR/logs/$s.log" >&2
      exit 1
    fi
  done
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
