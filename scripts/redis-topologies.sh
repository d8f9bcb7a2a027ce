#!/usr/bin/env bash
# Start/stop the Redis topologies the connection-layer tests need, as real local processes:
#
#   - a TLS Redis that requires client certificates (test CA, server and client certificates
#     generated with openssl under .fedbroker-run/redis-topologies/certs, plus a second, unrelated
#     CA for the "wrong CA" tests);
#   - a plain Redis with a password (AUTH tests: a wrong password must be reported clearly);
#   - a Sentinel group: one master, one replica, three redis-sentinel processes watching it, with
#     short down-after/failover timeouts so failover tests take seconds.
#
#   scripts/redis-topologies.sh start    # writes .fedbroker-run/redis-topologies.env
#   . .fedbroker-run/redis-topologies.env && cargo test --test redis_topologies
#   scripts/redis-topologies.sh status
#   scripts/redis-topologies.sh stop     # stops only the processes `start` launched (by pid)
#
# Needs redis-server, redis-sentinel, redis-cli (7.x, built with TLS, as Debian's) and openssl.
# Everything listens on 127.0.0.1 only, on spare ports, without persistence.
# The keys and certificates are TEST-ONLY and regenerated on every start.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="$ROOT/.fedbroker-run"
DIR="$RUN_DIR/redis-topologies"
CERTS="$DIR/certs"
ENV_FILE="$RUN_DIR/redis-topologies.env"
# Pids of everything `start` launched, written as they start (so `stop` cleans up a failed start).
PID_FILE="$RUN_DIR/redis-topologies.pids"
MASTER_NAME="fedbroker-test"
AUTH_PASSWORD="topologies-test-password"
# Seconds to wait for every process to answer and for the sentinels to see the replica.
START_TIMEOUT=40

