#!/usr/bin/env bash
# Memory and health of the broker under many open slow connections (the slow-body attack).
#
#   scripts/bench-connections.sh [CONNECTIONS] [HOLD_SECONDS]   (defaults: 10000, 20)
#   FEDBROKER_BIN=target/debug/fedbroker scripts/bench-connections.sh   (another build)
#
# Method: the release binary with server.max_connections = 20000 (the default cap, 4,096, would
# leave the rest in the listen backlog; the point is the cost of each held connection) and
# server.body_timeout_secs = 300 so the connections are held for the whole measurement; one SAML
# IdP (config/test-idp-metadata.xml, no network), rate limits and audit off, logs at warn; the
# open-file limit raised to the hard limit (the client and the broker need one per connection). A Python client on loopback opens
# CONNECTIONS connections, each sending the headers of `POST /v1/saml/credentials` with
# `Content-Length: 200000` and one byte of the body, and keeps them open HOLD_SECONDS. Reported:
# the broker's VmRSS (/proc/PID/status) and open descriptors at start, with every connection open,
# and after they closed, and how long `GET /healthz` takes on a new connection meanwhile.
# Loopback only; bounded in count (at most 20,000 connections) and time (HOLD_SECONDS + 120 s).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
CONNECTIONS=${1:-10000}
HOLD=${2:-20}
BIN=${FEDBROKER_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/fedbroker} # FEDBROKER_BIN: another build
RUN=$ROOT/.fedbroker-run/connections
mkdir -p "$RUN"
((CONNECTIONS <= 20000)) || { echo "bench-connections: at most 20000 connections" >&2; exit 2; }
command -v curl >/dev/null || { echo "bench-connections: curl is required" >&2; exit 1; }
[[ -x $BIN ]] || cargo build --release --bin fedbroker

# Client and broker each need a descriptor per connection.
ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
if [[ $NOFILE != unlimited ]] && ((NOFILE < CONNECTIONS + 300)); then
    echo "bench-connections: the open-file limit ($NOFILE) is below $CONNECTIONS + 300; raise the hard limit" >&2
    exit 1
fi

# shellcheck source=scripts/lib/broker-run.sh
. scripts/lib/broker-run.sh
trap kill_pids EXIT
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
healthz_ms() { curl -fsS -o /dev/null -m 30 -w '%{time_total}' "$BROKER_URL/healthz" | awk '{printf "%.0f", $1 * 1000}'; }

PORT=$(spare_port)
cat >"$RUN/broker.toml" <<TOML
[server]
listen = "127.0.0.1:$PORT"
public_url = "http://127.0.0.1:$PORT"
body_timeout_secs = 300
max_connections = 20000
[aws]
region = "us-east-1"
sts_endpoint = "http://127.0.0.1:9"
[log]
level = "warn"
[audit]
sink = "off"
[limits]
per_client_per_minute = 0
per_subject_per_minute = 0
[[saml.idps]]
name = "test-idp"
metadata_file = "$ROOT/config/test-idp-metadata.xml"
TOML
start_broker broker "$PORT"
PID=$BROKER_PID
sleep 2
rss_start=$(rss_kib "$PID")
fds_start=$(fds "$PID")

# The client: open every connection (headers and one body byte), say so, hold them HOLD seconds.
rm -f "$RUN/client.ready"
timeout $((HOLD + 120)) python3 - "$PORT" "$CONNECTIONS" "$HOLD" "$RUN/client.ready" <<'PY' &
import socket, sys, time
port, n, hold, ready = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
head = (b"POST /v1/saml/credentials HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 200000\r\n\r\nS")
socks, started = [], time.monotonic()
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(head)
    socks.append(s)
open(ready, "w").write(f"{len(socks)} {time.monotonic() - started:.1f}\n")
time.sleep(hold)
closed = 0
for s in socks:
    s.setblocking(False)
    try:
        if s.recv(1) == b"":
            closed += 1
    except BlockingIOError:
        pass
    except OSError:
        closed += 1
print(f"client: {closed} of {len(socks)} connections closed by the broker while held")
PY
CLIENT=$!
pids+=("$CLIENT")
for _ in $(seq 1200); do [[ -s $RUN/client.ready ]] && break; sleep 0.1; done
[[ -s $RUN/client.ready ]] || { echo "bench-connections: the client did not open its connections" >&2; exit 1; }
read -r opened open_s <"$RUN/client.ready"
sleep 2
rss_held=$(rss_kib "$PID")
fds_held=$(fds "$PID")
health_held=$(healthz_ms)
wait "$CLIENT" || true
sleep 5
rss_after=$(rss_kib "$PID")
fds_after=$(fds "$PID")
health_after=$(healthz_ms)

echo "bench-connections: $opened slow-body connections opened in ${open_s} s, held ${HOLD} s; open-file limit $NOFILE; $(nproc) CPUs ($(uptime | sed 's/.*load/load/'))"
printf 'broker RSS MiB: start %s, with %s connections %s (+%s, %s KiB per connection), after they closed %s\n' \
    "$(mib "$rss_start")" "$opened" "$(mib "$rss_held")" "$(mib $((rss_held - rss_start)))" \
    "$(((rss_held - rss_start) / opened))" "$(mib "$rss_after")"
printf 'broker descriptors: start %s, held %s, after %s\n' "$fds_start" "$fds_held" "$fds_after"
printf 'GET /healthz on a new connection: %s ms while held, %s ms after\n' "$health_held" "$health_after"
