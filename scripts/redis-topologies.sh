#!/usr/bin/env bash
# Start/stop the Redis topologies the connection-layer tests need, as real local processes:
#
#   - a TLS Redis that requires client certificates (test CA, server and client certificates
#     generated with openssl under .fedbroker-run/redis-topologies/certs, plus a second, unrelated
#     CA for the "wrong CA" tests);
#   - a plain Redis with a password (AUTH tests: a wrong password must be reported clearly);
#   - a Sentinel group: one master, one replica, three redis-sentinel processes watching it, with
#     short down-after/failover timeouts so failover tests take seconds, and no diskless-sync
#     delay (Redis waits 5 s by default for more replicas before a full sync: at start-up and after
#     every failover, time in which writes that wait for a replica are refused);
#   - the same Sentinel group over TLS (sentinels, master and replica all TLS-only, client
#     certificates required everywhere, replication over TLS);
#   - four more plain Sentinel groups, one for each test that changes a group: the two
#     failover-under-load tests (tests/all/redis/failover.rs: one fails over, one kills the master),
#     the failover-is-followed test and the stopped-replica test (tests/all/redis/topologies.rs).
#     Nothing changes the shared groups above, so the tests on them never wait for a failover and
#     every test runs side by side with every other;
#   - a 3-node Redis Cluster over TLS (client certificates required, cluster bus over TLS).
#
#   scripts/redis-topologies.sh start    # writes .fedbroker-run/redis-topologies.env
#   . .fedbroker-run/redis-topologies.env && cargo test --test all redis::topologies::
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
  local s
  for s in "${FEDBROKER_TEST_SENTINEL_URLS%%,*}" "${FEDBROKER_TEST_SENTINEL_FAILOVER_URLS%%,*}" \
    "${FEDBROKER_TEST_SENTINEL_KILL_URLS%%,*}" "${FEDBROKER_TEST_SENTINEL_SWITCH_URLS%%,*}" \
    "${FEDBROKER_TEST_SENTINEL_STALL_URLS%%,*}"; do
    [ -n "${s##*:}" ] || return 1
    cli -p "${s##*:}" sentinel ckquorum "$FEDBROKER_TEST_SENTINEL_MASTER" | grep -q '^OK' || return 1
  done
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
# clientAuth too: replicas and sentinels present it when they connect to the master.
extendedKeyUsage = serverAuth, clientAuth
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

# sentinel_ready MODE PORT: the sentinel sees a quorum and a replica of the master.
sentinel_ready() {
  local c=(cli -p "$2")
  [ "$1" = tls ] && c=(tls_cli "$2")
  "${c[@]}" sentinel ckquorum "$MASTER_NAME" | grep -q '^OK' \
    && [ -n "$("${c[@]}" sentinel replicas "$MASTER_NAME")" ]
}

# reserve_ports N: N distinct free loopback ports, all held open until every one is chosen (so
# groups started side by side never pick the same port), the first three with their cluster bus
# port (port + 10000) free too.
reserve_ports() {
  python3 - "$1" <<'PY'
import socket, sys
held, ports = [], []
while len(ports) < int(sys.argv[1]):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]
    if len(ports) < 3:
        if p >= 55000:
            held.append(s); continue
        b = socket.socket()
        try:
            b.bind(("127.0.0.1", p + 10000))
        except OSError:
            b.close(); held.append(s); continue
        held.append(b)
    held.append(s); ports.append(p)
print("\n".join(map(str, ports)))
PY
}

