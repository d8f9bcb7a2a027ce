#!/usr/bin/env bash
# Load test of the credentials endpoint on a cache hit, over HTTP, with wrk: the release binary
# serves GET /v1/container-credentials for one workload token (from the test OIDC IdP) and one role,
# so after the first request every answer comes from the credential cache, once with the in-process
# cache and once with Redis (encrypted entries). STS is moto; rate limits and the audit log are off
# (they are measured separately); logs at warn.
#
#   scripts/bench-http.sh [DURATION_SECONDS] [CONNECTIONS]      (defaults: 15 and 32)
#
# Prints one line per store: requests/s, p50, p99, errors. The load generator runs on the same
# machine as the broker, so the figures are what the broker sustains while sharing the CPUs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
DURATION=${1:-15}
CONNECTIONS=${2:-32}
RUN=$ROOT/.fedbroker-run/bench
mkdir -p "$RUN"

command -v wrk >/dev/null || {
    echo "bench-http: installing wrk (apt)" >&2
    apt-get install -y --no-install-recommends wrk >/dev/null
}
[[ -x target/release/fedbroker ]] || cargo build --release --bin fedbroker

bash scripts/services.sh start >/dev/null
bash scripts/oidc-idp.sh start >/dev/null
# shellcheck source=/dev/null
. .fedbroker-run/services.env
# shellcheck source=/dev/null
. .fedbroker-run/oidc-idp.env
TOKEN=$(bash scripts/oidc-token.sh)
ROLE="arn:aws:iam::111122223333:role/Bench"

BIN=target/release/fedbroker
# shellcheck source=scripts/lib/broker-run.sh
. scripts/lib/broker-run.sh
trap kill_pids EXIT

run_one() {
    local name=$1 cache_toml=$2 port
    port=$(spare_port)
    broker_config "$RUN/$name.toml" "$port" "$FEDBROKER_TEST_STS_ENDPOINT" "" "$cache_toml"
    start_broker "$name" "$port"
    local url="$BROKER_URL/v1/container-credentials?role_arn=$ROLE"
    curl -fsS -o /dev/null -H "Authorization: $TOKEN" "$url" # warm: the one STS call
    local rss_before
    rss_before=$(rss_kib "$BROKER_PID")
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Authorization: $TOKEN" "$url" >"$RUN/$name.wrk"
    local rps p50 p99 errors rss_after
    rps=$(awk '/^Requests\/sec/ {print $2}' "$RUN/$name.wrk")
    p50=$(awk '$1 == "50%" {print $2}' "$RUN/$name.wrk")
    p99=$(awk '$1 == "99%" {print $2}' "$RUN/$name.wrk")
    errors=$(awk '/Non-2xx|Socket errors/ {print}' "$RUN/$name.wrk" | tr '\n' ' ')
    rss_after=$(rss_kib "$BROKER_PID")
    printf '%-10s %10s req/s  p50 %-8s p99 %-8s RSS %s->%s KiB  errors: %s\n' \
        "$name" "$rps" "$p50" "$p99" "$rss_before" "$rss_after" "${errors:-none}"
}

echo "bench-http: ${DURATION}s, $CONNECTIONS connections, wrk -t2, on $(nproc) CPUs"
run_one in-process ""
run_one redis "[cache]
redis_url = \"$FEDBROKER_TEST_REDIS_URL\"
key_prefix = \"fedbroker-bench-$$:\"
encryption_keys = [\"bench:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"]"
