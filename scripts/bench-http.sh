#!/usr/bin/env bash
# Load test of the credentials endpoint on a cache hit, over HTTP, with wrk: the release binary
# serves GET /v1/container-credentials for one workload token (from the test OIDC IdP) and one role,
# so after the first request every answer comes from the credential cache, once with the in-process
# cache, once with Redis (encrypted entries) and once with Redis over TLS (`rediss://`, mutual TLS:
# CA and client certificate). Both Redis cases use one private redis-server of the run (persistence
# off, a plain and a TLS port; certificates made with openssl in the run folder). STS is moto; rate
# limits and the audit log are off (they are measured separately); logs at warn.
#
#   scripts/bench-http.sh [DURATION_SECONDS] [CONNECTIONS]      (defaults: 15 and 32)
#
# Env: BENCH_STORES (default "in-process redis redis-tls": which lines, in that order),
# FEDBROKER_BIN (the binary; default $CARGO_TARGET_DIR/release/fedbroker, else target/release).
#
# Prints one line per store: requests/s, p50, p99, errors (and writes the broker's and
# redis-server's CPU time per request to .fedbroker-run/bench/<store>.cpu). The load generator runs on the same
# machine as the broker, so the figures are what the broker sustains while sharing the CPUs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
DURATION=${1:-15}
CONNECTIONS=${2:-32}
STORES=${BENCH_STORES:-in-process redis redis-tls}
BIN=${FEDBROKER_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/fedbroker}
RUN=$ROOT/.fedbroker-run/bench
mkdir -p "$RUN"

command -v wrk >/dev/null || {
    echo "bench-http: installing wrk (apt)" >&2
    apt-get install -y --no-install-recommends wrk >/dev/null
}
command -v redis-server >/dev/null || { echo "bench-http: redis-server is required (apt-get install redis-server)" >&2; exit 1; }
[[ -x $BIN ]] || cargo build --release --bin fedbroker

bash scripts/services.sh start >/dev/null
bash scripts/oidc-idp.sh start >/dev/null
# shellcheck source=/dev/null
. .fedbroker-run/services.env
# shellcheck source=/dev/null
. .fedbroker-run/oidc-idp.env
TOKEN=$(bash scripts/oidc-token.sh)
ROLE="arn:aws:iam::111122223333:role/Bench"

# shellcheck source=scripts/lib/broker-run.sh
. scripts/lib/broker-run.sh
trap kill_pids EXIT

# A private Redis for the run: plain port and TLS port (client certificates required).
tls=$RUN/tls
mkdir -p "$tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=bench-ca \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
for who in server client; do
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$who" -keyout "$tls/$who.key" -out "$tls/$who.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$tls/$who.ext"
    openssl x509 -req -in "$tls/$who.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
        -days 1 -extfile "$tls/$who.ext" -out "$tls/$who.pem" 2>/dev/null
done
REDIS_PORT=$(spare_port)
REDIS_TLS_PORT=$(spare_port)
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --tls-port "$REDIS_TLS_PORT" \
    --tls-cert-file "$tls/server.pem" --tls-key-file "$tls/server.key" \
    --tls-ca-cert-file "$tls/ca.pem" --tls-auth-clients yes \
    --save '' --appendonly no --daemonize no >"$RUN/redis.log" 2>&1 &
pids+=($!)
REDIS_PID=$!
for _ in $(seq 100); do [[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, clock ticks

run_one() {
    local name=$1 cache_toml=$2 port
    port=$(spare_port)
    broker_config "$RUN/$name.toml" "$port" "$FEDBROKER_TEST_STS_ENDPOINT" "" "$cache_toml"
    start_broker "$name" "$port"
    local url="$BROKER_URL/v1/container-credentials?role_arn=$ROLE"
    curl -fsS -o /dev/null -H "Authorization: $TOKEN" "$url" # warm: the one STS call
    local rss_before
    rss_before=$(rss_kib "$BROKER_PID")
    local cpu_before redis_before
    cpu_before=$(cpu_ticks "$BROKER_PID")
    redis_before=$(cpu_ticks "$REDIS_PID")
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Authorization: $TOKEN" "$url" >"$RUN/$name.wrk"
    local rps p50 p99 errors rss_after
    rps=$(awk '/^Requests\/sec/ {print $2}' "$RUN/$name.wrk")
    p50=$(awk '$1 == "50%" {print $2}' "$RUN/$name.wrk")
    p99=$(awk '$1 == "99%" {print $2}' "$RUN/$name.wrk")
    errors=$(awk '/Non-2xx|Socket errors/ {print}' "$RUN/$name.wrk" | tr '\n' ' ')
    rss_after=$(rss_kib "$BROKER_PID")
    # CPU per request (broker; redis-server), less sensitive to other load than req/s.
    awk -v b="$(($(cpu_ticks "$BROKER_PID") - cpu_before))" -v r="$(($(cpu_ticks "$REDIS_PID") - redis_before))" \
        -v hz="$(getconf CLK_TCK)" -v n="$(awk '/requests in/ {print $1}' "$RUN/$name.wrk")" \
        'BEGIN { printf "broker %.1f us/req, redis-server %.1f us/req\n", b / hz * 1e6 / n, r / hz * 1e6 / n }' \
        >"$RUN/$name.cpu"
    printf '%-10s %10s req/s  p50 %-8s p99 %-8s RSS %s->%s KiB  errors: %s\n' \
        "$name" "$rps" "$p50" "$p99" "$rss_before" "$rss_after" "${errors:-none}"
}

KEYS='encryption_keys = ["bench:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="]'
echo "bench-http: ${DURATION}s, $CONNECTIONS connections, wrk -t2, on $(nproc) CPUs"
for store in $STORES; do
    case $store in
    in-process) run_one in-process "" ;;
    redis) run_one redis "[cache]
redis_url = \"redis://127.0.0.1:$REDIS_PORT\"
key_prefix = \"fedbroker-bench-$$:\"
$KEYS" ;;
    redis-tls) run_one redis-tls "[cache]
redis_url = \"rediss://127.0.0.1:$REDIS_TLS_PORT\"
tls_ca_file = \"$tls/ca.pem\"
tls_cert_file = \"$tls/client.pem\"
tls_key_file = \"$tls/client.key\"
key_prefix = \"fedbroker-bench-tls-$$:\"
$KEYS" ;;
    *) echo "bench-http: unknown store $store (in-process, redis, redis-tls)" >&2; exit 2 ;;
    esac
done