# start_sentinel_group MODE (plain | tls) NAME PORTS...: a master, a replica and three sentinels
# on the five PORTS, in $DIR/sentinel-NAME; writes the sentinel URLs to $DIR/sentinel-NAME/urls.
# Waits for the replica to sync, not for the sentinels (see sentinel_ready). Groups start side by
# side (each in the background).
start_sentinel_group() {
  local mode=$1 gdir="$DIR/sentinel-$2" master_port=$3 replica_port=$4 tls_args=() scheme=redis
  local sentinel_ports=("$5" "$6" "$7")
  if [ "$mode" = tls ]; then
    scheme=rediss
    tls_args=(--tls-cert-file "$CERTS/server.crt" --tls-key-file "$CERTS/server.key"
      --tls-ca-cert-file "$CERTS/ca.crt" --tls-auth-clients yes --tls-replication yes)
  fi
  port_args() { # PORT
    if [ "$mode" = tls ]; then echo "--port 0 --tls-port $1"; else echo "--port $1"; fi
  }
  mkdir -p "$gdir/master" "$gdir/replica"
  # shellcheck disable=SC2046
  redis-server $(port_args "$master_port") --bind 127.0.0.1 "${tls_args[@]}" --save '' \
    --appendonly no --repl-diskless-sync-delay 0 --daemonize no --dir "$gdir/master" \
    --logfile "$gdir/master.log" &
  track "$!"
  # shellcheck disable=SC2046
  redis-server $(port_args "$replica_port") --bind 127.0.0.1 "${tls_args[@]}" --save '' \
    --appendonly no --repl-diskless-sync-delay 0 --daemonize no --replicaof 127.0.0.1 "$master_port" \
    --dir "$gdir/replica" --logfile "$gdir/replica.log" &
  track "$!"
  local c=(cli -p "$replica_port")
  [ "$mode" = tls ] && c=(tls_cli "$replica_port")
  # shellcheck disable=SC2329  # called through wait_for
  replica_up() { "${c[@]}" info replication | grep -q '^master_link_status:up'; }
  wait_for "the $mode replica did not sync" replica_up
  local urls=() i s
  for i in 1 2 3; do
    s="${sentinel_ports[$((i - 1))]}"
    mkdir -p "$gdir/sentinel-$i"
    {
      if [ "$mode" = tls ]; then
        echo "port 0"
        echo "tls-port $s"
        echo "tls-cert-file $CERTS/server.crt"
        echo "tls-key-file $CERTS/server.key"
        echo "tls-ca-cert-file $CERTS/ca.crt"
        echo "tls-auth-clients yes"
        echo "tls-replication yes"
      else
        echo "port $s"
      fi
      echo "bind 127.0.0.1"
      echo "daemonize no"
      echo "dir $gdir/sentinel-$i"
      echo "logfile $gdir/sentinel-$i/sentinel.log"
      echo "sentinel monitor $MASTER_NAME 127.0.0.1 $master_port 2"
      echo "sentinel down-after-milliseconds $MASTER_NAME 1000"
      echo "sentinel failover-timeout $MASTER_NAME 4000"
      echo "sentinel parallel-syncs $MASTER_NAME 1"
    } >"$gdir/sentinel-$i/sentinel.conf"
    redis-sentinel "$gdir/sentinel-$i/sentinel.conf" &
    track "$!"
    urls+=("$scheme://127.0.0.1:$s")
  done
  printf '%s\n' "${urls[@]}" >"$gdir/urls"
}

