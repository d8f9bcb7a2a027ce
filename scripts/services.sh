#!/usr/bin/env bash
# Start/stop the services the integration tests need: Redis and a moto server (AWS STS/IAM double).
#
#   scripts/services.sh start    # ensure Redis + moto; writes .fedbroker-run/services.env
#   . .fedbroker-run/services.env && cargo test
#   scripts/services.sh status
#   scripts/services.sh stop     # stops only what `start` launched (never a system Redis)
#
# Redis: a Redis already answering on 127.0.0.1:6379 is used as is (tests use unique key prefixes);
# otherwise redis-server is started on a spare loopback port, with persistence off.
# moto: $FEDBROKER_VENV/bin/moto_server (default .venv, created by scripts/setup.sh) on a spare
# loopback port. Everything listens on 127.0.0.1 only.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="$ROOT/.fedbroker-run"
ENV_FILE="$RUN_DIR/services.env"
VENV="${FEDBROKER_VENV:-$ROOT/.venv}"
SYSTEM_REDIS_PORT=6379
# Seconds to wait for a service to answer after starting it (moto imports a lot on start).
START_TIMEOUT=60

log() { printf 'services: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

spare_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

redis_ping() { # port
  if command -v redis-cli >/dev/null 2>&1; then
    [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null || true)" = "PONG" ]
  else
    # Fallback without redis-cli: inline command over bash's /dev/tcp.
    local reply
    reply="$(exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'PING\r\n' >&3 && timeout 2 head -c 7 <&3)" 2>/dev/null || return 1
    [ "${reply%$'\r'*}" = "+PONG" ]
  fi
}

http_answers() { # url: any HTTP status counts as "up"
  python3 - "$1" <<'PY' >/dev/null 2>&1
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass
PY
}

# True if pid $1 is alive and its command line contains $2 (guards against pid reuse).
pid_is() {
  [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q -- "$2"
}

wait_until() { # description, command...
  local what="$1"; shift
  local deadline=$((SECONDS + START_TIMEOUT))
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
  log "$what is up"
}

load_env() {
  REDIS_URL="" STS_ENDPOINT="" MOTO_PID="" REDIS_PID=""
  if [ -f "$ENV_FILE" ]; then
    # shellcheck disable=SC1090
    . "$ENV_FILE"
    REDIS_URL="${FEDBROKER_TEST_REDIS_URL:-}"
    STS_ENDPOINT="${FEDBROKER_TEST_STS_ENDPOINT:-}"
    MOTO_PID="${FEDBROKER_SERVICES_MOTO_PID:-}"
    REDIS_PID="${FEDBROKER_SERVICES_REDIS_PID:-}"
  fi
}

start_redis() {
  if redis_ping "$SYSTEM_REDIS_PORT"; then
    REDIS_URL="redis://127.0.0.1:$SYSTEM_REDIS_PORT"
    REDIS_PID=""
    log "using the Redis already on 127.0.0.1:$SYSTEM_REDIS_PORT"
    return
  fi
  command -v redis-server >/dev/null 2>&1 \
    || die "no Redis on 127.0.0.1:$SYSTEM_REDIS_PORT and redis-server is not installed"
  local port; port="$(spare_port)"
  redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --daemonize yes \
    --pidfile "$RUN_DIR/redis.pid" --logfile "$RUN_DIR/redis.log" --dir "$RUN_DIR"
  wait_until "redis-server on 127.0.0.1:$port" redis_ping "$port" \
    || die "redis-server did not answer; see $RUN_DIR/redis.log"
  REDIS_PID="$(cat "$RUN_DIR/redis.pid")"
  REDIS_URL="redis://127.0.0.1:$port"
}

moto_up() { pid_is "$MOTO_PID" moto_server && http_answers "$STS_ENDPOINT/"; }

start_moto() {
  [ -x "$VENV/bin/moto_server" ] \
    || die "$VENV/bin/moto_server not found: run scripts/setup.sh (or set FEDBROKER_VENV)"
  local port; port="$(spare_port)"
  nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$RUN_DIR/moto.log" 2>&1 &
  MOTO_PID=$!
  STS_ENDPOINT="http://127.0.0.1:$port"
  if ! wait_until "moto on $STS_ENDPOINT" moto_up; then
    tail -n 20 "$RUN_DIR/moto.log" >&2 || true
    die "moto did not answer on $STS_ENDPOINT; see $RUN_DIR/moto.log"
  fi
}

write_env() {
  local tmp="$ENV_FILE.tmp"
  cat >"$tmp" <<EOF
# Written by scripts/services.sh start; source it before running the integration tests.
export FEDBROKER_TEST_REDIS_URL=$REDIS_URL
export FEDBROKER_TEST_STS_ENDPOINT=$STS_ENDPOINT
# Processes started by services.sh (empty: not ours, never stopped by services.sh stop).
FEDBROKER_SERVICES_MOTO_PID=$MOTO_PID
FEDBROKER_SERVICES_REDIS_PID=$REDIS_PID
EOF
  mv "$tmp" "$ENV_FILE"
}

cmd_start() {
  mkdir -p "$RUN_DIR"
  load_env
  if moto_up && { [ -z "$REDIS_PID" ] || pid_is "$REDIS_PID" redis-server; } \
     && redis_ping "${REDIS_URL##*:}"; then
    log "already running (see $ENV_FILE)"
  else
    cmd_stop quiet
    start_redis
    start_moto
    write_env
  fi
  cat "$ENV_FILE"
}

cmd_stop() {
  load_env
  if pid_is "$MOTO_PID" moto_server; then
    kill "$MOTO_PID" && log "stopped moto (pid $MOTO_PID)"
  fi
  if pid_is "$REDIS_PID" redis-server; then
    kill "$REDIS_PID" && log "stopped redis-server (pid $REDIS_PID)"
  fi
  rm -f "$ENV_FILE" "$RUN_DIR/redis.pid"
  [ "${1:-}" = quiet ] || log "stopped"
}

cmd_status() {
  load_env
  [ -f "$ENV_FILE" ] || { log "not started"; exit 1; }
  local ok=0
  if moto_up; then log "moto: up at $STS_ENDPOINT (pid $MOTO_PID)"; else log "moto: down"; ok=1; fi
  if redis_ping "${REDIS_URL##*:}"; then log "redis: up at $REDIS_URL"; else log "redis: down"; ok=1; fi
  exit "$ok"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
