#!/usr/bin/env bash
# Soak test: steady mixed load on the release binary for MINUTES, sampling its RSS, open fds and
# threads every 10 s; fails on unexpected answers, socket errors, a crash, or RSS growth.
#
#   scripts/soak.sh [MINUTES] [RATE]          (defaults: 10 and 500 requests/s)
#
# Environment: SOAK_CONNECTIONS (8), SOAK_INPROCESS_MINUTES (2: a short second run with the
# in-process cache; 0 skips it), CARGO_TARGET_DIR (where the release binary is).
#
# Load (wrk -t1, scripts/wrk/soak.lua, rate-limited to ~RATE/s, loopback only): out of every 200
# requests 192 cache hits on GET /v1/container-credentials (4 granted roles), 1 miss (a granted role
# and DurationSeconds pair not asked for in the last ~1,000 s: one AssumeRoleWithWebIdentity at
# moto) and 7 bad requests: tampered signature (401), not a JWT, no token, a malformed role ARN
# (400), a role no rule grants (403), a 300 KiB body (413), a new unknown path each time (404). Workload tokens come from the test OIDC IdP,
# refreshed every minute. Redis is the shared test Redis under a key prefix of this run (deleted at
# the end); rate limits and audit off; logs at warn.
#
# Output: .fedbroker-run/soak/<store>.csv (t_s, rss_kib, fds, threads, cache hits, misses, STS
# calls) and a summary per store. FAIL (exit 1) if: a status differs from its expected count by
# more than the connections in flight, any other status or socket error, the broker died or logged
# a panic, or RSS at the end exceeds RSS at the 2-minute mark by more than 10 % + 5 MiB (Redis run;
# the in-process run holds a growing set of entries by design, so its RSS is reported only).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
MINUTES=${1:-10}
RATE=${2:-500}
CONNECTIONS=${SOAK_CONNECTIONS:-8}
INPROCESS_MINUTES=${SOAK_INPROCESS_MINUTES:-2}
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/fedbroker
RUN=$ROOT/.fedbroker-run/soak
SAMPLE_EVERY=10
# RSS may grow by this much between the 2-minute mark and the end (percent, KiB).
RSS_GROWTH_PCT=10
RSS_GROWTH_KIB=5120
ACCOUNT="arn:aws:iam::111122223333:role"
# Misses come at RATE/200 per second; a miss key (role, duration 900-1799 s) is held at most 900 s:
# enough roles that a key comes round again only after ~1,000 s (RATE * 5.4 keys, 900 per role).
MISS_ROLES=$(((RATE * 6 + 999) / 1000))
mkdir -p "$RUN"

for tool in wrk redis-cli curl; do
    command -v "$tool" >/dev/null || { echo "soak: $tool is required (apt-get install wrk redis-tools)" >&2; exit 1; }
done
[[ -x $BIN ]] || cargo build --release --bin fedbroker

bash scripts/services.sh start >/dev/null
bash scripts/oidc-idp.sh start >/dev/null
# shellcheck source=/dev/null
. .fedbroker-run/services.env
# shellcheck source=/dev/null
. .fedbroker-run/oidc-idp.env
PREFIX="fedbroker-soak-$$:"

# shellcheck source=scripts/lib/broker-run.sh
. scripts/lib/broker-run.sh
cleanup() {
    kill_pids
    redis-cli -u "$FEDBROKER_TEST_REDIS_URL" --scan --pattern "$PREFIX*" 2>/dev/null \
        | xargs -r -n 500 redis-cli -u "$FEDBROKER_TEST_REDIS_URL" del >/dev/null 2>&1 || true
}
trap cleanup EXIT

TOKEN_FILE=$RUN/token
start_token_refresher "$TOKEN_FILE"

# One rule for the test IdP: 4 roles for hits (1-hour sessions) and MISS_ROLES roles for misses
# (sessions of at most 30 minutes).
RULES=$RUN/rules.toml
{
    printf '[[rules]]\nname = "soak"\n[rules.match]\nprovider = "testidp"\n'
    for n in 0 1 2 3; do
        printf '[[rules.grants]]\nrole_arn = "%s/Soak-Hit-%d"\nmode = "pass-through"\n' "$ACCOUNT" "$n"
    done
    for n in $(seq 0 $((MISS_ROLES - 1))); do
        printf '[[rules.grants]]\nrole_arn = "%s/Soak-Miss-%d"\nmode = "pass-through"\nduration_seconds = 1800\n' \
            "$ACCOUNT" "$n"
    done
} >"$RULES"

metric() { # metrics text, name prefix: sum of the matching series
    awk -v m="$2" 'index($1, m) == 1 {s += $2} END {printf "%d", s}' <<<"$1"
}

FAILED=0
fail() { echo "FAIL: $*"; FAILED=1; }

