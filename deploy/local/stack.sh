#!/usr/bin/env bash
# The local stack: Apache Kafka (KRaft, single node) and FerretDB (MongoDB wire protocol on SQLite),
# both on loopback. Idempotent: `up` on a running stack only checks it.
#
#   deploy/local/stack.sh install      fetch the Kafka jars (Maven) and build FerretDB (Go), once
#   deploy/local/stack.sh up           start both, wait until they answer, create the topics
#   deploy/local/stack.sh down [--wipe]   stop both; --wipe also deletes the data folder
#   deploy/local/stack.sh status
#
# Environment (defaults): CS_STACK_DIR (<repo>/var/stack) holds data, logs and pid files;
# CS_TOOLS_DIR (~/.cache/cs-platform/tools) holds the jars and binaries, shared by clones;
# CS_KAFKA_PORT (9092), CS_KAFKA_CONTROLLER_PORT (9093), CS_FERRETDB_PORT (27017).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/deploy/local"
STACK_DIR=${CS_STACK_DIR:-$ROOT/var/stack}
TOOLS_DIR=${CS_TOOLS_DIR:-$HOME/.cache/cs-platform/tools}
KAFKA_PORT=${CS_KAFKA_PORT:-9092}
CONTROLLER_PORT=${CS_KAFKA_CONTROLLER_PORT:-9093}
FERRETDB_PORT=${CS_FERRETDB_PORT:-27017}
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/kafka/pom.xml")
FERRETDB_VERSION=$(sed -n 's:^require github.com/FerretDB/FerretDB \(v.*\)$:\1:p' "$HERE/ferretdb/go.mod")
KAFKA_LIBS="$TOOLS_DIR/kafka-$KAFKA_VERSION/libs"
FERRETDB_BIN="$TOOLS_DIR/bin/ferretdb-$FERRETDB_VERSION"
PYTHON=${CS_PYTHON:-$ROOT/.venv/bin/python}

