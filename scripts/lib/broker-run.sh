# shellcheck shell=bash
# Shared by the load scripts (bench-http.sh, bench-memory.sh, soak.sh): start the release broker on
# a spare loopback port with the benchmark configuration, wait for it, and clean up after it.
# Source it after `cd` to the repository root and after setting BIN (the release binary), RUN (the
# run folder) and the test OIDC IdP's env (FEDBROKER_TEST_OIDC_ISSUER, FEDBROKER_TEST_OIDC_CA).
#
# The configuration every load script measures: one OIDC provider (the test IdP), rate limits and
# the audit log off (measured separately), logs at warn.

# Background processes to stop at exit (the broker, helpers): `kill_pids` in the script's trap.
pids=()
kill_pids() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }

spare_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
wait_http() { # url: up to 30 s
    for _ in $(seq 300); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
    echo "$(basename "$0"): $1 does not answer" >&2
    return 1
}

# broker_config FILE PORT STS_ENDPOINT [SERVER_EXTRA] [EXTRA]: SERVER_EXTRA goes inside [server]
# (e.g. admin_token_file), EXTRA before the provider (e.g. [cache] or [mapping] tables).
broker_config() {
    local file=$1 port=$2 sts=$3 server_extra=${4:-} extra=${5:-}
    cat >"$file" <<EOF
[server]
listen = "127.0.0.1:$port"
public_url = "http://127.0.0.1:$port"
$server_extra
[aws]
region = "us-east-1"
sts_endpoint = "$sts"
[log]
level = "warn"
[audit]
sink = "off"
[limits]
per_client_per_minute = 0
per_subject_per_minute = 0
$extra
[[oidc.providers]]
name = "testidp"
issuer = "$FEDBROKER_TEST_OIDC_ISSUER"
audiences = ["sts.amazonaws.com"]
ca_file = "$FEDBROKER_TEST_OIDC_CA"
EOF
}

# start_broker NAME PORT: run BIN with $RUN/NAME.toml (log in $RUN/NAME.log), wait for /healthz.
# Sets BROKER_PID and BROKER_URL.
start_broker() {
    "$BIN" serve --config "$RUN/$1.toml" 2>"$RUN/$1.log" &
    BROKER_PID=$!
    pids+=("$BROKER_PID")
    BROKER_URL="http://127.0.0.1:$2"
    wait_http "$BROKER_URL/healthz"
}

# start_token_refresher FILE: a workload token from the test IdP in FILE now and every minute
# (tokens live 5 minutes there).
new_token() { bash scripts/oidc-token.sh >"$1.tmp" && mv "$1.tmp" "$1"; }
start_token_refresher() {
    new_token "$1"
    (while sleep 60; do new_token "$1" || true; done) &
    pids+=($!)
}