log() { printf 'redis-topologies: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

spare_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

pid_is() { [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q -- "$2"; }

cli() { redis-cli -h 127.0.0.1 "$@" 2>/dev/null | tr -d '\r'; }

tls_cli() { # port args...
  local port=$1; shift
  cli -p "$port" --tls --cacert "$CERTS/ca.crt" --cert "$CERTS/client.crt" --key "$CERTS/client.key" "$@"
}

running() {
  [ -f "$ENV_FILE" ] || return 1
  # shellcheck disable=SC1090
  . "$ENV_FILE"
  local pid
  for pid in ${FEDBROKER_REDIS_TOPOLOGIES_PIDS:-}; do
    pid_is "$pid" redis || return 1
  done
  [ "$(tls_cli "${FEDBROKER_TEST_REDIS_TLS_URL##*:}" ping)" = "PONG" ] || return 1
  local s="${FEDBROKER_TEST_SENTINEL_URLS%%,*}"
  cli -p "${s##*:}" sentinel ckquorum "$FEDBROKER_TEST_SENTINEL_MASTER" | grep -q '^OK'
}

gen_certs() {
  mkdir -p "$CERTS"
  local cnf="$CERTS/openssl.cnf"
  cat >"$cnf" <<'CNF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
CNF
  local org="/O=fedbroker TEST ONLY"
  key() { openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$CERTS/$1.key"; }
  for ca in ca wrong-ca; do
    key "$ca"
    openssl req -new -x509 -sha256 -days 30 -key "$CERTS/$ca.key" -subj "$org/CN=redis test $ca" \
      -config "$cnf" -extensions ca -out "$CERTS/$ca.crt" 2>/dev/null
  done
  for leaf in server client; do
    key "$leaf"
    openssl req -new -sha256 -key "$CERTS/$leaf.key" -subj "$org/CN=redis test $leaf" \
      -config "$cnf" -out "$CERTS/$leaf.csr" 2>/dev/null
    openssl x509 -req -sha256 -days 30 -in "$CERTS/$leaf.csr" -CA "$CERTS/ca.crt" \
      -CAkey "$CERTS/ca.key" -CAcreateserial -extfile "$cnf" -extensions "$leaf" \
      -out "$CERTS/$leaf.crt" 2>/dev/null
  done
  # A client certificate from the wrong CA (the server must refuse it).
  key stranger
  openssl req -new -sha256 -key "$CERTS/stranger.key" -subj "$org/CN=redis test stranger" \
    -config "$cnf" -out "$CERTS/stranger.csr" 2>/dev/null
  openssl x509 -req -sha256 -days 30 -in "$CERTS/stranger.csr" -CA "$CERTS/wrong-ca.crt" \
    -CAkey "$CERTS/wrong-ca.key" -CAcreateserial -extfile "$cnf" -extensions client \
    -out "$CERTS/stranger.crt" 2>/dev/null
}

is_pong() { [ "$("$@")" = "PONG" ]; }

track() { echo "$1" >>"$PID_FILE"; }

wait_for() { # description command...
  local what=$1; shift
  local deadline=$((SECONDS + START_TIMEOUT))
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || die "$what (logs in $DIR)"
    sleep 0.2
  done
}

start() {
  local b
  for b in redis-server redis-sentinel redis-cli openssl; do
    command -v "$b" >/dev/null || die "$b is needed (Debian: redis-server redis-sentinel redis-tools openssl)"
  done
  if running; then log "already running"; return 0; fi
  stop_quiet
  mkdir -p "$DIR"
  gen_certs
  local pids=()

  # TLS Redis that requires a client certificate from the test CA.
  local tls_port; tls_port="$(spare_port)"
  redis-server --port 0 --tls-port "$tls_port" --bind 127.0.0.1 \
    --tls-cert-file "$CERTS/server.crt" --tls-key-file "$CERTS/server.key" \
    --tls-ca-cert-file "$CERTS/ca.crt" --tls-auth-clients yes \
    --save '' --appendonly no --daemonize no --dir "$DIR" --logfile "$DIR/tls.log" &
  pids+=("$!"); track "$!"

  # Plain Redis with a password.
  local auth_port; auth_port="$(spare_port)"
  redis-server --port "$auth_port" --bind 127.0.0.1 --requirepass "$AUTH_PASSWORD" \
    --save '' --appendonly no --daemonize no --dir "$DIR" --logfile "$DIR/auth.log" &
  pids+=("$!"); track "$!"

  # Sentinel group: master, replica, three sentinels.
  local master_port replica_port
  master_port="$(spare_port)"; replica_port="$(spare_port)"
  mkdir -p "$DIR/master" "$DIR/replica"
  redis-server --port "$master_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    --dir "$DIR/master" --logfile "$DIR/master.log" &
  pids+=("$!"); track "$!"
  redis-server --port "$replica_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    --replicaof 127.0.0.1 "$master_port" --dir "$DIR/replica" --logfile "$DIR/replica.log" &
  pids+=("$!"); track "$!"
  wait_for "the master did not start" is_pong cli -p "$master_port" ping
  wait_for "the replica did not sync" sh -c \
    "redis-cli -h 127.0.0.1 -p $replica_port info replication | tr -d '\r' | grep -q '^master_link_status:up'"

  local sentinel_urls=() s i
  for i in 1 2 3; do
    s="$(spare_port)"
    mkdir -p "$DIR/sentinel-$i"
    cat >"$DIR/sentinel-$i/sentinel.conf" <<CONF
port $s
bind 127.0.0.1
daemonize no
dir $DIR/sentinel-$i
logfile $DIR/sentinel-$i/sentinel.log
sentinel monitor $MASTER_NAME 127.0.0.1 $master_port 2
sentinel down-after-milliseconds $MASTER_NAME 1000
sentinel failover-timeout $MASTER_NAME 4000
sentinel parallel-syncs $MASTER_NAME 1
CONF
    redis-sentinel "$DIR/sentinel-$i/sentinel.conf" &
    pids+=("$!"); track "$!"; track "$!"
    sentinel_urls+=("redis://127.0.0.1:$s")
  done

  wait_for "the TLS Redis did not answer" is_pong tls_cli "$tls_port" ping
  wait_for "the password Redis did not answer" is_pong \
    cli -p "$auth_port" --no-auth-warning -a "$AUTH_PASSWORD" ping
  for s in "${sentinel_urls[@]}"; do
    wait_for "sentinel ${s##*:} did not see the replica and the other sentinels" sh -c \
      "redis-cli -h 127.0.0.1 -p ${s##*:} sentinel ckquorum $MASTER_NAME 2>/dev/null | grep -q '^OK' && \
       redis-cli -h 127.0.0.1 -p ${s##*:} sentinel replicas $MASTER_NAME 2>/dev/null | grep -q $replica_port"
  done

  {
    echo "# Written by scripts/redis-topologies.sh start; source it before tests/redis_topologies.rs."
    echo "export FEDBROKER_TEST_REDIS_TLS_URL=rediss://127.0.0.1:$tls_port"
    echo "export FEDBROKER_TEST_REDIS_TLS_CA=$CERTS/ca.crt"
    echo "export FEDBROKER_TEST_REDIS_TLS_CLIENT_CERT=$CERTS/client.crt"
    echo "export FEDBROKER_TEST_REDIS_TLS_CLIENT_KEY=$CERTS/client.key"
    echo "export FEDBROKER_TEST_REDIS_TLS_WRONG_CA=$CERTS/wrong-ca.crt"
    echo "export FEDBROKER_TEST_REDIS_TLS_STRANGER_CERT=$CERTS/stranger.crt"
    echo "export FEDBROKER_TEST_REDIS_TLS_STRANGER_KEY=$CERTS/stranger.key"
    echo "export FEDBROKER_TEST_REDIS_AUTH_URL=redis://:$AUTH_PASSWORD@127.0.0.1:$auth_port"
    echo "export FEDBROKER_TEST_SENTINEL_URLS=$(IFS=,; echo "${sentinel_urls[*]}")"
    echo "export FEDBROKER_TEST_SENTINEL_MASTER=$MASTER_NAME"
    echo "FEDBROKER_REDIS_TOPOLOGIES_PIDS=\"${pids[*]}\""
  } >"$ENV_FILE"
  log "up: TLS :$tls_port, AUTH :$auth_port, sentinel master :$master_port replica :$replica_port ($ENV_FILE)"
}

stop_quiet() {
  local pid
  if [ -f "$PID_FILE" ]; then
    while read -r pid; do
      if pid_is "$pid" redis; then kill "$pid" 2>/dev/null || true; fi
    done <"$PID_FILE"
  fi
  rm -f "$ENV_FILE" "$PID_FILE"
  rm -rf "$DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop_quiet; log "stopped" ;;
  status) if running; then log "running"; else log "not running"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
