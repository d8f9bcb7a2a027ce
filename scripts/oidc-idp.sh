#!/usr/bin/env bash
# shellcheck disable=SC1090  # the env file is written at run time
# Start/stop the test OIDC IdP (testidp/server.mjs: oidc-provider over HTTPS on 127.0.0.1).
#
#   scripts/oidc-idp.sh start     # start on a free port; writes .fedbroker-run/oidc-idp.env
#   . .fedbroker-run/oidc-idp.env && cargo test --test all oidc::idp_smoke::
#   scripts/oidc-idp.sh restart   # same port (same issuer), new process: TESTIDP_* env re-read,
#                                 # e.g. TESTIDP_JWKS=testidp/keys/rotated.json for key rotation
#   scripts/oidc-idp.sh status
#   scripts/oidc-idp.sh stop      # stops only the process `start` launched
#
# TESTIDP_* variables in the environment of start/restart configure the IdP (see
# testidp/server.mjs). Needs node and `npm ci` (node_modules/oidc-provider).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="$ROOT/.fedbroker-run"
ENV_FILE="$RUN_DIR/oidc-idp.env"
PID_FILE="$RUN_DIR/oidc-idp.pid"
LOG_FILE="$RUN_DIR/oidc-idp.log"
# Seconds to wait for the IdP to answer discovery after starting it.
START_TIMEOUT=30

log() { printf 'oidc-idp: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# True if pid $1 is alive and runs testidp/server.mjs (guards against pid reuse).
ours() {
  [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q -- "testidp/server.mjs"
}

pid() { cat "$PID_FILE" 2>/dev/null || true; }

issuer() { (. "$ENV_FILE" 2>/dev/null && printf '%s' "${FEDBROKER_TEST_OIDC_ISSUER:-}") || true; }

discovery_ok() { # issuer ca
  python3 - "$1" "$2" <<'PY' >/dev/null 2>&1
import json, ssl, sys, urllib.request
issuer, ca = sys.argv[1], sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
with urllib.request.urlopen(issuer + "/.well-known/openid-configuration", timeout=2, context=ctx) as r:
    assert json.load(r)["issuer"] == issuer
PY
}

up() {
  ours "$(pid)" && [ -f "$ENV_FILE" ] \
    && (. "$ENV_FILE" && discovery_ok "$FEDBROKER_TEST_OIDC_ISSUER" "$FEDBROKER_TEST_OIDC_CA")
}

cmd_start() { # [port]
  mkdir -p "$RUN_DIR"
  if up; then
    log "already running at $(issuer) (pid $(pid))"
    cat "$ENV_FILE"
    return
  fi
  cmd_stop quiet
  command -v node >/dev/null 2>&1 || die "node is not installed"
  [ -f "$ROOT/node_modules/oidc-provider/package.json" ] \
    || die "node_modules/oidc-provider missing: run \`npm ci\` in $ROOT (scripts/setup.sh does)"
  [ -f "$ROOT/certs/oidc-idp-server.crt" ] || bash "$ROOT/scripts/gen-oidc-idp-certs.sh"
  [ -f "$ROOT/testidp/keys/default.json" ] || node "$ROOT/testidp/genkeys.mjs"

  rm -f "$ENV_FILE"
  TESTIDP_PORT="${1:-${TESTIDP_PORT:-0}}" TESTIDP_ENV_FILE="$ENV_FILE" \
    nohup node "$ROOT/testidp/server.mjs" >"$LOG_FILE" 2>&1 &
  local started=$!
  echo "$started" >"$PID_FILE"
  local deadline=$((SECONDS + START_TIMEOUT))
  until [ -f "$ENV_FILE" ] && (. "$ENV_FILE" && discovery_ok "$FEDBROKER_TEST_OIDC_ISSUER" "$FEDBROKER_TEST_OIDC_CA"); do
    # kill -0, not `ours`: until nohup has exec'd node, the child's command line is this script's.
    if ! kill -0 "$started" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 20 "$LOG_FILE" >&2 || true
      kill "$started" 2>/dev/null || true
      rm -f "$PID_FILE" "$ENV_FILE"
      die "the test IdP did not come up; see $LOG_FILE"
    fi
    sleep 0.2
  done
  log "up at $(issuer) (pid $(pid))"
  cat "$ENV_FILE"
}

cmd_stop() {
  local p; p="$(pid)"
  if ours "$p"; then
    kill "$p"
    for _ in $(seq 50); do ours "$p" || break; sleep 0.1; done
    [ "${1:-}" = quiet ] || log "stopped (pid $p)"
  fi
  rm -f "$PID_FILE" "$ENV_FILE"
}

cmd_restart() {
  local iss; iss="$(issuer)"
  [ -n "$iss" ] || die "not running: use start"
  cmd_stop quiet
  cmd_start "${iss##*:}"
}

cmd_status() {
  if up; then log "up at $(issuer) (pid $(pid))"; else log "down"; exit 1; fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_restart ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|restart|status" >&2; exit 2 ;;
esac