run_one() { # name, minutes, check_rss (1/0), cache toml
    local name=$1 minutes=$2 check_rss=$3 cache_toml=$4 port pid
    port=$(spare_port)
    broker_config "$RUN/$name.toml" "$port" "$FEDBROKER_TEST_STS_ENDPOINT" "" "[mapping]
rules_file = \"$RULES\"
$cache_toml"
    start_broker "$name" "$port"
    pid=$BROKER_PID
    local base=$BROKER_URL

    local csv=$RUN/$name.csv start=$SECONDS
    echo "t_s,rss_kib,fds,threads,cache_hits,cache_misses,sts_calls" >"$csv"
    (
        while [[ -r /proc/$pid/status ]]; do
            m=$(curl -fsS --max-time 5 "$base/metrics" 2>/dev/null || true)
            printf '%d,%d,%d,%d,%d,%d,%d\n' $((SECONDS - start)) \
                "$(rss_kib "$pid")" \
                "$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)" \
                "$(awk '/^Threads:/ {print $2}' "/proc/$pid/status")" \
                "$(metric "$m" fedbroker_credential_cache_hits_total)" \
                "$(metric "$m" fedbroker_credential_cache_misses_total)" \
                "$(metric "$m" fedbroker_sts_calls_total)" >>"$csv"
            sleep "$SAMPLE_EVERY"
        done
    ) &
    local sampler=$!
    pids+=("$sampler")

    echo "soak[$name]: ${minutes} min at ~$RATE req/s, wrk -t1 -c$CONNECTIONS, $MISS_ROLES miss roles x 900 durations"
    wrk -t1 -c"$CONNECTIONS" -d"${minutes}m" --timeout 10s -s scripts/wrk/soak.lua "$base" \
        -- "$RATE" "$TOKEN_FILE" "$MISS_ROLES" "$RUN/$name.result" "$CONNECTIONS" >"$RUN/$name.wrk"
    sleep "$SAMPLE_EVERY" # one more sample after the load
    local alive=1
    kill -0 "$pid" 2>/dev/null || alive=0
    kill "$sampler" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true

    # Summary.
    declare -A r=()
    local k v
    while IFS='=' read -r k v; do r[$k]=$v; done <"$RUN/$name.result"
    local secs
    secs=$(awk -v d="${r[duration_us]}" 'BEGIN {printf "%.0f", d / 1e6}')
    printf 'soak[%s]: %d requests in %ss (%s req/s), latency p50 %.2f ms, p99 %.2f ms, max %.1f ms\n' \
        "$name" "${r[requests]}" "$secs" "$((r[requests] / (secs > 0 ? secs : 1)))" \
        "$(awk -v u="${r[latency.p50_us]}" 'BEGIN {print u / 1000}')" \
        "$(awk -v u="${r[latency.p99_us]}" 'BEGIN {print u / 1000}')" \
        "$(awk -v u="${r[latency.max_us]}" 'BEGIN {print u / 1000}')"
    printf '  sent by kind:'
    for k in hit miss bad_token not_a_jwt unknown_role oversized no_token bad_arn not_found; do
        printf ' %s %d' "$k" "${r[sent.$k]:-0}"
    done
    echo
    local statuses
    statuses=$(printf '%s\n' "${!r[@]}" | sed -n 's/^\(status\|expect\)\.//p' | sort -u)
    for s in $statuses; do
        local got=${r[status.$s]:-0} want=${r[expect.$s]:-0} diff
        diff=$((got > want ? got - want : want - got))
        printf '  status %s: %d (expected %d)\n' "$s" "$got" "$want"
        if [[ -z ${r[expect.$s]:-} ]]; then
            fail "$name: unexpected status $s ($got)"
        elif ((diff > CONNECTIONS)); then
            fail "$name: status $s differs from its expected count by $diff"
        fi
    done
    local socket=$((${r[errors.connect]} + ${r[errors.read]} + ${r[errors.write]} + ${r[errors.timeout]}))
    printf '  socket errors: connect %d, read %d, write %d, timeout %d\n' \
        "${r[errors.connect]}" "${r[errors.read]}" "${r[errors.write]}" "${r[errors.timeout]}"
    ((socket == 0)) || fail "$name: $socket socket errors"
    ((alive)) || fail "$name: the broker was not running at the end"
    if grep -q 'panicked' "$RUN/$name.log"; then fail "$name: the broker logged a panic"; fi

    local last sts_calls
    last=$(tail -n 1 "$csv")
    sts_calls=$(cut -d, -f7 <<<"$last")
    printf '  STS calls %d (misses sent %d + 4 hit roles), cache hits %d\n' \
        "$sts_calls" "${r[sent.miss]:-0}" "$(cut -d, -f5 <<<"$last")"
    local first max base end
    first=$(awk -F, 'NR == 2 {print $2}' "$csv")
    max=$(awk -F, 'NR > 1 && $2 > m {m = $2} END {print m}' "$csv")
    base=$(awk -F, 'NR > 1 && $1 >= 120 {print $2; exit}' "$csv")
    end=$(cut -d, -f2 <<<"$last")
    printf '  RSS KiB: first %d, at 2 min %s, max %d, last %d; fds %s -> %s; threads %s -> %s\n' \
        "$first" "${base:-n/a}" "$max" "$end" \
        "$(awk -F, 'NR == 2 {print $3}' "$csv")" "$(cut -d, -f3 <<<"$last")" \
        "$(awk -F, 'NR == 2 {print $4}' "$csv")" "$(cut -d, -f4 <<<"$last")"
    echo "  RSS every minute (t_s rss_kib fds threads):"
    awk -F, 'NR > 1 && ($1 % 60 < 10 || NR == 2) {printf "    %5d %7d %4d %3d\n", $1, $2, $3, $4}' "$csv"
    if ((check_rss)) && [[ -n $base ]]; then
        local limit=$((base + base * RSS_GROWTH_PCT / 100 + RSS_GROWTH_KIB))
        ((end <= limit)) || fail "$name: RSS grew from $base KiB (2 min) to $end KiB (limit $limit)"
    fi
}

run_one redis "$MINUTES" 1 "[cache]
redis_url = \"$FEDBROKER_TEST_REDIS_URL\"
key_prefix = \"$PREFIX\"
encryption_keys = [\"soak:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"]"
if ((INPROCESS_MINUTES > 0)); then
    run_one in-process "$INPROCESS_MINUTES" 0 ""
fi

if ((FAILED)); then
    echo "soak: FAIL"
    exit 1
fi
echo "soak: OK"