# start_tls_cluster: three TLS-only cluster masters; sets CLUSTER_TLS_URLS.
start_tls_cluster() { # PORTS (three, their bus ports free)
  local cdir="$DIR/cluster-tls" p hosts=() ports=()
  CLUSTER_TLS_URLS=()
  for p in "$@"; do
    mkdir -p "$cdir/$p"
    redis-server --port 0 --tls-port "$p" --bind 127.0.0.1 \
      --tls-cert-file "$CERTS/server.crt" --tls-key-file "$CERTS/server.key" \
      --tls-ca-cert-file "$CERTS/ca.crt" --tls-auth-clients yes --tls-cluster yes \
      --tls-replication yes --cluster-enabled yes --cluster-config-file "$cdir/$p/nodes.conf" \
      --cluster-node-timeout 2000 --dir "$cdir/$p" --save '' --appendonly no --daemonize no \
      --logfile "$cdir/$p/redis.log" &
    track "$!"
    ports+=("$p"); hosts+=("127.0.0.1:$p"); CLUSTER_TLS_URLS+=("rediss://127.0.0.1:$p")
  done
  for p in "${ports[@]}"; do
    wait_for "TLS cluster node $p did not start" is_pong tls_cli "$p" ping
  done
  tls_cli "${ports[0]}" --cluster create "${hosts[@]}" --cluster-replicas 0 --cluster-yes \
    >"$cdir/create.log" 2>&1 || die "TLS cluster create failed (see $cdir/create.log)"
  cluster_ok() { tls_cli "${ports[0]}" cluster info | grep -q '^cluster_state:ok'; }
  wait_for "the TLS cluster did not reach state ok" cluster_ok
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
  local pool
  # 3 cluster nodes, the TLS and the AUTH Redis, 6 Sentinel groups of 5.
  mapfile -t pool < <(reserve_ports 35)
  ((${#pool[@]} == 35)) || die "could not reserve 35 free ports"

  # TLS Redis that requires a client certificate from the test CA.
  local tls_port=${pool[3]}
  redis-server --port 0 --tls-port "$tls_port" --bind 127.0.0.1 \
    --tls-cert-file "$CERTS/server.crt" --tls-key-file "$CERTS/server.key" \
    --tls-ca-cert-file "$CERTS/ca.crt" --tls-auth-clients yes \
    --save '' --appendonly no --daemonize no --dir "$DIR" --logfile "$DIR/tls.log" &
  track "$!"

  # Plain Redis with a password.
  local auth_port=${pool[4]}
  redis-server --port "$auth_port" --bind 127.0.0.1 --requirepass "$AUTH_PASSWORD" \
    --save '' --appendonly no --daemonize no --dir "$DIR" --logfile "$DIR/auth.log" &
  track "$!"

  # Sentinel groups (master, replica, three sentinels; one TLS everywhere), side by side.
  local groups=(plain:plain tls:tls plain:failover plain:kill plain:switch plain:stall) g i=0 starting=()
  for g in "${groups[@]}"; do
    start_sentinel_group "${g%%:*}" "${g#*:}" "${pool[@]:$((5 + 5 * i)):5}" &
    starting+=("$!")
    i=$((i + 1))
  done
  start_tls_cluster "${pool[@]:0:3}"
  for g in "${starting[@]}"; do
    wait "$g" || die "a Sentinel group did not start (logs in $DIR)"
  done
  # urls NAME: the sentinel URLs of group NAME, comma-separated.
  urls() { paste -sd, "$DIR/sentinel-$1/urls"; }

  wait_for "the TLS Redis did not answer" is_pong tls_cli "$tls_port" ping
  wait_for "the password Redis did not answer" is_pong \
    cli -p "$auth_port" --no-auth-warning -a "$AUTH_PASSWORD" ping
  local s
  while read -r s; do
    wait_for "sentinel ${s##*:} did not see the replica and the other sentinels" sentinel_ready plain "${s##*:}"
  done < <(cat "$DIR"/sentinel-{plain,failover,kill,switch,stall}/urls)
  while read -r s; do
    wait_for "TLS sentinel ${s##*:} did not see the replica and the other sentinels" sentinel_ready tls "${s##*:}"
  done <"$DIR/sentinel-tls/urls"

  {
    echo "# Written by scripts/redis-topologies.sh start; source it before tests/all/redis/topologies.rs."
    echo "export FEDBROKER_TEST_REDIS_TLS_URL=rediss://127.0.0.1:$tls_port"
    echo "export FEDBROKER_TEST_REDIS_TLS_CA=$CERTS/ca.crt"
    echo "export FEDBROKER_TEST_REDIS_TLS_CLIENT_CERT=$CERTS/client.crt"
    echo "export FEDBROKER_TEST_REDIS_TLS_CLIENT_KEY=$CERTS/client.key"
    echo "export FEDBROKER_TEST_REDIS_TLS_WRONG_CA=$CERTS/wrong-ca.crt"
    echo "export FEDBROKER_TEST_REDIS_TLS_STRANGER_CERT=$CERTS/stranger.crt"
    echo "export FEDBROKER_TEST_REDIS_TLS_STRANGER_KEY=$CERTS/stranger.key"
    echo "export FEDBROKER_TEST_REDIS_AUTH_URL=redis://:$AUTH_PASSWORD@127.0.0.1:$auth_port"
    echo "export FEDBROKER_TEST_SENTINEL_URLS=$(urls plain)"
    echo "export FEDBROKER_TEST_SENTINEL_MASTER=$MASTER_NAME"
    echo "export FEDBROKER_TEST_SENTINEL_TLS_URLS=$(urls tls)"
    echo "# The own groups (same master name) of the tests that change a group, one per test."
    echo "export FEDBROKER_TEST_SENTINEL_FAILOVER_URLS=$(urls failover)"
    echo "export FEDBROKER_TEST_SENTINEL_KILL_URLS=$(urls kill)"
    echo "export FEDBROKER_TEST_SENTINEL_SWITCH_URLS=$(urls switch)"
    echo "export FEDBROKER_TEST_SENTINEL_STALL_URLS=$(urls stall)"
    echo "export FEDBROKER_TEST_REDIS_CLUSTER_TLS_URLS=$(IFS=,; echo "${CLUSTER_TLS_URLS[*]}")"
    echo "FEDBROKER_REDIS_TOPOLOGIES_PIDS=\"$(paste -sd' ' "$PID_FILE")\""
  } >"$ENV_FILE"
  log "up: TLS :$tls_port, AUTH :$auth_port, sentinels $(urls plain), TLS sentinels $(urls tls), own-group sentinels $(urls failover) / $(urls kill) / $(urls switch) / $(urls stall) ($ENV_FILE)"
}

stop_quiet() {
  local pid killed=()
  if [ -f "$PID_FILE" ]; then
    while read -r pid; do
      if pid_is "$pid" redis; then kill "$pid" 2>/dev/null && killed+=("$pid"); fi
    done <"$PID_FILE"
  fi
  # Let them exit before their directories go (they write a last log line).
  local deadline=$((SECONDS + 5))
  for pid in "${killed[@]}"; do
    while [ -e "/proc/$pid" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
  done
  rm -f "$ENV_FILE" "$PID_FILE"
  rm -rf "$DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop_quiet; log "stopped" ;;
  status) if running; then log "running"; else log "not running"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
