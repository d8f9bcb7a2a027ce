#!/usr/bin/env bash
# Start/stop a real local 3-node Redis Cluster for the credential cache conformance tests.
#
#   scripts/redis-cluster.sh start   # 3 masters on spare loopback ports, no replicas, no persistence;
#                                    # writes .fedbroker-run/redis-cluster.env
#   . .fedbroker-run/redis-cluster.env && cargo test --test all cache::conformance::
#   scripts/redis-cluster.sh stop    # stops only the nodes `start` launched (by their pid)
#
# Needs redis-server and redis-cli (7.x). Everything listens on 127.0.0.1 only.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="$ROOT/.fedbroker-run"
CLUSTER_DIR="$RUN_DIR/redis-cluster"
ENV_FILE="$RUN_DIR/redis-cluster.env"
NODES=3
# Seconds to wait for the nodes to answer and for the cluster to report state ok.
START_TIMEOUT=30

log() { printf 'redis-cluster: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

spare_port() {
  # Cluster bus port = port + 10000 must be free too, so stay below 55535.
  python3 -c '
import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    if p < 55000:
        b = socket.socket()
        try:
            b.bind(("127.0.0.1", p + 10000)); b.close(); print(p); break
        except OSError:
            b.close()
'
}

pid_is() { [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q -- "$2"; }

running() {
  [ -f "$ENV_FILE" ] || return 1
  # shellcheck disable=SC1090
  . "$ENV_FILE"
  local pid
  for pid in ${FEDBROKER_REDIS_CLUSTER_PIDS:-}; do pid_is "$pid" redis-server || return 1; done
  local first="${FEDBROKER_REDIS_CLUSTER_PORTS%% *}"
  [ "$(redis-cli -h 127.0.0.1 -p "$first" cluster info 2>/dev/null | tr -d '\r' | grep cluster_state)" = "cluster_state:ok" ]
}

start() {
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    die "redis-server and redis-cli are needed"
  fi
  if running; then log "already running"; return 0; fi
  stop_quiet
  mkdir -p "$CLUSTER_DIR"
  local ports=() pids=() urls=() hosts=() p
  for _ in $(seq "$NODES"); do
    p="$(spare_port)"
    mkdir -p "$CLUSTER_DIR/$p"
    redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes \
      --cluster-config-file "$CLUSTER_DIR/$p/nodes.conf" --cluster-node-timeout 2000 \
      --dir "$CLUSTER_DIR/$p" --save '' --appendonly no --daemonize no \
      --logfile "$CLUSTER_DIR/$p/redis.log" &
    pids+=("$!"); ports+=("$p"); urls+=("redis://127.0.0.1:$p"); hosts+=("127.0.0.1:$p")
  done
  local deadline=$((SECONDS + START_TIMEOUT))
  for p in "${ports[@]}"; do
    until [ "$(redis-cli -h 127.0.0.1 -p "$p" ping 2>/dev/null)" = "PONG" ]; do
      [ "$SECONDS" -lt "$deadline" ] || die "node $p did not start (see $CLUSTER_DIR/$p/redis.log)"
      sleep 0.2
    done
  done
  redis-cli --cluster create "${hosts[@]}" --cluster-replicas 0 --cluster-yes >"$CLUSTER_DIR/create.log" 2>&1 \
    || die "cluster create failed (see $CLUSTER_DIR/create.log)"
  until [ "$(redis-cli -h 127.0.0.1 -p "${ports[0]}" cluster info | tr -d '\r' | grep cluster_state)" = "cluster_state:ok" ]; do
    [ "$SECONDS" -lt "$deadline" ] || die "cluster did not reach state ok"
    sleep 0.2
  done
  {
    echo "# Written by scripts/redis-cluster.sh start; source it before the cluster tests."
    echo "export FEDBROKER_TEST_REDIS_CLUSTER_URLS=$(IFS=,; echo "${urls[*]}")"
    echo "FEDBROKER_REDIS_CLUSTER_PORTS=\"${ports[*]}\""
    echo "FEDBROKER_REDIS_CLUSTER_PIDS=\"${pids[*]}\""
  } >"$ENV_FILE"
  log "cluster up on ports ${ports[*]} ($ENV_FILE)"
}

stop_quiet() {
  [ -f "$ENV_FILE" ] || return 0
  # shellcheck disable=SC1090
  . "$ENV_FILE"
  local pid
  for pid in ${FEDBROKER_REDIS_CLUSTER_PIDS:-}; do
    if pid_is "$pid" redis-server; then kill "$pid" 2>/dev/null || true; fi
  done
  rm -f "$ENV_FILE"
  rm -rf "$CLUSTER_DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop_quiet; log "stopped" ;;
  status) if running; then log "running"; else log "not running"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
