#!/usr/bin/env bash
# Memory of the broker: RSS idle and with ENTRIES cached credentials, in-process cache and Redis.
#
#   scripts/bench-memory.sh [ENTRIES] [CONNECTIONS] [STORES]
#                            (defaults: 100000, 16, "in-process redis")
#
# Method: the release binary serves GET /v1/container-credentials; wrk (scripts/wrk/memory-fill.lua)
# asks once for each of ENTRIES distinct roles with one workload token from the test OIDC IdP, so
# every request is a miss that calls STS and stores one new entry: the real server builds its real
# cache entries. STS is scripts/sts-double.py (moto answers ~35-70 calls/s here: 100,000 calls would
# take 25-50 minutes), which returns AWS-sized credentials (20-char key id, 40-char secret,
# 800-char session token, expiration, request id). No mapping rules (the caller's role_arn is
# passed through), rate limits and audit off, logs at warn.
#
# For each store, the broker's VmRSS (/proc/PID/status): at start, after one request (JWKS fetched,
# STS client warm), after the fill, and after `POST /v1/admin/revoke` for the token's subject
# (block_seconds 0) dropped every entry. For Redis, a private redis-server (persistence off) is
# started for the run, so INFO used_memory before/after is the fill's alone; the entry count is read
# back from Redis (cred:* keys under the run's prefix).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
ENTRIES=${1:-100000}
CONNECTIONS=${2:-16}
STORES=${3:-in-process redis}
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/fedbroker
RUN=$ROOT/.fedbroker-run/memory
ROLE_PREFIX="arn:aws:iam::111122223333:role/mem-"
SUBJECT=ci-workload # the test IdP's workload client (the token's sub)
mkdir -p "$RUN"

for tool in wrk redis-server redis-cli curl; do
    command -v "$tool" >/dev/null || { echo "bench-memory: $tool is required (apt-get install wrk redis-server)" >&2; exit 1; }
done
[[ -x $BIN ]] || cargo build --release --bin fedbroker

bash scripts/services.sh start >/dev/null # moto is not used; services.sh is the usual entry point
bash scripts/oidc-idp.sh start >/dev/null
# shellcheck source=/dev/null
. .fedbroker-run/oidc-idp.env

# shellcheck source=scripts/lib/broker-run.sh
. scripts/lib/broker-run.sh
trap kill_pids EXIT
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

TOKEN_FILE=$RUN/token
start_token_refresher "$TOKEN_FILE"

rm -f "$RUN/sts.port"
python3 scripts/sts-double.py "$RUN/sts.port" &
pids+=($!)
for _ in $(seq 100); do [[ -s $RUN/sts.port ]] && break; sleep 0.1; done
STS_ENDPOINT="http://127.0.0.1:$(cat "$RUN/sts.port")"

REDIS_PORT=$(spare_port)
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize no \
    --logfile "$RUN/redis.log" &
pids+=($!)
for _ in $(seq 100); do [[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
redis_used() { redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory:/ {print $2+0}'; }

ADMIN_TOKEN_FILE=$RUN/admin-token
head -c 32 /dev/urandom | base64 | tr -d '/+=' >"$ADMIN_TOKEN_FILE"

run_one() {
    local name=$1 cache_toml=$2 port pid
    port=$(spare_port)
    broker_config "$RUN/$name.toml" "$port" "$STS_ENDPOINT" "admin_token_file = \"$ADMIN_TOKEN_FILE\"" "$cache_toml"
    start_broker "$name" "$port"
    pid=$BROKER_PID
    local base=$BROKER_URL
    sleep 2
    local rss_start rss_warm rss_full rss_purged used_before used_after
    rss_start=$(rss_kib "$pid")
    curl -fsS -o /dev/null -H "Authorization: $(cat "$TOKEN_FILE")" \
        "$base/v1/container-credentials?role_arn=${ROLE_PREFIX}warm"
    sleep 1
    rss_warm=$(rss_kib "$pid")
    used_before=$(redis_used)

    rm -f "$RUN/$name.fill"
    local t0=$SECONDS
    wrk -t1 -c"$CONNECTIONS" -d30m -s scripts/wrk/memory-fill.lua "$base" \
        -- "$ENTRIES" "$ROLE_PREFIX" "$TOKEN_FILE" "$RUN/$name.fill" >"$RUN/$name.wrk" || true
    local fill_s=$((SECONDS - t0)) fill
    fill=$(cat "$RUN/$name.fill" 2>/dev/null || echo "no result")
    [[ $fill == "ok=$ENTRIES bad=0" ]] || { echo "bench-memory: $name fill failed: $fill" >&2; exit 1; }
    sleep 3
    rss_full=$(rss_kib "$pid")
    used_after=$(redis_used)
    local stored="" keys=""
    if [[ -n $cache_toml ]]; then
        stored=$(redis-cli -p "$REDIS_PORT" --scan --pattern "${PREFIX}cred:*" | wc -l)
        keys=" ($(redis-cli -p "$REDIS_PORT" dbsize) Redis keys with the label indexes)"
    fi

    # Drop every entry: revoke the token's subject (purge only, no block). The in-process store
    # reports what it held (at most MAX_ENTRIES = 100,000: one more fetch is served, not kept).
    local revoked t1=$SECONDS
    revoked=$(curl -fsS -H "Authorization: Bearer $(cat "$ADMIN_TOKEN_FILE")" -H 'content-type: application/json' \
        -d "{\"subject\":\"$SUBJECT\",\"block_seconds\":0}" "$base/v1/admin/revoke" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["purged"])')
    local revoke_s=$((SECONDS - t1))
    sleep 3
    rss_purged=$(rss_kib "$pid")

    printf '%-10s %s requests (fill %ss), entries held %s%s\n' "$name" "$((ENTRIES + 1))" "$fill_s" \
        "${stored:-$revoked}" "$keys"
    printf '%-10s RSS MiB: start %s, after 1 request %s, with entries %s (+%s), after revoking them (%s purged in %ss) %s\n' \
        "" "$(mib "$rss_start")" "$(mib "$rss_warm")" "$(mib "$rss_full")" \
        "$(mib $((rss_full - rss_warm)))" "$revoked" "$revoke_s" "$(mib "$rss_purged")"
    if [[ -n $cache_toml ]]; then
        local delta=$((used_after - used_before))
        printf '%-10s redis used_memory %s -> %s MiB (+%s MiB, %s bytes per entry with its index entries)\n' \
            "" "$(mib $((used_before / 1024)))" "$(mib $((used_after / 1024)))" "$(mib $((delta / 1024)))" \
            "$((delta / ENTRIES))"
    fi
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

PREFIX="fedbroker-mem-$$:"
echo "bench-memory: $ENTRIES entries, wrk -t1 -c$CONNECTIONS, STS double, on $(nproc) CPUs ($(uptime | sed 's/.*load/load/'))"
for store in $STORES; do
    case $store in
        in-process) run_one in-process "" ;;
        redis) run_one redis "[cache]
redis_url = \"redis://127.0.0.1:$REDIS_PORT\"
key_prefix = \"$PREFIX\"
encryption_keys = [\"bench:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"]" ;;
        *) echo "bench-memory: unknown store $store (in-process, redis)" >&2; exit 2 ;;
    esac
done