say() { printf 'stack: %s\n' "$*"; }
die() { printf 'stack: error: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# The lint tools (buf and the deployment checks) are not the stack's: deploy/local/install.sh --dev.
install() {
  local started
  command -v java >/dev/null || die "java not found: install a JDK 17+ (apt-get install openjdk-17-jre-headless)"
  if [[ ! -f "$KAFKA_LIBS/.complete" ]]; then
    command -v mvn >/dev/null || die "mvn not found: apt-get install maven"
    say "fetching Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS"
    started=$SECONDS
    rm -rf "$KAFKA_LIBS"
    mvn -q -B -f "$HERE/kafka/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS" >&2
    touch "$KAFKA_LIBS/.complete"
    say "Kafka jars $((SECONDS - started)) s"
  fi
  if [[ ! -x "$FERRETDB_BIN" ]]; then
    command -v go >/dev/null || die "go not found: install Go 1.24+"
    say "building FerretDB $FERRETDB_VERSION (SQLite backend) into $FERRETDB_BIN"
    started=$SECONDS
    mkdir -p "$(dirname "$FERRETDB_BIN")"
    (cd "$HERE/ferretdb" && GOFLAGS=-mod=mod go build -o "$FERRETDB_BIN.tmp" . && mv "$FERRETDB_BIN.tmp" "$FERRETDB_BIN")
    say "FerretDB $((SECONDS - started)) s"
  fi
}

start_kafka() {
  local dir="$STACK_DIR/kafka" pidf="$STACK_DIR/kafka/kafka.pid"
  if pid_alive "$pidf"; then say "Kafka already running (pid $(cat "$pidf"))"; return; fi
  port_open "$KAFKA_PORT" && die "port $KAFKA_PORT (Kafka) is in use by another process: stop it or set CS_KAFKA_PORT"
  port_open "$CONTROLLER_PORT" && die "port $CONTROLLER_PORT (Kafka controller) is in use: stop it or set CS_KAFKA_CONTROLLER_PORT"
  [[ -f "$KAFKA_LIBS/.complete" ]] || die "Kafka jars missing in $KAFKA_LIBS: run deploy/local/stack.sh install"
  mkdir -p "$dir/data"
  sed -e "s#@KAFKA_PORT@#$KAFKA_PORT#g" -e "s#@CONTROLLER_PORT@#$CONTROLLER_PORT#g" \
      -e "s#@DATA_DIR@#$dir/data#g" "$HERE/kafka/server.properties.in" > "$dir/server.properties"
  local java_opts=(-Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$HERE/kafka/log4j2.properties" "-Dkafka.logs.dir=$dir")
  if [[ ! -f "$dir/data/meta.properties" ]]; then
    local cluster_id
    # a url-safe base64 id may start with "-", which kafka-storage reads as an option ("--cluster-id: expected
    # one argument", 1 start in 64); Kafka's own Uuid.randomUuid draws again in that case, and so do we
    cluster_id=$("$PYTHON" -c '
import base64, uuid
while (i := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"):
    pass
print(i)')
    java "${java_opts[@]}" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format \
      -t "$cluster_id" -c "$dir/server.properties" > "$dir/format.log" 2>&1 \
      || die "formatting Kafka storage failed: see $dir/format.log"
  fi
  nohup java "${java_opts[@]}" -cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties" \
    > "$dir/stdout.log" 2>&1 < /dev/null &
  echo $! > "$pidf"
  say "Kafka $KAFKA_VERSION starting on 127.0.0.1:$KAFKA_PORT (pid $!, log $dir/broker.log)"
}

start_ferretdb() {
  local dir="$STACK_DIR/ferretdb" pidf="$STACK_DIR/ferretdb/ferretdb.pid"
  if pid_alive "$pidf"; then say "FerretDB already running (pid $(cat "$pidf"))"; return; fi
  port_open "$FERRETDB_PORT" && die "port $FERRETDB_PORT (FerretDB) is in use by another process: stop it or set CS_FERRETDB_PORT"
  [[ -x "$FERRETDB_BIN" ]] || die "FerretDB binary missing at $FERRETDB_BIN: run deploy/local/stack.sh install"
  mkdir -p "$dir/data"
  nohup "$FERRETDB_BIN" -listen-addr "127.0.0.1:$FERRETDB_PORT" -data-dir "$dir/data" \
    > "$dir/ferretdb.log" 2>&1 < /dev/null &
  echo $! > "$pidf"
  say "FerretDB $FERRETDB_VERSION starting on 127.0.0.1:$FERRETDB_PORT (pid $!, data $dir/data)"
}

wait_port() {  # name port pidfile seconds
  local deadline=$((SECONDS + $4))
  until port_open "$2"; do
    pid_alive "$3" || die "$1 exited during start: see the logs in $(dirname "$3")"
    (( SECONDS < deadline )) || die "$1 did not open 127.0.0.1:$2 within $4 s: see the logs in $(dirname "$3")"
    sleep 0.5
  done
}

up() {
  mkdir -p "$STACK_DIR"
  start_kafka
  start_ferretdb
  wait_port FerretDB "$FERRETDB_PORT" "$STACK_DIR/ferretdb/ferretdb.pid" 30
  wait_port Kafka "$KAFKA_PORT" "$STACK_DIR/kafka/kafka.pid" 90
  CS_KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_PORT" CS_MONGO_URI="mongodb://127.0.0.1:$FERRETDB_PORT/" \
    "$PYTHON" -m services.cli stack-ready --timeout 90
  say "up: data in $STACK_DIR"
}

stop_pid() {  # name pidfile
  local pidf=$2
  if ! pid_alive "$pidf"; then rm -f "$pidf"; return; fi
  local pid; pid=$(cat "$pidf")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then say "$1 did not stop in 30 s, killing"; kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$pidf"
  say "$1 stopped"
}

down() {
  stop_pid FerretDB "$STACK_DIR/ferretdb/ferretdb.pid"
  stop_pid Kafka "$STACK_DIR/kafka/kafka.pid"
  if [[ "${1:-}" == "--wipe" ]]; then rm -rf "$STACK_DIR"; say "wiped $STACK_DIR"; else say "data kept in $STACK_DIR (down --wipe deletes it)"; fi
}

status() {
  local rc=0
  if pid_alive "$STACK_DIR/kafka/kafka.pid" && port_open "$KAFKA_PORT"; then say "Kafka: up on 127.0.0.1:$KAFKA_PORT"; else say "Kafka: down"; rc=1; fi
  if pid_alive "$STACK_DIR/ferretdb/ferretdb.pid" && port_open "$FERRETDB_PORT"; then say "FerretDB: up on 127.0.0.1:$FERRETDB_PORT"; else say "FerretDB: down"; rc=1; fi
  say "data: $STACK_DIR"
  return $rc
}

case "${1:-}" in
  install) install ;;
  up) up ;;
  down) shift; down "${1:-}" ;;
  status) status ;;
  *) echo "usage: $0 install|up|down [--wipe]|status" >&2; exit 2 ;;
esac
